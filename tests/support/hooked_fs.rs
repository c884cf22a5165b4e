//! The journal's I/O seam over the real file system, with test hooks on the
//! journal file: every append and every sync of it is reported (after the
//! real call) to a [`Hooks`] value the test supplies. Compaction's
//! temporary file is not hooked. Include with
//! `#[path = "support/hooked_fs.rs"] mod hooked_fs;`.
#![allow(dead_code)]

use felhom_agent::journal::io::{Fs, JournalFile, RealFs};
use std::io;
use std::path::Path;
use std::sync::Arc;

/// What a test does after each append to, and sync of, the journal file
/// (the real call has happened by then).
pub trait Hooks: Send + Sync {
    fn appended(&self, _bytes: &[u8]) {}
    fn synced(&self) {}
}

/// The real file system, with [`Hooks`] on the journal file.
pub struct HookedFs(pub Arc<dyn Hooks>);

struct HookedFile {
    inner: Box<dyn JournalFile>,
    hooks: Arc<dyn Hooks>,
}

impl JournalFile for HookedFile {
    fn append(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.inner.append(bytes)?;
        self.hooks.appended(bytes);
        Ok(())
    }
    fn sync(&mut self) -> io::Result<()> {
        self.inner.sync()?;
        self.hooks.synced();
        Ok(())
    }
}

impl Fs for HookedFs {
    fn create(&self, path: &Path) -> io::Result<Box<dyn JournalFile>> {
        RealFs.create(path)
    }
    fn open_append(&self, path: &Path) -> io::Result<Box<dyn JournalFile>> {
        Ok(Box::new(HookedFile {
            inner: RealFs.open_append(path)?,
            hooks: self.0.clone(),
        }))
    }
    fn truncate(&self, path: &Path, len: u64) -> io::Result<()> {
        RealFs.truncate(path, len)
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        RealFs.rename(from, to)
    }
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        RealFs.sync_dir(dir)
    }
}
