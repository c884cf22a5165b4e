//! `journal::handle`: [`Journal`], the mutating handle, and how it opens.
//!
//! Owns: the open sequence (state dir, lock, stale temp file, create or
//! replay, torn-tail repair, the sync before the first append, the
//! conversion of a format version 1 file) and the shared state appenders
//! and compaction work on. Trusts: `format::scan` for what validates.
//!
//! Invariants:
//! - A `Journal` exists only while its process holds the state lock.
//! - `State` mirrors the file: `Journal::durable_next` is the first seq not
//!   yet durable; `pending` holds the batch being gathered (its head not
//!   yet sealed, records from `pending_seq` on) not yet handed to the
//!   kernel; the index already includes pending records (they become
//!   durable or the process exits); `chain_head` covers the durable
//!   batches.
//! - Nothing is appended until the file as read is durable: a process
//!   killed between its write and its sync left that batch in the page
//!   cache, valid to read; syncing it first keeps it the only unsynced
//!   batch the file has ever had (`format`, the torn-tail rule).
//! - Only format version 2 is ever appended to: a version 1 file is
//!   replaced by a compaction (which writes version 2) before the handle is
//!   returned.
//! - The sink is touched only by the one appender that set `flushing`, or
//!   by compaction while nothing is flushing or pending.

use super::error::JournalError;
use super::format::{self, Hash, Header, SALT_LEN, Version};
use super::index::Index;
use super::io::{Fs, JournalFile, RealFs, fatal_io};
use super::lock::StateLock;
use super::{JOURNAL_FILE, TEMP_FILE, replay};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

/// The mutating handle; `Sync`, so lane threads append concurrently.
pub struct Journal {
    pub(super) dir: PathBuf,
    pub(super) path: PathBuf,
    pub(super) fs: Arc<dyn Fs>,
    pub(super) state: Mutex<State>,
    /// Signalled when a leader stops flushing (compaction waits on it).
    pub(super) flushed: Condvar,
    /// The first seq not yet durable. Written only by the leader, under the
    /// state mutex, after its sync; parked appenders read it without the
    /// mutex (see `group`).
    pub(super) durable_next: AtomicU64,
    /// Appenders whose records are durable, to be unparked by the first of
    /// them the leader woke (see `group`).
    pub(super) wake_queue: Mutex<Vec<std::thread::Thread>>,
    pub(super) sink: Mutex<Box<dyn JournalFile>>,
    _lock: StateLock,
}

/// An appender parked until its record is durable.
pub(super) struct Waiter {
    pub seq: u64,
    pub thread: std::thread::Thread,
}

pub(super) struct State {
    pub salt: [u8; SALT_LEN],
    pub next_seq: u64,
    /// Chain head over the durable batches.
    pub chain_head: Hash,
    /// The batch being gathered: [`format::BATCH_HEAD`] reserved bytes and
    /// records, or empty.
    pub pending: Vec<u8>,
    /// Seq of the first record in `pending`.
    pub pending_seq: u64,
    /// An emptied flush buffer, reused for the next `pending`.
    pub spare: Vec<u8>,
    /// A leader is flushing (see `group`).
    pub flushing: bool,
    /// Appenders parked until their record is durable, in seq order.
    pub waiters: Vec<Waiter>,
    /// A compaction waits on `flushed` for the leader to stop (so a leader
    /// signals it only then, not after every append).
    pub compactor_waiting: bool,
    pub index: Index,
    /// Bytes in the file, durable.
    pub file_len: u64,
    /// Bytes of the live state at its last measure (0: not measured since
    /// open), for compaction's bound.
    pub live_len: u64,
}

impl Journal {
    /// Opens `<state_dir>/journal` for appending, on the real file system.
    pub fn open(state_dir: &Path, lock_wait: Duration) -> Result<Journal, JournalError> {
        Journal::open_with(state_dir, lock_wait, Arc::new(RealFs))
    }

    /// As [`Journal::open`], with every change to the disk going through `fs`
    /// (the I/O seam; crash tests pass a recording or failing one).
    pub fn open_with(
        state_dir: &Path,
        lock_wait: Duration,
        fs: Arc<dyn Fs>,
    ) -> Result<Journal, JournalError> {
        ensure_dir(state_dir)?;
        let lock = StateLock::acquire(state_dir, lock_wait)?;
        let path = state_dir.join(JOURNAL_FILE);
        remove_stale_temp(state_dir)?;
        let (state, recovered, version) = match super::read_journal(&path)? {
            None => (
                create_empty(fs.as_ref(), state_dir, &path)?,
                None,
                Version::V2,
            ),
            Some(bytes) => {
                let (index, summary) = replay(&bytes)?;
                let version = summary.header.version;
                // The live state is measured when compaction first asks.
                let state = state_from(index, &summary, 0);
                (state, summary.torn_tail, version)
            }
        };
        if let Some((offset, bytes)) = recovered {
            log::warn!(
                "journal {}: torn tail repaired: truncated at offset {offset}, {bytes} bytes dropped \
                 (a write that never completed or was never synced)",
                path.display()
            );
            fs.truncate(&path, offset)
                .map_err(|e| JournalError::io("truncate torn tail", &path, e))?;
        }
        let mut sink = fs
            .open_append(&path)
            .map_err(|e| JournalError::io("open for append", &path, e))?;
        sink.sync()
            .map_err(|e| JournalError::io("sync before the first append", &path, e))?;
        let journal = Journal {
            dir: state_dir.to_path_buf(),
            path,
            fs,
            durable_next: AtomicU64::new(state.next_seq),
            wake_queue: Mutex::new(Vec::new()),
            state: Mutex::new(state),
            flushed: Condvar::new(),
            sink: Mutex::new(sink),
            _lock: lock,
        };
        if version == Version::V1 {
            log::info!(
                "journal {}: format version 1 (written by an earlier release); converting it to \
                 version 2 with one compaction (the new file's prev_head is the old chain head)",
                journal.path.display()
            );
            journal.compact()?;
        }
        Ok(journal)
    }

    /// Runs `f` on the current index (pending records included).
    pub fn with_index<R>(&self, f: impl FnOnce(&Index) -> R) -> R {
        f(&lock(&self.state).index)
    }

    /// A copy of the current index.
    pub fn index(&self) -> Index {
        self.with_index(Index::clone)
    }

    /// The chain head over every durable batch (so over every record whose
    /// append returned).
    pub fn chain_head(&self) -> Hash {
        lock(&self.state).chain_head
    }

    /// Bytes in the journal file now.
    pub fn file_len(&self) -> u64 {
        lock(&self.state).file_len
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Locks a journal mutex. A poisoned one means a thread died mid-update of
/// the durable-state mirror: stopping is the only safe answer.
pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(_) => fatal_io(
            "state mutex",
            Path::new("journal"),
            &std::io::Error::other("poisoned by a panicked thread"),
        ),
    }
}

pub(super) fn state_from(index: Index, summary: &format::ScanSummary, live_len: u64) -> State {
    State {
        salt: summary.header.salt,
        next_seq: summary.next_seq,
        chain_head: summary.chain_head,
        pending: Vec::new(),
        pending_seq: summary.next_seq,
        spare: Vec::new(),
        flushing: false,
        waiters: Vec::new(),
        compactor_waiting: false,
        index,
        file_len: summary.valid_len,
        live_len,
    }
}

/// Creates the state dir (0700) if missing, and makes its entry durable.
fn ensure_dir(dir: &Path) -> Result<(), JournalError> {
    if dir.is_dir() {
        return Ok(());
    }
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| JournalError::io("create state dir", dir, e))?;
    if let Some(parent) = dir.parent() {
        RealFs
            .sync_dir(parent)
            .map_err(|e| JournalError::io("sync dir", parent, e))?;
    }
    Ok(())
}

/// A temp file left by a crash mid-compaction is never the live journal.
fn remove_stale_temp(dir: &Path) -> Result<(), JournalError> {
    let tmp = dir.join(TEMP_FILE);
    match std::fs::remove_file(&tmp) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(JournalError::io("remove stale temp file", &tmp, e)),
    }
}

/// A new, empty journal, installed the way compaction installs one.
fn create_empty(fs: &dyn Fs, dir: &Path, path: &Path) -> Result<State, JournalError> {
    let header = Header::new(super::io::new_salt(&[0u8; 32]), 1, [0u8; 32]);
    let bytes = header.encode();
    super::compact::install(fs, dir, &bytes)?;
    log::info!("journal {} created", path.display());
    let (index, summary) = replay(&bytes)?;
    Ok(state_from(index, &summary, summary.valid_len))
}
