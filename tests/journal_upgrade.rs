//! Journals of format version 1, which earlier releases left on hosts: read
//! as they are by every mode, converted to version 2 by the first mutating
//! open (one compaction, chained to the old head), and refused exactly as
//! before when damaged. A newer version than this build reads is refused,
//! untouched.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use felhom_agent::journal::format::{self, Header, Version};
use felhom_agent::journal::io::{Fs, JournalFile, RealFs};
use felhom_agent::journal::{
    self, DamageReason, Journal, JournalError, OutcomeKind, ProvenanceKind, Record, format_v1,
};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

fn fresh_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("journal-upgrade")
        .join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn records() -> Vec<Record> {
    vec![
        Record::Intent {
            op_id: "a".into(),
            vmid: 9001,
            op: "guest_destroy".into(),
            params: serde_json::json!({"purge": true}),
            source: "job".into(),
            idempotency_key: "n-destroy".into(),
            nonce: Some("n-destroy".into()),
            at: None,
        },
        Record::NonceConsumed {
            nonce: "n-destroy".into(),
            expires_at: i64::MAX,
            op_id: "a".into(),
        },
        Record::TaskStarted {
            op_id: "a".into(),
            upid: "UPID:pve1:00001:00002:65000000:qmdestroy:9001:felhom@pve!agent:".into(),
        },
        Record::Intent {
            op_id: "b".into(),
            vmid: 9002,
            op: "start".into(),
            params: serde_json::json!({}),
            source: "desired_state".into(),
            idempotency_key: "b".into(),
            nonce: None,
            at: None,
        },
        Record::Outcome {
            op_id: "b".into(),
            outcome: OutcomeKind::Succeeded,
            detail: "task OK".into(),
        },
        Record::OpQueued {
            nonce: "n-queued".into(),
            blob: "{}".into(),
            sig: "sig".into(),
            source: "job".into(),
            expires_at: i64::MAX,
        },
        Record::Provenance {
            vmid: 9100,
            kind: ProvenanceKind::Created,
            transaction: "t1".into(),
        },
        Record::GenerationApplied { generation: 12 },
        Record::SignersRotated {
            lines: vec!["ops ssh-ed25519 AAAA".into()],
            nonce: "n-rot".into(),
        },
    ]
}

/// A version 1 image of `records()`, as an earlier release wrote it.
fn v1_image() -> Vec<u8> {
    let header = Header {
        version: Version::V1,
        salt: [0x5a; 16],
        first_seq: 7,
        prev_head: [0u8; 32],
    };
    let mut bytes = header.encode().to_vec();
    for (i, r) in records().iter().enumerate() {
        format_v1::encode_frame(&mut bytes, &header.salt, 7 + i as u64, &r.encode().unwrap());
    }
    bytes
}

fn open(dir: &Path) -> Result<Journal, JournalError> {
    Journal::open(dir, Duration::from_secs(1))
}

/// The state that shapes behaviour (history such as applied desired-state
/// keys and record counts may go with a compaction).
fn live(ix: &journal::Index) -> impl PartialEq + std::fmt::Debug {
    (
        ix.in_flight.clone(),
        ix.consumed_nonces.clone(),
        ix.queued.clone(),
        ix.transactions.clone(),
        ix.last_generation,
        ix.signers.clone(),
    )
}

#[test]
fn a_version_1_journal_is_read_as_it_is_and_converted_by_the_first_mutating_open() {
    let dir = fresh_dir("convert");
    let path = dir.join(journal::JOURNAL_FILE);
    let image = v1_image();
    std::fs::write(&path, &image).unwrap();

    let report = journal::verify_file(&path).unwrap();
    assert_eq!((report.records, report.torn_tail), (9, None));
    let v1_head = report.chain_head;
    let read_only = journal::open_read_only(&dir).unwrap();
    assert_eq!(read_only.in_flight.len(), 1);
    assert!(read_only.is_nonce_consumed("n-destroy"));
    assert_eq!(read_only.last_generation, Some(12));
    assert_eq!(
        std::fs::read(&path).unwrap(),
        image,
        "read-only modes never convert"
    );

    let j = open(&dir).unwrap();
    assert_eq!(live(&j.index()), live(&read_only));
    let seq = j
        .append(Record::GenerationApplied { generation: 13 })
        .unwrap();
    assert!(
        seq > 16,
        "numbering continues after the version 1 records: {seq}"
    );
    drop(j);

    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(bytes[..8], format::MAGIC, "now format version 2");
    let report = journal::verify_file(&path).unwrap();
    assert_eq!(
        report.prev_head, v1_head,
        "the new chain commits to the old one"
    );
    assert_eq!(report.first_seq, 16);
    let after = journal::open_read_only(&dir).unwrap();
    assert_eq!(after.last_generation, Some(13));
    let mut expected = read_only;
    expected.last_generation = Some(13);
    assert_eq!(live(&after), live(&expected));
    drop(open(&dir).unwrap());
    assert_eq!(std::fs::read(&path).unwrap(), bytes, "converted once");
}

#[test]
fn a_version_1_journal_with_a_torn_tail_converts_without_the_tail() {
    let dir = fresh_dir("torn");
    let path = dir.join(journal::JOURNAL_FILE);
    let full = v1_image();
    let mut image = full[..full.len() - 10].to_vec();
    image.extend_from_slice(&[0u8; 300]);
    std::fs::write(&path, &image).unwrap();
    let report = journal::verify_file(&path).unwrap();
    assert_eq!(report.records, 8);
    assert!(report.torn_tail.is_some());
    let j = open(&dir).unwrap();
    assert_eq!(j.index().signers, None, "the torn last record is not read");
    assert_eq!(j.index().last_generation, Some(12));
    drop(j);
    assert_eq!(journal::verify_file(&path).unwrap().torn_tail, None);
}

#[test]
fn a_damaged_version_1_journal_is_refused_untouched_as_before() {
    let dir = fresh_dir("damaged");
    let path = dir.join(journal::JOURNAL_FILE);
    let mut image = v1_image();
    image[format::HEADER_LEN + 40] ^= 0x01;
    std::fs::write(&path, &image).unwrap();
    for result in [
        open(&dir).map(|_| ()),
        journal::open_read_only(&dir).map(|_| ()),
    ] {
        match result {
            Err(JournalError::Damaged {
                reason: DamageReason::InvalidBeforeValid { .. },
                ..
            }) => {}
            other => panic!("a damaged version 1 journal must be refused: {other:?}"),
        }
    }
    assert_eq!(std::fs::read(&path).unwrap(), image);
}

#[test]
fn a_journal_of_a_newer_format_version_is_refused_untouched() {
    let dir = fresh_dir("newer");
    drop(open(&dir).unwrap());
    let path = dir.join(journal::JOURNAL_FILE);
    let mut image = std::fs::read(&path).unwrap();
    image[7] = 3;
    std::fs::write(&path, &image).unwrap();
    match open(&dir) {
        Err(JournalError::Damaged {
            reason: DamageReason::UnknownVersion { version: 3 },
            ..
        }) => {}
        Err(e) => panic!("wrong error {e}"),
        Ok(_) => panic!("a newer format opened"),
    }
    assert_eq!(std::fs::read(&path).unwrap(), image);
}

/// Fails every rename (the conversion's install step).
struct NoRenameFs;

impl Fs for NoRenameFs {
    fn create(&self, path: &Path) -> io::Result<Box<dyn JournalFile>> {
        RealFs.create(path)
    }
    fn open_append(&self, path: &Path) -> io::Result<Box<dyn JournalFile>> {
        RealFs.open_append(path)
    }
    fn truncate(&self, path: &Path, len: u64) -> io::Result<()> {
        RealFs.truncate(path, len)
    }
    fn rename(&self, _from: &Path, _to: &Path) -> io::Result<()> {
        Err(io::Error::other("injected EIO on rename"))
    }
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        RealFs.sync_dir(dir)
    }
}

#[test]
fn a_conversion_that_fails_leaves_the_version_1_file_and_nothing_is_appended_to_it() {
    let dir = fresh_dir("convert-fails");
    let path = dir.join(journal::JOURNAL_FILE);
    let image = v1_image();
    std::fs::write(&path, &image).unwrap();
    match Journal::open_with(&dir, Duration::from_secs(1), Arc::new(NoRenameFs)) {
        Err(JournalError::Io { .. }) => {}
        Err(e) => panic!("wrong error {e}"),
        Ok(_) => panic!("a version 1 journal was handed out for appending"),
    }
    assert_eq!(std::fs::read(&path).unwrap(), image);
    assert!(!dir.join(journal::TEMP_FILE).exists());
    drop(open(&dir).unwrap());
    assert_eq!(std::fs::read(&path).unwrap()[..8], format::MAGIC);
}
