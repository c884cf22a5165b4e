//! `journal::group`: append with group commit.
//!
//! Owns: turning a record into a durable batch (`format`). Many lane
//! threads append at once; one `write` + one `fdatasync` covers every
//! record queued while the previous sync ran, as one batch with one check,
//! and each appender returns only once the batch holding its own record is
//! durable.
//!
//! Protocol (all under the state mutex except the I/O and the wake-ups):
//! 1. Encode the JSON outside the lock; under it take the next seq, add the
//!    record to the `pending` batch, fold it into the index.
//! 2. If no one is flushing, become the *leader*: take `pending` as the
//!    next batch (at most [`format::MAX_BATCH_BYTES`] of records; the rest
//!    stays pending), release the lock, seal (check), write and `fdatasync`
//!    it, retake the lock, advance the chain, publish `durable_next` (an
//!    atomic), and take out the waiters whose records that sync covered. If
//!    more records arrived meanwhile, take them as the next batch, release
//!    the lock, wake the covered waiters (the leader unparks the first; it
//!    unparks the rest while the leader syncs) and flush again, up to
//!    [`MAX_LEADER_BATCHES`] batches in a row. Then hand leadership to the
//!    oldest waiter still pending (it is unparked, finds no leader, and
//!    leads) and return.
//! 3. Otherwise register as a waiter (seq + thread, in the same critical
//!    section as step 1, so a leader can never miss it) and park until
//!    `durable_next > seq`. A waiter woken while nothing is durable for it
//!    and no one leads becomes the leader (step 2).
//!
//! Power-loss invariant (the torn-tail rule in `format` rests on it): a
//! batch is written only after the previous one's `fdatasync` returned, so
//! at most one batch is ever unsynced, and it is the last in the file. One
//! leader at a time (`flushing`) and write-then-sync inside
//! [`Journal::write_durably`] give it.
//!
//! Why parking instead of a condvar: a woken appender checks the atomic and
//! returns without touching the state mutex, so one sync completing does not
//! make dozens of threads fight for that mutex (on two cores each lost fight
//! is another context switch). Why the leader keeps flushing: the disk
//! starts the next sync without waiting for another thread to be scheduled.
//! Why the leader seals: the check over a batch is known only once the
//! batch is closed, and computing it outside the lock lets appenders queue
//! the next batch meanwhile.
//!
//! Order: seqs are assigned under the lock in the order records enter
//! `pending`, and batches are written in that order, so file order is seq
//! order. A failed write or sync exits the process (`fatal_io`), so no
//! waiter is ever left parked for a record that will not become durable.

use super::error::JournalError;
use super::format;
use super::handle::{Journal, State, Waiter, lock};
use super::io::fatal_io;
use super::record::Record;
use std::sync::MutexGuard;
use std::sync::atomic::Ordering;

/// Batches one leader flushes in a row before handing over, so its own
/// caller waits at most this many syncs.
pub const MAX_LEADER_BATCHES: u32 = 16;

/// What one write and sync cover: the records from seq `seq` up to (not
/// including) `upto`, as one batch (head not yet sealed).
struct Batch {
    bytes: Vec<u8>,
    seq: u64,
    upto: u64,
}

impl Batch {
    fn count(&self) -> u32 {
        u32::try_from(self.upto.saturating_sub(self.seq)).unwrap_or(u32::MAX)
    }
}

/// Takes what is pending as the next batch (under the state mutex): all of
/// it, or, past [`format::MAX_BATCH_BYTES`], the records that fit (at least
/// one), the rest staying pending as the start of the next batch.
fn take_pending(st: &mut State) -> Batch {
    let seq = st.pending_seq;
    let body = st.pending.get(format::BATCH_HEAD..).unwrap_or_default();
    if body.len() <= format::MAX_BATCH_BYTES {
        let spare = std::mem::take(&mut st.spare);
        return Batch {
            bytes: std::mem::replace(&mut st.pending, spare),
            seq,
            upto: st.next_seq,
        };
    }
    let (records, fit) = format::first_batch(format::records_in(body).map(|(_, p)| p.len()));
    let rest = st
        .pending
        .split_off(format::BATCH_HEAD.saturating_add(fit).min(st.pending.len()));
    let mut next = Vec::with_capacity(format::BATCH_HEAD.saturating_add(rest.len()));
    next.resize(format::BATCH_HEAD, 0);
    next.extend_from_slice(&rest);
    st.pending_seq = seq.saturating_add(u64::try_from(records).unwrap_or(u64::MAX));
    Batch {
        bytes: std::mem::replace(&mut st.pending, next),
        seq,
        upto: st.pending_seq,
    }
}

/// A flush buffer larger than this is freed after use rather than kept.
const KEEP_BUFFER_BYTES: usize = 1 << 20;

impl Journal {
    /// Appends `record`; returns its seq once it is durable (fdatasync).
    pub fn append(&self, record: Record) -> Result<u64, JournalError> {
        let payload = record.encode()?;
        let mut st = lock(&self.state);
        let seq = st.next_seq;
        st.next_seq = seq.checked_add(1).ok_or(JournalError::Encode {
            detail: "sequence numbers exhausted".to_string(),
        })?;
        if st.pending.is_empty() {
            st.pending.resize(format::BATCH_HEAD, 0);
            st.pending_seq = seq;
        }
        format::push_record(&mut st.pending, &payload);
        st.index.apply(record);
        if st.flushing {
            st.waiters.push(Waiter {
                seq,
                thread: std::thread::current(),
            });
            drop(st);
            self.wait_durable(seq);
        } else {
            st.flushing = true;
            self.lead(st, seq);
        }
        Ok(seq)
    }

    /// Parks until `seq` is durable, leading the flushes if handed over.
    fn wait_durable(&self, seq: u64) {
        loop {
            std::thread::park();
            if self.durable_next.load(Ordering::Acquire) > seq {
                self.wake_queued();
                return;
            }
            let mut st = lock(&self.state);
            if self.durable_next.load(Ordering::Acquire) > seq {
                drop(st);
                self.wake_queued();
                return;
            }
            if !st.flushing {
                // Handed over (or a spurious wake-up found no leader): this
                // record is in `pending`, and a leader flushes until its own
                // record is durable.
                st.flushing = true;
                st.waiters.retain(|w| w.seq != seq);
                self.lead(st, seq);
                return;
            }
        }
    }

    /// Flushes `pending` as the leader (`st.flushing` is set by the caller)
    /// until it is empty or [`MAX_LEADER_BATCHES`] were written and the
    /// leader's own record `seq` is durable; clears `flushing` before
    /// returning.
    fn lead<'a>(&'a self, mut st: MutexGuard<'a, State>, seq: u64) {
        let mut batches = 0u32;
        let salt = st.salt;
        let mut batch = take_pending(&mut st);
        drop(st);
        loop {
            let count = batch.count();
            let digest = format::seal_batch(&mut batch.bytes, &salt, batch.seq, count);
            self.write_durably(&batch.bytes);
            let mut st = lock(&self.state);
            st.chain_head = format::chain_next(&st.chain_head, &digest);
            self.durable_next.store(batch.upto, Ordering::Release);
            st.file_len = st
                .file_len
                .saturating_add(u64::try_from(batch.bytes.len()).unwrap_or(u64::MAX));
            if batch.bytes.capacity() <= KEEP_BUFFER_BYTES {
                batch.bytes.clear();
                st.spare = std::mem::take(&mut batch.bytes);
            }
            let covered = st.waiters.partition_point(|w| w.seq < batch.upto);
            let woken: Vec<Waiter> = st.waiters.drain(..covered).collect();
            batches = batches.saturating_add(1);
            let own_pending = batch.upto <= seq;
            if !st.pending.is_empty() && (batches < MAX_LEADER_BATCHES || own_pending) {
                // Take the next batch before anyone runs, so the disk gets
                // it as soon as the wake-ups are handed off.
                batch = take_pending(&mut st);
                drop(st);
                self.hand_off_wakeups(woken);
                continue;
            }
            st.flushing = false;
            let successor = st.waiters.first().map(|w| w.thread.clone());
            let compactor_waiting = std::mem::take(&mut st.compactor_waiting);
            drop(st);
            self.hand_off_wakeups(woken);
            if let Some(next) = successor {
                next.unpark();
            }
            if compactor_waiting {
                self.flushed.notify_all();
            }
            self.wake_queued();
            return;
        }
    }

    /// Wakes appenders whose records are durable without making the leader
    /// pay for every wake-up: it unparks the first, queues the rest, and the
    /// first unparks them ([`Journal::wake_queued`]) while the leader syncs
    /// the next batch.
    fn hand_off_wakeups(&self, woken: Vec<Waiter>) {
        let mut threads = woken.into_iter().map(|w| w.thread);
        let Some(first) = threads.next() else {
            return;
        };
        lock(&self.wake_queue).extend(threads);
        first.unpark();
    }

    /// Unparks every appender queued by [`Journal::hand_off_wakeups`].
    fn wake_queued(&self) {
        let queued = std::mem::take(&mut *lock(&self.wake_queue));
        for thread in queued {
            thread.unpark();
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
