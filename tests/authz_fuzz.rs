//! Mutation fuzzing of every authz parser of untrusted input: 100,000
//! mutated inputs each for SSHSIG armor (and the blob inside it), signer
//! files, op blobs and RFC 3339 strings. Seeds are real `ssh-keygen`
//! outputs (keys, signatures) and the blobs the agent itself writes.
//! Property: no panic; every input ends in a value or a typed error whose
//! message is non-empty; and the seeds themselves are accepted.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "support/sshkeys.rs"]
mod sshkeys;

use felhom_agent::authz::{self, NAMESPACE, Signers, VerifyPolicy, canonical_blob, fuzz};
use serde_json::json;
use sshkeys::{TempDir, keygen, sign};
#[path = "support/rng.rs"]
mod rng;
use rng::Rng;

const ROUNDS: usize = 100_000;
const NOW: i64 = 1_781_524_800;
const NONCE: &str = "0123456789abcdef0123456789abcdef";

/// One to four mutations: bit flip, insert, delete, replace, truncate,
/// splice with another seed, duplicate a chunk.
fn mutate(rng: &mut Rng, seeds: &[Vec<u8>]) -> Vec<u8> {
    let mut v = seeds[rng.below(seeds.len())].clone();
    for _ in 0..1 + rng.below(4) {
        let len = v.len();
        match rng.below(7) {
            0 if len > 0 => {
                let at = rng.below(len);
                v[at] ^= 1 << rng.below(8);
            }
            1 => {
                let at = rng.below(len + 1);
                let interesting = [
                    0u8, b'"', b',', b' ', b'\n', b'\r', b'=', b'-', b'Z', b'9', 0xff, 0x80,
                ];
                let byte = if rng.below(2) == 0 {
                    interesting[rng.below(interesting.len())]
                } else {
                    rng.next() as u8
                };
                v.insert(at, byte);
            }
            2 if len > 0 => {
                v.remove(rng.below(len));
            }
            3 if len > 0 => {
                let at = rng.below(len);
                v[at] = rng.next() as u8;
            }
            4 => v.truncate(rng.below(len + 1)),
            5 => {
                let other = &seeds[rng.below(seeds.len())];
                let cut = rng.below(len + 1);
                let from = rng.below(other.len() + 1);
                v.truncate(cut);
                v.extend_from_slice(&other[from..]);
            }
            _ if len > 0 => {
                let a = rng.below(len);
                let b = (a + rng.below(16)).min(len);
                let chunk = v[a..b].to_vec();
                let at = rng.below(v.len() + 1);
                v.splice(at..at, chunk);
            }
            _ => {}
        }
    }
    v
}

struct Material {
    _dir: TempDir,
    signers: Signers,
    signer_texts: Vec<Vec<u8>>,
    blobs: Vec<Vec<u8>>,
    sigs: Vec<(Vec<u8>, Vec<u8>)>,
}

fn material() -> Material {
    let dir = TempDir::new("fuzz");
    let a = keygen(&dir, "a");
    let b = keygen(&dir, "b");
    let op_text = format!(
        "# operators\na@example.com,ops-* namespaces=\"felhom-op-v1\",valid-after=\"20260101Z\",valid-before=\"202701011200Z\" {}\n\"b c\" {}\n",
        a.public_line, b.public_line
    );
    let signers = Signers::from_texts(Some(("op", &op_text)), None).unwrap();
    let blobs: Vec<Vec<u8>> = [
        ("guest_destroy", json!({"purge": true}), Some(9001)),
        (
            "set_config",
            json!({"cores": 2, "memory": 2048, "description": "web \"1\"\n"}),
            Some(100),
        ),
        (
            "restore_overwrite",
            json!({"snapshot": "before-upgrade"}),
            Some(123_456),
        ),
        ("start", json!({}), Some(101)),
        (
            "key_rotation",
            json!({"operational_signers": [format!("x@y {}", b.public())]}),
            None,
        ),
    ]
    .into_iter()
    .map(|(op, p, g)| {
        canonical_blob(op, &p, "demo-felhom", g, NONCE, NOW, NOW + 3600, "a").into_bytes()
    })
    .collect();
    let mut sigs = Vec::new();
    for (i, blob) in blobs.iter().enumerate() {
        let key = if i % 2 == 0 { &a } else { &b };
        let alg = if i % 2 == 0 { "sha256" } else { "sha512" };
        sigs.push((blob.clone(), sign(&dir, key, blob, NAMESPACE, Some(alg))));
    }
    Material {
        _dir: dir,
        signers,
        signer_texts: vec![op_text.into_bytes()],
        blobs,
        sigs,
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

#[test]
fn mutated_armor_and_sshsig_never_panic_and_end_in_typed_errors() {
    let m = material();
    let armored: Vec<Vec<u8>> = m.sigs.iter().map(|(_, s)| s.clone()).collect();
    let raw: Vec<Vec<u8>> = armored.iter().map(|s| authz::dearmor(s).unwrap()).collect();
    for (blob, sig) in &m.sigs {
        assert!(
            authz::verify(&m.signers, &policy(), blob, sig, &|_| false).is_ok(),
            "seed verifies"
        );
    }
    let mut rng = Rng(0x0A7_303);
    let (mut ok, mut err) = (0usize, 0usize);
    for round in 0..ROUNDS {
        let (blob, _) = &m.sigs[round % m.sigs.len()];
        let sig = if round % 2 == 0 {
            mutate(&mut rng, &armored)
        } else {
            let bytes = mutate(&mut rng, &raw);
            if let Err(e) = fuzz::sshsig(&bytes) {
                assert!(!e.to_string().is_empty());
            }
            let b64 = felhom_agent::base64::encode(&bytes);
            format!("-----BEGIN SSH SIGNATURE-----\n{b64}\n-----END SSH SIGNATURE-----\n")
                .into_bytes()
        };
        match authz::verify_detailed(&m.signers, &policy(), blob, &sig, &|_| false) {
            Ok(_) => ok += 1,
            Err(r) => {
                assert!(!r.rejection.to_string().is_empty());
                err += 1;
            }
        }
    }
    assert!(
        err > ROUNDS / 2,
        "mutations mostly rejected ({ok} ok, {err} err)"
    );
}

#[test]
fn mutated_signer_files_never_panic_and_errors_name_a_line() {
    let m = material();
    let mut rng = Rng(0x5167_0e55);
    let mut rejected = 0usize;
    for _ in 0..ROUNDS {
        let bytes = mutate(&mut rng, &m.signer_texts);
        let text = String::from_utf8_lossy(&bytes);
        if let Err(e) = Signers::from_texts(Some(("f", &text)), None) {
            assert!(e.line >= 1 && !e.reason.is_empty(), "{e}");
            rejected += 1;
        }
    }
    assert!(rejected > ROUNDS / 10, "only {rejected} rejected");
}

#[test]
fn mutated_blobs_never_panic_and_only_canonical_ones_pass() {
    let m = material();
    for b in &m.blobs {
        fuzz::blob(b, &m.signers).unwrap();
    }
    let mut rng = Rng(0xb10b);
    for _ in 0..ROUNDS {
        let bytes = mutate(&mut rng, &m.blobs);
        if fuzz::blob(&bytes, &m.signers).is_ok() {
            // Whatever passes is canonical: it re-serializes to itself.
            let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
            assert_eq!(serde_json::to_vec(&v).unwrap(), bytes);
        }
    }
}

#[test]
fn mutated_timestamps_never_panic_and_accepted_ones_are_well_formed() {
    let seeds: Vec<Vec<u8>> = [
        "2026-11-22T10:00:00Z",
        "2026-11-22T10:00:00.123456789+05:30",
        "2024-02-29T23:59:59-00:00",
        "1999-12-31T23:59:59.5Z",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect();
    let mut rng = Rng(0x3339);
    let mut accepted = 0usize;
    for _ in 0..ROUNDS {
        let bytes = mutate(&mut rng, &seeds);
        let text = String::from_utf8_lossy(&bytes);
        if let Ok(t) = fuzz::rfc3339(&text) {
            accepted += 1;
            assert!(t.nanos < 1_000_000_000);
            assert!(text.len() >= 20 && text.as_bytes()[10] == b'T');
        }
        let _ = fuzz::signer_time(&text, "valid-after");
    }
    assert!(accepted > 0 && accepted < ROUNDS);
}
