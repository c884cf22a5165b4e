//! Signer files and security-key signatures: what the allowed_signers
//! parser accepts and refuses (with `file:line`), and `sk-ssh-ed25519`
//! signatures built over the PROTOCOL.u2f layout, with and without the
//! user-presence flag.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "support/sshkeys.rs"]
mod sshkeys;

use ed25519_dalek::{Signer, SigningKey};
use felhom_agent::authz::{self, NAMESPACE, Role, Signers, VerifyPolicy};
use sha2::{Digest, Sha256, Sha512};
use sshkeys::{TempDir, keygen, reference_verify, write_allowed_signers};

const NOW: i64 = 1_781_524_800;
const ED: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";

fn policy(require_user_presence: bool) -> VerifyPolicy {
    VerifyPolicy {
        host_id: "demo-felhom".into(),
        now: NOW,
        clock_skew_seconds: 120,
        max_validity_seconds: 86_400,
        require_user_presence,
    }
}

fn refuse(text: &str) -> authz::SignerFileError {
    Signers::from_texts(Some(("ops.allowed_signers", text)), None).unwrap_err()
}

#[test]
fn comments_blank_lines_crlf_and_quoted_principals_are_accepted() {
    let text = format!(
        "# team\n\n   # indented comment\r\n\"Alice Admin,alice@x\" namespaces=\"felhom-op-v1\" {ED} alice laptop\r\n"
    );
    let s = Signers::from_texts(Some(("ops", &text)), None).unwrap();
    assert_eq!(s.lines().len(), 1);
    assert_eq!(s.lines()[0].first_principal(), "Alice Admin");
    assert_eq!(s.lines()[0].line, 4);
    assert_eq!(s.lines()[0].role, Role::Operational);
}

#[test]
fn every_unsupported_line_rejects_the_file_with_file_and_line() {
    let cases = [
        (format!("a cert-authority {ED}"), "cert-authority"),
        ("a ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQ==".to_string(), "not supported"),
        ("a ecdsa-sha2-nistp256 AAAA".to_string(), "not supported"),
        (format!("a principals=\"x\" {ED}"), "unknown option"),
        (format!("a valid-before=20260101Z {ED}"), "double quotes"),
        (format!("a namespaces=\"\" {ED}"), "pattern list"),
        ("a ssh-ed25519 AAAA*AAA".to_string(), "key"),
        ("a ssh-ed25519".to_string(), "missing base64"),
        (ED.to_string(), "not supported"),
        ("a".to_string(), "missing key"),
        (format!("\"a {ED}"), "closing quote"),
        (format!("a\"b {ED}"), "quote"),
        (
            "a sk-ssh-ed25519@openssh.com AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl".to_string(),
            "line says",
        ),
        (
            // 32 bytes that are not a valid Ed25519 point.
            format!(
                "a ssh-ed25519 {}",
                felhom_agent::base64::encode(&[
                    &[0, 0, 0, 11][..],
                    b"ssh-ed25519",
                    &[0, 0, 0, 32],
                    &[0x02; 31],
                    &[0x80]
                ]
                .concat())
            ),
            "valid Ed25519 point",
        ),
    ];
    for (bad, why) in cases {
        let text = format!(
            "# ok\n{ED_LINE}\n{bad}\n",
            ED_LINE = format_args!("ok@x {ED}")
        );
        let e = refuse(&text);
        assert_eq!(
            (e.file.as_str(), e.line),
            ("ops.allowed_signers", 3),
            "{bad}: {e}"
        );
        assert!(e.reason.contains(why), "{bad}: {e}");
        assert!(e.to_string().starts_with("ops.allowed_signers:3: "));
    }
}

#[test]
fn the_same_key_in_both_files_is_an_error() {
    let op = format!("a@x {ED}\n");
    let rec = format!("# rescue\nb@x {ED}\n");
    let e = Signers::from_texts(Some(("op", &op)), Some(("rec", &rec))).unwrap_err();
    assert_eq!((e.file.as_str(), e.line), ("rec", 2));
    assert!(e.reason.contains("op:1"), "{e}");
}

#[test]
fn load_reads_both_files_and_none_paths_give_no_signers() {
    let dir = TempDir::new("load");
    let k = keygen(&dir, "k");
    let path = write_allowed_signers(&dir, "rec", &[format!("r@x {}", k.public_line)]);
    let cfg = felhom_agent::config::AuthzConfig {
        operational_signers: None,
        recovery_signers: Some(path),
        clock_skew_seconds: 120,
        max_validity_seconds: 86_400,
        require_user_presence: true,
        ..felhom_agent::config::AuthzConfig::default()
    };
    let s = Signers::load(&cfg).unwrap();
    assert_eq!(s.lines().len(), 1);
    assert_eq!(s.lines()[0].role, Role::Recovery);
    let none = felhom_agent::config::AuthzConfig {
        recovery_signers: None,
        ..cfg.clone()
    };
    assert!(Signers::load(&none).unwrap().lines().is_empty());
    let missing = felhom_agent::config::AuthzConfig {
        recovery_signers: Some(dir.path().join("absent")),
        ..cfg
    };
    assert!(
        Signers::load(&missing)
            .unwrap_err()
            .to_string()
            .contains("absent:0: cannot open")
    );
}

fn string(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(&(b.len() as u32).to_be_bytes());
    out.extend_from_slice(b);
}

/// An SSHSIG made by a simulated security key (flags, counter) over `blob`.
fn sk_signature(sk: &SigningKey, application: &str, flags: u8, blob: &[u8]) -> (String, Vec<u8>) {
    let mut key = Vec::new();
    string(&mut key, b"sk-ssh-ed25519@openssh.com");
    string(&mut key, sk.verifying_key().as_bytes());
    string(&mut key, application.as_bytes());
    let mut signed = b"SSHSIG".to_vec();
    string(&mut signed, NAMESPACE.as_bytes());
    string(&mut signed, b"");
    string(&mut signed, b"sha512");
    string(&mut signed, &Sha512::digest(blob));
    let counter: u32 = 7;
    let mut message = Sha256::digest(application.as_bytes()).to_vec();
    message.push(flags);
    message.extend_from_slice(&counter.to_be_bytes());
    message.extend_from_slice(&Sha256::digest(&signed));
    let sig = sk.sign(&message).to_bytes();
    let mut sig_blob = Vec::new();
    string(&mut sig_blob, b"sk-ssh-ed25519@openssh.com");
    string(&mut sig_blob, &sig);
    sig_blob.push(flags);
    sig_blob.extend_from_slice(&counter.to_be_bytes());
    let mut raw = b"SSHSIG\0\0\0\x01".to_vec();
    string(&mut raw, &key);
    string(&mut raw, NAMESPACE.as_bytes());
    string(&mut raw, b"");
    string(&mut raw, b"sha512");
    string(&mut raw, &sig_blob);
    let b64 = felhom_agent::base64::encode(&raw);
    let mut armored = "-----BEGIN SSH SIGNATURE-----\n".to_string();
    for chunk in b64.as_bytes().chunks(70) {
        armored.push_str(std::str::from_utf8(chunk).unwrap());
        armored.push('\n');
    }
    armored.push_str("-----END SSH SIGNATURE-----\n");
    let line = format!(
        "sk@example.com sk-ssh-ed25519@openssh.com {}",
        felhom_agent::base64::encode(&key)
    );
    (line, armored.into_bytes())
}

#[test]
fn sk_signature_verifies_with_user_presence_and_fails_without_it() {
    let sk = SigningKey::from_bytes(&[7u8; 32]);
    let blob = b"{\"op\":\"x\"}";
    let (line, present) = sk_signature(&sk, "ssh:", 0x01, blob);
    let (_, absent) = sk_signature(&sk, "ssh:", 0x00, blob);
    let signers = Signers::from_texts(Some(("ops", &line)), None).unwrap();
    let check = |sig: &[u8], up: bool| {
        authz::verify_signature(&signers, &policy(up), blob, sig)
            .map(|l| l.first_principal().to_string())
            .map_err(|e| e.0)
    };
    assert_eq!(check(&present, true).unwrap(), "sk@example.com");
    let e = check(&absent, true).unwrap_err();
    assert_eq!(e.code(), "bad_signature");
    assert_eq!(
        e,
        authz::Rejection::BadSignature(authz::SigError::NoUserPresence)
    );
    assert!(check(&absent, false).is_ok(), "presence not required");
    // The same point under another application string is the same key
    // (found at stage 3), but not the key on the line: stage 4 refuses it.
    let (_, other_app) = sk_signature(&sk, "ssh:other", 0x01, blob);
    assert_eq!(check(&other_app, true).unwrap_err().code(), "bad_signature");
    let mut tampered = blob.to_vec();
    tampered[2] ^= 1;
    let e = authz::verify_signature(&signers, &policy(true), &tampered, &present).unwrap_err();
    assert_eq!(e.0.code(), "bad_signature");

    // ssh-keygen agrees on the signature with the presence flag, and prints
    // the same fingerprint the agent records.
    let dir = TempDir::new("sk");
    let file = write_allowed_signers(&dir, "sk", std::slice::from_ref(&line));
    assert!(reference_verify(
        &dir,
        &file,
        "sk@example.com",
        NAMESPACE,
        &present,
        blob,
        None
    ));
    let pubfile = dir.write("sk.pub", line.split_once(' ').unwrap().1.as_bytes());
    let out = std::process::Command::new("ssh-keygen")
        .arg("-l")
        .arg("-f")
        .arg(pubfile)
        .output()
        .unwrap();
    let printed = String::from_utf8(out.stdout).unwrap();
    let fp = authz::verify_detailed(&signers, &policy(true), blob, &present, &|_| false)
        .unwrap_err()
        .signer
        .unwrap()
        .key_fingerprint;
    assert_eq!(printed.split_whitespace().nth(1), Some(fp.as_str()));
}

/// The key blob of an `ssh-ed25519` public line, re-encoded as an
/// `sk-ssh-ed25519@openssh.com` key with the same Ed25519 point.
fn sk_encoding(ed_line: &str, application: &str) -> String {
    let b64 = ed_line.split_whitespace().nth(1).unwrap();
    let blob = felhom_agent::base64::decode(b64.as_bytes()).unwrap();
    let point = &blob[blob.len() - 32..];
    let mut key = Vec::new();
    string(&mut key, b"sk-ssh-ed25519@openssh.com");
    string(&mut key, point);
    string(&mut key, application.as_bytes());
    format!(
        "sk-ssh-ed25519@openssh.com {}",
        felhom_agent::base64::encode(&key)
    )
}

#[test]
fn negated_principal_patterns_reject_the_file_with_file_and_line() {
    for principals in [
        "!alice",
        "alice,!alice",
        "*,!mallory@example.com",
        "\"Alice Admin,!bob\"",
        "alice@example.com,!*",
    ] {
        let text = format!("# team\nok@x {ED}\n{principals} {ED} alice\n");
        let e = refuse(&text);
        assert_eq!(
            (e.file.as_str(), e.line),
            ("ops.allowed_signers", 3),
            "{principals}: {e}"
        );
        assert!(e.reason.contains("negated"), "{principals}: {e}");
        // The recovery file is held to the same rule.
        let e = Signers::from_texts(None, Some(("rec", &text))).unwrap_err();
        assert_eq!((e.file.as_str(), e.line), ("rec", 3), "{principals}: {e}");
    }
    // A negated *namespace* pattern is matched, not refused.
    let text = format!("a@x namespaces=\"felhom-*,!felhom-op-v2\" {ED}\n");
    assert!(Signers::from_texts(Some(("ops", &text)), None).is_ok());
    // A `key_rotation` line is a signer line: the same rule.
    let e = Signers::parse_operational_lines(&[format!("alice,!alice {ED}")]).unwrap_err();
    assert_eq!((e.file.as_str(), e.line), ("key_rotation", 1), "{e}");
}

#[test]
fn the_same_point_in_both_files_is_an_error_whatever_its_encoding() {
    let sk_ssh = sk_encoding(ED, "ssh:");
    let sk_other = sk_encoding(ED, "ssh:other-app");
    let cases = [
        (ED.to_string(), sk_ssh.clone()),
        (sk_ssh.clone(), ED.to_string()),
        (sk_ssh.clone(), sk_other.clone()),
        (sk_other, sk_ssh),
    ];
    for (op_key, rec_key) in cases {
        let op = format!("a@x {op_key}\n");
        let rec = format!("# rescue\nb@x {rec_key}\n");
        let e = Signers::from_texts(Some(("op", &op)), Some(("rec", &rec)))
            .expect_err(&format!("accepted {op_key} / {rec_key}"));
        assert_eq!((e.file.as_str(), e.line), ("rec", 2), "{e}");
        assert!(e.reason.contains("op:1"), "{e}");
    }
}

#[test]
fn a_rotation_cannot_give_a_recovery_point_the_operational_role_under_any_encoding() {
    let rec = format!("rescue@x {ED}\n");
    let signers = Signers::from_texts(None, Some(("rec", &rec))).unwrap();
    for key in [
        ED.to_string(),
        sk_encoding(ED, "ssh:"),
        sk_encoding(ED, "ssh:felhom"),
    ] {
        let lines = vec![format!("mallory@x {key}")];
        let parsed = Signers::parse_operational_lines(&lines).unwrap();
        let e = signers
            .check_no_recovery_keys(&parsed)
            .expect_err(&format!("{key} promoted"));
        assert_eq!((e.file.as_str(), e.line), ("key_rotation", 1), "{e}");
        assert!(e.reason.contains("rec:1"), "{e}");
        assert!(signers.check_rotation(&lines).is_err(), "{key}");
    }
}

#[test]
fn a_signature_is_looked_up_by_its_point_and_must_match_the_line_exactly() {
    // The signer file holds the key as ssh-ed25519; the same point signs in
    // the sk encoding. The key is found (it is this signer's point), and the
    // signature fails stage 4 because it is not made with the key on the
    // line, exactly as ssh-keygen refuses it.
    let sk = SigningKey::from_bytes(&[9u8; 32]);
    let blob = b"{\"op\":\"x\"}";
    let (sk_line, sig) = sk_signature(&sk, "ssh:", 0x01, blob);
    let mut ed_blob = Vec::new();
    string(&mut ed_blob, b"ssh-ed25519");
    string(&mut ed_blob, sk.verifying_key().as_bytes());
    let ed_line = format!(
        "ed@example.com ssh-ed25519 {}",
        felhom_agent::base64::encode(&ed_blob)
    );
    let signers = Signers::from_texts(Some(("ops", &ed_line)), None).unwrap();
    let e = authz::verify_detailed(&signers, &policy(true), blob, &sig, &|_| false).unwrap_err();
    assert_eq!(e.code(), "bad_signature", "{e:?}");
    assert_eq!(e.signer.unwrap().signer, "ed@example.com");
    let dir = TempDir::new("point");
    let file = write_allowed_signers(&dir, "ed", std::slice::from_ref(&ed_line));
    assert!(!reference_verify(
        &dir,
        &file,
        "ed@example.com",
        NAMESPACE,
        &sig,
        blob,
        None
    ));
    // Two lines with the same point: the one whose encoding matches wins,
    // whichever comes first.
    let both = format!("{ed_line}\n{sk_line}\n");
    let signers = Signers::from_texts(Some(("ops", &both)), None).unwrap();
    let found = authz::verify_signature(&signers, &policy(true), blob, &sig).unwrap();
    assert_eq!(found.line, 2);
    let file = write_allowed_signers(&dir, "both", &[ed_line, sk_line]);
    assert!(reference_verify(
        &dir,
        &file,
        "sk@example.com",
        NAMESPACE,
        &sig,
        blob,
        None
    ));
}

/// An SSHSIG made by a plain `ssh-ed25519` key over `blob`.
fn ed_signature(sk: &SigningKey, blob: &[u8]) -> Vec<u8> {
    let mut key = Vec::new();
    string(&mut key, b"ssh-ed25519");
    string(&mut key, sk.verifying_key().as_bytes());
    let mut signed = b"SSHSIG".to_vec();
    string(&mut signed, NAMESPACE.as_bytes());
    string(&mut signed, b"");
    string(&mut signed, b"sha512");
    string(&mut signed, &Sha512::digest(blob));
    let mut sig_blob = Vec::new();
    string(&mut sig_blob, b"ssh-ed25519");
    string(&mut sig_blob, &sk.sign(&signed).to_bytes());
    let mut raw = b"SSHSIG\0\0\0\x01".to_vec();
    string(&mut raw, &key);
    string(&mut raw, NAMESPACE.as_bytes());
    string(&mut raw, b"");
    string(&mut raw, b"sha512");
    string(&mut raw, &sig_blob);
    let b64 = felhom_agent::base64::encode(&raw);
    let mut armored = "-----BEGIN SSH SIGNATURE-----\n".to_string();
    for chunk in b64.as_bytes().chunks(70) {
        armored.push_str(std::str::from_utf8(chunk).unwrap());
        armored.push('\n');
    }
    armored.push_str("-----END SSH SIGNATURE-----\n");
    armored.into_bytes()
}

/// The two-person rule counts keys, not encodings: one Ed25519 point on two
/// lines with different first principals (once as `ssh-ed25519`, once as
/// `sk-ssh-ed25519`) is one signer, however many encodings it signs under.
#[test]
fn one_point_under_two_principals_and_encodings_is_one_approval() {
    let key = SigningKey::from_bytes(&[11u8; 32]);
    let other = SigningKey::from_bytes(&[12u8; 32]);
    let blob = authz::canonical_blob(
        "guest_destroy",
        &serde_json::json!({"purge": true}),
        "demo-felhom",
        Some(9001),
        &"ab".repeat(16),
        NOW - 10,
        NOW + 600,
        "",
    );
    let blob = blob.as_bytes();
    let (sk_line, sk_sig) = sk_signature(&key, "ssh:", 0x01, blob);
    let (bob_line, bob_sig) = sk_signature(&other, "ssh:", 0x01, blob);
    let mut ed_blob = Vec::new();
    string(&mut ed_blob, b"ssh-ed25519");
    string(&mut ed_blob, key.verifying_key().as_bytes());
    let text = format!(
        "alice@x ssh-ed25519 {}\nmallory@x {}\nbob@x {}\n",
        felhom_agent::base64::encode(&ed_blob),
        sk_line.split_once(' ').unwrap().1,
        bob_line.split_once(' ').unwrap().1,
    );
    let signers = Signers::from_texts(Some(("ops", &text)), None).unwrap();
    let ed_sig = ed_signature(&key, blob);
    let count = |sigs: &[&[u8]]| {
        authz::approvals::verify(&signers, &policy(true), blob, sigs, &|_| false)
            .unwrap()
            .count()
    };
    // Each signature verifies on its own, under its own line.
    assert_eq!(count(&[&ed_sig]), 1);
    assert_eq!(count(&[&sk_sig]), 1);
    assert_eq!(
        count(&[&ed_sig, &sk_sig]),
        1,
        "one key counted as two signers through a second encoding"
    );
    assert_eq!(count(&[&sk_sig, &ed_sig, &bob_sig]), 2);
    let held =
        authz::approvals::verify(&signers, &policy(true), blob, &[&ed_sig], &|_| false).unwrap();
    let again = authz::verify_detailed(&signers, &policy(true), blob, &sk_sig, &|_| false).unwrap();
    assert!(held.includes(&again), "the same point already approves");
}
