//! `journal::compact`: replacing the journal with its live state.
//!
//! Owns: installing a whole new journal file (also used to create the first
//! one) and deciding when compaction is due. Trusts: `Index::live_records`.
//!
//! Steps, each a crash point: (1) write `journal.tmp` (header with a fresh
//! salt, `first_seq` continuing the old numbering, `prev_head` = the old
//! chain head; then the live records, in batches of up to
//! `format::MAX_BATCH_BYTES`); (2) `fdatasync` it; (3) rename it over
//! `journal`; (4) fsync the directory. Before (3) completes the old file is
//! the journal (a leftover temp file is deleted at the next open); after it
//! the new one is. Rename is atomic, so a crash leaves the old or the new
//! file, never neither. A failure before the rename abandons the compaction
//! (the old journal stays live); a failure at or after the directory sync
//! exits (`fatal_io`): which file is durable is then unknown.
//!
//! Dropped by compaction: history that no longer shapes behaviour (allowed
//! and lapsed decision records, closed intents and the applied keys of
//! desired-state actions, dequeued ops, nonces past expiry and their applied
//! keys). The audit log keeps the decisions; `prev_head` links the new chain
//! to the old one. Standing decisions are live state and stay.
//!
//! When: the file is compacted once it is larger than max(4 MiB, 2 × the
//! live state), the live state measured as the bytes compaction would write
//! (CONTRACT §8). Every mode and every daemon round re-opens the journal, so
//! the measure is never "the file as it was at open" (a file that grows a
//! little per open would then never be compacted). It is taken only when
//! the file has outgrown twice the last measure, so a pass rarely pays for
//! it, and after a compaction it is the new file's size.

use super::error::JournalError;
use super::format::{self, HEADER_LEN, Header};
use super::handle::{Journal, lock, state_from};
use super::index::Index;
use super::io::{Fs, fatal_io, new_salt};
use super::record::Record;
use super::{JOURNAL_FILE, TEMP_FILE, replay};
use std::path::Path;

/// Smallest file compaction bothers with: below this, replay is instant and
/// rewriting would cost more than it saves.
pub const COMPACT_MIN_BYTES: u64 = 4 << 20;

impl Journal {
    /// Compacts when the file is larger than [`COMPACT_MIN_BYTES`] and
    /// twice its live state (so live state alone never triggers a rewrite
    /// on every call). Returns whether it compacted.
    pub fn compact_if_needed(&self) -> Result<bool, JournalError> {
        let now = crate::time::now_unix();
        let due = {
            let mut st = lock(&self.state);
            let file_len = st.file_len;
            let over = |live: u64| file_len > COMPACT_MIN_BYTES.max(live.saturating_mul(2));
            // The last measure is a lower bound only while nothing was
            // appended since; re-measure whenever it says "due".
            if over(st.live_len) {
                let live = live_len(&st.index, now)?;
                st.live_len = live;
                over(live)
            } else {
                false
            }
        };
        if due {
            self.compact_as_of(now)?;
        }
        Ok(due)
    }

    /// Rewrites the journal as its live state now. Appenders wait meanwhile.
    pub fn compact(&self) -> Result<(), JournalError> {
        self.compact_as_of(crate::time::now_unix())
    }

    /// [`Journal::compact`] with the clock reading `now` (what expiry
    /// pruning compares against; tests step the clock with it).
    pub fn compact_as_of(&self, now: i64) -> Result<(), JournalError> {
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
            .live_records(now)
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
        *st = state_from(index, &summary, summary.valid_len);
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

/// How many records go in each batch of a compacted file, for records of
/// these payload lengths ([`format::first_batch`], batch after batch).
fn batch_counts(lens: &[usize]) -> Vec<usize> {
    let mut counts = Vec::new();
    let mut rest = lens;
    while !rest.is_empty() {
        let (n, _) = format::first_batch(rest.iter().copied());
        counts.push(n);
        rest = rest.get(n..).unwrap_or_default();
    }
    counts
}

/// A whole file: `header`, then `payloads` in batches ([`batch_counts`]).
/// Several batches in one write are safe here: the file is synced before it
/// is renamed into place.
fn encode_file(header: &Header, payloads: &[Vec<u8>]) -> Vec<u8> {
    let mut bytes = header.encode().to_vec();
    let mut seq = header.first_seq;
    let mut rest = payloads;
    let lens: Vec<usize> = payloads.iter().map(Vec::len).collect();
    for n in batch_counts(&lens) {
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

/// The size of the file a compaction at `now` would write for `index`:
/// the live state, as the compaction threshold measures it.
pub fn live_len(index: &Index, now: i64) -> Result<u64, JournalError> {
    let lens = index
        .live_records(now)
        .iter()
        .map(|r| r.encode().map(|p| p.len()))
        .collect::<Result<Vec<_>, _>>()?;
    let records: usize = lens
        .iter()
        .map(|l| format::RECORD_HEAD.saturating_add(*l))
        .sum();
    let batches = batch_counts(&lens).len().saturating_mul(format::BATCH_HEAD);
    Ok(
        u64::try_from(HEADER_LEN.saturating_add(records).saturating_add(batches))
            .unwrap_or(u64::MAX),
    )
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
