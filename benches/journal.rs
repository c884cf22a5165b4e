//! Journal budget (DESIGN §9), every figure against a reference measured in
//! the same run on the same file system (files under `target/bench-journal`):
//! - one appender (record + fdatasync) vs raw `write + fdatasync` of the
//!   same frame size: budget >= 0.9x;
//! - 64 concurrent appenders (group commit) vs one appender: budget >= 8x;
//! - replay of a 1,000,000-record journal (`journal::open_read_only`, the
//!   same replay a mutating open does): budget < 2 s, median of
//!   [`REPLAYS`] replays, each printed;
//! - file size after compaction vs the live state's record bytes.
//!
//! The two append ratios are measured in [`ROUNDS`] rounds and the median
//! is compared with the budget (every round is printed). Within a round the
//! figure and its reference run back to back (raw and journal appends
//! alternate in chunks), so both see the same disk: a virtual disk's sync
//! latency drifts from second to second, and one long measurement of each
//! side would compare two different disks.

use felhom_agent::journal::format::{self, Header};
use felhom_agent::journal::{self, DecisionRecord, Journal, OutcomeKind, Record};
use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

const ROUNDS: usize = 7;
const SINGLE_APPENDS: u32 = 400;
/// Raw and journal appends alternate in chunks of this many.
const CHUNK: u32 = 50;
const LANES: u32 = 64;
const APPENDS_PER_LANE: u32 = 200;
const REPLAY_RECORDS: u64 = 1_000_000;
const REPLAYS: usize = 3;

fn bench_dir(name: &str) -> PathBuf {
    let dir = Path::new("target").join("bench-journal").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    if let Err(e) = std::fs::create_dir_all(&dir) {
        println!("cannot create {}: {e}", dir.display());
    }
    dir
}

fn intent(n: u64) -> Record {
    Record::Intent {
        op_id: format!("op-{n:012}"),
        vmid: 9000 + (n % 500) as u32,
        op: "start".into(),
        params: serde_json::json!({"cores": 2}),
        source: "desired_state".into(),
        idempotency_key: format!("gen-12/vm-{}/start/{n}", 9000 + n % 500),
        nonce: None,
        at: None,
    }
}

fn per_sec(count: u64, took: Duration) -> f64 {
    count as f64 / took.as_secs_f64().max(1e-9)
}

/// Rates of raw `write + fdatasync` of `size`-byte buffers and of journal
/// appends of records of that frame size, alternating in chunks of
/// [`CHUNK`]: `(journal per s, raw per s)`.
fn single_and_raw_rates(dir: &Path, size: usize) -> Result<(f64, f64), Box<dyn std::error::Error>> {
    let mut raw = OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("raw"))?;
    let buf = vec![b'x'; size];
    let j = Journal::open(dir, Duration::from_secs(5))?;
    let (mut raw_time, mut journal_time) = (Duration::ZERO, Duration::ZERO);
    let mut n = 0u64;
    for _ in 0..SINGLE_APPENDS / CHUNK {
        let start = Instant::now();
        for _ in 0..CHUNK {
            raw.write_all(&buf)?;
            raw.sync_data()?;
        }
        raw_time += start.elapsed();
        let start = Instant::now();
        for _ in 0..CHUNK {
            j.append(intent(n))?;
            n += 1;
        }
        journal_time += start.elapsed();
    }
    Ok((per_sec(n, journal_time), per_sec(n, raw_time)))
}

fn concurrent_rate(dir: &Path) -> Result<f64, journal::JournalError> {
    let j = Arc::new(Journal::open(dir, Duration::from_secs(5))?);
    let start = Instant::now();
    let lanes: Vec<_> = (0..LANES)
        .map(|lane| {
            let j = j.clone();
            std::thread::spawn(move || -> Result<(), journal::JournalError> {
                for i in 0..APPENDS_PER_LANE {
                    j.append(intent(u64::from(lane) * 1_000_000 + u64::from(i)))?;
                }
                Ok(())
            })
        })
        .collect();
    for lane in lanes {
        match lane.join() {
            Ok(r) => r?,
            Err(_) => println!("an appender thread panicked"),
        }
    }
    Ok(per_sec(
        u64::from(LANES * APPENDS_PER_LANE),
        start.elapsed(),
    ))
}

/// The n-th record of the replay journal: a lane's intent, its task id and
/// outcome, a decision; one in 50 consumes a nonce.
fn replay_record(n: u64) -> Record {
    let op_id = format!("op-{:012}", n / 4);
    match n % 4 {
        0 => intent(n / 4),
        1 => Record::TaskStarted {
            op_id,
            upid: format!("UPID:pve:{n:08X}:0001:65000000:qmstart:9001:root@pam:"),
        },
        2 if n % 200 == 2 => Record::NonceConsumed {
            nonce: format!("nonce-{n}"),
            expires_at: i64::MAX,
            op_id,
        },
        2 => Record::Outcome {
            op_id,
            outcome: OutcomeKind::Succeeded,
            detail: "OK".into(),
        },
        _ => Record::Decision(DecisionRecord {
            decision: "allowed".into(),
            op: "start".into(),
            class: "benign".into(),
            vmid: Some(9001),
            source: "desired_state".into(),
            signer: None,
            role: None,
            reason: "benign".into(),
            nonce: None,
            at: 1_760_000_000,
        }),
    }
}

/// Writes a 1,000,000-record journal directly in the file format, one
/// record per batch: what a host whose passes append one record at a time
/// writes, and the most batches (checks, chain links) per record.
fn write_replay_journal(dir: &Path) -> Result<u64, Box<dyn std::error::Error>> {
    let header = Header::new([7u8; 16], 1, [0u8; 32]);
    let mut bytes = header.encode().to_vec();
    for n in 0..REPLAY_RECORDS {
        let payload = replay_record(n).encode()?;
        format::encode_batch(&mut bytes, &header.salt, n + 1, [payload.as_slice()]);
    }
    let mut file = std::fs::File::create(dir.join(journal::JOURNAL_FILE))?;
    file.write_all(&bytes)?;
    // Written back before replay starts, so replay does not compete with it.
    file.sync_all()?;
    Ok(bytes.len() as u64)
}

fn live_bytes(index: &journal::Index) -> u64 {
    index
        .live_records(felhom_agent::time::now_unix())
        .iter()
        .filter_map(|r| r.encode().ok())
        .map(|p| p.len() as u64)
        .sum()
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(0.0)
}

/// Prints every round's `(figure, reference)` and the median ratio against
/// the budget.
fn report(name: &str, rounds: &[(f64, f64)], budget: f64) {
    for (i, (figure, reference)) in rounds.iter().enumerate() {
        println!(
            "  round {}: {figure:>10.1}/s  reference {reference:>10.1}/s  ratio {:>6.2}x",
            i + 1,
            figure / reference.max(1e-9)
        );
    }
    let ratio = median(rounds.iter().map(|(f, r)| f / r.max(1e-9)).collect());
    println!(
        "{name:<44} median ratio {ratio:>6.2}x  budget >= {budget}x  {}",
        if ratio >= budget { "ok" } else { "OVER BUDGET" }
    );
}

fn run_all() -> Result<(), Box<dyn std::error::Error>> {
    // One record per batch: the bytes one appender writes per append.
    let size = intent(0).encode()?.len() + format::BATCH_HEAD + format::RECORD_HEAD;
    let mut single_vs_raw = Vec::new();
    let mut lanes_vs_single = Vec::new();
    for round in 0..ROUNDS {
        let (single, raw) = single_and_raw_rates(&bench_dir(&format!("single-{round}")), size)?;
        let many = concurrent_rate(&bench_dir(&format!("lanes-{round}")))?;
        single_vs_raw.push((single, raw));
        lanes_vs_single.push((many, single));
    }
    report(
        "append+fdatasync vs raw write+fdatasync",
        &single_vs_raw,
        0.9,
    );
    report("64 lanes (group commit) vs 1 lane", &lanes_vs_single, 8.0);

    let dir = bench_dir("replay");
    let file_bytes = write_replay_journal(&dir)?;
    let mut took = Vec::new();
    for _ in 0..REPLAYS {
        let start = Instant::now();
        let index = journal::open_read_only(&dir)?;
        took.push(start.elapsed().as_secs_f64());
        if index.records != REPLAY_RECORDS {
            println!(
                "replay saw {} records, expected {REPLAY_RECORDS}",
                index.records
            );
        }
    }
    let each: Vec<String> = took.iter().map(|t| format!("{t:.3} s")).collect();
    let median_s = median(took);
    println!(
        "replay of {REPLAY_RECORDS} records ({file_bytes} bytes): {}; median {median_s:.3} s  budget < 2 s  {}",
        each.join(", "),
        if median_s < 2.0 { "ok" } else { "OVER BUDGET" }
    );
    let j = Journal::open(&dir, Duration::from_secs(5))?;
    j.compact()?;
    let live = live_bytes(&j.index());
    println!(
        "compaction: {file_bytes} -> {} bytes; live state {live} bytes of records; file/live {:.2}x",
        j.file_len(),
        j.file_len() as f64 / live.max(1) as f64
    );
    Ok(())
}

pub fn run() {
    if let Err(e) = run_all() {
        println!("journal bench failed: {e}");
    }
}
