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

#[path = "support/hooked_fs.rs"]
mod hooked_fs;

use felhom_agent::journal::io::{Fs, JournalFile, RealFs};
use felhom_agent::journal::{self, Journal, JournalError, Record};
use hooked_fs::{HookedFs, Hooks};
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

/// Records the journal's appends and syncs.
struct Recorder {
    log: Arc<Mutex<Log>>,
    /// Added to every journal sync (a slow disk).
    sync_delay: Duration,
}

impl Hooks for Recorder {
    fn appended(&self, bytes: &[u8]) {
        self.log
            .lock()
            .unwrap()
            .events
            .push(Event::Append(bytes.to_vec()));
    }
    fn synced(&self) {
        std::thread::sleep(self.sync_delay);
        self.log.lock().unwrap().events.push(Event::Sync);
    }
}

const THREADS: u64 = 4;
const PER_THREAD: u64 = 8;

/// Runs the concurrent workload; returns the journal's bytes at open, the
/// event log, and the final record order.
fn run_workload(dir: &Path) -> (Vec<u8>, Log, Vec<u64>) {
    let log = Arc::new(Mutex::new(Log::default()));
    let fs = Arc::new(HookedFs(Arc::new(Recorder {
        log: log.clone(),
        sync_delay: Duration::ZERO,
    })));
    let j = Arc::new(Journal::open_with(dir, Duration::from_secs(1), fs).unwrap());
    let initial = std::fs::read(dir.join("journal")).unwrap();
    append_concurrently(&j, &log, THREADS, PER_THREAD);
    drop(j);
    let order = generations(&dir.join("journal"));
    let log = Arc::try_unwrap(log).ok().unwrap().into_inner().unwrap();
    (initial, log, order)
}

/// `threads` appenders each append `per_thread` generations (`t * 1000 +
/// i`) and log each acknowledgement; fails, rather than hangs, if an
/// appender is never woken.
fn append_concurrently(j: &Arc<Journal>, log: &Arc<Mutex<Log>>, threads: u64, per_thread: u64) {
    let (done, finished) = std::sync::mpsc::channel();
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let (j, log, done) = (j.clone(), log.clone(), done.clone());
            std::thread::spawn(move || {
                for i in 0..per_thread {
                    let id = t * 1000 + i;
                    j.append(Record::GenerationApplied { generation: id })
                        .unwrap();
                    let mut l = log.lock().unwrap();
                    let n = l.events.len();
                    l.acks.push((n, id));
                }
                done.send(()).unwrap();
            })
        })
        .collect();
    for _ in 0..threads {
        finished
            .recv_timeout(Duration::from_secs(120))
            .expect("an appender never returned: a wake-up or a leader hand-over was lost");
    }
    // Every appender is done; joining releases their handles on `j` and `log`.
    for h in handles {
        h.join().unwrap();
    }
}

fn u32_at(bytes: &[u8], at: usize) -> usize {
    u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize
}

/// `(offset, length)` of each record payload in whole batches as handed to
/// `write` (the layout documented in `journal::format`), and the offsets
/// where the batches start.
fn batch_layout(bytes: &[u8]) -> (Vec<(usize, usize)>, Vec<usize>) {
    use journal::format::{BATCH_HEAD, RECORD_HEAD};
    let (mut records, mut batches) = (Vec::new(), Vec::new());
    let mut off = 0;
    while off + BATCH_HEAD <= bytes.len() {
        batches.push(off);
        let end = off + BATCH_HEAD + u32_at(bytes, off);
        let mut at = off + BATCH_HEAD;
        while at < end.min(bytes.len()) {
            let len = u32_at(bytes, at);
            records.push((at + RECORD_HEAD, len));
            at += RECORD_HEAD + len;
        }
        off = end;
    }
    (records, batches)
}

/// The generations in whole batches as handed to `write`.
fn frame_generations(bytes: &[u8]) -> Vec<u64> {
    batch_layout(bytes)
        .0
        .into_iter()
        .map(
            |(at, len)| match Record::decode(&bytes[at..at + len]).unwrap() {
                Record::GenerationApplied { generation } => generation,
                other => panic!("unexpected {other:?}"),
            },
        )
        .collect()
}

#[test]
fn a_slow_disk_gets_many_records_per_sync_and_each_append_returns_only_after_its_sync() {
    const SLOW_THREADS: u64 = 16;
    const SLOW_PER_THREAD: u64 = 40;
    let dir = fresh_dir("slow-disk");
    let log = Arc::new(Mutex::new(Log::default()));
    let fs = Arc::new(HookedFs(Arc::new(Recorder {
        log: log.clone(),
        sync_delay: Duration::from_millis(3),
    })));
    let j = Arc::new(Journal::open_with(&dir, Duration::from_secs(1), fs).unwrap());
    append_concurrently(&j, &log, SLOW_THREADS, SLOW_PER_THREAD);
    drop(j);
    let log = Arc::try_unwrap(log).ok().unwrap().into_inner().unwrap();

    // Durable generations after each event: written, then covered by a sync.
    let mut durable_after = Vec::with_capacity(log.events.len() + 1);
    let (mut durable, mut written) = (std::collections::BTreeSet::new(), Vec::new());
    durable_after.push(durable.clone());
    for e in &log.events {
        match e {
            Event::Append(bytes) => written.extend(frame_generations(bytes)),
            Event::Sync => durable.extend(written.drain(..)),
        }
        durable_after.push(durable.clone());
    }
    let total = SLOW_THREADS * SLOW_PER_THREAD;
    assert_eq!(log.acks.len() as u64, total);
    for (n, id) in &log.acks {
        assert!(
            durable_after[*n].contains(id),
            "record {id} was acknowledged before a sync covered it"
        );
    }
    let syncs = log
        .events
        .iter()
        .filter(|e| matches!(e, Event::Sync))
        .count() as u64;
    assert!(
        syncs * 4 <= total,
        "{syncs} syncs for {total} records: appends were not grouped"
    );
    assert!(
        syncs > u64::from(journal::MAX_LEADER_BATCHES),
        "only {syncs} syncs: the leader hand-over was never exercised"
    );

    let order = generations(&dir.join("journal"));
    let mut sorted = order.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted.len() as u64, total, "every record once");
    for t in 0..SLOW_THREADS {
        let mine: Vec<u64> = order.iter().copied().filter(|g| g / 1000 == t).collect();
        let expected: Vec<u64> = (0..SLOW_PER_THREAD).map(|i| t * 1000 + i).collect();
        assert_eq!(mine, expected, "thread {t}'s records in its own order");
    }
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

/// Prefix lengths worth materializing: every batch and record boundary and
/// their neighbours, plus a stride through the rest.
fn prefix_lengths(pending: &[u8]) -> Vec<usize> {
    let mut lens = vec![0, pending.len()];
    let (records, batches) = batch_layout(pending);
    for off in batches {
        lens.extend([off.saturating_sub(1), off, off + 1, off + 4, off + 31]);
    }
    for (at, len) in records {
        lens.extend([at - 4, at, at + len - 1, at + len]);
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

/// A disk whose every journal sync after an append waits for the test's
/// go-ahead, and says when it starts and on which thread (the open's own
/// sync, before any append, passes).
struct Gate {
    started: std::sync::mpsc::Sender<std::thread::ThreadId>,
    go: Mutex<std::sync::mpsc::Receiver<()>>,
    written: std::sync::atomic::AtomicBool,
}

impl Hooks for Gate {
    fn appended(&self, _bytes: &[u8]) {
        self.written
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }
    fn synced(&self) {
        if !self.written.load(std::sync::atomic::Ordering::SeqCst) {
            return;
        }
        self.started.send(std::thread::current().id()).unwrap();
        self.go
            .lock()
            .unwrap()
            .recv_timeout(Duration::from_secs(60))
            .expect("the test never released this sync");
    }
}

/// Drives group commit one sync at a time: while sync k runs, exactly one
/// new appender queues behind it. The first appender leads syncs 1 to
/// `MAX_LEADER_BATCHES` without being woken in between, then hands over to
/// the appender still queued, which must lead the next sync on its own
/// (nobody else will ever append to wake it).
#[test]
fn the_leader_keeps_flushing_then_hands_over_to_a_queued_appender() {
    let dir = fresh_dir("hand-over");
    let (started_tx, started) = std::sync::mpsc::channel();
    let (go, go_rx) = std::sync::mpsc::channel();
    let fs = Arc::new(HookedFs(Arc::new(Gate {
        started: started_tx,
        go: Mutex::new(go_rx),
        written: std::sync::atomic::AtomicBool::new(false),
    })));
    let j = Arc::new(Journal::open_with(&dir, Duration::from_secs(1), fs).unwrap());
    let spawn_append = |generation: u64| {
        let j = j.clone();
        std::thread::spawn(move || j.append(Record::GenerationApplied { generation }).unwrap())
    };
    let wait_sync = |k: u32| {
        started
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("sync {k} never started: a queued append was stranded"))
    };
    let mut appenders = vec![spawn_append(0)];
    let leader = wait_sync(1);
    assert_eq!(leader, appenders[0].thread().id());
    let max = journal::MAX_LEADER_BATCHES;
    for k in 1..=max {
        appenders.push(spawn_append(u64::from(k)));
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while j.with_index(|ix| ix.records) < u64::from(k) + 1 {
            assert!(
                std::time::Instant::now() < deadline,
                "appender {k} never queued"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        go.send(()).unwrap();
        let by = wait_sync(k + 1);
        if k < max {
            assert_eq!(by, leader, "sync {} by the same leader", k + 1);
        } else {
            assert_eq!(by, appenders[k as usize].thread().id(), "handed over");
        }
    }
    go.send(()).unwrap();
    let seqs: Vec<u64> = appenders.into_iter().map(|a| a.join().unwrap()).collect();
    assert!(
        seqs.windows(2).all(|w| w[0] < w[1]),
        "seqs in append order: {seqs:?}"
    );
    drop(j);
    let expected: Vec<u64> = (0..=u64::from(max)).collect();
    assert_eq!(generations(&dir.join("journal")), expected);
}

/// A compaction asked for while a sync is in flight waits for it, and the
/// leader that finishes the sync wakes it.
#[test]
fn a_compaction_during_a_sync_waits_for_it_and_is_woken() {
    let dir = fresh_dir("compact-during-sync");
    let (started_tx, started) = std::sync::mpsc::channel();
    let (go, go_rx) = std::sync::mpsc::channel();
    let fs = Arc::new(HookedFs(Arc::new(Gate {
        started: started_tx,
        go: Mutex::new(go_rx),
        written: std::sync::atomic::AtomicBool::new(false),
    })));
    let j = Arc::new(Journal::open_with(&dir, Duration::from_secs(1), fs).unwrap());
    let appender = {
        let j = j.clone();
        std::thread::spawn(move || {
            j.append(Record::GenerationApplied { generation: 7 })
                .unwrap()
        })
    };
    started.recv_timeout(Duration::from_secs(60)).unwrap();
    let (compacted_tx, compacted) = std::sync::mpsc::channel();
    {
        let j = j.clone();
        std::thread::spawn(move || {
            j.compact().unwrap();
            compacted_tx.send(()).unwrap();
        });
    }
    assert!(
        compacted.recv_timeout(Duration::from_millis(300)).is_err(),
        "compaction must not run while a sync is in flight"
    );
    go.send(()).unwrap();
    compacted
        .recv_timeout(Duration::from_secs(60))
        .expect("the compaction waiting for the sync was never woken");
    appender.join().unwrap();
    assert_eq!(j.with_index(|ix| ix.last_generation), Some(7));
    drop(j);
    assert_eq!(generations(&dir.join("journal")), vec![7]);
}

/// Many appenders and a compactor at once on the real file system: nothing
/// hangs (a lost wake-up would), every acknowledged record is in the file
/// exactly once, and the file verifies.
#[test]
fn appenders_and_a_compactor_racing_lose_nothing_and_never_hang() {
    const RACE_THREADS: u64 = 24;
    const RACE_PER_THREAD: u64 = 150;
    let dir = fresh_dir("race");
    let j = Arc::new(Journal::open(&dir, Duration::from_secs(1)).unwrap());
    let (done, finished) = std::sync::mpsc::channel();
    for t in 0..RACE_THREADS {
        let (j, done) = (j.clone(), done.clone());
        std::thread::spawn(move || {
            for i in 0..RACE_PER_THREAD {
                j.append(Record::NonceConsumed {
                    nonce: format!("n-{t}-{i}"),
                    expires_at: i64::MAX,
                    op_id: format!("op-{t}-{i}"),
                })
                .unwrap();
            }
            done.send(()).unwrap();
        });
    }
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (compacted, compactor) = std::sync::mpsc::channel();
    {
        let (j, stop) = (j.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut compactions = 0u32;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                j.compact().unwrap();
                compactions += 1;
                std::thread::sleep(Duration::from_millis(2));
            }
            compacted.send(compactions).unwrap();
        });
    }
    for _ in 0..RACE_THREADS {
        finished
            .recv_timeout(Duration::from_secs(120))
            .expect("an appender never returned while compactions ran");
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let compactions = compactor
        .recv_timeout(Duration::from_secs(120))
        .expect("a compaction waiting for a leader was never woken");
    assert!(compactions >= 1, "a compaction raced the appends");
    drop(j);
    let path = dir.join("journal");
    journal::verify_file(&path).unwrap();
    let mut nonces: Vec<String> = journal::read_records(&path)
        .unwrap()
        .into_iter()
        .map(|(_, r)| match r {
            Record::NonceConsumed { nonce, .. } => nonce,
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    let total = nonces.len();
    nonces.sort();
    nonces.dedup();
    assert_eq!(nonces.len(), total, "no record twice");
    assert_eq!(
        total as u64,
        RACE_THREADS * RACE_PER_THREAD,
        "no record lost"
    );
}

/// Records that arrive while a sync runs and add up to more than one batch
/// may hold are written as several batches, each at most
/// `MAX_BATCH_BYTES`, each synced before the next is written, and every
/// appender returns.
#[test]
fn pending_records_beyond_the_batch_bound_go_out_in_several_synced_batches() {
    const BIG: u64 = 6;
    let dir = fresh_dir("batch-bound");
    let (started_tx, started) = std::sync::mpsc::channel();
    let (go, go_rx) = std::sync::mpsc::channel();
    let fs = Arc::new(HookedFs(Arc::new(Gate {
        started: started_tx,
        go: Mutex::new(go_rx),
        written: std::sync::atomic::AtomicBool::new(false),
    })));
    let j = Arc::new(Journal::open_with(&dir, Duration::from_secs(1), fs).unwrap());
    let line = "x".repeat(900_000);
    let spawn = |generation: u64, big: bool| {
        let (j, line) = (j.clone(), line.clone());
        std::thread::spawn(move || {
            let record = if big {
                Record::SignersRotated {
                    lines: vec![line],
                    nonce: format!("n{generation}"),
                }
            } else {
                Record::GenerationApplied { generation }
            };
            j.append(record).unwrap()
        })
    };
    let mut appenders = vec![spawn(0, false)];
    started.recv_timeout(Duration::from_secs(60)).unwrap();
    appenders.extend((1..=BIG).map(|g| spawn(g, true)));
    while j.with_index(|ix| ix.records) < BIG + 1 {
        std::thread::sleep(Duration::from_millis(1));
    }
    let mut syncs = 1;
    go.send(()).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while !appenders.iter().all(|a| a.is_finished()) {
        assert!(
            std::time::Instant::now() < deadline,
            "an appender never returned"
        );
        if started.recv_timeout(Duration::from_millis(20)).is_ok() {
            syncs += 1;
            go.send(()).unwrap();
        }
    }
    for a in appenders {
        a.join().unwrap();
    }
    drop(j);
    let bytes = std::fs::read(dir.join("journal")).unwrap();
    let (records, batches) = batch_layout(&bytes[journal::format::HEADER_LEN..]);
    assert_eq!(records.len() as u64, BIG + 1);
    assert!(batches.len() >= 3, "{} batches", batches.len());
    assert_eq!(syncs, batches.len(), "one sync per batch");
    let body = &bytes[journal::format::HEADER_LEN..];
    for b in &batches {
        assert!(u32_at(body, *b) <= journal::format::MAX_BATCH_BYTES);
    }
    assert_eq!(
        journal::verify_file(&dir.join("journal")).unwrap().records,
        BIG + 1
    );
}
