//! Crash safety of a creation (CONTRACT §10, DESIGN §5a): the real binary
//! is SIGKILLed at every step of a provisioning transaction, with slowed
//! PVE tasks, then restarted until it converges. For every kill point:
//! - no double create (exactly one create POST for the vmid);
//! - no half-built guest: it ends created to spec (configured, running) or
//!   gone, and no transaction is left open;
//! - no destroy of a guest not proven the agent's (a DELETE only where the
//!   scenario rolls back a guest whose create task was seen succeeding);
//! - the journal verifies.
//!
//! Steps are hit by polling the journal for the step's record and killing
//! right after it appears (as `gate_crash.rs` does for a signed destroy).
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

use agent::{Agent, deletes_of};
use fakepve::FakePve;
use felhom_agent::journal::{self, Record, TxnEndKind};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// Liveness bound for the polls (a correct agent is far quicker).
const GIVE_UP: Duration = Duration::from_secs(60);
/// PVE seconds a slowed task takes (time scale 0.01: 1.5 s real).
const SLOW_TASK: f64 = 150.0;

/// Where to kill, and how the scenario ends.
struct KillPoint {
    name: &'static str,
    /// Fakepve set-up before the pass (slow tasks, injected failures).
    setup: fn(&FakePve, u32),
    /// The journal record after which the process is killed.
    step: fn(&Record) -> bool,
    /// Real time between the record appearing and the kill.
    linger: Duration,
    /// The scenario rolls the guest back (so it ends gone, one DELETE).
    rolls_back: bool,
    /// No PVE call follows the step until the transaction's end record, so
    /// the pass may finish before the kill lands; then the journal is cut
    /// right after the step, which is what a power cut at that instant
    /// leaves (the later records were never synced).
    may_finish: bool,
}

fn slow_create(pve: &FakePve, _: u32) {
    pve.ct_task_secs("create", SLOW_TASK);
}

fn slow_answers(pve: &FakePve, v: u32) {
    slow_create(pve, v);
    // Every answer comes 2 s after its request ran: the create POST runs,
    // but the agent dies before its answer (the task id) arrives.
    pve.answer_delay(200.0);
}

fn failing_start(pve: &FakePve, v: u32) {
    pve.ct_task_secs("destroy", SLOW_TASK);
    pve.call(
        "fail",
        json!(["POST", format!("/nodes/{}/lxc/{v}/status/start", pve.node)]),
        json!({"status": 500, "message": "unable to start: no cgroup", "times": 1}),
    );
}

fn is_step(r: &Record, op: &str) -> bool {
    matches!(r, Record::Intent { op: o, .. } if o == op)
}

fn task_of(r: &Record, step: &str) -> bool {
    matches!(r, Record::TaskStarted { op_id, .. } if op_id.contains(step))
}

fn outcome_of(r: &Record, step: &str) -> bool {
    matches!(r, Record::Outcome { op_id, .. } if op_id.contains(step))
}

const KILL_POINTS: &[KillPoint] = &[
    KillPoint {
        name: "before the create POST",
        setup: slow_create,
        step: |r| matches!(r, Record::TxnBegin { .. }),
        linger: Duration::ZERO,
        rolls_back: false,
        may_finish: false,
    },
    KillPoint {
        name: "after the create POST, before its task id",
        setup: slow_answers,
        step: |r| is_step(r, "create"),
        linger: Duration::from_millis(300),
        rolls_back: false,
        may_finish: false,
    },
    KillPoint {
        name: "while the create task runs",
        setup: slow_create,
        step: |r| task_of(r, "/create"),
        linger: Duration::ZERO,
        rolls_back: false,
        may_finish: false,
    },
    KillPoint {
        name: "after the create task ended",
        setup: slow_create,
        step: |r| matches!(r, Record::TxnCreated { .. }),
        linger: Duration::ZERO,
        rolls_back: false,
        may_finish: false,
    },
    KillPoint {
        name: "between config and start",
        setup: slow_create,
        step: |r| outcome_of(r, "/set_config"),
        linger: Duration::ZERO,
        rolls_back: false,
        may_finish: false,
    },
    KillPoint {
        name: "before commit",
        setup: slow_create,
        step: |r| outcome_of(r, "/start"),
        linger: Duration::ZERO,
        rolls_back: false,
        may_finish: true,
    },
    KillPoint {
        name: "when the rollback begins",
        setup: failing_start,
        step: |r| matches!(r, Record::TxnAbort { .. }),
        linger: Duration::ZERO,
        rolls_back: true,
        may_finish: false,
    },
    KillPoint {
        name: "while the rollback's destroy runs",
        setup: failing_start,
        step: |r| task_of(r, "/destroy"),
        linger: Duration::ZERO,
        rolls_back: true,
        may_finish: false,
    },
];

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < GIVE_UP, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn create_posts(pve: &FakePve) -> usize {
    pve.requests()
        .iter()
        .filter(|(m, p)| m == "POST" && p.ends_with(&format!("/nodes/{}/lxc", pve.node)))
        .count()
}

fn guest_entry(v: u32) -> Value {
    json!([{"vmid": v, "state": "running", "cores": 2, "description": "crash",
            "create": {"kind": "lxc", "name": "crash", "storage": "local-lvm", "disk_gib": 4,
                       "ostemplate": "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst"}}])
}

/// Truncates the journal right after the first record matching `step`.
fn cut_after(a: &Agent, step: fn(&Record) -> bool) {
    let path = a.journal_path();
    let bytes = std::fs::read(&path).unwrap();
    let mut cut = None;
    let mut after_step = false;
    let summary = journal::format::scan(&bytes, |offset, _, payload| {
        if after_step && cut.is_none() {
            cut = Some(offset);
        }
        after_step |= step(&Record::decode(payload).unwrap());
        Ok(())
    })
    .unwrap();
    let cut = cut.unwrap_or(summary.valid_len);
    let file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    file.set_len(cut).unwrap();
}

/// Runs one kill point; returns a one-line summary.
fn run_kill_point(k: &KillPoint) -> String {
    let pve = FakePve::start();
    let mut a = Agent::new(&pve, "pc");
    a.provision(&pve, json!({"storages": ["local-lvm"]}));
    let v = pve.next_vmid();
    a.write_desired(1, guest_entry(v));
    (k.setup)(&pve, v);

    let mut child = a.spawn(&["--reconcile-now", "--json"]);
    wait_until(k.name, || a.records().iter().any(k.step));
    std::thread::sleep(k.linger);
    child.kill().unwrap();
    let status = child.wait().unwrap();
    let how = if status.code().is_some() {
        assert!(k.may_finish, "{}: the pass ended before the kill", k.name);
        cut_after(&a, k.step);
        "journal cut after the step"
    } else {
        "killed"
    };
    pve.answer_delay(0.0);

    // Restart until converged (tasks left running finish meanwhile).
    let start = Instant::now();
    let mut runs = Vec::new();
    loop {
        let run = a.pass();
        let done = run.code == 0;
        runs.push(run);
        if done {
            break;
        }
        assert!(
            start.elapsed() < GIVE_UP,
            "{}: no convergence: {:#?}",
            k.name,
            runs.iter().map(|r| &r.stdout).collect::<Vec<_>>()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let records = a.records();
    let ends: Vec<TxnEndKind> = records
        .iter()
        .filter_map(|r| match r {
            Record::TxnEnd { end, .. } => Some(*end),
            _ => None,
        })
        .collect();
    let guest = pve.guest(v);
    let posts = create_posts(&pve);
    let deletes = deletes_of(&pve, v);
    let summary = format!(
        "{} ({how}): {} restart pass(es), create POSTs {posts}, DELETEs {deletes}, ends {ends:?}, \
         exists {}",
        k.name,
        runs.len(),
        guest["exists"]
    );
    eprintln!("{summary}");

    assert_eq!(posts, 1, "{summary}: no double create");
    let ix = journal::open_read_only(&a.state_dir).unwrap();
    assert!(
        ix.transactions.open.is_empty(),
        "{summary}: a transaction left open"
    );
    assert!(ix.in_flight.is_empty(), "{summary}: an op left in flight");
    if k.rolls_back {
        assert_eq!(guest["exists"], json!(false), "{summary}");
        assert_eq!(deletes, 1, "{summary}: the rollback destroys once");
        assert_eq!(ends.last(), Some(&TxnEndKind::RolledBack), "{summary}");
    } else {
        assert_eq!(deletes, 0, "{summary}: nothing is destroyed");
        assert_eq!(guest["exists"], json!(true), "{summary}");
        assert_eq!(guest["status"], json!("running"), "{summary}: {guest}");
        assert_eq!(guest["config"]["cores"], json!(2), "{summary}: {guest}");
        assert!(guest["lock"].is_null(), "{summary}: {guest}");
    }
    if ends.contains(&TxnEndKind::Unresolved) {
        assert_eq!(
            deletes, 0,
            "{summary}: an unresolved creation is never destroyed"
        );
        let reported = runs.iter().any(|r| r.errors().contains("unresolved"));
        assert!(reported, "{summary}: unresolved is reported");
    }
    assert_eq!(a.run(&["--journal-verify"]).code, 0, "{summary}");
    summary
}

#[test]
fn sigkill_at_every_step_of_a_creation_never_creates_twice_leaves_nothing_half_built_and_destroys_only_what_is_proven_ours()
 {
    let summaries: Vec<String> = KILL_POINTS.iter().map(run_kill_point).collect();
    // The POST-without-task-id point must really have left the outcome
    // unknown with a guest present (else it proves nothing about `unresolved`).
    let unknown = summaries
        .iter()
        .find(|s| s.starts_with("after the create POST"))
        .unwrap();
    assert!(unknown.contains("Unresolved"), "{unknown}");
}
