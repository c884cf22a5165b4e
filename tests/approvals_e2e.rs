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

/// An agent with the team installed and `authz.approvals` = `approvals`.
fn team_agent(tag: &str, approvals: Value) -> (Agent, Team) {
    let mut a = Agent::new(pve(), tag);
    let t = Team::install(&mut a, approvals);
    (a, t)
}

/// `--submit` expecting exit 0 with `queued` = `how` and the counts.
fn submit_ok(
    a: &Agent,
    files: &(std::path::PathBuf, std::path::PathBuf),
    how: Value,
    n: u64,
    k: u64,
) {
    let sub = a.submit(files);
    assert_eq!(sub.code, 0, "{}\n{}", sub.stdout, sub.stderr);
    let doc = sub.json();
    assert_eq!(doc["valid"], json!(true), "{doc}");
    assert_eq!(doc["queued"], how, "{doc}");
    assert_eq!(doc["approvals"], json!(n), "{doc}");
    assert_eq!(doc["approvals_required"], json!(k), "{doc}");
}

/// A pass that holds the one action at `reason`, exit 4, nothing destroyed.
fn assert_held(a: &Agent, v: u32, reason: &str) {
    let run = a.pass();
    assert_eq!(run.code, 4, "{}\n{}", run.stdout, run.stderr);
    let acts = run.actions();
    assert_eq!(acts.len(), 1, "{acts:?}");
    assert_eq!(acts[0]["decision"], json!("pending_signature"), "{acts:?}");
    assert_eq!(acts[0]["reason"], json!(reason), "{acts:?}");
    assert_eq!(acts[0]["outcome"], json!("planned"), "{acts:?}");
    // `--pending` for a person says the same (README, four eyes step 2).
    let listing = a.run(&["--pending"]);
    assert_eq!(listing.code, 0, "{}", listing.stderr);
    assert!(listing.stdout.contains(reason), "{}", listing.stdout);
    if v != 0 {
        assert_eq!(pve().guest(v)["exists"], json!(true));
        assert_eq!(deletes_of(pve(), v), 0);
    }
}

/// A pass that runs the one signed action; returns its audit line.
fn assert_runs(a: &Agent, spec: &BlobSpec) -> String {
    let run = a.pass();
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let acts = run.actions();
    assert_eq!(acts.len(), 1, "{acts:?}");
    assert_eq!(acts[0]["decision"], json!("allowed"), "{acts:?}");
    assert_eq!(acts[0]["outcome"], json!("succeeded"), "{acts:?}");
    assert_eq!(acts[0]["source"], json!("job"), "{acts:?}");
    assert!(nonce_consumed(&a.records(), &spec.nonce));
    run.stderr
        .lines()
        .find(|l| l.contains("decision=allowed") && l.contains(&spec.nonce))
        .unwrap_or_else(|| panic!("no audit line:\n{}", run.stderr))
        .to_string()
}

#[test]
fn two_of_two_destroy_holds_at_one_approval_and_the_second_signer_runs_it_once() {
    let v = stopped_guest();
    let (a, t) = team_agent("ap-2of2", json!({"guest_destroy": 2}));
    let spec = destroy_spec(v);
    let blob = spec.build_now();
    submit_ok(&a, &a.sign(&a.alice, &blob), json!(true), 1, 2);
    assert_held(&a, v, "1 of 2 approvals");
    assert!(!nonce_consumed(&a.records(), &spec.nonce));

    // `--pending` hands the second operator the queued bytes, not a new blob.
    let pending = a.run(&["--pending", "--json"]);
    assert_eq!(pending.code, 0, "{}", pending.stderr);
    let items = pending.json()["pending"].as_array().unwrap().clone();
    assert_eq!(items.len(), 1, "{items:?}");
    assert_eq!(items[0]["blob"], json!(blob));
    assert_eq!(items[0]["approvals"], json!(1));
    assert_eq!(items[0]["approvals_required"], json!(2));
    assert!(
        items[0]["sign_command"]
            .as_str()
            .unwrap()
            .contains(&spec.nonce)
    );

    // `--status` (CONTRACT §12): the pending action and the queued op with
    // their counts.
    let status = a.run(&["--status", "--json"]).json();
    assert_eq!(
        status["pending"],
        json!([{"vmid": v, "op": "guest_destroy", "approvals": 1, "approvals_required": 2}])
    );
    assert_eq!(status["queued"][0]["signers"], json!(["alice"]));
    assert_eq!(status["queued"][0]["approvals"], json!(1));
    assert_eq!(status["queued"][0]["approvals_required"], json!(2));

    let bob_files = a.sign(&t.bob, items[0]["blob"].as_str().unwrap());
    submit_ok(&a, &bob_files, json!("approval"), 2, 2);
    let status = a.run(&["--status", "--json"]).json();
    assert_eq!(status["queued"][0]["signers"], json!(["alice", "bob"]));
    assert_eq!(status["queued"][0]["approvals"], json!(2));
    assert_eq!(approvals_added(&a), 1);
    assert_eq!(deletes_of(pve(), v), 0, "an approval only queues");

    let audit = assert_runs(&a, &spec);
    assert_eq!(pve().guest(v)["exists"], json!(false));
    assert_eq!(deletes_of(pve(), v), 1);
    assert!(
        audit.contains("signer=alice,bob")
            && audit.contains("role=operational,operational")
            && audit.contains("2 of 2 approvals"),
        "{audit}"
    );
    let d = decisions(&a.records());
    let allowed: Vec<_> = d.iter().filter(|d| d.decision == "allowed").collect();
    assert_eq!(allowed.len(), 1, "{d:?}");
    assert_eq!(allowed[0].signer.as_deref(), Some("alice,bob"));
    assert!(
        allowed[0]
            .reason
            .contains("alice (operational), bob (operational)")
    );
    // The nonce is consumed once; neither signature can bring the op back.
    let consumed = count_records(
        &a,
        |r| matches!(r, Record::NonceConsumed { nonce, .. } if *nonce == spec.nonce),
    );
    assert_eq!(consumed, 1);
    for files in [a.sign(&a.alice, &blob), bob_files] {
        let again = a.submit(&files);
        assert_eq!(again.code, 65, "{}", again.stdout);
        assert_eq!(again.json()["error"], json!("replay"));
    }
    assert_eq!(a.pass().code, 0);
    assert_eq!(deletes_of(pve(), v), 1);
}

#[test]
fn the_same_signer_twice_is_already_and_adds_nothing() {
    let v = stopped_guest();
    let (a, _t) = team_agent("ap-twice", json!({"guest_destroy": 2}));
    let spec = destroy_spec(v);
    let blob = spec.build_now();
    let first = a.sign(&a.alice, &blob);
    submit_ok(&a, &first, json!(true), 1, 2);
    let journal = a.journal_bytes();
    // The very same file again, and a new signature by the same key.
    submit_ok(&a, &first, json!("already"), 1, 2);
    submit_ok(&a, &a.sign(&a.alice, &blob), json!("already"), 1, 2);
    assert_eq!(a.journal_bytes(), journal, "`already` writes nothing");
    assert_held(&a, v, "1 of 2 approvals");
}

#[test]
fn two_keys_under_one_first_principal_are_one_signer() {
    let v = stopped_guest();
    let (a, t) = team_agent("ap-onesigner", json!({"guest_destroy": 2}));
    let spec = destroy_spec(v);
    let blob = spec.build_now();
    submit_ok(&a, &a.sign(&a.alice, &blob), json!(true), 1, 2);
    // alice's second key: its line is `alice,alice@laptop`, first principal alice.
    let second = a.sign(&t.alice2, &blob);
    let check = a.check_op(&second);
    assert_eq!(check.json()["signer"], json!("alice"), "{}", check.stdout);
    submit_ok(&a, &second, json!("already"), 1, 2);
    assert_eq!(approvals_added(&a), 0);
    assert_held(&a, v, "1 of 2 approvals");
    submit_ok(&a, &a.sign(&t.carol, &blob), json!("approval"), 2, 2);
    assert_runs(&a, &spec);
}

/// `--submit` expecting exit 65 with `error`, not queued, and the counts
/// (CONTRACT §11: `--submit --json` always carries them).
fn submit_rejected(
    a: &Agent,
    files: &(std::path::PathBuf, std::path::PathBuf),
    error: &str,
    n: u64,
    k: u64,
) {
    let sub = a.submit(files);
    assert_eq!(sub.code, 65, "{}\n{}", sub.stdout, sub.stderr);
    let doc = sub.json();
    assert_eq!(doc["valid"], json!(false), "{doc}");
    assert_eq!(doc["error"], json!(error), "{doc}");
    assert_eq!(doc["queued"], json!(false), "{doc}");
    assert_eq!(doc["approvals"], json!(n), "{doc}");
    assert_eq!(doc["approvals_required"], json!(k), "{doc}");
}

#[test]
fn a_rejected_submission_still_carries_the_approvals_the_queued_blob_holds() {
    let v = stopped_guest();
    let (a, _t) = team_agent("ap-rejected-doc", json!({"guest_destroy": 2}));
    let blob = destroy_spec(v).build_now();
    submit_ok(&a, &a.sign(&a.alice, &blob), json!(true), 1, 2);
    // Over the queued bytes: alice's approval still stands, bob's key
    // would be the second.
    submit_rejected(&a, &a.sign(&a.rescue, &blob), "role_denied", 1, 2);
    submit_rejected(&a, &a.sign(&a.mallory, &blob), "unknown_signer", 1, 2);
    // Nothing queued holds these bytes.
    let wipe = BlobSpec::new("storage_wipe", json!({}), Some(v)).build_now();
    submit_rejected(&a, &a.sign(&a.alice, &wipe), "unsupported_op", 0, 1);
    let late = BlobSpec {
        issued_offset: -7200,
        ..destroy_spec(v)
    }
    .build_now();
    submit_rejected(&a, &a.sign(&a.alice, &late), "expired", 0, 2);
    let (blob_file, _) = a.sign(&a.alice, &blob);
    let missing_sig = a.dir.path().join("ops/no-such.sig");
    submit_rejected(&a, &(blob_file, missing_sig), "malformed", 0, 1);
    assert_eq!(approvals_added(&a), 0);
}

#[test]
fn a_signature_a_full_queued_op_cannot_hold_is_answered_with_the_counts_and_exit_1() {
    let v = stopped_guest();
    let mut a = Agent::new(pve(), "ap-full");
    let max = felhom_agent::authz::MAX_HELD_SIGNATURES;
    let keys: Vec<sshkeys::Key> = (0..=max)
        .map(|i| sshkeys::keygen(&a.dir, &format!("keys/s{i}")))
        .collect();
    let lines: Vec<String> = keys
        .iter()
        .enumerate()
        .map(|(i, k)| format!("s{i} namespaces=\"{}\" {}", agent::NAMESPACE, k.public()))
        .collect();
    sshkeys::write_allowed_signers(&a.dir, "operational.allowed_signers", &lines);
    a.config["authz"]["approvals"] = json!({"guest_destroy": 5});
    a.write_config();
    let blob = destroy_spec(v).build_now();
    for (i, k) in keys.iter().enumerate().take(max) {
        let how = if i == 0 {
            json!(true)
        } else {
            json!("approval")
        };
        submit_ok(&a, &a.sign(k, &blob), how, i as u64 + 1, 5);
    }
    let sub = a.submit(&a.sign(&keys[max], &blob));
    assert_eq!(sub.code, 1, "{}\n{}", sub.stdout, sub.stderr);
    let doc = sub.json();
    assert_eq!(doc["valid"], json!(true), "{doc}");
    assert_eq!(doc["queued"], json!(false), "{doc}");
    assert_eq!(doc["approvals"], json!(max), "{doc}");
    assert_eq!(doc["approvals_required"], json!(5), "{doc}");
}

#[test]
fn a_recovery_signature_on_a_destroy_does_not_count() {
    let v = stopped_guest();
    let (a, t) = team_agent("ap-recovery", json!({"guest_destroy": 2}));
    let spec = destroy_spec(v);
    let blob = spec.build_now();
    submit_ok(&a, &a.sign(&a.alice, &blob), json!(true), 1, 2);
    for key in [&a.rescue, &t.rescue2] {
        let sub = a.submit(&a.sign(key, &blob));
        assert_eq!(sub.code, 65, "{}", sub.stdout);
        assert_eq!(sub.json()["error"], json!("role_denied"));
    }
    assert_eq!(approvals_added(&a), 0);
    assert_held(&a, v, "1 of 2 approvals");
}

#[test]
fn an_approver_rotated_out_between_approvals_no_longer_counts() {
    let v = stopped_guest();
    let (a, t) = team_agent("ap-rotated", json!({"guest_destroy": 2}));
    let spec = destroy_spec(v);
    let blob = spec.build_now();
    submit_ok(&a, &a.sign(&a.alice, &blob), json!(true), 1, 2);
    // A signed key_rotation (one recovery signature: key_rotation needs 1)
    // removes alice's keys.
    let lines = t.operational_lines(&a, &["alice"]);
    let rotation = BlobSpec::new("key_rotation", json!({"operational_signers": lines}), None);
    submit_ok(
        &a,
        &a.sign(&a.rescue, &rotation.build_now()),
        json!(true),
        1,
        1,
    );
    // The rotation runs first (a barrier), then the destroy is verified
    // against the files it left: alice's approval, the only one, no longer
    // counts, so the op waits as `unknown_signer` (kept queued).
    let run = a.pass();
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.errors().contains("unknown_signer; kept queued"),
        "{}",
        run.errors()
    );
    assert_eq!(deletes_of(pve(), v), 0);
    let rotated = run
        .actions()
        .into_iter()
        .find(|x| x["op"] == json!("key_rotation"))
        .unwrap();
    assert_eq!(rotated["outcome"], json!("succeeded"));
    // bob's approval is the only one that counts now.
    submit_ok(&a, &a.sign(&t.bob, &blob), json!("approval"), 1, 2);
    let held = a.pass();
    assert_eq!(held.code, 4, "{}\n{}", held.stdout, held.stderr);
    assert_eq!(held.actions()[0]["reason"], json!("1 of 2 approvals"));
    assert!(
        held.stderr.contains("the approval of") && held.stderr.contains("does not count now"),
        "{}",
        held.stderr
    );
    assert_eq!(deletes_of(pve(), v), 0);
    submit_ok(&a, &a.sign(&t.carol, &blob), json!("approval"), 2, 2);
    let audit = assert_runs(&a, &spec);
    assert!(audit.contains("signer=bob,carol"), "{audit}");
}

#[test]
fn an_approver_removed_after_the_last_approval_stops_the_op_at_the_moment_it_runs() {
    let v = stopped_guest();
    let (a, t) = team_agent("ap-removed", json!({"guest_destroy": 2}));
    let spec = destroy_spec(v);
    let blob = spec.build_now();
    submit_ok(&a, &a.sign(&a.alice, &blob), json!(true), 1, 2);
    submit_ok(&a, &a.sign(&t.bob, &blob), json!("approval"), 2, 2);
    // The operator takes bob out of the file before the pass.
    t.write_operational(&a, &["bob"]);
    assert_held(&a, v, "1 of 2 approvals");
    assert!(!nonce_consumed(&a.records(), &spec.nonce));
    // Back in the file, bob's held approval counts again.
    t.write_operational(&a, &[]);
    assert_runs(&a, &spec);
}

#[test]
fn a_signer_whose_validity_window_closes_between_approvals_no_longer_counts() {
    let v = stopped_guest();
    let (a, t) = team_agent("ap-window", json!({"guest_destroy": 2}));
    let now = felhom_agent::time::now_unix();
    let mut lines = t.operational_lines(&a, &["bob"]);
    lines.push(team::line("bob", &t.bob, &team::valid_before(now + 5)));
    team::write(&a, "operational.allowed_signers", &lines);
    let spec = destroy_spec(v);
    let blob = spec.build_now();
    submit_ok(&a, &a.sign(&t.bob, &blob), json!(true), 1, 2);
    // Past bob's valid-before (inclusive, whole seconds).
    let wait = now + 7 - felhom_agent::time::now_unix();
    std::thread::sleep(std::time::Duration::from_secs(wait.max(0).unsigned_abs()));
    submit_ok(&a, &a.sign(&t.carol, &blob), json!("approval"), 1, 2);
    assert_held(&a, v, "1 of 2 approvals");
    submit_ok(&a, &a.sign(&a.alice, &blob), json!("approval"), 2, 2);
    let audit = assert_runs(&a, &spec);
    assert!(audit.contains("signer=carol,alice"), "{audit}");
}

#[test]
fn a_blob_that_expires_between_approvals_is_refused_and_never_runs() {
    let v = stopped_guest();
    let (a, t) = team_agent("ap-expiry", json!({"guest_destroy": 2}));
    let mut spec = destroy_spec(v);
    spec.validity = 2;
    let blob = spec.build_now();
    submit_ok(&a, &a.sign(&a.alice, &blob), json!(true), 1, 2);
    std::thread::sleep(std::time::Duration::from_secs(4));
    let late = a.submit(&a.sign(&t.bob, &blob));
    assert_eq!(late.code, 65, "{}", late.stdout);
    assert_eq!(late.json()["error"], json!("expired"));
    let run = a.pass();
    assert_eq!(run.code, 1, "the expired op is dropped: {}", run.stdout);
    assert!(run.errors().contains("expired"), "{}", run.errors());
    assert!(
        a.records()
            .iter()
            .any(|r| matches!(r, Record::OpDequeued { nonce, .. } if *nonce == spec.nonce))
    );
    assert_eq!(deletes_of(pve(), v), 0);
    assert!(!nonce_consumed(&a.records(), &spec.nonce));
}

#[test]
fn two_recovery_signers_rotate_the_operational_set_when_key_rotation_needs_two() {
    let (a, t) = team_agent("ap-rotation", json!({"key_rotation": 2}));
    let lines = t.operational_lines(&a, &["alice", "carol"]);
    let rotation = BlobSpec::new("key_rotation", json!({"operational_signers": lines}), None);
    let blob = rotation.build_now();
    let before = std::fs::read_to_string(&a.operational).unwrap();
    submit_ok(&a, &a.sign(&a.rescue, &blob), json!(true), 1, 2);
    assert_held(&a, 0, "1 of 2 approvals");
    assert_eq!(std::fs::read_to_string(&a.operational).unwrap(), before);
    let pending = a.run(&["--pending", "--json"]);
    let items = pending.json()["pending"].as_array().unwrap().clone();
    assert_eq!(items[0]["op"], json!("key_rotation"));
    assert_eq!(items[0]["blob"], json!(blob));
    assert_eq!(items[0]["approvals_required"], json!(2));
    submit_ok(&a, &a.sign(&t.rescue2, &blob), json!("approval"), 2, 2);
    let audit = assert_runs(&a, &rotation);
    assert!(
        audit.contains("signer=rescue,rescue2") && audit.contains("role=recovery,recovery"),
        "{audit}"
    );
    let after = std::fs::read_to_string(&a.operational).unwrap();
    assert!(after.contains(&t.bob.public()) && !after.contains(&a.alice.public()));
}

#[test]
fn an_operational_and_a_recovery_signer_are_two_approvals_of_a_key_rotation() {
    let (a, t) = team_agent("ap-rotation-mixed", json!({"key_rotation": 2}));
    let lines = t.operational_lines(&a, &["carol"]);
    let rotation = BlobSpec::new("key_rotation", json!({"operational_signers": lines}), None);
    let blob = rotation.build_now();
    submit_ok(&a, &a.sign(&a.alice, &blob), json!(true), 1, 2);
    submit_ok(&a, &a.sign(&a.rescue, &blob), json!("approval"), 2, 2);
    let audit = assert_runs(&a, &rotation);
    assert!(audit.contains("role=operational,recovery"), "{audit}");
}

#[test]
fn without_authz_approvals_one_signature_runs_an_op_as_before() {
    let v = stopped_guest();
    let absent = stopped_guest();
    let a = Agent::new(pve(), "ap-default");
    a.write_desired(
        1,
        json!([{"vmid": absent, "state": "absent", "purge": true}]),
    );
    let pending = a.run(&["--pending", "--json"]);
    let items = pending.json()["pending"].as_array().unwrap().clone();
    assert_eq!(items[0]["approvals"], json!(0));
    assert_eq!(items[0]["approvals_required"], json!(1));
    let run = a.pass();
    assert_eq!(run.code, 4);
    // CONTRACT §11: until k approvals verify, the reason reads `N of K
    // approvals`, k = 1 included.
    assert_eq!(
        run.actions()[0]["reason"],
        json!("destructive: awaiting an operator signature (0 of 1 approvals)")
    );
    let spec = destroy_spec(v);
    let files = a.sign(&a.alice, &spec.build_now());
    submit_ok(&a, &files, json!(true), 1, 1);
    submit_ok(&a, &files, json!("already"), 1, 1);
    let run = a.pass();
    assert_eq!(run.code, 4, "{}\n{}", run.stdout, run.stderr);
    let destroyed = run
        .actions()
        .into_iter()
        .find(|x| x["vmid"] == json!(v))
        .unwrap();
    assert_eq!(destroyed["outcome"], json!("succeeded"));
    let reason = destroyed["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("signed by alice (operational);"),
        "{reason}"
    );
    assert_eq!(pve().guest(v)["exists"], json!(false));
    let d = decisions(&a.records());
    let rec = d.iter().find(|d| d.decision == "allowed").unwrap();
    assert_eq!(rec.signer.as_deref(), Some("alice"));
    assert_eq!(rec.role.as_deref(), Some("operational"));
}
