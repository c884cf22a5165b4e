//! What `--status` reads of the journal: an intent's time (an optional
//! field, so journals written before it existed still open), kept through
//! replay and compaction, and the read-only snapshot's file facts.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use felhom_agent::journal::{self, Index, Journal, Record};
use std::path::{Path, PathBuf};
use std::time::Duration;

fn fresh_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("journal-status")
        .join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn intent(op_id: &str, at: Option<i64>) -> Record {
    Record::Intent {
        op_id: op_id.into(),
        vmid: 9001,
        op: "stop".into(),
        params: serde_json::json!({}),
        source: "desired_state".into(),
        idempotency_key: op_id.into(),
        nonce: None,
        at,
    }
}

#[test]
fn an_intent_written_before_intents_carried_their_time_still_decodes_without_one() {
    let old = br#"{"type":"intent","op_id":"op-1","vmid":9001,"op":"start","params":{},"source":"desired_state","idempotency_key":"op-1","nonce":null}"#;
    let record = Record::decode(old).unwrap();
    assert!(
        matches!(record, Record::Intent { at: None, .. }),
        "{record:?}"
    );
    let mut ix = Index::default();
    ix.apply(record);
    assert_eq!(ix.in_flight["op-1"].since, None);
    // Without a time the encoding is the old one, byte for byte.
    let old_stop = br#"{"type":"intent","op_id":"op-1","vmid":9001,"op":"stop","params":{},"source":"desired_state","idempotency_key":"op-1","nonce":null}"#;
    assert_eq!(intent("op-1", None).encode().unwrap(), old_stop);
    // A time that is not an integer is damage, not a missing time.
    let bad = br#"{"type":"intent","op_id":"o","vmid":1,"op":"stop","params":{},"source":"agent","idempotency_key":"o","nonce":null,"at":"noon"}"#;
    assert!(Record::decode(bad).is_err());
}

#[test]
fn an_intents_time_survives_replay_and_compaction() {
    let dir = fresh_dir("since");
    let j = Journal::open(&dir, Duration::from_secs(1)).unwrap();
    j.append(intent("timed", Some(1_900_000_000))).unwrap();
    j.append(intent("untimed", None)).unwrap();
    drop(j);
    let ix = journal::open_read_only(&dir).unwrap();
    assert_eq!(ix.in_flight["timed"].since, Some(1_900_000_000));
    assert_eq!(ix.in_flight["untimed"].since, None);
    let mut compacted = Index::default();
    for r in ix.live_records(0) {
        compacted.apply(r);
    }
    assert_eq!(compacted.in_flight, ix.in_flight);
}

#[test]
fn the_read_only_snapshot_has_the_files_size_records_and_chain_head() {
    let dir = fresh_dir("snapshot");
    let none = journal::snapshot_read_only(&dir).unwrap();
    assert_eq!((none.bytes, none.records, none.chain_head), (0, 0, None));
    assert!(
        std::fs::read_dir(&dir).unwrap().next().is_none(),
        "created a file"
    );
    let j = Journal::open(&dir, Duration::from_secs(1)).unwrap();
    for g in 1..=3 {
        j.append(Record::GenerationApplied { generation: g })
            .unwrap();
    }
    let head = j.chain_head();
    let path = j.path().to_path_buf();
    drop(j);
    let s = journal::snapshot_read_only(&dir).unwrap();
    assert_eq!(s.bytes, std::fs::metadata(&path).unwrap().len());
    assert_eq!(s.records, 3);
    assert_eq!(s.chain_head, Some(head));
    assert_eq!(s.index.last_generation, Some(3));
}
