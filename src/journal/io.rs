//! `journal::io`: the few I/O calls that change the journal on disk, behind a
//! small seam so crash tests can record, fail or replay each one.
//!
//! Owns: [`Fs`] and [`JournalFile`] (the seam), [`RealFs`] (std files,
//! mode 0600, `fdatasync`, directory fsync), [`fatal_io`], and the salt.
//! Trusts: the kernel's answers.
//!
//! Durability rule (DESIGN §4): once bytes were handed to the kernel, a
//! failed write or sync stops the process. The kernel may already have
//! dropped the dirty pages and will not report the failure twice, so a retry
//! could acknowledge a record that is not on disk.

use sha2::{Digest, Sha256};
use std::fs::{File, OpenOptions};
use std::hash::BuildHasher;
use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// One open journal (or temporary) file, written only at its end.
pub trait JournalFile: Send {
    fn append(&mut self, bytes: &[u8]) -> io::Result<()>;
    /// `fdatasync`: the appended bytes (and the file size) are durable.
    fn sync(&mut self) -> io::Result<()>;
}

/// The directory-level calls.
pub trait Fs: Send + Sync {
    /// Creates (or empties) a file, mode 0600, for writing.
    fn create(&self, path: &Path) -> io::Result<Box<dyn JournalFile>>;
    /// Opens an existing file for appending.
    fn open_append(&self, path: &Path) -> io::Result<Box<dyn JournalFile>>;
    /// Cuts a file to `len` bytes and makes that durable.
    fn truncate(&self, path: &Path, len: u64) -> io::Result<()>;
    /// Atomically replaces `to` with `from`.
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// Makes the directory's entries (creations, renames) durable.
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;
}

/// The real file system.
#[derive(Debug, Clone, Copy, Default)]
pub struct RealFs;

struct RealFile(File);

impl JournalFile for RealFile {
    fn append(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.0.write_all(bytes)
    }
    fn sync(&mut self) -> io::Result<()> {
        self.0.sync_data()
    }
}

impl Fs for RealFs {
    fn create(&self, path: &Path) -> io::Result<Box<dyn JournalFile>> {
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(path)?;
        Ok(Box::new(RealFile(file)))
    }

    fn open_append(&self, path: &Path) -> io::Result<Box<dyn JournalFile>> {
        let file = OpenOptions::new().append(true).open(path)?;
        Ok(Box::new(RealFile(file)))
    }

    fn truncate(&self, path: &Path, len: u64) -> io::Result<()> {
        let file = OpenOptions::new().write(true).open(path)?;
        file.set_len(len)?;
        file.sync_all()
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        std::fs::rename(from, to)
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        File::open(dir)?.sync_all()
    }
}

/// Logs the failed durable write and exits 1. Never returns, never retries.
pub fn fatal_io(action: &str, path: &Path, err: &io::Error) -> ! {
    log::error!(
        "journal {action} failed on {}: {err}; stopping (a retry could acknowledge a record \
         the kernel already dropped); the next start repairs the journal",
        path.display()
    );
    std::process::exit(1)
}

/// A fresh 16-byte file salt. It must differ between files (so stale bytes
/// never validate), not be secret: OS randomness when readable, mixed with
/// the clock, the process id, std's randomly keyed hasher and the previous
/// chain head, so it still differs if `/dev/urandom` is unavailable.
pub fn new_salt(prev_head: &[u8; 32]) -> [u8; 16] {
    let mut h = Sha256::new();
    let mut os = [0u8; 32];
    if let Ok(mut f) = File::open("/dev/urandom")
        && f.read_exact(&mut os).is_ok()
    {
        h.update(os);
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    h.update(now.to_le_bytes());
    h.update(std::process::id().to_le_bytes());
    h.update(
        std::collections::hash_map::RandomState::new()
            .hash_one(now)
            .to_le_bytes(),
    );
    h.update(prev_head);
    let digest = h.finalize();
    let mut salt = [0u8; 16];
    salt.copy_from_slice(digest.get(..16).unwrap_or(&[0u8; 16]));
    salt
}
