//! Mutation fuzzing of journal decoding: whole images through the scan
//! (framing, checksums, torn-tail rule, record decoding) and bare payloads
//! through the record decoder. No input may panic; each yields a typed
//! result. Seeds are real journal output.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use felhom_agent::journal::{self, Journal, JournalError, OutcomeKind, ProvenanceKind, Record};
use std::path::Path;
use std::time::Duration;
#[path = "support/rng.rs"]
mod rng;
use rng::Rng;

fn mutate(rng: &mut Rng, seed: &[u8], other: &[u8]) -> Vec<u8> {
    let mut v = seed.to_vec();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(v.len() + 1);
        match rng.below(6) {
            0 if !v.is_empty() => {
                let bit = 1 << rng.below(8);
                let i = at.min(v.len() - 1);
                v[i] ^= bit;
            }
            1 => v.insert(at, rng.next() as u8),
            2 if at < v.len() => {
                v.remove(at);
            }
            3 if at < v.len() => v[at] = rng.next() as u8,
            4 => v.truncate(at),
            _ => {
                let from = rng.below(other.len());
                let len = rng.below(other.len() - from + 1);
                v.splice(at..at, other[from..from + len].iter().copied());
            }
        }
    }
    v
}

fn sample_records() -> Vec<Record> {
    vec![
        Record::Intent {
            op_id: "op-1".into(),
            vmid: 9001,
            op: "guest_destroy".into(),
            params: serde_json::json!({"purge": true, "nested": [1, "x", null]}),
            source: "job".into(),
            idempotency_key: "k1".into(),
            nonce: Some("n1".into()),
            at: Some(1_800_000_000),
        },
        Record::TaskStarted {
            op_id: "op-1".into(),
            upid: "UPID:pve:0001:0002:0003:qmdestroy:9001:root@pam:".into(),
        },
        Record::Outcome {
            op_id: "op-1".into(),
            outcome: OutcomeKind::Failed,
            detail: "task error".into(),
        },
        Record::NonceConsumed {
            nonce: "n1".into(),
            expires_at: 1_900_000_000,
            op_id: "op-1".into(),
        },
        Record::Provenance {
            vmid: 9100,
            kind: ProvenanceKind::Scratch,
            transaction: "t".into(),
        },
        Record::OpQueued {
            nonce: "n2".into(),
            blob: "{\"op\":\"x\"}".into(),
            sig: "-----BEGIN SSH SIGNATURE-----".into(),
            source: "job".into(),
            expires_at: 5,
        },
        Record::ApprovalAdded {
            nonce: "n2".into(),
            sig: "-----BEGIN SSH SIGNATURE-----\nbob".into(),
            source: "hub:j2".into(),
        },
        Record::OpDequeued {
            nonce: "n2".into(),
            reason: "expired".into(),
        },
        Record::SignersRotated {
            lines: vec!["ops ssh-ed25519 AAAAC3".into()],
            nonce: "n3".into(),
        },
        Record::GenerationApplied {
            generation: u64::MAX,
        },
        Record::KeyApplied {
            idempotency_key: "k0".into(),
        },
        Record::TxnBegin {
            txn: "txn-1".into(),
            vmid: 9100,
            create: serde_json::json!({"kind": "lxc", "name": "shop", "disk_gib": 8}),
            config: Some(serde_json::json!({"cores": 2})),
            start: true,
            generation: 3,
            at: 1_900_000_000,
        },
        Record::TxnCreated {
            txn: "txn-1".into(),
            upid: "UPID:pve:0001:0002:0003:vzcreate:9100:root@pam:".into(),
        },
        Record::TxnAbort {
            txn: "txn-1".into(),
            reason: "start failed".into(),
        },
        Record::TxnEnd {
            txn: "txn-1".into(),
            vmid: 9100,
            end: journal::TxnEndKind::RolledBack,
            generation: 3,
            at: 1_900_000_000,
            detail: "compensating rollback".into(),
        },
    ]
}

fn seed_journal() -> Vec<u8> {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("journal-fuzz")
        .join(std::process::id().to_string());
    let _ = std::fs::remove_dir_all(&dir);
    let j = Journal::open(&dir, Duration::from_secs(1)).unwrap();
    for r in sample_records() {
        j.append(r).unwrap();
    }
    drop(j);
    std::fs::read(dir.join("journal")).unwrap()
}

#[test]
fn mutated_journal_images_never_panic_and_give_a_typed_verdict() {
    let seed = seed_journal();
    assert_eq!(
        journal::verify_bytes(&seed).unwrap().records,
        sample_records().len() as u64
    );
    let mut rng = Rng(0x1234_5678_9abc_def1);
    let (mut clean, mut torn, mut damaged) = (0u32, 0u32, 0u32);
    for _ in 0..60_000 {
        let input = mutate(&mut rng, &seed, &seed);
        match journal::verify_bytes(&input) {
            Ok(r) if r.torn_tail.is_none() => clean += 1,
            Ok(_) => torn += 1,
            Err(JournalError::Damaged { .. }) => damaged += 1,
            Err(e) => panic!("unexpected error kind: {e}"),
        }
    }
    assert!(
        clean > 0 && torn > 1000 && damaged > 1000,
        "{clean} {torn} {damaged}"
    );
}

/// The same records as a format version 1 image (earlier releases), which
/// this build still reads.
fn seed_v1_journal() -> Vec<u8> {
    use journal::format::{Header, Version};
    let header = Header {
        version: Version::V1,
        salt: [9u8; 16],
        first_seq: 1,
        prev_head: [0u8; 32],
    };
    let mut bytes = header.encode().to_vec();
    for (i, r) in sample_records().iter().enumerate() {
        journal::format_v1::encode_frame(
            &mut bytes,
            &header.salt,
            i as u64 + 1,
            &r.encode().unwrap(),
        );
    }
    bytes
}

#[test]
fn mutated_version_1_images_never_panic_and_give_a_typed_verdict() {
    let seed = seed_v1_journal();
    assert_eq!(
        journal::verify_bytes(&seed).unwrap().records,
        sample_records().len() as u64
    );
    let mut rng = Rng(0x0bad_5eed_0001_0001);
    let (mut clean, mut torn, mut damaged) = (0u32, 0u32, 0u32);
    for _ in 0..30_000 {
        let input = mutate(&mut rng, &seed, &seed);
        match journal::verify_bytes(&input) {
            Ok(r) if r.torn_tail.is_none() => clean += 1,
            Ok(_) => torn += 1,
            Err(JournalError::Damaged { .. }) => damaged += 1,
            Err(e) => panic!("unexpected error kind: {e}"),
        }
    }
    assert!(
        clean > 0 && torn > 500 && damaged > 500,
        "{clean} {torn} {damaged}"
    );
}

#[test]
fn mutated_record_payloads_never_panic_and_decode_or_fail_typed() {
    let seeds: Vec<Vec<u8>> = sample_records()
        .iter()
        .map(|r| r.encode().unwrap())
        .collect();
    let all: Vec<u8> = seeds.concat();
    let mut rng = Rng(0xfeed_beef_cafe_f00d);
    let (mut ok, mut err) = (0u32, 0u32);
    for i in 0..60_000 {
        let input = mutate(&mut rng, &seeds[i % seeds.len()], &all);
        match Record::decode(&input) {
            Ok(r) => {
                ok += 1;
                assert_eq!(
                    Record::decode(&r.encode().unwrap()).unwrap(),
                    r,
                    "re-encoding is stable"
                );
            }
            Err(_) => err += 1,
        }
    }
    assert!(ok > 100 && err > 10_000, "{ok} {err}");
}
