//! Power loss on a simulated disk (CONTRACT §8): the journal's writes and
//! syncs are recorded through its I/O seam, and at every cut point each
//! image a disk could leave is opened with the real code.
//!
//! Disk model at a cut: every byte that was synced is intact. Of what was
//! written since the last sync, each 512-byte sector (aligned to the file
//! offset) holds its new content or its old one, in any combination, and
//! in any order of writeback: a later sector can be on the disk while an
//! earlier one is not. A sector that kept its old content reads the old
//! bytes up to the old end of file and zeros or stale garbage after it (the
//! size was extended before the data arrived).
//!
//! Invariants after the real open of each image: it opens (what follows the
//! synced records is a torn tail, repaired), every acknowledged record is
//! there, the records are a prefix of the write order, the repaired file
//! verifies without a torn tail, and the next append lands after them.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "support/hooked_fs.rs"]
mod hooked_fs;
#[path = "support/rng.rs"]
mod rng;

use felhom_agent::journal::io::{Fs, JournalFile, RealFs};
use felhom_agent::journal::{self, Journal, OutcomeKind, Record};
use hooked_fs::{HookedFs, Hooks};
use rng::Rng;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const SECTOR: usize = 512;

fn fresh_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("journal-powerloss")
        .join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A record carrying `id`, padded so that a few of them span sectors.
fn rec(id: u64, pad: usize) -> Record {
    Record::Outcome {
        op_id: format!("r{id}"),
        outcome: OutcomeKind::Failed,
        detail: "x".repeat(pad),
    }
}

fn ids(path: &Path) -> Vec<u64> {
    journal::read_records(path)
        .unwrap()
        .into_iter()
        .map(|(_, r)| match r {
            Record::Outcome { op_id, .. } => op_id[1..].parse().unwrap(),
            other => panic!("unexpected record {other:?}"),
        })
        .collect()
}

#[derive(Debug, Clone)]
enum Event {
    Append(Vec<u8>),
    Sync,
}

/// The journal file's appends and syncs, in order, and the acknowledged
/// records: `(events logged when the append returned, id)`.
#[derive(Default)]
struct Log {
    events: Vec<Event>,
    acks: Vec<(usize, u64)>,
}

/// Records appends and syncs; a sync may be slowed (so appends group) or,
/// while `armed`, held until the test releases it.
struct Recorder {
    log: Arc<Mutex<Log>>,
    sync_delay: Duration,
    armed: AtomicBool,
    started: Mutex<mpsc::Sender<()>>,
    go: Mutex<mpsc::Receiver<()>>,
}

impl Recorder {
    fn new(log: Arc<Mutex<Log>>, sync_delay: Duration) -> (Arc<Recorder>, Gate) {
        let (started_tx, started) = mpsc::channel();
        let (go, go_rx) = mpsc::channel();
        let recorder = Arc::new(Recorder {
            log,
            sync_delay,
            armed: AtomicBool::new(false),
            started: Mutex::new(started_tx),
            go: Mutex::new(go_rx),
        });
        (recorder, Gate { started, go })
    }
}

/// The test's side of a held sync.
struct Gate {
    started: mpsc::Receiver<()>,
    go: mpsc::Sender<()>,
}

impl Gate {
    fn wait_sync(&self) {
        self.started
            .recv_timeout(Duration::from_secs(60))
            .expect("the expected sync never started");
    }
}

impl Hooks for Recorder {
    fn appended(&self, bytes: &[u8]) {
        let mut log = self.log.lock().unwrap();
        log.events.push(Event::Append(bytes.to_vec()));
    }
    fn synced(&self) {
        std::thread::sleep(self.sync_delay);
        if self.armed.load(Ordering::SeqCst) {
            self.started.lock().unwrap().send(()).unwrap();
            self.go
                .lock()
                .unwrap()
                .recv_timeout(Duration::from_secs(60))
                .expect("the test never released this sync");
        }
        self.log.lock().unwrap().events.push(Event::Sync);
    }
}

/// Appends `rec(id)` and logs its acknowledgement.
fn append_logged(j: &Journal, log: &Mutex<Log>, id: u64, pad: usize) {
    j.append(rec(id, pad)).unwrap();
    let mut l = log.lock().unwrap();
    let n = l.events.len();
    l.acks.push((n, id));
}

/// The file left by a cut: `durable` intact, then the sectors overlapping
/// `pending` each new (`keep(i)` for the i-th of them) or old (the durable
/// bytes, then zeros, or garbage from `noise`).
fn cut_image(
    durable: &[u8],
    pending: &[u8],
    keep: &dyn Fn(usize) -> bool,
    mut noise: Option<&mut Rng>,
) -> Vec<u8> {
    let mut image = durable.to_vec();
    image.extend_from_slice(pending);
    let first = durable.len() / SECTOR;
    for (i, start) in (first * SECTOR..image.len()).step_by(SECTOR).enumerate() {
        if keep(i) {
            continue;
        }
        let end = (start + SECTOR).min(image.len());
        for byte in &mut image[start.max(durable.len())..end] {
            *byte = noise.as_deref_mut().map_or(0, |r| r.next() as u8);
        }
    }
    image
}

/// Sector choices worth opening for `sectors` unsynced sectors: every
/// subset when there are few; otherwise none, all, all but the first, only
/// the last, and random ones.
fn sector_choices(sectors: usize, rng: &mut Rng, random: usize) -> Vec<Vec<bool>> {
    if sectors <= 6 {
        return (0u32..1 << sectors)
            .map(|bits| (0..sectors).map(|i| bits & (1 << i) != 0).collect())
            .collect();
    }
    let mut out = vec![
        vec![false; sectors],
        vec![true; sectors],
        (0..sectors).map(|i| i != 0).collect(),
        (0..sectors).map(|i| i + 1 == sectors).collect(),
    ];
    for _ in 0..random {
        out.push((0..sectors).map(|_| rng.next() & 1 == 1).collect());
    }
    out
}

/// Opens `image` with the real code and checks the invariants; returns the
/// ids recovered.
fn recover_and_check(dir: &Path, image: &[u8], acked: &[u64], order: &[u64]) -> Vec<u64> {
    let path = dir.join(journal::JOURNAL_FILE);
    std::fs::write(&path, image).unwrap();
    match Journal::open(dir, Duration::from_secs(1)) {
        Ok(j) => drop(j),
        Err(e) => panic!("a power cut left a journal the agent refuses: {e}"),
    }
    let got = ids(&path);
    assert!(
        got.len() <= order.len() && got[..] == order[..got.len()],
        "recovered {got:?}, not a prefix of the write order {order:?}"
    );
    for id in acked {
        assert!(got.contains(id), "acknowledged record {id} lost: {got:?}");
    }
    assert_eq!(journal::verify_file(&path).unwrap().torn_tail, None);
    got
}

/// Every cut point of `log` (after each event) and every sector choice of
/// what was unsynced there: recover and check. `durable` and `pending` are
/// the file's synced and unsynced bytes before the first event. Returns
/// the images opened.
fn explore(
    work: &Path,
    (durable, pending): (&[u8], &[u8]),
    log: &Log,
    order: &[u64],
    random: usize,
) -> usize {
    let mut rng = Rng(0x5eed_0fc0_ffee);
    let mut opened = 0;
    for k in 0..=log.events.len() {
        let (mut d, mut p) = (durable.to_vec(), pending.to_vec());
        for e in &log.events[..k] {
            match e {
                Event::Append(b) => p.extend_from_slice(b),
                Event::Sync => d.append(&mut p),
            }
        }
        let acked: Vec<u64> = log
            .acks
            .iter()
            .filter(|(n, _)| *n <= k)
            .map(|(_, id)| *id)
            .collect();
        if p.is_empty() {
            recover_and_check(work, &d, &acked, order);
            opened += 1;
            continue;
        }
        let sectors = (d.len() + p.len()).div_ceil(SECTOR) - d.len() / SECTOR;
        for (c, choice) in sector_choices(sectors, &mut rng, random)
            .into_iter()
            .enumerate()
        {
            let keep = |i: usize| choice[i];
            let mut noise = Rng(rng.next());
            let garbage = c % 2 == 1;
            let image = cut_image(&d, &p, &keep, garbage.then_some(&mut noise));
            recover_and_check(work, &image, &acked, order);
            opened += 1;
        }
    }
    opened
}

/// The case found by a power-cut run: group commit wrote several records in
/// one write; the cut came before its sync, and the disk kept a later
/// sector of that write but not the first. The synced records are intact,
/// then come zeros, then an intact record that was never acknowledged.
#[test]
fn a_cut_that_kept_a_later_sector_of_a_group_commit_but_not_the_first_is_a_torn_tail() {
    const BATCH: u64 = 6;
    const PAD: usize = 300;
    let dir = fresh_dir("batch-first-sector");
    let log = Arc::new(Mutex::new(Log::default()));
    let (recorder, gate) = Recorder::new(log.clone(), Duration::ZERO);
    let fs = Arc::new(HookedFs(recorder.clone()));
    let j = Arc::new(Journal::open_with(&dir, Duration::from_secs(1), fs).unwrap());
    let initial = std::fs::read(dir.join(journal::JOURNAL_FILE)).unwrap();
    log.lock().unwrap().events.clear();
    recorder.armed.store(true, Ordering::SeqCst);
    let spawn = |id: u64| {
        let (j, log) = (j.clone(), log.clone());
        std::thread::spawn(move || append_logged(&j, &log, id, PAD))
    };
    let mut appenders = vec![spawn(0)];
    gate.wait_sync();
    appenders.extend((1..=BATCH).map(spawn));
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while j.with_index(|ix| ix.records) < BATCH + 1 {
        assert!(
            std::time::Instant::now() < deadline,
            "appenders never queued"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    recorder.armed.store(false, Ordering::SeqCst);
    gate.go.send(()).unwrap();
    for a in appenders {
        a.join().unwrap();
    }
    drop(j);
    let order = ids(&dir.join(journal::JOURNAL_FILE));
    assert_eq!(order.len() as u64, BATCH + 1);
    let log = std::mem::take(&mut *log.lock().unwrap());
    let appends: Vec<&Vec<u8>> = log
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Append(b) => Some(b),
            Event::Sync => None,
        })
        .collect();
    assert_eq!(
        appends.len(),
        2,
        "one write for the first record, one for the rest"
    );
    assert!(
        appends[1].len() > 3 * SECTOR,
        "the group-commit write spans several sectors"
    );
    let work = fresh_dir("batch-first-sector-recover");
    // The exact image: the first sector of the batch write kept its old
    // content, every later one reached the disk.
    let mut durable = initial.clone();
    durable.extend_from_slice(appends[0]);
    let image = cut_image(&durable, appends[1], &|i| i != 0, None);
    let got = recover_and_check(&work, &image, &[order[0]], &order);
    assert_eq!(got, order[..1], "the unsynced batch is dropped whole");
    let opened = explore(&work, (&initial, &[]), &log, &order, 48);
    assert!(opened > 64, "only {opened} images");
}

/// Many lanes appending on a slow disk (so each write carries several
/// records): every cut point, many sector choices each.
#[test]
fn every_cut_of_concurrent_group_commits_opens_and_keeps_every_acknowledged_record() {
    const THREADS: u64 = 8;
    const PER_THREAD: u64 = 5;
    let dir = fresh_dir("lanes");
    let log = Arc::new(Mutex::new(Log::default()));
    let (recorder, _gate) = Recorder::new(log.clone(), Duration::from_millis(2));
    let fs = Arc::new(HookedFs(recorder));
    let j = Arc::new(Journal::open_with(&dir, Duration::from_secs(1), fs).unwrap());
    let initial = std::fs::read(dir.join(journal::JOURNAL_FILE)).unwrap();
    log.lock().unwrap().events.clear();
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let (j, log) = (j.clone(), log.clone());
            std::thread::spawn(move || {
                for i in 0..PER_THREAD {
                    append_logged(&j, &log, t * 100 + i, 90 + 37 * t as usize);
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    drop(j);
    let order = ids(&dir.join(journal::JOURNAL_FILE));
    assert_eq!(order.len() as u64, THREADS * PER_THREAD);
    let log = std::mem::take(&mut *log.lock().unwrap());
    let syncs = log
        .events
        .iter()
        .filter(|e| matches!(e, Event::Sync))
        .count() as u64;
    assert!(
        syncs * 2 <= THREADS * PER_THREAD,
        "{syncs} syncs: appends were not grouped"
    );
    let opened = explore(
        &fresh_dir("lanes-recover"),
        (&initial, &[]),
        &log,
        &order,
        12,
    );
    assert!(opened > 100, "only {opened} images");
}

/// A journal file whose `sync` does nothing: a process killed after its
/// write and before its sync.
struct NoSyncFs;

struct NoSyncFile(Box<dyn JournalFile>);

impl JournalFile for NoSyncFile {
    fn append(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.0.append(bytes)
    }
    fn sync(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Fs for NoSyncFs {
    fn create(&self, path: &Path) -> io::Result<Box<dyn JournalFile>> {
        RealFs.create(path)
    }
    fn open_append(&self, path: &Path) -> io::Result<Box<dyn JournalFile>> {
        Ok(Box::new(NoSyncFile(RealFs.open_append(path)?)))
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

/// A process was killed between its write and its sync: the page cache
/// still holds the write, so the next process reads it as valid and
/// appends after it. Its own sync must not be the first to cover those
/// bytes, or a cut during it could keep the new record and lose the old
/// ones before it.
#[test]
fn a_write_a_killed_process_never_synced_is_durable_before_the_next_append() {
    let dir = fresh_dir("killed-unsynced");
    let j = Journal::open(&dir, Duration::from_secs(1)).unwrap();
    j.append(rec(1, 700)).unwrap();
    drop(j);
    let durable = std::fs::read(dir.join(journal::JOURNAL_FILE)).unwrap();
    let j = Journal::open_with(&dir, Duration::from_secs(1), Arc::new(NoSyncFs)).unwrap();
    j.append(rec(2, 700)).unwrap();
    drop(j);
    let file = std::fs::read(dir.join(journal::JOURNAL_FILE)).unwrap();
    let unsynced = file[durable.len()..].to_vec();
    let log = Arc::new(Mutex::new(Log::default()));
    let (recorder, _gate) = Recorder::new(log.clone(), Duration::ZERO);
    let j = Journal::open_with(&dir, Duration::from_secs(1), Arc::new(HookedFs(recorder))).unwrap();
    append_logged(&j, &log, 3, 700);
    drop(j);
    let order = ids(&dir.join(journal::JOURNAL_FILE));
    assert_eq!(order, [1, 2, 3]);
    let mut log = std::mem::take(&mut *log.lock().unwrap());
    log.acks.push((0, 1));
    let opened = explore(
        &fresh_dir("killed-unsynced-recover"),
        (&durable, &unsynced),
        &log,
        &order,
        48,
    );
    assert!(opened >= 10, "only {opened} images");
}
