//! `journal`: the append-only, fsync'd record file every safety promise rests
//! on — a consumed nonce is never forgotten, a started op is never lost,
//! nothing runs twice.
//!
//! Owns `<state_dir>/journal` (format and torn-tail rule: [`format`]),
//! `<state_dir>/journal.lock` ([`lock`]) and the transient
//! `<state_dir>/journal.tmp` ([`compact`]). Trusts only its own checksums.
//!
//! ```no_run
//! use felhom_agent::journal::{self, Journal, Record};
//! use std::time::Duration;
//! # fn main() -> Result<(), journal::JournalError> {
//! let dir = std::path::Path::new("/var/lib/felhom-agent");
//! // Mutating modes: lock (wait up to 30 s), replay, repair a torn tail.
//! let j = Journal::open(dir, Duration::from_secs(30))?;
//! let seq = j.append(Record::GenerationApplied { generation: 12 })?; // durable now
//! assert_eq!(j.with_index(|ix| ix.last_generation), Some(12));
//! j.compact_if_needed()?;
//! # let _ = seq;
//! // Read-only modes: no lock, no writes, a torn tail is ignored.
//! let index = journal::open_read_only(dir)?;
//! # let _ = index;
//! # Ok(()) }
//! ```
//!
//! Guarantees:
//! - [`Journal::append`] returns only after `fdatasync` covered the record;
//!   a failed write or sync exits the process ([`io::fatal_io`]).
//! - [`Journal::open`] truncates a torn tail (logged with offset and bytes)
//!   and refuses any other damage ([`JournalError::Damaged`]) untouched. A
//!   power cut at any instant leaves only a torn tail after the records
//!   whose append returned (the argument is in [`format`]).
//! - A journal of format version 1 (earlier releases) is read as it is, and
//!   converted to version 2 by the first mutating open.
//! - Read-only functions never create, write or truncate anything.

mod compact;
mod error;
pub mod format;
pub mod format_v1;
mod group;
mod handle;
pub mod index;
pub mod io;
pub mod lock;
pub mod record;
mod replay;
pub mod txn;

pub use compact::{COMPACT_MIN_BYTES, live_len};
pub use error::{DamageReason, JournalError};
pub use group::MAX_LEADER_BATCHES;
pub use handle::Journal;
pub use index::{AddedApproval, InFlight, Index, KeyState, QueuedOp};
pub use record::{
    DecisionRecord, OutcomeKind, ProvenanceKind, Record, RecordDecodeError, TxnEndKind,
};
pub use txn::{OpenTxn, Provenance, RETRY_HOLD_SECONDS, RetryHold, Transactions};

use replay::replay;
use std::io::Read;
use std::path::Path;

/// The journal's file name in the state dir.
pub const JOURNAL_FILE: &str = "journal";
/// Compaction's temporary file name in the state dir.
pub const TEMP_FILE: &str = "journal.tmp";
/// How long a mutating opener (the daemon's passes, `--reconcile-now`,
/// `--submit`) waits for the state lock (CONTRACT §6). Read-only modes
/// never wait.
pub const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(30);
/// Largest journal file read into memory. Compaction keeps the file near
/// the live state (a few MiB); this only stops a runaway file from
/// exhausting memory.
pub const MAX_FILE_BYTES: u64 = 1 << 30;

/// What `--journal-verify` reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    /// Valid records.
    pub records: u64,
    /// `(offset, bytes)` of a torn tail (repaired at the next mutating open).
    pub torn_tail: Option<(u64, u64)>,
    pub chain_head: format::Hash,
    /// The chain head of the file this one compacted (zeros if none).
    pub prev_head: format::Hash,
    pub first_seq: u64,
}

/// Checks framing, checksums, the chain and every record's decoding.
pub fn verify_file(path: &Path) -> Result<VerifyReport, JournalError> {
    let bytes = read_journal(path)?.ok_or_else(|| {
        JournalError::io(
            "read",
            path,
            std::io::Error::from(std::io::ErrorKind::NotFound),
        )
    })?;
    verify_bytes(&bytes)
}

/// [`verify_file`] over an in-memory image.
pub fn verify_bytes(bytes: &[u8]) -> Result<VerifyReport, JournalError> {
    let (_, summary) = replay(bytes)?;
    Ok(VerifyReport {
        records: summary.records,
        torn_tail: summary.torn_tail,
        chain_head: summary.chain_head,
        prev_head: summary.header.prev_head,
        first_seq: summary.header.first_seq,
    })
}

/// The index of `<state_dir>/journal` without the lock and without writing
/// ([`snapshot_read_only`]); a missing journal is an empty index, a torn
/// tail is logged and ignored.
pub fn open_read_only(state_dir: &Path) -> Result<Index, JournalError> {
    let snapshot = snapshot_read_only(state_dir)?;
    if let Some((offset, len)) = snapshot.torn_tail {
        log::warn!(
            "journal {}: torn tail of {len} bytes at offset {offset} ignored (read-only; the next \
             mutating open truncates it)",
            state_dir.join(JOURNAL_FILE).display()
        );
    }
    Ok(snapshot.index)
}

/// What `--status` reads of the journal: the live state and the file's
/// facts, taken without the lock and without writing.
#[derive(Debug, Clone, Default)]
pub struct ReadOnlySnapshot {
    pub index: Index,
    /// The file's size as read (0 when there is no journal yet).
    pub bytes: u64,
    /// Valid records (a torn tail is not counted).
    pub records: u64,
    /// `None` when there is no journal yet.
    pub chain_head: Option<format::Hash>,
    /// `(offset, bytes)` of a torn tail that was ignored, if any.
    pub torn_tail: Option<(u64, u64)>,
}

/// The index of `<state_dir>/journal` with the file's size, record count
/// and chain head. Never creates, writes or truncates anything; a torn tail
/// (an append in progress, or an unfinished one) is ignored, not logged.
pub fn snapshot_read_only(state_dir: &Path) -> Result<ReadOnlySnapshot, JournalError> {
    let path = state_dir.join(JOURNAL_FILE);
    let Some(bytes) = read_journal(&path)? else {
        return Ok(ReadOnlySnapshot::default());
    };
    let (index, summary) = replay(&bytes)?;
    Ok(ReadOnlySnapshot {
        index,
        bytes: u64::try_from(bytes.len()).unwrap_or(u64::MAX),
        records: summary.records,
        chain_head: Some(summary.chain_head),
        torn_tail: summary.torn_tail,
    })
}

/// Every valid record of a journal file with its seq, in order (read-only;
/// a torn tail is ignored). For auditors and tests.
pub fn read_records(path: &Path) -> Result<Vec<(u64, Record)>, JournalError> {
    let bytes = read_journal(path)?.ok_or_else(|| {
        JournalError::io(
            "read",
            path,
            std::io::Error::from(std::io::ErrorKind::NotFound),
        )
    })?;
    let mut out = Vec::new();
    format::scan(&bytes, |offset, seq, payload| {
        out.push((seq, decode_at(offset, payload)?));
        Ok(())
    })?;
    Ok(out)
}

fn decode_at(offset: u64, payload: &[u8]) -> Result<Record, JournalError> {
    Record::decode(payload).map_err(|e| JournalError::Damaged {
        offset,
        reason: DamageReason::BadRecord {
            detail: e.to_string(),
        },
    })
}

/// The whole file, or `None` if it does not exist; bounded by
/// [`MAX_FILE_BYTES`].
fn read_journal(path: &Path) -> Result<Option<Vec<u8>>, JournalError> {
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(JournalError::io("open", path, e)),
    };
    let len = file
        .metadata()
        .map_err(|e| JournalError::io("stat", path, e))?
        .len();
    if len > MAX_FILE_BYTES {
        return Err(JournalError::FileTooLarge {
            bytes: len,
            limit: MAX_FILE_BYTES,
        });
    }
    let mut bytes = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
    file.take(MAX_FILE_BYTES.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|e| JournalError::io("read", path, e))?;
    Ok(Some(bytes))
}
