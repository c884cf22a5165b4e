//! The journal's torn-tail rule, damage refusal, locking, read-only opens and
//! index replay, on real files.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use felhom_agent::journal::{
    self, DamageReason, Journal, JournalError, KeyState, OutcomeKind, ProvenanceKind, Record,
};
use std::path::{Path, PathBuf};
use std::time::Duration;

fn fresh_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("journal-format")
        .join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn open(dir: &Path) -> Result<Journal, JournalError> {
    Journal::open(dir, Duration::from_millis(100))
}

fn gen_record(n: u64) -> Record {
    Record::GenerationApplied { generation: n }
}

fn generations(dir: &Path) -> Vec<u64> {
    journal::read_records(&dir.join(journal::JOURNAL_FILE))
        .unwrap()
        .into_iter()
        .map(|(_, r)| match r {
            Record::GenerationApplied { generation } => generation,
            other => panic!("unexpected record {other:?}"),
        })
        .collect()
}

/// A journal with three records; returns its bytes and the offset where the
/// last frame starts.
fn three_records(dir: &Path) -> (Vec<u8>, usize) {
    let j = open(dir).unwrap();
    j.append(gen_record(1)).unwrap();
    j.append(gen_record(2)).unwrap();
    let last_start = j.file_len() as usize;
    j.append(gen_record(3)).unwrap();
    drop(j);
    (std::fs::read(dir.join("journal")).unwrap(), last_start)
}

#[test]
fn truncation_at_every_offset_inside_the_last_record_is_repaired() {
    let dir = fresh_dir("truncate");
    let (bytes, last_start) = three_records(&dir);
    let path = dir.join("journal");
    for cut in last_start..bytes.len() {
        std::fs::write(&path, &bytes[..cut]).unwrap();
        let j = open(&dir).unwrap();
        assert_eq!(j.file_len(), last_start as u64, "cut at {cut}");
        drop(j);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), last_start as u64);
        assert_eq!(generations(&dir), vec![1, 2]);
    }
    let j = open(&dir).unwrap();
    j.append(gen_record(4)).unwrap();
    drop(j);
    assert_eq!(generations(&dir), vec![1, 2, 4]);
}

#[test]
fn size_extended_with_zeros_or_garbage_is_a_torn_tail() {
    let dir = fresh_dir("extend");
    let (bytes, _) = three_records(&dir);
    let path = dir.join("journal");
    let mut garbage = 0x9e37_79b9_7f4a_7c15u64;
    for fill in 0..2 {
        for extra in [1usize, 27, 28, 100, 4096] {
            let mut image = bytes.clone();
            for _ in 0..extra {
                garbage ^= garbage << 13;
                garbage ^= garbage >> 7;
                garbage ^= garbage << 17;
                image.push(if fill == 0 { 0 } else { garbage as u8 });
            }
            std::fs::write(&path, &image).unwrap();
            let report = journal::verify_file(&path).unwrap();
            assert_eq!(report.torn_tail, Some((bytes.len() as u64, extra as u64)));
            let ro = journal::open_read_only(&dir).unwrap();
            assert_eq!(ro.last_generation, Some(3));
            assert_eq!(
                std::fs::read(&path).unwrap(),
                image,
                "read-only open must not write"
            );
            drop(open(&dir).unwrap());
            assert_eq!(std::fs::read(&path).unwrap(), bytes);
        }
    }
}

#[test]
fn one_flipped_byte_before_the_last_record_is_refused_and_the_file_left_unchanged() {
    let dir = fresh_dir("flip");
    let (bytes, last_start) = three_records(&dir);
    let path = dir.join("journal");
    for off in 0..last_start {
        let mut image = bytes.clone();
        image[off] ^= 0x20;
        std::fs::write(&path, &image).unwrap();
        match open(&dir) {
            Err(JournalError::Damaged { reason, .. }) => {
                if off >= journal::format::HEADER_LEN {
                    assert!(
                        matches!(reason, DamageReason::InvalidBeforeValid { .. }),
                        "offset {off}: {reason:?}"
                    );
                }
            }
            Err(e) => panic!("offset {off}: wrong error {e}"),
            Ok(_) => panic!("offset {off}: damaged journal opened"),
        }
        assert!(matches!(
            journal::open_read_only(&dir),
            Err(JournalError::Damaged { .. })
        ));
        assert_eq!(
            std::fs::read(&path).unwrap(),
            image,
            "offset {off}: file changed"
        );
    }
}

#[test]
fn bytes_from_an_older_file_never_validate_in_a_newer_one() {
    let old_dir = fresh_dir("stale-old");
    let (old, _) = three_records(&old_dir);
    let dir = fresh_dir("stale-new");
    let (new, _) = three_records(&dir);
    let mut image = new.clone();
    image.extend_from_slice(&old[journal::format::HEADER_LEN..]);
    let path = dir.join("journal");
    std::fs::write(&path, &image).unwrap();
    let report = journal::verify_file(&path).unwrap();
    assert_eq!(report.records, 3);
    assert_eq!(
        report.torn_tail,
        Some((
            new.len() as u64,
            (old.len() - journal::format::HEADER_LEN) as u64
        ))
    );
}

#[test]
fn a_second_mutating_opener_gets_locked_until_the_first_closes() {
    let dir = fresh_dir("lock");
    let first = open(&dir).unwrap();
    match Journal::open(&dir, Duration::from_millis(150)) {
        Err(JournalError::Locked { lock_path }) => assert_eq!(lock_path, dir.join("journal.lock")),
        Err(e) => panic!("wrong error {e}"),
        Ok(_) => panic!("two mutating handles at once"),
    }
    assert!(
        journal::open_read_only(&dir).is_ok(),
        "read-only needs no lock"
    );
    drop(first);
    assert!(open(&dir).is_ok());
}

#[test]
fn read_only_open_of_a_missing_journal_is_empty_and_creates_nothing() {
    let dir = fresh_dir("missing");
    let index = journal::open_read_only(&dir).unwrap();
    assert_eq!(index, journal::Index::default());
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
}

#[test]
fn the_chain_head_commits_to_every_record_and_survives_reopen() {
    let dir = fresh_dir("chain");
    let j = open(&dir).unwrap();
    let empty = j.chain_head();
    j.append(gen_record(1)).unwrap();
    let one = j.chain_head();
    assert_ne!(empty, one);
    drop(j);
    let report = journal::verify_file(&dir.join("journal")).unwrap();
    assert_eq!(report.chain_head, one);
    assert_eq!(open(&dir).unwrap().chain_head(), one);
}

fn intent(op_id: &str, key: &str) -> Record {
    Record::Intent {
        op_id: op_id.into(),
        vmid: 9001,
        op: "start".into(),
        params: serde_json::json!({}),
        source: "desired_state".into(),
        idempotency_key: key.into(),
        nonce: None,
        at: Some(1_900_000_000),
    }
}

fn outcome(op_id: &str, outcome: OutcomeKind) -> Record {
    Record::Outcome {
        op_id: op_id.into(),
        outcome,
        detail: String::new(),
    }
}

fn queued(nonce: &str) -> Record {
    Record::OpQueued {
        nonce: nonce.into(),
        blob: "{}".into(),
        sig: "sig".into(),
        source: "job".into(),
        expires_at: i64::MAX,
    }
}

fn approval(nonce: &str, sig: &str) -> Record {
    Record::ApprovalAdded {
        nonce: nonce.into(),
        sig: sig.into(),
        source: "submit".into(),
    }
}

fn consumed(nonce: &str, expires_at: i64) -> Record {
    Record::NonceConsumed {
        nonce: nonce.into(),
        expires_at,
        op_id: "op".into(),
    }
}

fn index_workload(j: &Journal) {
    for r in [
        intent("a", "ka"),
        Record::TaskStarted {
            op_id: "a".into(),
            upid: "UPID:a".into(),
        },
        intent("b", "kb"),
        outcome("b", OutcomeKind::Succeeded),
        intent("c", "kc"),
        outcome("c", OutcomeKind::Failed),
        queued("n1"),
        queued("n2"),
        queued("n3"),
        approval("n2", "sig-bob"),
        approval("n2", "sig-bob"),
        approval("n2", "sig"),
        approval("n3", "sig-carol"),
        approval("nowhere", "sig-dave"),
        consumed("n1", i64::MAX),
        Record::OpDequeued {
            nonce: "n3".into(),
            reason: "expired".into(),
        },
        consumed("old", 1),
        queued("n1"),
        Record::TxnBegin {
            txn: "t1".into(),
            vmid: 9100,
            create: serde_json::json!({"kind": "lxc"}),
            config: None,
            start: true,
            generation: 7,
            at: 1,
        },
        Record::TxnCreated {
            txn: "t1".into(),
            upid: "UPID:create".into(),
        },
        // Legacy vmid-keyed provenance: decoded, and confers nothing.
        Record::Provenance {
            vmid: 9101,
            kind: ProvenanceKind::Scratch,
            transaction: "t2".into(),
        },
        Record::GenerationApplied { generation: 7 },
        Record::SignersRotated {
            lines: vec!["ops ssh-ed25519 AAAA".into()],
            nonce: "r1".into(),
        },
    ] {
        j.append(r).unwrap();
    }
}

#[test]
fn the_index_replays_in_flight_keys_nonces_queue_provenance_and_signers() {
    let dir = fresh_dir("index");
    let j = open(&dir).unwrap();
    index_workload(&j);
    let live = j.index();
    drop(j);
    let ix = journal::open_read_only(&dir).unwrap();
    assert_eq!(ix, live, "replay equals the state kept by append");
    assert_eq!(ix.in_flight.keys().collect::<Vec<_>>(), vec!["a"]);
    assert_eq!(ix.in_flight["a"].upid.as_deref(), Some("UPID:a"));
    assert_eq!(ix.key_state("ka"), KeyState::InFlight);
    assert_eq!(ix.key_state("kb"), KeyState::Applied);
    assert_eq!(
        ix.key_state("kc"),
        KeyState::Unknown,
        "a failed op is re-planned"
    );
    assert!(ix.is_nonce_consumed("n1") && ix.is_nonce_consumed("old"));
    assert_eq!(
        ix.queued
            .iter()
            .map(|q| q.nonce.as_str())
            .collect::<Vec<_>>(),
        vec!["n2"]
    );
    // One added approval: a signature already held, or for an op not
    // queued, changes nothing; approvals leave with their op.
    assert_eq!(
        ix.queued[0]
            .added
            .iter()
            .map(|a| a.sig.as_str())
            .collect::<Vec<_>>(),
        vec!["sig-bob"]
    );
    assert_eq!(
        ix.queued[0].signatures(),
        vec![&b"sig"[..], &b"sig-bob"[..]]
    );
    assert!(ix.created_in(9100, "t1") && !ix.created_in(9100, "t2"));
    assert!(!ix.created_in(9101, "t2") && ix.transactions.open_on(9101).is_none());
    assert_eq!(ix.last_generation, Some(7));
    assert_eq!(ix.signers.as_ref().map(|s| s.1.as_str()), Some("r1"));
    assert_eq!(ix.records, 23);
}

#[test]
fn compaction_keeps_live_state_prunes_expired_nonces_and_chains_to_the_old_head() {
    let dir = fresh_dir("compact");
    let j = open(&dir).unwrap();
    index_workload(&j);
    // Signed ops applied: their keys are their nonces ("n1" retained, "old"
    // expired).
    for (op_id, nonce) in [("s1", "n1"), ("s2", "old")] {
        j.append(intent(op_id, nonce)).unwrap();
        j.append(outcome(op_id, OutcomeKind::Succeeded)).unwrap();
    }
    for n in 0..200 {
        j.append(Record::Decision(journal::DecisionRecord {
            decision: "allowed".into(),
            op: "start".into(),
            class: "benign".into(),
            vmid: Some(n),
            source: "desired_state".into(),
            signer: None,
            role: None,
            reason: String::new(),
            nonce: None,
            at: 0,
        }))
        .unwrap();
    }
    let before = j.index();
    let old_head = j.chain_head();
    let old_len = j.file_len();
    j.compact().unwrap();
    assert!(j.file_len() < old_len / 4, "history dropped");
    let seq = j.append(gen_record(8)).unwrap();
    drop(j);
    let report = journal::verify_file(&dir.join("journal")).unwrap();
    assert_eq!(report.prev_head, old_head);
    assert!(
        report.first_seq > 200,
        "seq numbering continues across compaction"
    );
    assert_eq!(
        journal::read_records(&dir.join("journal"))
            .unwrap()
            .last()
            .unwrap()
            .0,
        seq
    );
    let mut after = journal::open_read_only(&dir).unwrap();
    assert!(!after.is_nonce_consumed("old"), "expired nonce pruned");
    assert_eq!(
        after.key_state("n1"),
        KeyState::Applied,
        "retained nonce's key kept"
    );
    assert_eq!(
        after.key_state("old"),
        KeyState::Unknown,
        "expired nonce's key dropped"
    );
    assert_eq!(
        after.key_state("kb"),
        KeyState::Unknown,
        "a desired-state action's key leaves with its closed intent"
    );
    assert_eq!(after.last_generation, Some(8));
    after.last_generation = before.last_generation;
    let old_expiry = before.consumed_nonces["old"].0;
    assert_eq!(
        after.nonces_pruned_before,
        old_expiry + 1,
        "what compaction forgot, it bounds"
    );
    let mut expected = before;
    expected.consumed_nonces.remove("old");
    expected.nonces_pruned_before = old_expiry + 1;
    expected.applied_keys.retain(|k| k == "n1");
    expected.records = after.records;
    assert_eq!(after, expected);
}

#[test]
fn records_round_trip_and_decoding_is_strict() {
    let r = intent("x", "k");
    assert_eq!(Record::decode(&r.encode().unwrap()).unwrap(), r);
    let text = String::from_utf8(r.encode().unwrap()).unwrap();
    assert!(text.starts_with(r#"{"type":"intent","#), "{text}");
    assert!(Record::decode(br#"{"type":"generation_applied","generation":1,"extra":1}"#).is_err());
    assert!(Record::decode(br#"{"type":"unknown"}"#).is_err());
    assert!(
        Record::decode(br#"{"generation":1,"type":"generation_applied"}"#).is_err(),
        "type first"
    );
    assert!(
        Record::decode(br#"{"type":"generation_applied"}"#).is_err(),
        "missing field"
    );
    assert!(
        Record::decode(br#"{"type":"generation_applied","generation":1},"outcome":{"op_id":"a"}"#)
            .is_err(),
        "no second outer member"
    );
    assert!(Record::decode(br#"{"type":"generation_applied","generation":1}x"#).is_err());
    for (bad, why) in [
        (
            &br#"{"type":"generation_applied","generation":1,"type":"outcome"}"#[..],
            "a second type member",
        ),
        (
            br#" {"type":"generation_applied","generation":1}"#,
            "leading whitespace",
        ),
        (
            br#"{"type":"gener\u0061tion_applied","generation":1}"#,
            "an escaped tag",
        ),
        (br#"{"type":"decision"}"#, "a decision without fields"),
        (
            br#"{"type":"decision","decision":"refused","op":"x","class":"c","vmid":null,"source":"job","signer":null,"role":null,"reason":"r","nonce":null,"at":1,"extra":0}"#,
            "a decision with an unknown field",
        ),
        (br#"{"type":"intent","#, "a cut object"),
        (br#"{"type":1}"#, "a tag that is not a string"),
    ] {
        assert!(Record::decode(bad).is_err(), "{why} must be refused");
    }
    assert_eq!(
        Record::decode(br#"{"type":"generation_applied","generation":1}"#).unwrap(),
        Record::GenerationApplied { generation: 1 }
    );
    let d = Record::Decision(journal::DecisionRecord {
        decision: "refused".into(),
        op: "guest_destroy".into(),
        class: "destructive".into(),
        vmid: None,
        source: "job".into(),
        signer: Some("ops".into()),
        role: Some("operational".into()),
        reason: "replay".into(),
        nonce: Some("n".into()),
        at: 1,
    });
    let text = String::from_utf8(d.encode().unwrap()).unwrap();
    assert!(
        text.starts_with(r#"{"type":"decision","decision":"refused","#),
        "{text}"
    );
    assert_eq!(Record::decode(text.as_bytes()).unwrap(), d);
    assert!(
        Record::decode(br#"{"type":"outcome","op_id":"a","outcome":"maybe","detail":""}"#).is_err()
    );
    let big = Record::SignersRotated {
        lines: vec!["x".repeat(journal::format::MAX_RECORD_BYTES)],
        nonce: "n".into(),
    };
    assert!(matches!(
        big.encode(),
        Err(JournalError::RecordTooLarge { .. })
    ));
}

#[test]
fn a_header_that_does_not_validate_is_damage_even_when_short() {
    let dir = fresh_dir("header");
    let path = dir.join("journal");
    for image in [Vec::new(), b"FHJRNL".to_vec(), vec![0u8; 200]] {
        std::fs::write(&path, &image).unwrap();
        assert!(matches!(
            open(&dir),
            Err(JournalError::Damaged { offset: 0, .. })
        ));
        assert_eq!(std::fs::read(&path).unwrap(), image);
    }
}
