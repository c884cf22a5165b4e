//! The two-person rule (CONTRACT §11) end to end: the real binary, real
//! `ssh-keygen` signatures, a real journal, against fakepve.
//!
//! Each test has its own agent (state dir, keys, signer files) and its own
//! guests on one shared fakepve. Operators: `alice` (two keys under one
//! first principal), `bob`, `carol` (operational); `rescue`, `rescue2`
//! (recovery).
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

use agent::{Agent, BlobSpec, decisions, deletes_of, nonce_consumed};
use fakepve::FakePve;
use felhom_agent::journal::Record;
use serde_json::{Value, json};
use std::sync::OnceLock;
use team::Team;

fn pve() -> &'static FakePve {
    static PVE: OnceLock<FakePve> = OnceLock::new();
    PVE.get_or_init(FakePve::start)
}

fn stopped_guest() -> u32 {
    pve().add_qemu("stopped", json!({"cores": 1, "memory": 512}))
}

fn destroy_spec(vmid: u32) -> BlobSpec {
    BlobSpec::new("guest_destroy", json!({"purge": true}), Some(vmid))
}

fn count_records(a: &Agent, f: impl Fn(&Record) -> bool) -> usize {
    a.records().iter().filter(|r| f(r)).count()
}

fn approvals_added(a: &Agent) -> usize {
    count_records(a, |r| matches!(r, Record::ApprovalAdded { .. }))
}

#[test]
fn the_same_nonce_over_other_bytes_is_replay_and_leaves_the_queued_op_alone() {
    let v = stopped_guest();
    let a = Agent::new(pve(), "ap-nonce-bytes");
    let spec = destroy_spec(v);
    let first = a.sign(&a.alice, &spec.build_now());
    let sub = a.submit(&first);
    assert_eq!(sub.code, 0, "{}\n{}", sub.stdout, sub.stderr);
    assert_eq!(sub.json()["queued"], json!(true));
    // Same nonce, other params (purge false): not an approval of the
    // queued blob, and not a second op under one nonce.
    let mut other = spec.clone();
    other.params = json!({"purge": false});
    let second = a.sign(&a.alice, &other.build_now());
    let journal = a.journal_bytes();
    let sub = a.submit(&second);
    assert_eq!(sub.code, 65, "{}\n{}", sub.stdout, sub.stderr);
    assert_eq!(sub.json()["error"], json!("replay"), "{}", sub.stdout);
    assert_eq!(a.journal_bytes(), journal, "a rejection writes nothing");
    let run = a.pass();
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(run.actions()[0]["params"], json!({"purge": true}));
    assert_eq!(run.actions()[0]["outcome"], json!("succeeded"));
    assert_eq!(deletes_of(pve(), v), 1);
}

#[allow(dead_code)]
fn _uses(t: &Team, v: &Value) -> usize {
    let _ = (t, v, approvals_added, decisions::<>, nonce_consumed);
    0
}
