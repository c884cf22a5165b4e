//! Journal growth under weeks of unchanged pending decisions (CONTRACT §8:
//! the journal never grows past max(4 MiB, 2 × its live state) for long,
//! and opening it costs memory in proportion to live state).
//!
//! Simulated: a host whose desired state marks 500 guests `absent` and no
//! one signs, one pass a minute for [`DAYS`] days, every pass re-opening
//! the journal as the daemon does (`Journal::open`, the pass's audit of
//! 500 `pending_signature` decisions, `PassAudit::finish`,
//! `compact_if_needed`). One more guest fails a benign action every
//! [`FAILING_EVERY`] passes (an allowed decision, an intent and a failed
//! outcome with a 10 KiB task log): real history, which compaction must
//! fold away.
//!
//! Printed, figure beside bound: the journal's size at the end and its
//! largest size after any pass, against max(4 MiB, 2 × live state); what
//! the same weeks cost before standing decisions (every decision journaled
//! every pass; computed from the record size, not run); and the peak RSS
//! of a process that opens the journal (a child of this bench, so nothing
//! else it did counts), against the same child opening an empty journal.

use felhom_agent::journal::format::{BATCH_HEAD, RECORD_HEAD};
use felhom_agent::journal::{COMPACT_MIN_BYTES, DecisionRecord, Journal, OutcomeKind, Record};
use felhom_agent::reconcile::audit::PassAudit;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const DAYS: i64 = 14;
const PASSES_PER_DAY: i64 = 24 * 60;
const PENDING_GUESTS: u32 = 500;
/// Every this many passes, a failing benign action adds history.
const FAILING_EVERY: i64 = 10;
/// The environment variable that makes the bench binary a child that opens
/// the journal in that directory and prints its own peak RSS.
pub const OPEN_CHILD_ENV: &str = "FELHOM_BENCH_OPEN_JOURNAL";

fn bench_dir(name: &str) -> PathBuf {
    let dir = Path::new("target").join("bench-journal").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    if let Err(e) = std::fs::create_dir_all(&dir) {
        println!("cannot create {}: {e}", dir.display());
    }
    dir
}

fn decision(decision: &str, op: &str, vmid: u32, reason: &str, at: i64) -> DecisionRecord {
    DecisionRecord {
        decision: decision.into(),
        op: op.into(),
        class: if op == "guest_destroy" {
            "destructive"
        } else {
            "benign"
        }
        .into(),
        vmid: Some(vmid),
        source: "desired_state".into(),
        signer: None,
        role: None,
        reason: reason.into(),
        nonce: None,
        at,
    }
}

fn pending(vmid: u32, at: i64) -> DecisionRecord {
    decision(
        "pending_signature",
        "guest_destroy",
        vmid,
        "destructive: awaiting an operator signature",
        at,
    )
}

/// One simulated pass: (whether it compacted, file bytes, live bytes).
fn pass(
    dir: &Path,
    n: i64,
    at: i64,
    log_tail: &str,
) -> Result<(bool, u64, u64), Box<dyn std::error::Error>> {
    let j = Journal::open(dir, Duration::from_secs(5))?;
    let audit = PassAudit::new(Some(&j));
    for vmid in 0..PENDING_GUESTS {
        audit.record(pending(9000 + vmid, at))?;
    }
    if n % FAILING_EVERY == 0 {
        let op_id = format!("{at}-bench-{n}-8999");
        audit.record(decision("allowed", "start", 8999, "benign", at))?;
        j.append(Record::Intent {
            op_id: op_id.clone(),
            vmid: 8999,
            op: "start".into(),
            params: serde_json::json!({}),
            source: "desired_state".into(),
            idempotency_key: op_id.clone(),
            nonce: None,
            at: None,
        })?;
        j.append(Record::Outcome {
            op_id,
            outcome: OutcomeKind::Failed,
            detail: log_tail.to_string(),
        })?;
    }
    audit.finish(at)?;
    let compacted = j.compact_if_needed()?;
    Ok((compacted, j.file_len(), live_len(&j)?))
}

fn live_len(j: &Journal) -> Result<u64, Box<dyn std::error::Error>> {
    Ok(felhom_agent::journal::live_len(
        &j.index(),
        felhom_agent::time::now_unix(),
    )?)
}

/// Peak RSS (KiB) of a child of this binary that opens the journal in
/// `dir` (see [`open_child`]).
fn open_rss_kib(dir: &Path) -> Result<u64, Box<dyn std::error::Error>> {
    let out = Command::new(std::env::current_exe()?)
        .env(OPEN_CHILD_ENV, dir)
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.trim()
        .parse()
        .map_err(|_| format!("open child printed {text:?}").into())
}

/// In the child: opens the journal (lock, read, replay, torn-tail check),
/// then prints this process's peak RSS in KiB.
pub fn open_child(dir: &Path) {
    match Journal::open(dir, Duration::from_secs(30)) {
        Ok(j) => {
            let hwm = std::fs::read_to_string("/proc/self/status")
                .unwrap_or_default()
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
                .unwrap_or(0);
            drop(j);
            println!("{hwm}");
        }
        Err(e) => println!("open failed: {e}"),
    }
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn run_all() -> Result<(), Box<dyn std::error::Error>> {
    let dir = bench_dir("pending-weeks");
    let log_tail = format!("task failed: {}", "x".repeat(10 * 1024));
    let start = felhom_agent::time::now_unix() - DAYS * 86_400;
    let passes = DAYS * PASSES_PER_DAY;
    let (mut compactions, mut largest, mut worst_ratio) = (0u32, 0u64, 0f64);
    let (mut file, mut live) = (0, 0);
    let began = Instant::now();
    for n in 0..passes {
        let (compacted, f, l) = pass(&dir, n, start + 60 * n, &log_tail)?;
        compactions += u32::from(compacted);
        largest = largest.max(f);
        worst_ratio = worst_ratio.max(f as f64 / COMPACT_MIN_BYTES.max(2 * l) as f64);
        (file, live) = (f, l);
    }
    println!(
        "{passes} passes ({DAYS} days, one a minute, journal re-opened each pass), {PENDING_GUESTS} \
         pending decisions each: {:.1} s, {compactions} compactions",
        began.elapsed().as_secs_f64()
    );
    let bound = COMPACT_MIN_BYTES.max(2 * live);
    println!(
        "journal at the end: {file} bytes ({:.2} MiB); live state {live} bytes; bound max(4 MiB, \
         2 x live) = {bound} bytes  {}",
        mib(file),
        if file <= bound { "ok" } else { "OVER BOUND" }
    );
    println!(
        "largest after any pass: {largest} bytes ({:.2} MiB); worst file/bound {worst_ratio:.2}  {}",
        mib(largest),
        if worst_ratio <= 1.0 {
            "ok"
        } else {
            "OVER BOUND"
        }
    );
    // Each decision appended on its own: one batch per record.
    let per_pass = PENDING_GUESTS as usize
        * (Record::Decision(pending(9000, start)).encode()?.len() + BATCH_HEAD + RECORD_HEAD);
    let before = per_pass as u64 * passes as u64;
    println!(
        "before standing decisions and the live-state threshold (computed): {before} bytes \
         ({:.0} MiB, {:.0} MiB a day); open reads it whole, and past 1 GiB every mode exits 1",
        mib(before),
        mib(before) / DAYS as f64
    );
    let empty = bench_dir("open-empty");
    drop(Journal::open(&empty, Duration::from_secs(5))?);
    let base = open_rss_kib(&empty)?;
    print_open("at the end", open_rss_kib(&dir)?, base, file);
    // On to the largest the file gets: the pass before the next compaction
    // (a failing pass adds at most `growth` bytes).
    let (mut n, mut growth) = (passes, 0u64);
    while file + 2 * growth.max(1) <= COMPACT_MIN_BYTES.max(2 * live) {
        let (compacted, f, l) = pass(&dir, n, start + 60 * n, &log_tail)?;
        if compacted {
            break;
        }
        growth = growth.max(f.saturating_sub(file));
        (file, live, n) = (f, l, n + 1);
    }
    print_open(
        &format!("{} passes later, before the next compaction", n - passes),
        open_rss_kib(&dir)?,
        base,
        file,
    );
    Ok(())
}

fn print_open(when: &str, rss: u64, base: u64, file: u64) {
    println!(
        "open, {when}: peak RSS {:.1} MiB for a {:.2} MiB file; the same process opening an \
         empty journal: {:.1} MiB (difference {:.1} MiB)",
        rss as f64 / 1024.0,
        mib(file),
        base as f64 / 1024.0,
        rss.saturating_sub(base) as f64 / 1024.0,
    );
}

pub fn run() {
    if let Err(e) = run_all() {
        println!("journal-growth bench failed: {e}");
    }
}
