//! Crash safety of a two-approval destroy (CONTRACT §11 with §4, §8): the
//! agent is SIGKILLed after the second approval is journaled and before
//! the op executes, and while it executes; then restarted.
//!
//! Invariants, from fakepve's request log and the journal: PVE never
//! receives a second DELETE for the guest, the nonce is consumed at most
//! once, and approvals held in the journal survive every restart (an op
//! interrupted before its nonce was consumed runs once afterwards, on the
//! approvals it already had, with no new signature).
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
#[path = "support/team.rs"]
mod team;

use agent::{Agent, BlobSpec, deletes_of, nonce_consumed};
use fakepve::FakePve;
use felhom_agent::journal::Record;
use serde_json::json;
use std::time::{Duration, Instant};
use team::Team;

const GIVE_UP: Duration = Duration::from_secs(30);

struct Scenario {
    pve: FakePve,
    agent: Agent,
    vmid: u32,
    nonce: String,
}

/// A stopped guest and a destroy approved by alice and bob (2 of 2), both
/// approvals journaled.
fn scenario(tag: &str) -> Scenario {
    let pve = FakePve::start();
    pve.call("__setattr__", json!(["lock_wait", 100_000]), json!({}));
    let vmid = pve.add_qemu("stopped", json!({"cores": 1, "memory": 512}));
    let mut agent = Agent::new(&pve, tag);
    let t = Team::install(&mut agent, json!({"guest_destroy": 2}));
    let spec = BlobSpec::new("guest_destroy", json!({"purge": true}), Some(vmid));
    let blob = spec.build_now();
    for key in [&agent.alice, &t.bob] {
        let sub = agent.submit(&agent.sign(key, &blob));
        assert_eq!(sub.code, 0, "{}", sub.stderr);
    }
    assert_eq!(held_approvals(&agent), 1);
    Scenario {
        pve,
        agent,
        vmid,
        nonce: spec.nonce,
    }
}

fn held_approvals(a: &Agent) -> usize {
    a.records()
        .iter()
        .filter(|r| matches!(r, Record::ApprovalAdded { .. }))
        .count()
}

fn consumptions(s: &Scenario) -> usize {
    s.agent
        .records()
        .iter()
        .filter(|r| matches!(r, Record::NonceConsumed { nonce, .. } if *nonce == s.nonce))
        .count()
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < GIVE_UP, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Starts a pass and SIGKILLs it once `ready` holds.
fn kill_pass_when(s: &Scenario, mut ready: impl FnMut() -> bool) {
    let mut child = s.agent.spawn(&["--reconcile-now", "--json"]);
    wait_until("the kill point", &mut ready);
    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert!(!status.success(), "the pass ended before the kill");
}

/// Passes until nothing is left to do; returns the DELETEs PVE saw.
fn settle(s: &Scenario) -> usize {
    for _ in 0..3 {
        let _ = s.agent.pass();
    }
    deletes_of(&s.pve, s.vmid)
}

#[test]
fn killed_after_the_second_approval_before_execution_runs_once_on_the_held_approvals() {
    let s = scenario("apc-before");
    // PVE answers slowly (3 s): the pass is killed while it reads the
    // guests, before the gate.
    s.pve.call("slow_network", json!([300]), json!({}));
    let started = Instant::now();
    kill_pass_when(&s, || started.elapsed() > Duration::from_millis(500));
    s.pve.call("slow_network", json!([0]), json!({}));
    assert_eq!(deletes_of(&s.pve, s.vmid), 0);
    assert_eq!(consumptions(&s), 0);
    assert_eq!(
        held_approvals(&s.agent),
        1,
        "the approval survives the kill"
    );
    let run = s.agent.pass();
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(run.actions()[0]["outcome"], json!("succeeded"));
    assert!(
        run.stderr.contains("signer=alice,bob"),
        "ran on both held approvals: {}",
        run.stderr
    );
    assert_eq!(settle(&s), 1);
    assert_eq!(consumptions(&s), 1);
}

#[test]
fn killed_as_execution_starts_the_op_runs_at_most_once() {
    let s = scenario("apc-intent");
    // A held config lock keeps a destroy task (if the DELETE gets out)
    // running, so the kill lands before any outcome.
    s.pve
        .call("hold_config_lock", json!([s.vmid, null]), json!({}));
    kill_pass_when(&s, || {
        s.agent
            .records()
            .iter()
            .any(|r| matches!(r, Record::Intent { nonce: Some(n), .. } if *n == s.nonce))
    });
    std::thread::sleep(Duration::from_millis(300));
    s.pve
        .call("release_config_lock", json!([s.vmid]), json!({}));
    let sent = deletes_of(&s.pve, s.vmid);
    let consumed = consumptions(&s);
    eprintln!("killed at the intent: DELETE sent {sent}, nonce consumed {consumed}");
    assert!(sent <= consumed, "a DELETE without a consumed nonce");
    let total = settle(&s);
    assert!(total <= 1, "{total} DELETEs");
    assert!(consumptions(&s) <= 1);
    if consumed == 0 {
        // Interrupted before its nonce: still queued with both approvals,
        // so it ran once afterwards.
        assert_eq!(total, 1);
        assert_eq!(s.pve.guest(s.vmid)["exists"], json!(false));
    }
    let gone = s.pve.guest(s.vmid)["exists"] == json!(false);
    assert_eq!(gone, total == 1);
}

#[test]
fn killed_during_execution_is_never_sent_again_after_restarts() {
    let s = scenario("apc-task");
    s.pve
        .call("hold_config_lock", json!([s.vmid, null]), json!({}));
    kill_pass_when(&s, || {
        s.agent
            .records()
            .iter()
            .any(|r| matches!(r, Record::TaskStarted { .. }))
    });
    assert_eq!(deletes_of(&s.pve, s.vmid), 1);
    assert!(nonce_consumed(&s.agent.records(), &s.nonce));
    s.pve
        .call("release_config_lock", json!([s.vmid]), json!({}));
    wait_until("the destroy to finish", || {
        s.pve.guest(s.vmid)["exists"] == json!(false)
    });
    assert_eq!(settle(&s), 1);
    assert_eq!(consumptions(&s), 1);
    let calm = s.agent.pass();
    assert_eq!(calm.code, 0, "nothing left to run: {}", calm.stdout);
    assert!(calm.actions().is_empty());
}
