//! `journal::compact`: replacing the journal with its live state.
//!
//! Owns: installing a whole new journal file (also used to create the first
//! one) and deciding when compaction is due. Trusts: `Index::live_records`.
//!
//! Steps, each a crash point: (1) write `journal.tmp` (header with a fresh
//! salt, `first_seq` continuing the old numbering, `prev_head` = the old
//! chain head; then the live records); (2) `fdatasync` it; (3) rename it over
//! `journal`; (4) fsync the directory. Before (3) completes the old file is
//! the journal (a leftover temp file is deleted at the next open); after it
//! the new one is. Rename is atomic, so a crash leaves the old or the new
//! file, never neither. A failure before the rename abandons the compaction
//! (the old journal stays live); a failure at or after the directory sync
//! exits (`fatal_io`): which file is durable is then unknown.
//!
//! Dropped by compaction: history that no longer shapes behaviour (decision
//! records, closed intents and the applied keys of desired-state actions,
//! dequeued ops, nonces past expiry and their applied keys). The audit log
//! keeps the decisions; `prev_head` links the new chain to the old one.

use super::error::JournalError;
use super::format::{self, Header};
use super::handle::{Journal, lock, state_from};
use super::io::{Fs, fatal_io, new_salt};
use super::record::Record;
use super::{JOURNAL_FILE, TEMP_FILE, replay};
use std::path::Path;

/// Smallest file compaction bothers with: below this, replay is instant and
/// rewriting would cost more than it saves.
pub const COMPACT_MIN_BYTES: u64 = 4 << 20;

impl Journal {
    /// Compacts when the file passes [`COMPACT_MIN_BYTES`] and twice its
    /// size after the last compaction (so live state alone never triggers a
    /// rewrite on every call). Returns whether it compacted.
    pub fn compact_if_needed(&self) -> Result<bool, JournalError> {
        let due = {
            let st = lock(&self.state);
            st.file_len > COMPACT_MIN_BYTES.max(st.base_len.saturating_mul(2))
        };
        if due {
            self.compact()?;
        }
        Ok(due)
    }

    /// Rewrites the journal as its live state now. Appenders wait meanwhile.
    pub fn compact(&self) -> Result<(), JournalError> {
        let mut st = lock(&self.state);
        while st.flushing || !st.pending.is_empty() {
            st.compactor_waiting = true;
            st = match self.flushed.wait(st) {
                Ok(g) => g,
                Err(_) => fatal_io(
                    "wait",
                    &self.path,
                    &std::io::Error::other("state mutex poisoned"),
                ),
            };
        }
        st.compactor_waiting = false;
        let header = Header::new(new_salt(&st.chain_head), st.next_seq, st.chain_head);
        let payloads = st
            .index
            .live_records(crate::time::now_unix())
            .iter()
            .map(Record::encode)
            .collect::<Result<Vec<_>, _>>()?;
        let bytes = encode_file(&header, &payloads);
        // Replaying what is about to be installed proves it reads back, and
        // makes the in-memory state exactly what the next open will see.
        let (index, summary) = replay(&bytes)?;
        install(self.fs.as_ref(), &self.dir, &bytes)?;
        let sink = match self.fs.open_append(&self.path) {
            Ok(s) => s,
            Err(e) => fatal_io("reopen after compaction", &self.path, &e),
        };
        *lock(&self.sink) = sink;
        *st = state_from(index, &summary);
        // The compacted records took seqs from the old `next_seq` on, and
        // they are durable.
        self.durable_next
            .store(summary.next_seq, std::sync::atomic::Ordering::Release);
        log::info!(
            "journal {} compacted to {} bytes ({} records)",
            self.path.display(),
            summary.valid_len,
            summary.records
        );
        Ok(())
    }
}

/// A whole file: `header`, then `payloads` in as few batches as
/// [`format::MAX_BATCH_BYTES`] allows. Several batches in one write are
/// safe here: the file is synced before it is renamed into place.
fn encode_file(header: &Header, payloads: &[Vec<u8>]) -> Vec<u8> {
    let mut bytes = header.encode().to_vec();
    let mut seq = header.first_seq;
    let mut rest = payloads;
    while !rest.is_empty() {
        let mut body = 0usize;
        let n = rest
            .iter()
            .take_while(|p| {
                body = body.saturating_add(format::RECORD_HEAD + p.len());
                body <= format::MAX_BATCH_BYTES
            })
            .count()
            .max(1);
        let (batch, later) = rest.split_at(n.min(rest.len()));
        format::encode_batch(
            &mut bytes,
            &header.salt,
            seq,
            batch.iter().map(Vec::as_slice),
        );
        seq = seq.saturating_add(u64::try_from(n).unwrap_or(u64::MAX));
        rest = later;
    }
    bytes
}

/// Installs `bytes` as `<dir>/journal` via the temp file, rename and
/// directory sync. Errors before the rename are returned (nothing changed);
/// a failed directory sync is fatal.
pub(super) fn install(fs: &dyn Fs, dir: &Path, bytes: &[u8]) -> Result<(), JournalError> {
    let tmp = dir.join(TEMP_FILE);
    let path = dir.join(JOURNAL_FILE);
    let written = fs.create(&tmp).and_then(|mut f| {
        f.append(bytes)?;
        f.sync()
    });
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(JournalError::io("write temp file", &tmp, e));
    }
    if let Err(e) = fs.rename(&tmp, &path) {
        let _ = std::fs::remove_file(&tmp);
        return Err(JournalError::io("rename temp file over journal", &path, e));
    }
    if let Err(e) = fs.sync_dir(dir) {
        fatal_io("directory fsync", dir, &e);
    }
    Ok(())
}
