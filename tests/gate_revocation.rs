//! Revocation wins within the pass (CONTRACT §4 "Verified at the moment it
//! runs", DESIGN §5b), end to end with `ssh-keygen` signatures and fakepve.
//!
//! The attacker holds a stolen operational key (`kay`) and the hub: it can
//! queue anything `kay` signs, right behind the operator's own ops. The
//! operator's recovery key (`rescue`) queues a `key_rotation` that removes
//! `kay`. Whatever `kay` queued behind it must never run: not in the pass
//! that revokes the key, not later. And an op whose `expires_at` passes
//! while it waits for its lane (slow tasks ahead of it) is `expired` when
//! its turn comes: not run, nonce not consumed, dequeued.
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

use agent::{Agent, BlobSpec, Run, decisions, deletes_of, nonce_consumed};
use fakepve::{FakePve, Options};
use felhom_agent::journal::Record;
use serde_json::{Value, json};
use sshkeys::Key;

fn line(principal: &str, key: &Key) -> String {
    format!(
        "{principal} namespaces=\"{}\" {}",
        agent::NAMESPACE,
        key.public()
    )
}

/// An agent whose operational file holds `alice` and the stolen `kay`.
fn stolen_key_host(pve: &FakePve, tag: &str) -> (Agent, Key) {
    let a = Agent::new(pve, tag);
    let kay = sshkeys::keygen(&a.dir, "keys/kay");
    sshkeys::write_allowed_signers(
        &a.dir,
        "operational.allowed_signers",
        &[line("alice", &a.alice), line("kay", &kay)],
    );
    (a, kay)
}

/// The recovery key's rotation that leaves only `alice`.
fn revoke_kay(a: &Agent) -> BlobSpec {
    let spec = BlobSpec::new(
        "key_rotation",
        json!({"operational_signers": [line("alice", &a.alice)]}),
        None,
    );
    let sub = a.submit(&a.sign(&a.rescue, &spec.build_now()));
    assert_eq!(sub.code, 0, "{}\n{}", sub.stdout, sub.stderr);
    spec
}

fn action(run: &Run, op: &str) -> Vec<Value> {
    run.actions()
        .into_iter()
        .filter(|x| x["op"] == json!(op))
        .collect()
}

fn assert_refused_in_journal(a: &Agent, nonce: &str, code: &str) {
    let ds = decisions(&a.records());
    assert!(
        ds.iter().any(|d| d.decision == "refused"
            && d.nonce.as_deref() == Some(nonce)
            && d.reason.contains(code)),
        "no refused/{code} decision for {nonce}: {ds:#?}"
    );
}

#[test]
fn a_rotation_re_adding_a_revoked_key_queued_behind_the_revocation_is_refused() {
    let pve = FakePve::start();
    let (a, kay) = stolen_key_host(&pve, "rv-readd");
    let revoke = revoke_kay(&a);
    let readd = BlobSpec::new(
        "key_rotation",
        json!({"operational_signers": [line("alice", &a.alice), line("kay", &kay)]}),
        None,
    );
    let sub = a.submit(&a.sign(&kay, &readd.build_now()));
    assert_eq!(sub.code, 0, "queued behind the revocation: {}", sub.stdout);

    let run = a.pass();
    let text = std::fs::read_to_string(&a.operational).unwrap();
    assert!(
        !text.contains(&kay.public()),
        "the revoked key is back in the operational file:\n{text}\n{}",
        run.stdout
    );
    assert!(text.contains(&a.alice.public()), "{text}");
    let rotations = action(&run, "key_rotation");
    assert_eq!(rotations.len(), 2, "{}", run.stdout);
    assert_eq!(rotations[0]["outcome"], json!("succeeded"), "{rotations:?}");
    assert_eq!(rotations[1]["decision"], json!("refused"), "{rotations:?}");
    assert!(
        rotations[1]["reason"]
            .as_str()
            .unwrap()
            .contains("unknown_signer"),
        "{rotations:?}"
    );
    let records = a.records();
    assert!(nonce_consumed(&records, &revoke.nonce));
    assert!(
        !nonce_consumed(&records, &readd.nonce),
        "a refused op never consumes its nonce"
    );
    assert_refused_in_journal(&a, &readd.nonce, "unknown_signer");
    let rotated: Vec<_> = records
        .iter()
        .filter(|r| matches!(r, Record::SignersRotated { .. }))
        .collect();
    assert_eq!(rotated.len(), 1, "{rotated:?}");

    // Later passes keep it out as well; `kay` signs nothing any more.
    let again = a.pass();
    assert!(
        !std::fs::read_to_string(&a.operational)
            .unwrap()
            .contains(&kay.public()),
        "{}",
        again.stdout
    );
    let probe = BlobSpec::new("start", json!({}), Some(100));
    let check = a.check_op(&a.sign(&kay, &probe.build_now()));
    assert_eq!(check.json()["error"], json!("unknown_signer"));
}

#[test]
fn a_destroy_signed_by_a_revoked_key_queued_behind_the_revocation_never_runs() {
    let pve = FakePve::start();
    let v = pve.add_qemu("stopped", json!({"cores": 1, "memory": 512}));
    let (a, kay) = stolen_key_host(&pve, "rv-destroy");
    let revoke = revoke_kay(&a);
    let destroy = BlobSpec::new("guest_destroy", json!({"purge": true}), Some(v));
    let sub = a.submit(&a.sign(&kay, &destroy.build_now()));
    assert_eq!(sub.code, 0, "queued behind the revocation: {}", sub.stdout);

    let run = a.pass();
    assert_eq!(
        pve.guest(v)["exists"],
        json!(true),
        "the revoked key destroyed the guest:\n{}",
        run.stdout
    );
    assert_eq!(deletes_of(&pve, v), 0);
    let rotation = action(&run, "key_rotation");
    assert_eq!(rotation[0]["outcome"], json!("succeeded"), "{}", run.stdout);
    for x in action(&run, "guest_destroy") {
        assert_ne!(x["decision"], json!("allowed"), "{x}");
    }
    let records = a.records();
    assert!(nonce_consumed(&records, &revoke.nonce));
    assert!(!nonce_consumed(&records, &destroy.nonce));
    assert_refused_in_journal(&a, &destroy.nonce, "unknown_signer");
    assert!(
        run.errors().contains(&destroy.nonce),
        "the operator is told: {}",
        run.errors()
    );

    // Nothing later runs it either.
    let _ = a.pass();
    assert_eq!(pve.guest(v)["exists"], json!(true));
    assert_eq!(deletes_of(&pve, v), 0);
}

#[test]
fn an_op_that_expires_while_waiting_for_its_lane_is_expired_and_keeps_its_nonce() {
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
    // The desired state starts the guest first; the start takes 10 s, and
    // the signed rollback for the same guest waits behind it in its lane.
    pve.set_guest(v, "start_secs", json!(100));
    let a = Agent::new(&pve, "rv-expire");
    a.write_desired(1, json!([{"vmid": v, "state": "running"}]));
    let mut rollback = BlobSpec::new("restore_overwrite", json!({"snapshot": "before"}), Some(v));
    rollback.issued_offset = -60;
    rollback.validity = 65; // valid for 5 s from now
    let sub = a.submit(&a.sign(&a.alice, &rollback.build_now()));
    assert_eq!(sub.code, 0, "{}\n{}", sub.stdout, sub.stderr);

    let run = a.pass();
    let rollbacks = pve
        .requests()
        .iter()
        .filter(|(m, p)| m == "POST" && p.ends_with("/rollback"))
        .count();
    assert_eq!(
        rollbacks, 0,
        "an expired op was run:\n{}\n{}",
        run.stdout, run.stderr
    );
    let start = action(&run, "start");
    assert_eq!(start[0]["outcome"], json!("succeeded"), "{}", run.stdout);
    let restore = action(&run, "restore_overwrite");
    assert_eq!(restore.len(), 1, "{}", run.stdout);
    assert_eq!(restore[0]["decision"], json!("refused"), "{restore:?}");
    assert_ne!(restore[0]["outcome"], json!("succeeded"), "{restore:?}");
    assert!(
        restore[0]["reason"].as_str().unwrap().contains("expired"),
        "{restore:?}"
    );
    let records = a.records();
    assert!(!nonce_consumed(&records, &rollback.nonce));
    assert_refused_in_journal(&a, &rollback.nonce, "expired");
    assert!(
        records.iter().any(|r| matches!(r,
            Record::OpDequeued { nonce, reason } if *nonce == rollback.nonce && reason == "expired")),
        "expired is terminal: the op leaves the queue"
    );
    let cores = &pve.guest(v)["config"]["cores"];
    assert!(cores == &json!(4) || cores == &json!("4"), "{cores}");
}
