//! `journal::lock`: the state lock, `<state_dir>/journal.lock`.
//!
//! Owns: taking and holding an exclusive `flock` (std `File::try_lock`) on a
//! file separate from the journal, because compaction replaces the journal's
//! inode and a lock on the old inode would protect nothing. Trusts: the
//! kernel's advisory locking; every mutating felhom-agent process takes it.
//!
//! Invariant: at most one [`StateLock`] exists per state dir across all
//! processes (and within one process: a second open file description
//! conflicts too). Dropping it (or the process dying) releases it.

use super::error::JournalError;
use std::fs::{File, OpenOptions, TryLockError};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

/// How often a waiting opener retries. Short against the 30 s wait, long
/// enough not to spin.
const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// Name of the lock file inside the state dir.
pub const LOCK_FILE: &str = "journal.lock";

/// The held state lock.
#[derive(Debug)]
pub struct StateLock {
    _file: File,
}

impl StateLock {
    /// Takes the lock, retrying until `wait` has passed (a wait too long to
    /// represent waits without end).
    pub fn acquire(state_dir: &Path, wait: Duration) -> Result<StateLock, JournalError> {
        let path = state_dir.join(LOCK_FILE);
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)
            .map_err(|e| JournalError::io("open lock file", &path, e))?;
        let deadline = Instant::now().checked_add(wait);
        loop {
            match file.try_lock() {
                Ok(()) => return Ok(StateLock { _file: file }),
                Err(TryLockError::WouldBlock) => {}
                Err(TryLockError::Error(e)) => return Err(JournalError::io("lock", &path, e)),
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Err(JournalError::Locked { lock_path: path });
            }
            std::thread::sleep(POLL_INTERVAL);
        }
    }
}
