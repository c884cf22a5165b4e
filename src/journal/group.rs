//! `journal::group`: append with group commit.
//!
//! Owns: turning a record into a durable frame. Many lane threads append at
//! once; one `write` + one `fdatasync` covers every frame queued while the
//! previous sync ran, and each appender returns only once the frame holding
//! its own record is durable.
//!
//! Protocol (all under the state mutex except the I/O):
//! 1. Encode the JSON outside the lock; under it take the next seq, frame
//!    the record into `pending`, advance the chain, fold it into the index.
//! 2. If `durable_next > seq`, the record is durable: return.
//! 3. Else, if no one is flushing, become the flusher: take all of
//!    `pending` (batch n; new frames now join batch n+1), release the lock,
//!    write and `fdatasync` it, retake the lock, publish `durable_next`,
//!    wake batch n's appenders and one appender of batch n+1 (if it has
//!    frames) to flush it. Otherwise wait on the condvar of your batch's
//!    parity; go to 2. Waking only the appenders a flush concerns keeps 64
//!    lanes from waking 63 threads per sync.
//!
//! Order: seqs are assigned under the lock in the order frames enter
//! `pending`, and batches are written in that order, so file order is seq
//! order. A failed write or sync exits the process (`fatal_io`).

use super::error::JournalError;
use super::format;
use super::handle::{Journal, lock};
use super::io::fatal_io;
use super::record::Record;

impl Journal {
    /// Appends `record`; returns its seq once it is durable (fdatasync).
    pub fn append(&self, record: Record) -> Result<u64, JournalError> {
        let payload = record.encode()?;
        let mut st = lock(&self.state);
        let seq = st.next_seq;
        st.next_seq = seq.checked_add(1).ok_or(JournalError::Encode {
            detail: "sequence numbers exhausted".to_string(),
        })?;
        let salt = st.salt;
        let digest = format::encode_frame(&mut st.pending, &salt, seq, &payload);
        st.chain_head = format::chain_next(&st.chain_head, &digest);
        st.index.apply(record);
        let my_batch = st.batch;
        loop {
            if st.durable_next > seq {
                return Ok(seq);
            }
            if st.flushing {
                st = match self.batch_cv(my_batch).wait(st) {
                    Ok(g) => g,
                    Err(_) => fatal_io(
                        "wait",
                        &self.path,
                        &std::io::Error::other("state mutex poisoned"),
                    ),
                };
                continue;
            }
            st.flushing = true;
            let batch = std::mem::take(&mut st.pending);
            let flushed_batch = st.batch;
            st.batch = st.batch.wrapping_add(1);
            let upto = st.next_seq;
            drop(st);
            self.write_durably(&batch);
            st = lock(&self.state);
            st.durable_next = upto;
            st.file_len = st
                .file_len
                .saturating_add(u64::try_from(batch.len()).unwrap_or(u64::MAX));
            st.flushing = false;
            self.batch_cv(flushed_batch).notify_all();
            if !st.pending.is_empty() {
                // Someone of the next batch flushes it; waking one is enough.
                self.batch_cv(st.batch).notify_one();
            }
            self.flushed.notify_all();
        }
    }

    /// The condvar of a batch. At most two batches are live (one being
    /// flushed, one filling), so the batch number's parity tells them apart.
    fn batch_cv(&self, batch: u64) -> &std::sync::Condvar {
        if batch % 2 == 1 {
            &self.batch_odd
        } else {
            &self.batch_even
        }
    }

    /// Hands `batch` to the kernel and syncs it; any failure is fatal.
    fn write_durably(&self, batch: &[u8]) {
        let mut sink = lock(&self.sink);
        if let Err(e) = sink.append(batch) {
            fatal_io("write", &self.path, &e);
        }
        if let Err(e) = sink.sync() {
            fatal_io("fdatasync", &self.path, &e);
        }
    }
}
