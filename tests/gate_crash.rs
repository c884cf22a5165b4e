//! Crash safety of a signed destroy: the agent is SIGKILLed at each step of
//! the write-ahead protocol (DESIGN §4) and restarted. Invariants, checked
//! in fakepve's request log and the journal (`journal::read_records`):
//! PVE never receives a second DELETE, the outcome recorded is the one the
//! journal can justify, and the nonce stays consumed (resubmit → 65 replay).
//!
//! Steps are hit by polling the journal for the record of that step and
//! killing right after it appears. PVE is slowed where a step needs a
//! window: the destroy task waits on a held config lock (released by the
//! test), and for "DELETE sent, answer not yet received" the node's
//! responses are delayed.
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

use agent::{Agent, BlobSpec, deletes_of, nonce_consumed};
use fakepve::FakePve;
use felhom_agent::journal::{OutcomeKind, Record};
use serde_json::json;
use std::path::PathBuf;
use std::process::Child;
use std::time::{Duration, Instant};

/// Liveness bound for polls below (a correct agent is far quicker).
const GIVE_UP: Duration = Duration::from_secs(30);

struct Scenario {
    pve: FakePve,
    agent: Agent,
    vmid: u32,
    nonce: String,
    files: (PathBuf, PathBuf),
}

/// A stopped guest, a signed destroy for it queued with `--submit`.
fn scenario(tag: &str) -> Scenario {
    let pve = FakePve::start();
    // PVE seconds a task waits for a held config lock: effectively forever,
    // so a held lock keeps the destroy task running until the test says.
    pve.call("__setattr__", json!(["lock_wait", 100_000]), json!({}));
    let vmid = pve.add_qemu("stopped", json!({"cores": 1, "memory": 512}));
    let agent = Agent::new(&pve, tag);
    let spec = BlobSpec::new("guest_destroy", json!({"purge": true}), Some(vmid));
    let files = agent.sign(&agent.alice, &spec.build_now());
    let sub = agent.submit(&files);
    assert_eq!(sub.code, 0, "{}", sub.stderr);
    Scenario {
        pve,
        agent,
        vmid,
        nonce: spec.nonce,
        files,
    }
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < GIVE_UP, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Starts a pass and SIGKILLs it `linger` after the journal holds a record
/// matching `step`.
fn kill_after(s: &Scenario, linger: Duration, step: impl Fn(&Record) -> bool) {
    let mut child: Child = s.agent.spawn(&["--reconcile-now", "--json"]);
    wait_until("the step's journal record", || {
        s.agent.records().iter().any(&step)
    });
    std::thread::sleep(linger);
    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert!(!status.success(), "the pass ended before the kill");
}

fn outcomes(s: &Scenario) -> Vec<(OutcomeKind, String)> {
    s.agent
        .records()
        .iter()
        .filter_map(|r| match r {
            Record::Outcome {
                outcome, detail, ..
            } => Some((*outcome, detail.clone())),
            _ => None,
        })
        .collect()
}

fn has_task_started(s: &Scenario) -> bool {
    s.agent
        .records()
        .iter()
        .any(|r| matches!(r, Record::TaskStarted { .. }))
}

fn is_nonce_record(r: &Record, nonce: &str) -> bool {
    matches!(r, Record::NonceConsumed { nonce: n, .. } if n == nonce)
}

/// What the recovery note says after the nonce was consumed: PVE may or
/// may not have run the call, the operator checks the guest, and this
/// signature never runs again.
const NOTE_UNCONFIRMED: &[&str] = &[
    "after its nonce was consumed",
    "may or may not have executed it",
    "check guest",
    "will not run again",
];
/// What it says when the task id was journaled and the task has ended.
const NOTE_TASK_ENDED: &[&str] = &["its Proxmox task ended", "will not run again"];

/// The restart after the kill: recovery closes the intent, nothing is
/// re-sent, and the op is reported for the operator with a note saying
/// what happened (`note`: phrases it must contain).
fn restart_and_check(s: &Scenario, deletes_before: usize, expected: OutcomeKind, note: &[&str]) {
    let run = s.agent.pass();
    assert_eq!(
        run.code, 1,
        "an interrupted signed op is reported: {}",
        run.stdout
    );
    let doc = run.json();
    assert_eq!(doc["recovery"]["examined"], json!(1), "{doc}");
    assert!(run.actions().is_empty(), "nothing re-run: {doc}");
    let errors = run.errors();
    for phrase in note {
        assert!(errors.contains(phrase), "note lacks {phrase:?}: {errors}");
    }
    for wrong in ["is not re-run", "before its nonce was consumed"] {
        assert!(!errors.contains(wrong), "note says {wrong:?}: {errors}");
    }
    assert_eq!(
        deletes_of(&s.pve, s.vmid),
        deletes_before,
        "a second DELETE"
    );
    let out = outcomes(s);
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!(out[0].0, expected, "{out:?}");
    assert_replay_forever(s);
}

fn assert_replay_forever(s: &Scenario) {
    assert!(nonce_consumed(&s.agent.records(), &s.nonce));
    let sub = s.agent.submit(&s.files);
    assert_eq!(sub.code, 65, "{}", sub.stdout);
    assert_eq!(sub.json()["error"], json!("replay"));
    let calm = s.agent.pass();
    assert_eq!(calm.code, 0, "{}", calm.stdout);
    assert!(deletes_of(&s.pve, s.vmid) <= 1);
}

#[test]
fn kill_right_after_the_nonce_is_consumed_never_deletes_twice() {
    let s = scenario("gc-nonce");
    // A held lock keeps a destroy task (if the DELETE gets out) running, so
    // the kill always lands before an outcome could be journaled.
    s.pve
        .call("hold_config_lock", json!([s.vmid, null]), json!({}));
    kill_after(&s, Duration::ZERO, |r| is_nonce_record(r, &s.nonce));
    // Whether the DELETE left before the kill is a race the invariants must
    // survive either way; let any DELETE that did leave arrive and finish.
    std::thread::sleep(Duration::from_millis(300));
    s.pve
        .call("release_config_lock", json!([s.vmid]), json!({}));
    let deletes = deletes_of(&s.pve, s.vmid);
    assert!(deletes <= 1);
    if deletes == 1 {
        wait_until("the destroy to finish", || {
            s.pve.guest(s.vmid)["exists"] == json!(false)
        });
    } else {
        assert_eq!(s.pve.guest(s.vmid)["exists"], json!(true));
    }
    let task = has_task_started(&s);
    eprintln!("kill after nonce: DELETE sent {deletes}, task id journaled {task}");
    let (expected, note) = if task {
        (OutcomeKind::Succeeded, NOTE_TASK_ENDED)
    } else {
        (OutcomeKind::Failed, NOTE_UNCONFIRMED)
    };
    restart_and_check(&s, deletes, expected, note);
}

#[test]
fn kill_after_the_delete_is_sent_but_before_its_task_id_is_journaled() {
    let s = scenario("gc-sent");
    // The node's answers take 2 s (200 PVE s at time scale 0.01): the DELETE
    // reaches PVE and is executed, but the agent dies before the answer.
    s.pve
        .call("slow_network", json!([200]), json!({"node": s.pve.node}));
    // 300 ms after the nonce record the DELETE is on its way (the agent
    // sends it at once) and its answer is still 1.7 s away.
    kill_after(&s, Duration::from_millis(300), |r| {
        is_nonce_record(r, &s.nonce)
    });
    s.pve
        .call("slow_network", json!([0]), json!({"node": s.pve.node}));
    wait_until("the DELETE to reach PVE", || {
        deletes_of(&s.pve, s.vmid) == 1
    });
    wait_until("the destroy to finish", || {
        s.pve.guest(s.vmid)["exists"] == json!(false)
    });
    assert!(!has_task_started(&s), "the answer arrived before the kill");
    // No task id: the call was never confirmed, so recovery records
    // `failed` (fail-safe, DESIGN §5) and never re-sends it.
    restart_and_check(&s, 1, OutcomeKind::Failed, NOTE_UNCONFIRMED);
    let (_, detail) = &outcomes(&s)[0];
    assert!(detail.contains("never confirmed"), "{detail}");
}

#[test]
fn kill_after_the_task_id_is_journaled_resolves_from_the_task_without_resending() {
    let s = scenario("gc-task");
    s.pve
        .call("hold_config_lock", json!([s.vmid, null]), json!({}));
    kill_after(&s, Duration::ZERO, |r| {
        matches!(r, Record::TaskStarted { .. })
    });
    assert_eq!(deletes_of(&s.pve, s.vmid), 1);

    // Restart while the task still runs: left in flight, guest not touched.
    let run = s.agent.pass();
    assert_eq!(run.code, 1, "{}", run.stdout);
    let doc = run.json();
    assert_eq!(doc["recovery"]["unresolved"], json!(1), "{doc}");
    assert!(run.errors().contains("still running"), "{}", run.errors());
    assert!(outcomes(&s).is_empty(), "no outcome while the task runs");
    assert_eq!(s.pve.guest(s.vmid)["exists"], json!(true));

    s.pve
        .call("release_config_lock", json!([s.vmid]), json!({}));
    wait_until("the destroy to finish", || {
        s.pve.guest(s.vmid)["exists"] == json!(false)
    });
    restart_and_check(&s, 1, OutcomeKind::Succeeded, NOTE_TASK_ENDED);
    assert!(outcomes(&s)[0].1.contains("recovered: task ended OK"));
    assert_eq!(deletes_of(&s.pve, s.vmid), 1);
}

/// A crash (or power cut) after a `key_rotation`'s nonce was consumed and
/// before the signer file was renamed leaves the journal as built here: the
/// intent and the consumed nonce, no outcome, the old file, and the
/// rotation's temp file. The next start completes the rotation from the
/// journaled op (local, idempotent) instead of leaving the operator's
/// signed rotation consumed and unapplied, and deletes the temp file.
#[test]
fn a_key_rotation_interrupted_after_its_nonce_was_consumed_is_completed_at_the_next_start() {
    use felhom_agent::journal::Journal;
    let pve = FakePve::start();
    let a = Agent::new(&pve, "gc-rotate");
    let bob = sshkeys::keygen(&a.dir, "keys/bob");
    let line = format!("bob namespaces=\"felhom-op-v1\" {}", bob.public());
    let nonce = agent::fresh_nonce();
    let j = Journal::open(&a.state_dir, Duration::from_secs(5)).unwrap();
    j.append(Record::Intent {
        op_id: "rot-1".into(),
        vmid: 0,
        op: "key_rotation".into(),
        params: json!({"operational_signers": [line]}),
        source: "job".into(),
        idempotency_key: nonce.clone(),
        nonce: Some(nonce.clone()),
        at: None,
    })
    .unwrap();
    j.append(Record::NonceConsumed {
        nonce: nonce.clone(),
        expires_at: felhom_agent::time::now_unix() + 3600,
        op_id: "rot-1".into(),
    })
    .unwrap();
    drop(j);
    let dir = a.operational.parent().unwrap();
    let temp = dir.join(".operational.allowed_signers.tmp.4194305");
    std::fs::write(&temp, b"# half-written\n").unwrap();

    let run = a.pass();
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(
        run.json()["recovery"]["resolved"],
        json!(1),
        "{}",
        run.stdout
    );
    let text = std::fs::read_to_string(&a.operational).unwrap();
    assert!(
        text.contains(&bob.public()) && !text.contains(&a.alice.public()),
        "the rotation was not completed: {text}"
    );
    assert!(!temp.exists(), "the rotation's temp file is left behind");
    let records = a.records();
    assert!(records.iter().any(
        |r| matches!(r, Record::Outcome { op_id, outcome: OutcomeKind::Succeeded, .. } if op_id == "rot-1")
    ));
    assert!(
        records
            .iter()
            .any(|r| matches!(r, Record::SignersRotated { nonce: n, .. } if *n == nonce))
    );
    let destroy = BlobSpec::new("guest_destroy", json!({"purge": true}), Some(100));
    let by_bob = a.sign(&bob, &destroy.build_now());
    assert_eq!(a.check_op(&by_bob).code, 0, "the new key is in force");
    let by_alice = a.sign(
        &a.alice,
        &BlobSpec::new("guest_destroy", json!({"purge": true}), Some(100)).build_now(),
    );
    assert_eq!(
        a.check_op(&by_alice).json()["error"],
        json!("unknown_signer")
    );
    let again = a.pass();
    assert_eq!(again.code, 0, "{}", again.stdout);
    assert_eq!(again.json()["recovery"]["examined"], json!(0));
}

#[test]
fn a_crash_between_the_intent_and_the_nonce_runs_the_op_once_and_the_note_says_so() {
    let s = scenario("gc-intent");
    // The journal exactly as a SIGKILL between the intent's fdatasync and
    // the nonce's leaves it: the intent of the signed destroy, durable, and
    // nothing after it (the nonce is consumed only after the intent, and
    // the DELETE is sent only after the nonce).
    {
        let j = felhom_agent::journal::Journal::open(&s.agent.state_dir, GIVE_UP).unwrap();
        j.append(Record::Intent {
            op_id: format!("1760000000-4242-0-{}", s.vmid),
            vmid: s.vmid,
            op: "guest_destroy".into(),
            params: json!({"purge": true}),
            source: "job".into(),
            idempotency_key: s.nonce.clone(),
            nonce: Some(s.nonce.clone()),
            at: None,
        })
        .unwrap();
    }
    let run = s.agent.pass();
    let doc = run.json();
    assert_eq!(doc["recovery"]["examined"], json!(1), "{doc}");
    // Not consumed, so still queued: verified again and run, once.
    let acts = run.actions();
    assert_eq!(acts.len(), 1, "{doc}");
    assert_eq!(acts[0]["outcome"], json!("succeeded"), "{doc}");
    assert_eq!(deletes_of(&s.pve, s.vmid), 1);
    assert_eq!(s.pve.guest(s.vmid)["exists"], json!(false));
    let errors = run.errors();
    for phrase in [
        "before its nonce was consumed",
        "nothing was sent to Proxmox",
        "still queued",
    ] {
        assert!(errors.contains(phrase), "note lacks {phrase:?}: {errors}");
    }
    for wrong in ["not re-run", "sign a new blob", "may or may not"] {
        assert!(!errors.contains(wrong), "note says {wrong:?}: {errors}");
    }
    assert_replay_forever(&s);
}
