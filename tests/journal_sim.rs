//! Simulated disk: the journal's writes are recorded through its I/O seam,
//! and at every crash point each on-disk state the kernel could have left is
//! materialized and recovered with the real open.
//!
//! Model: what was synced is durable; of what was written since the last
//! sync, any prefix may have reached the disk, and the file size may have
//! been extended over the rest before its data (read back as zeros or
//! garbage). Invariants after recovery: every acknowledged record present,
//! none duplicated, and the records are exactly a prefix of the write order.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use felhom_agent::journal::io::{Fs, JournalFile, RealFs};
use felhom_agent::journal::{self, Journal, JournalError, Record};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn fresh_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("journal-sim")
        .join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[derive(Debug, Clone)]
enum Event {
    Append(Vec<u8>),
    Sync,
}

#[derive(Default)]
struct Log {
    events: Vec<Event>,
    /// (events logged when the append returned, generation acknowledged)
    acks: Vec<(usize, u64)>,
}

/// Passes every call to the real file system and records the journal's
/// appends and syncs.
struct RecordingFs {
    log: Arc<Mutex<Log>>,
}

struct RecordingFile {
    inner: Box<dyn JournalFile>,
    log: Arc<Mutex<Log>>,
}

impl JournalFile for RecordingFile {
    fn append(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.inner.append(bytes)?;
        self.log
            .lock()
            .unwrap()
            .events
            .push(Event::Append(bytes.to_vec()));
        Ok(())
    }
    fn sync(&mut self) -> io::Result<()> {
        self.inner.sync()?;
        self.log.lock().unwrap().events.push(Event::Sync);
        Ok(())
    }
}

impl Fs for RecordingFs {
    fn create(&self, path: &Path) -> io::Result<Box<dyn JournalFile>> {
        RealFs.create(path)
    }
    fn open_append(&self, path: &Path) -> io::Result<Box<dyn JournalFile>> {
        Ok(Box::new(RecordingFile {
            inner: RealFs.open_append(path)?,
            log: self.log.clone(),
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

const THREADS: u64 = 4;
const PER_THREAD: u64 = 8;

/// Runs the concurrent workload; returns the journal's bytes at open, the
/// event log, and the final record order.
fn run_workload(dir: &Path) -> (Vec<u8>, Log, Vec<u64>) {
    let log = Arc::new(Mutex::new(Log::default()));
    let fs = Arc::new(RecordingFs { log: log.clone() });
    let j = Arc::new(Journal::open_with(dir, Duration::from_secs(1), fs).unwrap());
    let initial = std::fs::read(dir.join("journal")).unwrap();
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let (j, log) = (j.clone(), log.clone());
            std::thread::spawn(move || {
                for i in 0..PER_THREAD {
                    let id = t * 1000 + i;
                    j.append(Record::GenerationApplied { generation: id })
                        .unwrap();
                    let mut l = log.lock().unwrap();
                    let n = l.events.len();
                    l.acks.push((n, id));
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    drop(j);
    let order = generations(&dir.join("journal"));
    let log = Arc::try_unwrap(log).ok().unwrap().into_inner().unwrap();
    (initial, log, order)
}

fn generations(path: &Path) -> Vec<u64> {
    journal::read_records(path)
        .unwrap()
        .into_iter()
        .map(|(_, r)| match r {
            Record::GenerationApplied { generation } => generation,
            other => panic!("unexpected {other:?}"),
        })
        .collect()
}

/// Durable bytes and pending bytes after the first `k` events.
fn split_at_crash(initial: &[u8], events: &[Event], k: usize) -> (Vec<u8>, Vec<u8>) {
    let mut durable = initial.to_vec();
    let mut pending = Vec::new();
    for e in &events[..k] {
        match e {
            Event::Append(b) => pending.extend_from_slice(b),
            Event::Sync => durable.append(&mut pending),
        }
    }
    (durable, pending)
}

/// Prefix lengths worth materializing: every frame boundary and its
/// neighbours, plus a stride through the rest.
fn prefix_lengths(pending: &[u8]) -> Vec<usize> {
    let mut lens = vec![0, pending.len()];
    let mut off = 0usize;
    while off + 4 <= pending.len() {
        let len = u32::from_le_bytes(pending[off..off + 4].try_into().unwrap()) as usize;
        lens.extend([off.saturating_sub(1), off, off + 1, off + 4, off + 27]);
        off += journal::format::FRAME_OVERHEAD + len;
    }
    lens.extend((0..pending.len()).step_by(11));
    lens.retain(|&l| l <= pending.len());
    lens.sort_unstable();
    lens.dedup();
    lens
}

fn recover_and_check(dir: &Path, image: &[u8], acked: &[u64], order: &[u64], append_after: bool) {
    let path = dir.join("journal");
    std::fs::write(&path, image).unwrap();
    let j = Journal::open(dir, Duration::from_secs(1)).unwrap();
    drop(j);
    let got = generations(&path);
    assert_eq!(
        got[..],
        order[..got.len()],
        "recovered records are a prefix of the write order"
    );
    for id in acked {
        assert!(got.contains(id), "acknowledged record {id} lost");
    }
    assert_eq!(
        journal::verify_file(&path).unwrap().torn_tail,
        None,
        "repaired"
    );
    if append_after {
        let j = Journal::open(dir, Duration::from_secs(1)).unwrap();
        j.append(Record::GenerationApplied { generation: 99_999 })
            .unwrap();
        drop(j);
        let again = generations(&path);
        assert_eq!(again[..got.len()], got[..]);
        assert_eq!(again.last(), Some(&99_999));
    }
}

#[test]
fn every_crash_point_of_concurrent_appends_recovers_every_acknowledged_record_in_order() {
    let dir = fresh_dir("appends");
    let (initial, log, order) = run_workload(&dir);
    assert_eq!(order.len() as u64, THREADS * PER_THREAD);
    let work = fresh_dir("appends-recover");
    let mut states = 0usize;
    let mut noise = 0x2545_f491_4f6c_dd1du64;
    for k in 0..=log.events.len() {
        let (durable, pending) = split_at_crash(&initial, &log.events, k);
        let acked: Vec<u64> = log
            .acks
            .iter()
            .filter(|(n, _)| *n <= k)
            .map(|(_, id)| *id)
            .collect();
        for p in prefix_lengths(&pending) {
            let mut image = durable.clone();
            image.extend_from_slice(&pending[..p]);
            recover_and_check(&work, &image, &acked, &order, states.is_multiple_of(16));
            states += 1;
            if p == pending.len() {
                continue;
            }
            let mut zeros = image.clone();
            zeros.resize(durable.len() + pending.len(), 0);
            recover_and_check(&work, &zeros, &acked, &order, false);
            let mut garbage = image;
            while garbage.len() < durable.len() + pending.len() {
                noise ^= noise << 13;
                noise ^= noise >> 7;
                noise ^= noise << 17;
                garbage.push(noise as u8);
            }
            recover_and_check(&work, &garbage, &acked, &order, false);
            states += 2;
        }
    }
    assert!(states > 200, "only {states} states explored");
}

/// Runs a compaction with every call recorded; returns (old file, temp file
/// bytes as written, new file, index before).
fn compaction_images(dir: &Path) -> (Vec<u8>, Vec<u8>, journal::Index) {
    let j = Journal::open(dir, Duration::from_secs(1)).unwrap();
    for n in 0..50 {
        j.append(Record::NonceConsumed {
            nonce: format!("n{n}"),
            expires_at: i64::MAX,
            op_id: format!("op{n}"),
        })
        .unwrap();
        j.append(Record::OpDequeued {
            nonce: format!("n{n}"),
            reason: "executed".into(),
        })
        .unwrap();
    }
    j.append(Record::GenerationApplied { generation: 3 })
        .unwrap();
    let before = j.index();
    let old = std::fs::read(dir.join("journal")).unwrap();
    j.compact().unwrap();
    let new = std::fs::read(dir.join("journal")).unwrap();
    (old, new, before)
}

fn same_state(a: &journal::Index, b: &journal::Index) -> bool {
    let mut b = b.clone();
    b.records = a.records;
    *a == b
}

#[test]
fn a_crash_at_each_compaction_step_leaves_the_old_or_the_new_file() {
    let dir = fresh_dir("compact");
    let (old, new, before) = compaction_images(&dir);
    assert_ne!(old, new);
    // (journal, temp) on disk after a crash at each step.
    let mut states: Vec<(Vec<u8>, Option<Vec<u8>>)> =
        vec![(old.clone(), None), (old.clone(), Some(Vec::new()))];
    for p in (0..new.len()).step_by(7) {
        states.push((old.clone(), Some(new[..p].to_vec())));
        let mut zeros = new[..p].to_vec();
        zeros.resize(new.len(), 0);
        states.push((old.clone(), Some(zeros)));
    }
    states.push((old.clone(), Some(new.clone()))); // synced, not renamed (or rename lost)
    states.push((new.clone(), None)); // renamed
    for (i, (journal_bytes, temp)) in states.iter().enumerate() {
        let work = fresh_dir("compact-state");
        std::fs::write(work.join("journal"), journal_bytes).unwrap();
        if let Some(t) = temp {
            std::fs::write(work.join("journal.tmp"), t).unwrap();
        }
        assert!(
            same_state(&journal::open_read_only(&work).unwrap(), &before),
            "state {i}: read-only"
        );
        let j = Journal::open(&work, Duration::from_secs(1)).unwrap();
        assert!(same_state(&j.index(), &before), "state {i}: index differs");
        drop(j);
        let on_disk = std::fs::read(work.join("journal")).unwrap();
        assert!(
            on_disk == old || on_disk == new,
            "state {i}: neither old nor new"
        );
        assert!(
            !work.join("journal.tmp").exists(),
            "state {i}: temp file left"
        );
    }
}

/// Fails the `n`th call (counting create, append, sync, rename) with EIO.
struct FailingFs {
    fail_at: usize,
    calls: Arc<Mutex<usize>>,
}

struct FailingFile {
    inner: Box<dyn JournalFile>,
    fail_at: usize,
    calls: Arc<Mutex<usize>>,
}

fn tick(calls: &Mutex<usize>, fail_at: usize) -> io::Result<()> {
    let mut c = calls.lock().unwrap();
    *c += 1;
    if *c == fail_at {
        Err(io::Error::other("injected EIO"))
    } else {
        Ok(())
    }
}

impl JournalFile for FailingFile {
    fn append(&mut self, bytes: &[u8]) -> io::Result<()> {
        tick(&self.calls, self.fail_at)?;
        self.inner.append(bytes)
    }
    fn sync(&mut self) -> io::Result<()> {
        tick(&self.calls, self.fail_at)?;
        self.inner.sync()
    }
}

impl Fs for FailingFs {
    fn create(&self, path: &Path) -> io::Result<Box<dyn JournalFile>> {
        tick(&self.calls, self.fail_at)?;
        Ok(Box::new(FailingFile {
            inner: RealFs.create(path)?,
            fail_at: self.fail_at,
            calls: self.calls.clone(),
        }))
    }
    fn open_append(&self, path: &Path) -> io::Result<Box<dyn JournalFile>> {
        RealFs.open_append(path)
    }
    fn truncate(&self, path: &Path, len: u64) -> io::Result<()> {
        RealFs.truncate(path, len)
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        tick(&self.calls, self.fail_at)?;
        RealFs.rename(from, to)
    }
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        RealFs.sync_dir(dir)
    }
}

#[test]
fn a_failed_compaction_step_before_the_rename_keeps_the_old_journal_live() {
    // Calls in a compaction: create, append, sync, rename.
    for fail_at in 1..=4 {
        let dir = fresh_dir("compact-fail");
        drop(Journal::open(&dir, Duration::from_secs(1)).unwrap());
        let calls = Arc::new(Mutex::new(0));
        let fs = Arc::new(FailingFs {
            fail_at,
            calls: calls.clone(),
        });
        let j = Journal::open_with(&dir, Duration::from_secs(1), fs).unwrap();
        j.append(Record::GenerationApplied { generation: 1 })
            .unwrap();
        let old = std::fs::read(dir.join("journal")).unwrap();
        *calls.lock().unwrap() = 0;
        assert!(
            matches!(j.compact(), Err(JournalError::Io { .. })),
            "step {fail_at}"
        );
        assert_eq!(
            std::fs::read(dir.join("journal")).unwrap(),
            old,
            "step {fail_at}"
        );
        assert!(!dir.join("journal.tmp").exists());
        j.append(Record::GenerationApplied { generation: 2 })
            .unwrap();
        drop(j);
        assert_eq!(
            generations(&dir.join("journal")),
            vec![1, 2],
            "step {fail_at}"
        );
    }
}
