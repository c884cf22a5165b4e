//! Real-process crashes: the test binary re-executes itself as a child
//! (`child_process_role`, selected by `FELHOM_JOURNAL_CHILD`) that appends
//! to a journal; the parent SIGKILLs it at random instants, or injects I/O
//! errors the child must die of, then reopens the journal and checks it.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use felhom_agent::journal::io::{Fs, JournalFile, RealFs};
use felhom_agent::journal::{self, Journal, Record};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

const ROLE_ENV: &str = "FELHOM_JOURNAL_CHILD";
const DIR_ENV: &str = "FELHOM_JOURNAL_DIR";
const TAG_ENV: &str = "FELHOM_JOURNAL_TAG";
const KILLS: u64 = 200;
const KILLS_PER_JOURNAL: u64 = 25;
const CHILD_THREADS: u64 = 4;

fn fresh_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("journal-crash")
        .join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn child(role: &str, dir: &Path, tag: u64) -> Command {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([
        "--exact",
        "child_process_role",
        "--nocapture",
        "--test-threads=1",
    ])
    .env(ROLE_ENV, role)
    .env(DIR_ENV, dir)
    .env(TAG_ENV, tag.to_string());
    cmd
}

/// The child side. Without `FELHOM_JOURNAL_CHILD` (a normal test run) it
/// does nothing; the parents below spawn it with a role.
#[test]
fn child_process_role() {
    let Ok(role) = std::env::var(ROLE_ENV) else {
        return;
    };
    let dir = PathBuf::from(std::env::var(DIR_ENV).unwrap());
    let tag: u64 = std::env::var(TAG_ENV).unwrap().parse().unwrap();
    match role.as_str() {
        "append" => append_forever(&dir, tag),
        "sync_error" => {
            let j = Journal::open_with(
                &dir,
                Duration::from_secs(5),
                Arc::new(FailFs { sync: true }),
            )
            .unwrap();
            j.append(Record::GenerationApplied { generation: 1 })
                .unwrap();
            println!("append returned");
        }
        "dir_sync_error" => {
            let j = Journal::open_with(
                &dir,
                Duration::from_secs(5),
                Arc::new(FailFs { sync: false }),
            )
            .unwrap();
            let _ = j.compact();
            println!("compact returned");
        }
        other => panic!("unknown role {other}"),
    }
}

fn nonce(tag: u64, thread: u64, i: u64) -> String {
    format!("k{tag:05}-{thread}-{i:09}")
}

/// Appends consumed nonces from several threads until killed; prints each
/// acknowledged one. One thread also compacts now and then.
fn append_forever(dir: &Path, tag: u64) -> ! {
    let j = Arc::new(Journal::open(dir, Duration::from_secs(10)).unwrap());
    let threads: Vec<_> = (0..CHILD_THREADS)
        .map(|t| {
            let j = j.clone();
            std::thread::spawn(move || {
                for i in 0.. {
                    let n = nonce(tag, t, i);
                    j.append(Record::NonceConsumed {
                        nonce: n.clone(),
                        expires_at: i64::MAX,
                        op_id: "op".into(),
                    })
                    .unwrap();
                    let mut out = io::stdout().lock();
                    writeln!(out, "ack {n}").unwrap();
                    out.flush().unwrap();
                    if t == 0 && i % 64 == 63 {
                        j.compact().unwrap();
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    std::process::exit(0)
}

/// A small deterministic PRNG (splitmix64) for kill instants.
struct SplitMix(u64);
impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// Runs one child, kills it at a random instant, returns what it acknowledged.
fn spawn_and_kill(dir: &Path, tag: u64, rng: &mut SplitMix) -> Vec<String> {
    let mut proc = child("append", dir, tag)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = proc.stdout.take().unwrap();
    let (first_tx, first_rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut acks = Vec::new();
        for line in io::BufReader::new(stdout).lines() {
            let line = line.unwrap();
            if let Some(n) = line.strip_prefix("ack ") {
                let _ = first_tx.send(());
                acks.push(n.to_string());
            }
        }
        acks
    });
    // Most kills land during appends (after the first acknowledgement);
    // every fourth at any instant, open and repair included.
    if !tag.is_multiple_of(4) {
        first_rx
            .recv_timeout(Duration::from_secs(60))
            .expect("child never acknowledged an append");
    }
    std::thread::sleep(Duration::from_micros(rng.next() % 20_000));
    proc.kill().unwrap();
    let status = proc.wait().unwrap();
    assert!(!status.success(), "child was killed, not finished");
    reader.join().unwrap()
}

/// Reopens (repairing), then checks every acknowledged nonce is on disk
/// exactly once and each writer's records are contiguous and in order.
fn check_after_kill(dir: &Path, acked: &BTreeSet<String>) {
    drop(Journal::open(dir, Duration::from_secs(10)).unwrap());
    let records = journal::read_records(&dir.join("journal")).unwrap();
    let mut seen = BTreeSet::new();
    let mut per_writer: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for (_, r) in records {
        let Record::NonceConsumed { nonce, .. } = r else {
            panic!("unexpected record {r:?}")
        };
        assert!(seen.insert(nonce.clone()), "duplicated record {nonce}");
        let (writer, i) = nonce.rsplit_once('-').unwrap();
        per_writer
            .entry(writer.to_string())
            .or_default()
            .push(i.parse().unwrap());
    }
    for (writer, ids) in &per_writer {
        let expected: Vec<u64> = (0..ids.len() as u64).collect();
        assert_eq!(
            ids, &expected,
            "writer {writer}: lost, reordered or invented records"
        );
    }
    let missing: Vec<_> = acked.difference(&seen).collect();
    assert!(missing.is_empty(), "acknowledged records lost: {missing:?}");
}

#[test]
fn sigkill_at_random_instants_never_loses_or_duplicates_an_acknowledged_record() {
    let mut rng = SplitMix(0x005e_ed0f_5161_c111);
    let mut total = 0;
    // A fresh journal every KILLS_PER_JOURNAL kills keeps the per-kill
    // replay small; within one journal the checks are cumulative.
    for round in 0..KILLS / KILLS_PER_JOURNAL {
        let dir = fresh_dir(&format!("sigkill-{round}"));
        let mut acked = BTreeSet::new();
        for k in 0..KILLS_PER_JOURNAL {
            acked.extend(spawn_and_kill(
                &dir,
                round * KILLS_PER_JOURNAL + k,
                &mut rng,
            ));
            check_after_kill(&dir, &acked);
        }
        total += acked.len();
    }
    assert!(
        total as u64 > KILLS,
        "children acknowledged only {total} records"
    );
}

/// `sync: true` fails every journal fdatasync that follows a write (the
/// open's own sync, before any append, succeeds); `false` fails directory
/// syncs.
struct FailFs {
    sync: bool,
}

struct FailSyncFile {
    inner: Box<dyn JournalFile>,
    written: bool,
}

impl JournalFile for FailSyncFile {
    fn append(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.written = true;
        self.inner.append(bytes)
    }
    fn sync(&mut self) -> io::Result<()> {
        if self.written {
            Err(io::Error::other("injected EIO on fdatasync"))
        } else {
            self.inner.sync()
        }
    }
}

impl Fs for FailFs {
    fn create(&self, path: &Path) -> io::Result<Box<dyn JournalFile>> {
        RealFs.create(path)
    }
    fn open_append(&self, path: &Path) -> io::Result<Box<dyn JournalFile>> {
        let f = RealFs.open_append(path)?;
        Ok(if self.sync {
            Box::new(FailSyncFile {
                inner: f,
                written: false,
            })
        } else {
            f
        })
    }
    fn truncate(&self, path: &Path, len: u64) -> io::Result<()> {
        RealFs.truncate(path, len)
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        RealFs.rename(from, to)
    }
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        if self.sync {
            RealFs.sync_dir(dir)
        } else {
            Err(io::Error::other("injected EIO on directory fsync"))
        }
    }
}

fn run_child_to_exit(role: &str, dir: &Path) -> (Option<i32>, String) {
    let out = child(role, dir, 0).stderr(Stdio::null()).output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn an_injected_fdatasync_error_stops_the_process_with_exit_1_before_acknowledging() {
    let dir = fresh_dir("sync-error");
    let (code, stdout) = run_child_to_exit("sync_error", &dir);
    assert_eq!(code, Some(1), "stdout: {stdout}");
    assert!(!stdout.contains("append returned"));
    assert!(journal::open_read_only(&dir).is_ok(), "journal still valid");
}

#[test]
fn an_injected_directory_fsync_error_after_the_compaction_rename_stops_the_process() {
    let dir = fresh_dir("dir-sync-error");
    let j = Journal::open(&dir, Duration::from_secs(1)).unwrap();
    j.append(Record::GenerationApplied { generation: 5 })
        .unwrap();
    drop(j);
    let (code, stdout) = run_child_to_exit("dir_sync_error", &dir);
    assert_eq!(code, Some(1), "stdout: {stdout}");
    assert!(!stdout.contains("compact returned"));
    assert_eq!(
        journal::open_read_only(&dir).unwrap().last_generation,
        Some(5)
    );
}
