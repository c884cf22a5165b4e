//! The verification pipeline end to end, with keys and signatures made by
//! the real `ssh-keygen`: every stage rejects on its own, the nonce oracle
//! is consulted only at stage 9, and a valid op carries the right facts.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "support/sshkeys.rs"]
mod sshkeys;

use felhom_agent::authz::{
    self, NAMESPACE, OpClass, Rejection, Role, Signers, VerifyPolicy, canonical_blob,
};
use serde_json::json;
use sshkeys::{Key, TempDir, keygen, sign};
use std::cell::Cell;

/// 2026-06-15T12:00:00Z
const NOW: i64 = 1_781_524_800;
const HOST: &str = "demo-felhom";
const NONCE: &str = "9f2c4e7a1b3d5f60718293a4b5c6d7e8";

struct Fixture {
    dir: TempDir,
    alice: Key,
    rescue: Key,
    stranger: Key,
    signers: Signers,
}

fn fixture() -> Fixture {
    let dir = TempDir::new("pipeline");
    let alice = keygen(&dir, "alice");
    let rescue = keygen(&dir, "rescue");
    let stranger = keygen(&dir, "stranger");
    let op = format!("alice@example.com,ops-* {}\n", alice.public_line);
    let rec = format!("rescue@example.com {}\n", rescue.public_line);
    let signers = Signers::from_texts(Some(("op", &op)), Some(("rec", &rec))).unwrap();
    Fixture {
        dir,
        alice,
        rescue,
        stranger,
        signers,
    }
}

fn policy() -> VerifyPolicy {
    VerifyPolicy {
        host_id: HOST.into(),
        now: NOW,
        clock_skew_seconds: 120,
        max_validity_seconds: 86_400,
        require_user_presence: true,
    }
}

fn blob_for(op: &str, params: serde_json::Value, guest: Option<u32>) -> String {
    canonical_blob(
        op,
        &params,
        HOST,
        guest,
        NONCE,
        NOW - 60,
        NOW + 3600,
        "alice@example.com",
    )
}

/// A blob for guest 9001 with the given host and validity window.
fn timed_blob(
    op: &str,
    params: serde_json::Value,
    host: &str,
    issued: i64,
    expires: i64,
) -> String {
    canonical_blob(op, &params, host, Some(9001), NONCE, issued, expires, "")
}

fn destroy_blob() -> String {
    blob_for("guest_destroy", json!({"purge": true}), Some(9001))
}

fn never(_: &str) -> bool {
    false
}

/// `key`'s Ed25519 point as an `sk-ssh-ed25519@openssh.com` key.
fn sk_encoding(key: &Key, application: &str) -> String {
    let b64 = key.public().split(' ').nth(1).unwrap().to_string();
    let blob = felhom_agent::base64::decode(b64.as_bytes()).unwrap();
    let mut sk = Vec::new();
    for part in [
        &b"sk-ssh-ed25519@openssh.com"[..],
        &blob[blob.len() - 32..],
        application.as_bytes(),
    ] {
        sk.extend_from_slice(&u32::try_from(part.len()).unwrap().to_be_bytes());
        sk.extend_from_slice(part);
    }
    format!(
        "sk-ssh-ed25519@openssh.com {}",
        felhom_agent::base64::encode(&sk)
    )
}

fn code(f: &Fixture, key: &Key, blob: &str, signed: &str) -> &'static str {
    let sig = sign(&f.dir, key, signed.as_bytes(), NAMESPACE, None);
    match authz::verify(&f.signers, &policy(), blob.as_bytes(), &sig, &never) {
        Ok(_) => "ok",
        Err(r) => r.code(),
    }
}

#[test]
fn a_valid_op_verifies_with_both_hash_algorithms_and_carries_its_facts() {
    let f = fixture();
    let blob = destroy_blob();
    for alg in [Some("sha256"), Some("sha512"), None] {
        let sig = sign(&f.dir, &f.alice, blob.as_bytes(), NAMESPACE, alg);
        let op = authz::verify(&f.signers, &policy(), blob.as_bytes(), &sig, &never).unwrap();
        assert_eq!(op.op_name(), "guest_destroy");
        assert_eq!(op.params(), &json!({"purge": true}));
        assert_eq!((op.host_id(), op.guest_id()), (HOST, Some(9001)));
        assert_eq!(op.nonce(), NONCE);
        assert_eq!((op.issued_at(), op.expires_at()), (NOW - 60, NOW + 3600));
        assert_eq!(op.signer(), "alice@example.com");
        assert!(op.key_id_matches_signer());
        assert_eq!(op.role(), Role::Operational);
        assert_eq!(op.key_fingerprint(), f.alice.fingerprint());
        assert_eq!(op.class(), OpClass::Destructive);
        assert_eq!(op.blob(), blob.as_bytes());
    }
}

#[test]
fn the_canonical_blob_has_the_contract_shape() {
    let b = canonical_blob(
        "guest_destroy",
        &json!({"purge": true}),
        "demo-felhom",
        Some(9001),
        NONCE,
        1_795_341_600,
        1_795_345_200,
        "alice",
    );
    assert_eq!(
        b,
        r#"{"expires_at":"2026-11-22T11:00:00Z","issued_at":"2026-11-22T10:00:00Z","key_id":"alice","nonce":"9f2c4e7a1b3d5f60718293a4b5c6d7e8","op":"guest_destroy","params":{"purge":true},"target":{"guest_id":"9001","host_id":"demo-felhom"}}"#
    );
}

/// Rebuilds an armored SSHSIG from its fields (for structure tampering).
fn decode_sig(armored: &[u8]) -> Vec<u8> {
    authz::dearmor(armored).unwrap()
}

fn armor(raw: &[u8]) -> Vec<u8> {
    let b64 = felhom_agent::base64::encode(raw);
    let mut out = String::from("-----BEGIN SSH SIGNATURE-----\n");
    for chunk in b64.as_bytes().chunks(70) {
        out.push_str(std::str::from_utf8(chunk).unwrap());
        out.push('\n');
    }
    out.push_str("-----END SSH SIGNATURE-----\n");
    out.into_bytes()
}

#[test]
fn stage_1_rejects_armor_and_structure_damage() {
    let f = fixture();
    let blob = destroy_blob();
    let sig = sign(&f.dir, &f.alice, blob.as_bytes(), NAMESPACE, None);
    let raw = decode_sig(&sig);
    let check = |bytes: Vec<u8>| {
        authz::verify(&f.signers, &policy(), blob.as_bytes(), &bytes, &never)
            .unwrap_err()
            .code()
    };
    // Sanity: re-armoring the untouched blob still verifies.
    assert!(authz::verify(&f.signers, &policy(), blob.as_bytes(), &armor(&raw), &never).is_ok());
    assert_eq!(check(sig[1..].to_vec()), "malformed");
    let mut v2 = raw.clone();
    v2[9] = 2;
    assert_eq!(check(armor(&v2)), "malformed");
    let mut trailing = raw.clone();
    trailing.push(0);
    assert_eq!(check(armor(&trailing)), "malformed");
    // Reserved field: after magic(6)+version(4)+key(4+51)+namespace(4+12).
    let at = 6 + 4 + 4 + 51 + 4 + 12;
    assert_eq!(&raw[at..at + 4], &[0, 0, 0, 0]);
    let mut reserved = raw[..at].to_vec();
    reserved.extend_from_slice(&[0, 0, 0, 1, b'x']);
    reserved.extend_from_slice(&raw[at + 4..]);
    assert_eq!(check(armor(&reserved)), "malformed");
    let hash = raw.windows(6).position(|w| w == b"sha512").unwrap();
    let mut md5 = raw.clone();
    md5[hash..hash + 6].copy_from_slice(b"sha384");
    assert_eq!(check(armor(&md5)), "malformed");
}

#[test]
fn each_later_stage_rejects_on_its_own() {
    let f = fixture();
    let good = destroy_blob();
    assert_eq!(code(&f, &f.alice, &good, &good), "ok");
    // 2: namespace (known key, other namespace)
    let sig = sign(&f.dir, &f.alice, good.as_bytes(), "file", None);
    let r = authz::verify(&f.signers, &policy(), good.as_bytes(), &sig, &never).unwrap_err();
    assert_eq!(r, Rejection::Namespace);
    // 3: unknown signer
    assert_eq!(code(&f, &f.stranger, &good, &good), "unknown_signer");
    // 4: signature over other bytes
    let other = blob_for("guest_destroy", json!({"purge": false}), Some(9001));
    assert_eq!(code(&f, &f.alice, &good, &other), "bad_signature");
    // 5: not canonical / wrong fields / float
    let spaced = good.replace(",\"op\"", ", \"op\"");
    assert_eq!(code(&f, &f.alice, &spaced, &spaced), "malformed");
    let newline = format!("{good}\n");
    assert_eq!(code(&f, &f.alice, &newline, &newline), "malformed");
    let float = blob_for("set_config", json!({"cores": 1.5}), Some(9001));
    assert_eq!(code(&f, &f.alice, &float, &float), "malformed");
    // 6: target
    let elsewhere = timed_blob(
        "guest_destroy",
        json!({"purge": true}),
        "other-host",
        NOW - 60,
        NOW + 3600,
    );
    assert_eq!(code(&f, &f.alice, &elsewhere, &elsewhere), "target");
    // 7: not yet valid / expired / too long
    let future = timed_blob("start", json!({}), HOST, NOW + 121, NOW + 3600);
    assert_eq!(code(&f, &f.alice, &future, &future), "not_yet_valid");
    let within_skew = timed_blob("start", json!({}), HOST, NOW + 120, NOW + 3600);
    assert_eq!(code(&f, &f.alice, &within_skew, &within_skew), "ok");
    let past = timed_blob("start", json!({}), HOST, NOW - 3600, NOW - 1);
    assert_eq!(code(&f, &f.alice, &past, &past), "expired");
    let edge = timed_blob("start", json!({}), HOST, NOW - 3600, NOW);
    assert_eq!(code(&f, &f.alice, &edge, &edge), "ok");
    let long = timed_blob("start", json!({}), HOST, NOW - 10, NOW - 10 + 86_401);
    assert_eq!(code(&f, &f.alice, &long, &long), "validity_too_long");
    // 8: recovery key signing a guest op
    assert_eq!(code(&f, &f.rescue, &good, &good), "role_denied");
    // after 9: unsupported ops
    let wipe = blob_for("storage_wipe", json!({}), None);
    let r = {
        let sig = sign(&f.dir, &f.alice, wipe.as_bytes(), NAMESPACE, None);
        authz::verify(&f.signers, &policy(), wipe.as_bytes(), &sig, &never).unwrap_err()
    };
    assert_eq!(r, Rejection::UnsupportedOp("storage_wipe".into()));
}

#[test]
fn a_consumed_nonce_is_replay_and_replay_outranks_unsupported_op() {
    let f = fixture();
    for blob in [destroy_blob(), blob_for("decommission", json!({}), None)] {
        let sig = sign(&f.dir, &f.alice, blob.as_bytes(), NAMESPACE, None);
        let consumed = |n: &str| n == NONCE;
        let r = authz::verify(&f.signers, &policy(), blob.as_bytes(), &sig, &consumed);
        assert_eq!(r.unwrap_err(), Rejection::Replay);
    }
}

#[test]
fn the_nonce_oracle_is_consulted_only_after_stages_1_to_8_and_nothing_is_consumed() {
    let f = fixture();
    let asked = Cell::new(0u32);
    let oracle = |_: &str| {
        asked.set(asked.get() + 1);
        false
    };
    let good = destroy_blob();
    let sig = sign(&f.dir, &f.alice, good.as_bytes(), NAMESPACE, None);
    let rescue_sig = sign(&f.dir, &f.rescue, good.as_bytes(), NAMESPACE, None);
    let mut late = policy();
    late.now = NOW + 7200;
    let rejections = [
        authz::verify(&f.signers, &policy(), b"{}", &sig, &oracle),
        authz::verify(&f.signers, &late, good.as_bytes(), &sig, &oracle),
        authz::verify(&f.signers, &policy(), good.as_bytes(), &rescue_sig, &oracle),
    ];
    assert!(rejections.iter().all(Result::is_err));
    assert_eq!(asked.get(), 0, "oracle asked before stage 9");
    // The same blob and nonce still verify: no rejection consumed anything.
    assert!(authz::verify(&f.signers, &policy(), good.as_bytes(), &sig, &oracle).is_ok());
    assert!(authz::verify(&f.signers, &policy(), good.as_bytes(), &sig, &oracle).is_ok());
    assert_eq!(asked.get(), 2);
}

#[test]
fn recovery_keys_sign_key_rotation_and_its_lines_are_checked() {
    let f = fixture();
    let newkey = keygen(&f.dir, "bob");
    let rotate = |lines: Vec<String>| {
        canonical_blob(
            "key_rotation",
            &json!({"operational_signers": lines}),
            HOST,
            None,
            NONCE,
            NOW - 60,
            NOW + 3600,
            "",
        )
    };
    let ok = rotate(vec![format!("bob@example.com {}", newkey.public())]);
    assert_eq!(code(&f, &f.rescue, &ok, &ok), "ok");
    assert_eq!(
        code(&f, &f.alice, &ok, &ok),
        "ok",
        "operational may rotate too"
    );
    let rsa = rotate(vec!["bob ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQ==".into()]);
    assert_eq!(code(&f, &f.rescue, &rsa, &rsa), "malformed");
    let comment = rotate(vec!["# nothing".into()]);
    assert_eq!(code(&f, &f.rescue, &comment, &comment), "malformed");
    let promote = rotate(vec![format!("x {}", f.rescue.public())]);
    assert_eq!(code(&f, &f.rescue, &promote, &promote), "malformed");
    // The recovery point re-encoded as a security key is still the recovery
    // key: it cannot be rotated into the operational set either.
    for app in ["ssh:", "ssh:felhom"] {
        let promote = rotate(vec![format!("x {}", sk_encoding(&f.rescue, app))]);
        assert_eq!(code(&f, &f.alice, &promote, &promote), "malformed", "{app}");
    }
    let guest = timed_blob(
        "key_rotation",
        json!({"operational_signers": []}),
        HOST,
        NOW - 60,
        NOW + 3600,
    );
    assert_eq!(code(&f, &f.rescue, &guest, &guest), "malformed");
}

#[test]
fn rejected_details_name_the_signer_once_known() {
    let f = fixture();
    let good = destroy_blob();
    let sig = sign(&f.dir, &f.rescue, good.as_bytes(), NAMESPACE, None);
    let r =
        authz::verify_detailed(&f.signers, &policy(), good.as_bytes(), &sig, &never).unwrap_err();
    assert_eq!(r.code(), "role_denied");
    let s = r.signer.unwrap();
    assert_eq!(
        (s.signer.as_str(), s.role),
        ("rescue@example.com", Role::Recovery)
    );
    assert_eq!(s.key_fingerprint, f.rescue.fingerprint());
    assert_eq!(r.op.unwrap().guest_id, "9001");
    let sig = sign(&f.dir, &f.stranger, good.as_bytes(), NAMESPACE, None);
    let r =
        authz::verify_detailed(&f.signers, &policy(), good.as_bytes(), &sig, &never).unwrap_err();
    assert!(r.signer.is_none() && r.op.is_none());
}
