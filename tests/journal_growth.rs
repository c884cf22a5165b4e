//! The journal stays O(live state) however it is used (CONTRACT §8): a
//! host whose passes hold the same actions as `pending_signature` for
//! weeks, with the daemon and one-shot modes re-opening the file, never
//! grows past max(4 MiB, 2 × its live state) for long; and the nonces that
//! compaction forgets can never be admitted again, whatever the clock does.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "support/agent.rs"]
mod agent;
#[path = "support/fakepve.rs"]
mod fakepve;
#[path = "support/sshkeys.rs"]
mod sshkeys;

use agent::{Agent, BlobSpec};
use fakepve::FakePve;
use felhom_agent::journal::{
    COMPACT_MIN_BYTES, DecisionRecord, Index, Journal, OutcomeKind, Record,
};
use felhom_agent::reconcile::audit;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::time::Duration;

fn fresh_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("journal-growth")
        .join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn open(dir: &Path) -> Journal {
    Journal::open(dir, Duration::from_secs(5)).unwrap()
}

/// Bytes of the file compaction would write now: the live state.
fn live_len(index: &Index) -> u64 {
    felhom_agent::journal::live_len(index, felhom_agent::time::now_unix()).unwrap()
}

fn bound(index: &Index) -> u64 {
    COMPACT_MIN_BYTES.max(2 * live_len(index))
}

fn pending(vmid: u32, at: i64) -> DecisionRecord {
    DecisionRecord {
        decision: "pending_signature".into(),
        op: "guest_destroy".into(),
        class: "destructive".into(),
        vmid: Some(vmid),
        source: "desired_state".into(),
        signer: None,
        role: None,
        reason: "destructive: awaiting an operator signature".into(),
        nonce: None,
        at,
    }
}

/// 500 guests held as `pending_signature`, one pass per simulated minute,
/// the journal opened afresh for every pass as the daemon does.
#[test]
fn five_hundred_pending_decisions_held_for_hundreds_of_reopened_passes_keep_the_journal_bounded() {
    const GUESTS: u32 = 500;
    const PASSES: i64 = 200;
    let dir = fresh_dir("pending");
    let start = felhom_agent::time::now_unix();
    let mut after_first = 0;
    for pass in 0..PASSES {
        let j = open(&dir);
        let at = start + 60 * pass;
        // What a pass does with its decisions (`engine`): each one audited
        // through the pass's audit, the pass closed, the journal compacted
        // if it is past its bound.
        let pass_audit = audit::PassAudit::new(Some(&j));
        for vmid in 0..GUESTS {
            pass_audit.record(pending(9000 + vmid, at)).unwrap();
        }
        pass_audit.finish(at).unwrap();
        j.compact_if_needed().unwrap();
        let len = j.file_len();
        let limit = bound(&j.index());
        assert!(
            len <= limit,
            "pass {pass}: journal {len} bytes, bound max(4 MiB, 2 x live) = {limit}"
        );
        if pass == 0 {
            after_first = len;
        } else {
            assert_eq!(
                len, after_first,
                "pass {pass}: an unchanged pending decision was journaled again"
            );
        }
    }
}

/// A guest whose benign actions fail every pass journals a decision, an
/// intent and an outcome each time: real history that compaction must fold
/// away even though every pass re-opens the journal.
#[test]
fn a_journal_reopened_for_every_pass_is_compacted_against_its_live_state() {
    const PASSES: u64 = 200;
    const ACTIONS: u64 = 8;
    let dir = fresh_dir("reopen");
    // A failed task's log tail, as PVE returns it: a few KiB.
    let detail = "task failed: ".to_string() + &"x".repeat(8000);
    let mut compactions = 0;
    for pass in 0..PASSES {
        let j = open(&dir);
        for k in 0..ACTIONS {
            let op_id = format!("{pass}-{k}");
            j.append(Record::Decision(DecisionRecord {
                decision: "allowed".into(),
                op: "start".into(),
                class: "benign".into(),
                vmid: Some(9000 + k as u32),
                source: "desired_state".into(),
                signer: None,
                role: None,
                reason: "benign".into(),
                nonce: None,
                at: 1_760_000_000,
            }))
            .unwrap();
            j.append(Record::Intent {
                op_id: op_id.clone(),
                vmid: 9000 + k as u32,
                op: "start".into(),
                params: json!({}),
                source: "desired_state".into(),
                idempotency_key: op_id.clone(),
                nonce: None,
                at: None,
            })
            .unwrap();
            j.append(Record::Outcome {
                op_id,
                outcome: OutcomeKind::Failed,
                detail: detail.clone(),
            })
            .unwrap();
        }
        if j.compact_if_needed().unwrap() {
            compactions += 1;
        }
        let len = j.file_len();
        let limit = bound(&j.index());
        assert!(
            len <= limit,
            "pass {pass}: journal {len} bytes, bound max(4 MiB, 2 x live) = {limit}"
        );
    }
    assert!(compactions >= 3, "{compactions} compactions");
}

/// Through the real binary: a pass that makes the same decisions as the
/// last one adds nothing to the journal, yet every pass still prints each
/// decision's audit line.
#[test]
fn unchanged_pending_decisions_add_nothing_to_the_journal_pass_after_pass() {
    let pve = FakePve::start();
    let guests: Vec<u32> = (0..3)
        .map(|_| pve.add_qemu("stopped", json!({"cores": 1, "memory": 512})))
        .collect();
    let a = Agent::new(&pve, "jg-binary");
    let absent: Vec<_> = guests
        .iter()
        .map(|v| json!({"vmid": v, "state": "absent", "purge": true}))
        .collect();
    a.write_desired(1, json!(absent));
    let first = a.pass();
    assert_eq!(first.code, 4, "{}\n{}", first.stdout, first.stderr);
    let size = a.journal_bytes().len();
    for n in 0..3 {
        let run = a.pass();
        assert_eq!(run.code, 4, "{}", run.stdout);
        let audits = run
            .stderr
            .lines()
            .filter(|l| l.contains("decision=pending_signature"))
            .count();
        assert_eq!(
            audits, 3,
            "pass {n}: one audit line per decision:\n{}",
            run.stderr
        );
        assert_eq!(
            a.journal_bytes().len(),
            size,
            "pass {n}: the journal grew with decisions it already holds"
        );
    }
    // The audit trail still shows every distinct decision: one that stops
    // being made lapses, and one made again later is journaled again.
    let lapsed = |a: &Agent| {
        a.records()
            .iter()
            .filter(|r| matches!(r, Record::DecisionLapsed(d) if d.vmid == Some(guests[0])))
            .count()
    };
    let made = |a: &Agent| {
        agent::decisions(&a.records())
            .iter()
            .filter(|d| d.vmid == Some(guests[0]))
            .count()
    };
    assert_eq!((made(&a), lapsed(&a)), (1, 0));
    a.write_desired(2, json!(absent[1..]));
    assert_eq!(a.pass().code, 4);
    assert_eq!((made(&a), lapsed(&a)), (1, 1), "it lapsed once");
    a.write_desired(3, json!(absent));
    assert_eq!(a.pass().code, 4);
    assert_eq!(
        (made(&a), lapsed(&a)),
        (2, 1),
        "made again, journaled again"
    );
}

/// A consumed nonce is pruned by compaction once its blob has expired. If
/// the clock was ahead at that compaction and then steps back, the blob
/// looks valid again: the agent must still refuse it.
#[test]
fn a_backward_clock_step_after_compaction_never_readmits_a_consumed_nonce() {
    let pve = FakePve::start();
    let v = pve.add_qemu("stopped", json!({"cores": 1, "memory": 512}));
    let a = Agent::new(&pve, "jg-clock");
    let spec = BlobSpec::new("start", json!({}), Some(v));
    let files = a.sign(&a.alice, &spec.build_now());
    assert_eq!(a.submit(&files).code, 0);
    let run = a.pass();
    assert_eq!(
        run.actions()[0]["outcome"],
        json!("succeeded"),
        "{}",
        run.stdout
    );
    assert_eq!(a.submit(&files).json()["error"], json!("replay"));

    // A compaction while the clock reads two days ahead forgets the nonce.
    {
        let j = open(&a.state_dir);
        j.compact_as_of(felhom_agent::time::now_unix() + 2 * 86_400)
            .unwrap();
        assert!(!j.index().is_nonce_consumed(&spec.nonce));
    }
    // The clock steps back to the truth: the blob is within its validity.
    let check = a.check_op(&files);
    assert_eq!(check.code, 65, "{}", check.stdout);
    let sub = a.submit(&files);
    assert_eq!(
        sub.code, 65,
        "a consumed op was admitted again: {}",
        sub.stdout
    );
    let starts_before = pve
        .requests()
        .iter()
        .filter(|(m, p)| m == "POST" && p.ends_with("/status/start"))
        .count();
    let _ = a.run(&["--reconcile-now", "--json"]);
    let starts_after = pve
        .requests()
        .iter()
        .filter(|(m, p)| m == "POST" && p.ends_with("/status/start"))
        .count();
    assert_eq!(starts_before, starts_after);
}
