//! Differential proof: the agent's signature verdict (stages 1-4) equals
//! `ssh-keygen -Y verify` on the same allowed_signers file, signature and
//! blob, at the same instant (`-Overify-time`), over generated cases that
//! vary key membership, principal patterns, `namespaces=`, validity windows,
//! the signing namespace, hash algorithm, tampering and armor formatting.
//! Files whose principal lists hold a negated pattern are refused whole
//! (with `file:line`), so they never reach a verdict.
//! The deliberate differences (module header of `authz`) are proven apart.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "support/sshkeys.rs"]
mod sshkeys;

use felhom_agent::authz::{self, NAMESPACE, Signers, VerifyPolicy, rfc3339};
use sshkeys::{Key, TempDir, keygen, reference_verify, sign, write_allowed_signers};
#[path = "support/rng.rs"]
mod rng;
use rng::Rng;

/// 2026-06-15T12:00:00Z, and the same instant for `-Overify-time`.
const NOW: i64 = 1_781_524_800;
const VERIFY_TIME: &str = "20260615120000Z";
const CASES: usize = 300;

impl Rng {
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
}

fn policy() -> VerifyPolicy {
    VerifyPolicy {
        host_id: "demo-felhom".into(),
        now: NOW,
        clock_skew_seconds: 120,
        max_validity_seconds: 86_400,
        require_user_presence: true,
    }
}

/// A principal list for key `j`, and whether it holds a negated pattern.
fn principals(rng: &mut Rng, j: usize) -> (String, bool) {
    let forms = [
        format!("user{j}@example.com"),
        format!("\"user{j}@example.com\""),
        "*@example.com".to_string(),
        format!("user{j}@*"),
        "user?@example.com".to_string(),
        format!("nobody,user{j}@example.com"),
        format!("\"x y,user{j}@example.com\""),
    ];
    // Negation: ssh-keygen refuses the negated name (and admits others);
    // the agent, which does not match principals, refuses the whole file.
    let negated = [
        format!("!user{j}@example.com"),
        format!("user{j}@example.com,!user{j}@example.com"),
        format!("user{j}@example.com,!mallory@example.com"),
        "*,!user?@example.com".to_string(),
        format!("\"x y,!user{j}@*,user{j}@example.com\""),
    ];
    if rng.chance(8) {
        (rng.pick(&negated).clone(), true)
    } else {
        (rng.pick(&forms).clone(), false)
    }
}

/// An instant near NOW in one of the three OpenSSH time forms, UTC.
fn time_value(rng: &mut Rng, deltas: &[i64]) -> String {
    let t = NOW + *rng.pick(deltas);
    let digits: String = rfc3339::format_utc(t)
        .chars()
        .filter(char::is_ascii_digit)
        .collect();
    let len = *rng.pick(&[8usize, 12, 14]);
    format!("{}Z", &digits[..len])
}

fn options(rng: &mut Rng) -> Option<String> {
    let mut opts = Vec::new();
    if rng.chance(50) {
        let ns = rng.pick(&[
            "felhom-op-v1",
            "felhom-*",
            "file,felhom-op-v1",
            "git",
            "felhom-*,!felhom-op-v1",
            "*",
            "felhom-op-v?",
        ]);
        let name = rng.pick(&["namespaces", "Namespaces"]);
        opts.push(format!("{name}=\"{ns}\""));
    }
    if rng.chance(40) {
        let v = time_value(rng, &[-30 * 86_400, -60, 0, 1, 3600, 86_400]);
        opts.push(format!("valid-after=\"{v}\""));
    }
    if rng.chance(40) {
        let v = time_value(rng, &[-86_400, -3600, -1, 0, 60, 30 * 86_400]);
        opts.push(format!("valid-before=\"{v}\""));
    }
    (!opts.is_empty()).then(|| opts.join(","))
}

fn armor(raw: &[u8], width: usize, eol: &str) -> Vec<u8> {
    let b64 = felhom_agent::base64::encode(raw);
    let mut out = String::from("-----BEGIN SSH SIGNATURE-----\n");
    for chunk in b64.as_bytes().chunks(width) {
        out.push_str(std::str::from_utf8(chunk).unwrap());
        out.push_str(eol);
    }
    out.push_str("-----END SSH SIGNATURE-----");
    out.push_str(eol);
    out.into_bytes()
}

/// Re-formats or tampers with a signature; returns the new bytes and a label.
fn mutate_sig(rng: &mut Rng, sig: &[u8], keys: &[Key]) -> (Vec<u8>, &'static str) {
    let raw = authz::dearmor(sig).unwrap();
    match rng.below(10) {
        0 => (armor(&raw, 1 + rng.below(200), "\n"), "rewrapped"),
        1 => (armor(&raw, 70, "\r\n"), "crlf body"),
        2 => {
            let mut s = sig.to_vec();
            s.extend_from_slice(b"trailing text after the footer\n");
            (s, "text after footer")
        }
        3 => {
            let mut s = b"-----BEGIN SSH SIGNATURE-----\r\n".to_vec();
            s.extend_from_slice(&sig[30..]);
            (s, "crlf header")
        }
        4 => {
            let mut raw = raw;
            let at = raw.len() - 1 - rng.below(64);
            raw[at] ^= 1 << rng.below(8);
            (armor(&raw, 70, "\n"), "signature bit flipped")
        }
        5 => {
            // Swap in another key's blob (same length): signed by one key,
            // claiming another.
            let other = authz_key_blob(rng.pick(keys));
            let mut raw = raw;
            raw[14..14 + other.len()].copy_from_slice(&other);
            (armor(&raw, 70, "\n"), "public key swapped")
        }
        _ => (sig.to_vec(), "as signed"),
    }
}

fn authz_key_blob(key: &Key) -> Vec<u8> {
    let b64 = key.public().split(' ').nth(1).unwrap().to_string();
    felhom_agent::base64::decode(b64.as_bytes()).unwrap()
}

#[test]
fn signature_verdicts_equal_ssh_keygen_on_generated_cases() {
    let dir = TempDir::new("differential");
    let keys: Vec<Key> = (0..5).map(|i| keygen(&dir, &format!("k{i}"))).collect();
    let blobs = [
        authz::canonical_blob(
            "start",
            &serde_json::json!({}),
            "demo-felhom",
            Some(9001),
            &"a".repeat(32),
            NOW,
            NOW + 60,
            "",
        ),
        "not even json".to_string(),
        String::new(),
    ];
    let mut rng = Rng(0x5eed_d1ff);
    let (mut accepted, mut rejected, mut mismatches) = (0, 0, Vec::new());
    let mut refused_negated = 0;
    for case in 0..CASES {
        let mut lines = vec!["# generated".to_string(), String::new()];
        let mut first_negated = None;
        for (j, key) in keys.iter().enumerate().take(4) {
            if rng.chance(70) {
                let comment = if rng.chance(50) {
                    key.public_line.clone()
                } else {
                    key.public()
                };
                let (list, negated) = principals(&mut rng, j);
                if negated && first_negated.is_none() {
                    first_negated = Some(lines.len() + 1);
                }
                let line = match options(&mut rng) {
                    Some(o) => format!("{list} {o} {comment}"),
                    None => format!("{list} {comment}"),
                };
                lines.push(line);
            }
        }
        let file = write_allowed_signers(&dir, &format!("case-{case}"), &lines);
        let text = std::fs::read_to_string(&file).unwrap();
        let loaded = Signers::from_texts(Some(("case", &text)), None);
        if let Some(line) = first_negated {
            match loaded {
                Err(e) if e.file == "case" && e.line == line && e.reason.contains("negated") => {
                    refused_negated += 1;
                    continue;
                }
                other => panic!(
                    "case {case}: a negated principal must refuse the file at case:{line}, got {other:?}\n{text}"
                ),
            }
        }
        let signers = loaded
            .unwrap_or_else(|e| panic!("case {case}: agent refused a supported file: {e}\n{text}"));

        let s = rng.below(keys.len());
        let namespace = *rng.pick(&[NAMESPACE, NAMESPACE, NAMESPACE, "file", "felhom-op-v2"]);
        let hash = *rng.pick(&["sha256", "sha512"]);
        let signed = rng.pick(&blobs).clone();
        let verified = if rng.chance(15) {
            rng.pick(&blobs).clone()
        } else {
            signed.clone()
        };
        let sig = sign(&dir, &keys[s], signed.as_bytes(), namespace, Some(hash));
        let (sig, how) = mutate_sig(&mut rng, &sig, &keys);

        let agent = authz::verify_signature(&signers, &policy(), verified.as_bytes(), &sig).is_ok();
        let principal = format!("user{s}@example.com");
        let reference = reference_verify(
            &dir,
            &file,
            &principal,
            NAMESPACE,
            &sig,
            verified.as_bytes(),
            Some(VERIFY_TIME),
        );
        if agent {
            accepted += 1
        } else {
            rejected += 1
        }
        if agent != reference {
            mismatches.push(format!(
                "case {case}: agent={agent} ssh-keygen={reference} signer=k{s} ns={namespace} {hash} sig={how} blob_changed={}\n{text}",
                signed != verified
            ));
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} mismatches:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
    // The generator must exercise both verdicts and refused files substantially.
    assert!(
        accepted >= 30 && rejected >= 60 && refused_negated >= 20,
        "accepted {accepted}, rejected {rejected}, refused (negation) {refused_negated}"
    );
}

fn resign_raw(dir: &TempDir, key: &Key, blob: &[u8]) -> Vec<u8> {
    authz::dearmor(&sign(dir, key, blob, NAMESPACE, None)).unwrap()
}

/// The deliberate differences: ssh-keygen accepts, the agent refuses.
#[test]
fn where_the_agent_is_stricter_ssh_keygen_accepts_and_the_agent_refuses() {
    let dir = TempDir::new("stricter");
    let key = keygen(&dir, "k");
    let line = format!("user@example.com {}", key.public());
    let file = write_allowed_signers(&dir, "signers", std::slice::from_ref(&line));
    let signers = Signers::from_texts(Some(("f", &line)), None).unwrap();
    let blob = b"blob";
    let raw = resign_raw(&dir, &key, blob);
    let reference = |sig: &[u8], file: &std::path::Path| {
        reference_verify(
            &dir,
            file,
            "user@example.com",
            NAMESPACE,
            sig,
            blob,
            Some(VERIFY_TIME),
        )
    };
    let agent = |sig: &[u8]| {
        authz::verify_signature(&signers, &policy(), blob, sig)
            .map(|_| ())
            .map_err(|e| e.0.code())
    };

    let sig = armor(&raw, 70, "\n");
    assert!(reference(&sig, &file) && agent(&sig).is_ok(), "baseline");

    let mut v0 = raw.clone();
    v0[9] = 0;
    let sig = armor(&v0, 70, "\n");
    assert!(
        reference(&sig, &file),
        "ssh-keygen accepts SSHSIG version 0"
    );
    assert_eq!(agent(&sig), Err("malformed"));

    let at = 6 + 4 + 4 + 51 + 4 + NAMESPACE.len();
    let mut reserved = raw[..at].to_vec();
    reserved.extend_from_slice(&[0, 0, 0, 1, b'x']);
    reserved.extend_from_slice(&raw[at + 4..]);
    let sig = armor(&reserved, 70, "\n");
    assert!(
        reference(&sig, &file),
        "ssh-keygen ignores the reserved field"
    );
    assert_eq!(agent(&sig), Err("malformed"));

    let mut trailing = raw.clone();
    trailing.extend_from_slice(b"extra");
    let sig = armor(&trailing, 70, "\n");
    assert!(!reference(&sig, &file), "both refuse trailing bytes");
    assert_eq!(agent(&sig), Err("malformed"));

    // Local-time validity: ssh-keygen reads it in the host's zone. The agent
    // reads it as UTC where that zone is UTC (then both agree, this test's
    // ssh-keygen running in the same zone), and refuses the file elsewhere,
    // saying why (tests/authz_check_op.rs sets the zone both ways).
    let local = format!(
        "user@example.com valid-before=\"20200101\" {}",
        key.public()
    );
    let local_file = write_allowed_signers(&dir, "local", std::slice::from_ref(&local));
    let sig = armor(&raw, 70, "\n");
    assert!(!reference(&sig, &local_file), "the window closed in 2020");
    match Signers::from_texts(Some(("local", &local)), None) {
        Ok(s) => assert_eq!(s.lines()[0].options.valid_before, Some(1_577_836_800)),
        Err(e) => assert!(
            e.to_string().starts_with("local:1: ") && e.reason.contains("local time"),
            "{e}"
        ),
    }

    // Lines the agent does not support reject the whole file, even where
    // ssh-keygen would simply skip them.
    for extra in [
        "other@example.com cert-authority ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl",
        "other@example.com ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQDK",
        "other@example.com verify-required ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl",
    ] {
        let text = format!("{line}\n{extra}\n");
        let path = dir.write("mixed", text.as_bytes());
        assert!(reference(&armor(&raw, 70, "\n"), &path), "{extra}");
        let e = Signers::from_texts(Some(("mixed", &text)), None).unwrap_err();
        assert_eq!(e.line, 2, "{e}");
    }
}

/// `!alice` and `alice,!alice`: ssh-keygen refuses the signature for
/// `alice`; the agent has no principal to match, so it cannot honour the
/// exclusion and refuses the file instead (exit 78 at load).
#[test]
fn negated_principals_ssh_keygen_refuses_the_name_and_the_agent_refuses_the_file() {
    let dir = TempDir::new("negated");
    let key = keygen(&dir, "k");
    let blob = b"blob";
    let sig = sign(&dir, &key, blob, NAMESPACE, None);
    for list in ["!alice", "alice,!alice", "*,!alice", "\"x y,!alice,alice\""] {
        let line = format!("{list} {}", key.public());
        let file = write_allowed_signers(&dir, "neg", std::slice::from_ref(&line));
        assert!(
            !reference_verify(
                &dir,
                &file,
                "alice",
                NAMESPACE,
                &sig,
                blob,
                Some(VERIFY_TIME)
            ),
            "{list}: ssh-keygen admitted the negated name"
        );
        let text = std::fs::read_to_string(&file).unwrap();
        let e = Signers::from_texts(Some(("neg", &text)), None).unwrap_err();
        assert_eq!((e.file.as_str(), e.line), ("neg", 1), "{list}: {e}");
    }
}
