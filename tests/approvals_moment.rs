//! The two-person rule at the moment an op runs (CONTRACT §11 with §4):
//! approvals are verified again right before the nonce is consumed, not
//! only when the pass gated the op. A rotation earlier in the same pass
//! (the rotation barrier) and a validity window that closes while the op
//! waits for its lane both take an approval away; the op then does not
//! run, keeps its nonce and its approvals, and waits as `N of K approvals`.
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
use fakepve::{FakePve, Options};
use felhom_agent::journal::Record;
use serde_json::{Value, json};
use team::Team;

fn submit(a: &Agent, key: &sshkeys::Key, blob: &str, approvals: u64) {
    let sub = a.submit(&a.sign(key, blob));
    assert_eq!(sub.code, 0, "{}\n{}", sub.stdout, sub.stderr);
    assert_eq!(sub.json()["approvals"], json!(approvals), "{}", sub.stdout);
}

fn rows(run: &agent::Run, op: &str) -> Vec<Value> {
    run.actions()
        .into_iter()
        .filter(|x| x["op"] == json!(op))
        .collect()
}

#[test]
fn an_approver_removed_by_a_rotation_earlier_in_the_same_pass_does_not_count() {
    let pve = FakePve::start();
    let v = pve.add_qemu("stopped", json!({"cores": 1, "memory": 512}));
    let mut a = Agent::new(&pve, "apm-barrier");
    let t = Team::install(&mut a, json!({"guest_destroy": 2}));
    let destroy = BlobSpec::new("guest_destroy", json!({"purge": true}), Some(v));
    let blob = destroy.build_now();
    submit(&a, &a.alice, &blob, 1);
    submit(&a, &t.bob, &blob, 2);
    // Queued after both approvals: a rotation that takes bob out.
    let lines = t.operational_lines(&a, &["bob"]);
    let rotation = BlobSpec::new("key_rotation", json!({"operational_signers": lines}), None);
    submit(&a, &a.rescue, &rotation.build_now(), 1);

    let run = a.pass();
    assert_eq!(run.code, 4, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(rows(&run, "key_rotation")[0]["outcome"], json!("succeeded"));
    let held = rows(&run, "guest_destroy");
    assert_eq!(held[0]["decision"], json!("pending_signature"), "{held:?}");
    assert_eq!(held[0]["reason"], json!("1 of 2 approvals"), "{held:?}");
    assert_eq!(deletes_of(&pve, v), 0);
    assert!(!nonce_consumed(&a.records(), &destroy.nonce));
    // Carol's approval makes two again.
    submit(&a, &t.carol, &blob, 2);
    let run = a.pass();
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(deletes_of(&pve, v), 1);
    assert!(run.stderr.contains("signer=alice,carol"), "{}", run.stderr);
}

#[test]
fn an_approver_whose_window_closes_while_the_op_waits_for_its_lane_no_longer_counts() {
    // Tasks take real time: 0.1 s per PVE second.
    let pve = FakePve::start_with(Options {
        time_scale: 0.1,
        ..Options::default()
    });
    let v = pve.add_qemu("stopped", json!({"cores": 1, "memory": 512}));
    pve.add_snapshot(v, "before");
    pve.set_guest(
        v,
        "config",
        json!({"cores": 4, "memory": 2048, "parent": "before"}),
    );
    // The desired state starts the guest first (14 s); the signed rollback
    // for the same guest waits behind it in its lane.
    pve.set_guest(v, "start_secs", json!(140));
    let mut a = Agent::new(&pve, "apm-window");
    let t = Team::install(&mut a, json!({"restore_overwrite": 2}));
    let now = felhom_agent::time::now_unix();
    // bob may sign for the next 7 s only: long enough for both approvals
    // and the gate, not for the start ahead of the rollback.
    let mut lines = t.operational_lines(&a, &["bob"]);
    lines.push(team::line("bob", &t.bob, &team::valid_before(now + 7)));
    team::write(&a, "operational.allowed_signers", &lines);
    a.write_desired(1, json!([{"vmid": v, "state": "running"}]));
    let rollback = BlobSpec::new("restore_overwrite", json!({"snapshot": "before"}), Some(v));
    let blob = rollback.build_now();
    submit(&a, &a.alice, &blob, 1);
    submit(&a, &t.bob, &blob, 2);

    let run = a.pass();
    let sent = |pve: &FakePve| {
        pve.requests()
            .iter()
            .filter(|(m, p)| m == "POST" && p.ends_with("/rollback"))
            .count()
    };
    assert_eq!(
        sent(&pve),
        0,
        "ran on a closed window:\n{}\n{}",
        run.stdout,
        run.stderr
    );
    assert_eq!(
        rows(&run, "start")[0]["outcome"],
        json!("succeeded"),
        "{}",
        run.stdout
    );
    let restore = rows(&run, "restore_overwrite");
    assert_eq!(restore.len(), 1, "{}", run.stdout);
    assert_eq!(
        restore[0]["decision"],
        json!("pending_signature"),
        "{restore:?}"
    );
    assert_eq!(
        restore[0]["reason"],
        json!("1 of 2 approvals (when its turn came; not started)"),
        "{restore:?}"
    );
    assert_eq!(run.code, 4, "{}", run.stdout);
    let records = a.records();
    assert!(!nonce_consumed(&records, &rollback.nonce));
    assert!(
        !records
            .iter()
            .any(|r| matches!(r, Record::OpDequeued { nonce, .. } if *nonce == rollback.nonce)),
        "waiting for approvals is not terminal"
    );
    let d = decisions(&records);
    let audit: Vec<_> = d
        .iter()
        .filter(|d| d.nonce.as_deref() == Some(rollback.nonce.as_str()))
        .map(|d| (d.decision.as_str(), d.reason.as_str()))
        .collect();
    assert!(
        audit.contains(&(
            "allowed",
            "signed by alice (operational), bob (operational): 2 of 2 approvals"
        )),
        "{audit:?}"
    );
    assert!(
        audit.contains(&("pending_signature", "1 of 2 approvals")),
        "{audit:?}"
    );

    // The op kept its nonce and alice's approval: carol's makes it run.
    submit(&a, &t.carol, &blob, 2);
    let run = a.pass();
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(
        rows(&run, "restore_overwrite")[0]["outcome"],
        json!("succeeded")
    );
    assert_eq!(sent(&pve), 1);
    assert!(run.stderr.contains("signer=alice,carol"), "{}", run.stderr);
}
