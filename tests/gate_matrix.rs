//! The reversibility gate's adversarial matrix: the real verifier, real
//! `ssh-keygen` signatures, a real journal, through the real binary
//! (`--check-op`, `--submit`, `--reconcile-now`) against fakepve, plus the
//! gate function itself for the binding cases a CLI cannot reach.
//!
//! Each case stands alone (own state dir, keys and guest) and asserts the
//! rejection code, that nothing destructive reached PVE, and what the
//! journal holds.
//!
//! Binding (CONTRACT §4): a signed op from `--submit` is an explicit
//! instruction and is executed *as signed*: its gated action is built from
//! the blob, so it always binds to itself. A wrong guest, op or params
//! relative to the desired state therefore never borrows the desired
//! delta's authority: the delta stays `pending_signature` and the signed op
//! does exactly what it names. `binding_mismatch` is what the gate answers
//! when a verified op is offered for an action it does not name exactly;
//! that is proven on the gate function with real verified ops.
//!
//! The two-person rule's cases (CONTRACT §11) are in `gate_matrix/approvals.rs`.
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

#[path = "gate_matrix/approvals.rs"]
mod approvals;

use agent::{Agent, BlobSpec, HOST_ID, decisions, deletes_of, nonce_consumed};
use fakepve::FakePve;
use felhom_agent::authz::{self, Approvals, OpClass, Signers, VerifiedOp, VerifyPolicy};
use felhom_agent::config::RequiredApprovals;
use felhom_agent::journal::Record;
use felhom_agent::reconcile::action::{Action, ActionOp, Source};
use felhom_agent::reconcile::classify::{AgentContext, GuestFacts, classify};
use felhom_agent::reconcile::gate::{self, Decision, GateContext, RefusalReason};
use serde_json::{Value, json};
use std::os::unix::fs::PermissionsExt;
use std::sync::OnceLock;

/// One fakepve for the whole file; every test uses its own fresh guests.
fn pve() -> &'static FakePve {
    static PVE: OnceLock<FakePve> = OnceLock::new();
    PVE.get_or_init(FakePve::start)
}

fn stopped_guest() -> u32 {
    pve().add_qemu("stopped", json!({"cores": 1, "memory": 512}))
}

/// Submits and checks `files`, expecting rejection `code` from both.
fn assert_rejected(a: &Agent, files: &(std::path::PathBuf, std::path::PathBuf), code: &str) {
    let queued = |a: &Agent| {
        a.records()
            .iter()
            .filter(|r| matches!(r, Record::OpQueued { .. }))
            .count()
    };
    let before = queued(a);
    for run in [a.check_op(files), a.submit(files)] {
        assert_eq!(run.code, 65, "{}\n{}", run.stdout, run.stderr);
        let doc = run.json();
        assert_eq!(doc["valid"], json!(false), "{doc}");
        assert_eq!(doc["error"], json!(code), "{doc}");
    }
    assert_eq!(queued(a), before, "a rejected op was queued");
}

/// A rejected op, then a pass: the guest is untouched and no nonce burned.
fn assert_rejected_and_harmless(
    a: &Agent,
    spec: &BlobSpec,
    key_sig: (std::path::PathBuf, std::path::PathBuf),
    code: &str,
    vmid: u32,
) {
    assert_rejected(a, &key_sig, code);
    let run = a.pass();
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(deletes_of(pve(), vmid), 0);
    assert!(pve().guest(vmid)["exists"] == json!(true));
    assert!(!nonce_consumed(&a.records(), &spec.nonce));
}

fn destroy_spec(vmid: u32) -> BlobSpec {
    BlobSpec::new("guest_destroy", json!({"purge": true}), Some(vmid))
}

#[test]
fn unknown_signer_is_rejected() {
    let v = stopped_guest();
    let a = Agent::new(pve(), "gm-unknown");
    let spec = destroy_spec(v);
    let files = a.sign(&a.mallory, &spec.build_now());
    assert_rejected_and_harmless(&a, &spec, files, "unknown_signer", v);
}

#[test]
fn expired_op_is_rejected() {
    let v = stopped_guest();
    let a = Agent::new(pve(), "gm-expired");
    let mut spec = destroy_spec(v);
    spec.issued_offset = -7200;
    spec.validity = 3600;
    let files = a.sign(&a.alice, &spec.build_now());
    assert_rejected_and_harmless(&a, &spec, files, "expired", v);
}

#[test]
fn not_yet_valid_op_is_rejected() {
    let v = stopped_guest();
    let a = Agent::new(pve(), "gm-future");
    let mut spec = destroy_spec(v);
    spec.issued_offset = 3600; // well past the 120 s clock skew
    let files = a.sign(&a.alice, &spec.build_now());
    assert_rejected_and_harmless(&a, &spec, files, "not_yet_valid", v);
}

#[test]
fn validity_too_long_is_rejected() {
    let v = stopped_guest();
    let a = Agent::new(pve(), "gm-long");
    let mut spec = destroy_spec(v);
    spec.validity = 86_400 + 1;
    let files = a.sign(&a.alice, &spec.build_now());
    assert_rejected_and_harmless(&a, &spec, files, "validity_too_long", v);
}

#[test]
fn wrong_host_is_rejected_as_target() {
    let v = stopped_guest();
    let a = Agent::new(pve(), "gm-host");
    let mut spec = destroy_spec(v);
    spec.host_id = "some-other-host".into();
    let files = a.sign(&a.alice, &spec.build_now());
    assert_rejected_and_harmless(&a, &spec, files, "target", v);
}

#[test]
fn recovery_key_on_guest_destroy_is_role_denied() {
    let v = stopped_guest();
    let a = Agent::new(pve(), "gm-role");
    let spec = destroy_spec(v);
    let files = a.sign(&a.rescue, &spec.build_now());
    assert_rejected_and_harmless(&a, &spec, files, "role_denied", v);
}

#[test]
fn file_namespace_signature_of_the_same_bytes_is_rejected_as_namespace() {
    let v = stopped_guest();
    let a = Agent::new(pve(), "gm-ns");
    let spec = destroy_spec(v);
    let files = a.sign_ns(&a.alice, &spec.build_now(), "file");
    assert_rejected_and_harmless(&a, &spec, files, "namespace", v);
}

#[test]
fn unknown_op_is_destructive_unsupported_and_does_not_burn_its_nonce() {
    assert_eq!(authz::op_class("wipe_everything"), OpClass::Destructive);
    assert_eq!(
        classify(
            "wipe_everything",
            9000,
            AgentContext { transaction: None },
            None,
            GuestFacts::default()
        ),
        OpClass::Destructive
    );
    let v = stopped_guest();
    let a = Agent::new(pve(), "gm-unknown-op");
    for op in ["wipe_everything", "storage_wipe", "decommission"] {
        let mut spec = BlobSpec::new(op, json!({}), Some(v));
        let files = a.sign(&a.alice, &spec.build_now());
        assert_rejected_and_harmless(&a, &spec, files, "unsupported_op", v);
        // The same nonce is still fresh: a valid op may use it.
        spec.op = "start".into();
        let files = a.sign(&a.alice, &spec.build_now());
        let run = a.check_op(&files);
        assert_eq!(run.code, 0, "{op}: nonce was consumed: {}", run.stdout);
    }
    assert_eq!(pve().mutating_requests_for(v), 0);
}

#[test]
fn unsigned_destructive_desired_delta_waits_for_a_signature() {
    let v = stopped_guest();
    let a = Agent::new(pve(), "gm-delta");
    a.write_desired(1, json!([{"vmid": v, "state": "absent", "purge": true}]));
    for _ in 0..2 {
        let run = a.pass();
        assert_eq!(run.code, 4, "{}\n{}", run.stdout, run.stderr);
        let acts = run.actions();
        assert_eq!(acts.len(), 1);
        assert_eq!(acts[0]["decision"], json!("pending_signature"));
        assert_eq!(acts[0]["class"], json!("destructive"));
        assert_eq!(acts[0]["outcome"], json!("planned"));
    }
    assert_eq!(deletes_of(pve(), v), 0);
    assert_eq!(pve().guest(v)["exists"], json!(true));
    // The same decision twice: it stands, journaled once (both passes
    // printed its audit line).
    let d = decisions(&a.records());
    assert_eq!(d.len(), 1, "{d:?}");
    assert!(
        d.iter()
            .all(|d| d.decision == "pending_signature" && d.vmid == Some(v) && d.signer.is_none())
    );
}

#[test]
fn unsigned_destructive_job_is_never_queued_and_the_action_stays_pending() {
    let v = stopped_guest();
    let a = Agent::new(pve(), "gm-unsigned-job");
    a.write_desired(1, json!([{"vmid": v, "state": "absent", "purge": true}]));
    let blob = destroy_spec(v).build_now();
    let blob_path = a.dir.write("ops/unsigned.json", blob.as_bytes());
    let empty_sig = a.dir.write("ops/unsigned.json.sig", b"");
    assert_rejected(&a, &(blob_path, empty_sig), "malformed");
    let run = a.pass();
    assert_eq!(run.code, 4, "{}", run.stdout);
    assert_eq!(run.actions()[0]["decision"], json!("pending_signature"));
    assert_eq!(deletes_of(pve(), v), 0);
    // The gate itself: a job with no verified op is pending_signature.
    let action = Action {
        vmid: v,
        op: ActionOp::GuestDestroy { purge: true },
        source: Source::Job,
    };
    let ctx = GateContext {
        host_id: HOST_ID,
        blocked: false,
        approvals: &RequiredApprovals::default(),
    };
    let d = gate::decide(
        action,
        None,
        AgentContext { transaction: None },
        None,
        GuestFacts::default(),
        &ctx,
    );
    assert!(matches!(d, Decision::PendingSignature { .. }), "{d:?}");
}

#[test]
fn hub_scratch_or_provenance_claim_rejects_the_document_and_the_destroy_stays_refused() {
    let v = stopped_guest();
    let a = Agent::new(pve(), "gm-scratch");
    a.write_desired(1, json!([{"vmid": v, "state": "absent", "purge": true}]));
    assert_eq!(a.pass().code, 4);
    for claim in [
        json!({"vmid": v, "state": "absent", "purge": true, "scratch": true}),
        json!({"vmid": v, "state": "absent", "purge": true, "provenance": "agent"}),
        json!({"vmid": v, "state": "absent", "purge": true, "created_by": "felhom-agent"}),
    ] {
        a.write_desired(2, json!([claim]));
        let run = a.pass();
        assert_eq!(run.code, 1, "{}", run.stdout);
        assert!(
            run.errors().contains("desired state rejected"),
            "{}",
            run.errors()
        );
        let acts = run.actions();
        assert_eq!(acts[0]["decision"], json!("pending_signature"), "{acts:?}");
        assert_eq!(deletes_of(pve(), v), 0);
    }
    // No journal provenance, whatever the agent context claims: destructive.
    assert_eq!(
        classify(
            "guest_destroy",
            v,
            AgentContext {
                transaction: Some("t1")
            },
            None,
            GuestFacts::default()
        ),
        OpClass::Destructive
    );
    assert_eq!(pve().guest(v)["exists"], json!(true));
}

#[test]
fn valid_op_executes_once_and_is_replay_afterwards_even_in_a_new_process() {
    let v = stopped_guest();
    let a = Agent::new(pve(), "gm-valid");
    let spec = destroy_spec(v);
    let files = a.sign(&a.alice, &spec.build_now());
    let check = a.check_op(&files);
    assert_eq!(check.code, 0, "{}", check.stdout);
    let doc = check.json();
    assert_eq!(doc["signer"], json!("alice"));
    assert_eq!(doc["role"], json!("operational"));
    assert_eq!(doc["key_fingerprint"], json!(a.alice.fingerprint()));
    let sub = a.submit(&files);
    assert_eq!(sub.code, 0, "{}", sub.stderr);
    assert_eq!(sub.json()["queued"], json!(true));
    let again = a.submit(&files);
    assert_eq!(again.code, 0, "already queued is a no-op");
    assert_eq!(again.json()["queued"], json!("already"));

    let run = a.pass();
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let acts = run.actions();
    assert_eq!(acts.len(), 1, "{acts:?}");
    assert_eq!(acts[0]["source"], json!("job"));
    assert_eq!(acts[0]["outcome"], json!("succeeded"));
    assert_eq!(pve().guest(v)["exists"], json!(false));
    assert!(nonce_consumed(&a.records(), &spec.nonce));
    // An empty advisory key_id (as `--pending` blobs have) claims nothing,
    // so nothing is flagged.
    let d = decisions(&a.records());
    let rec = d
        .iter()
        .find(|d| d.nonce.as_deref() == Some(spec.nonce.as_str()))
        .unwrap();
    assert_eq!(rec.reason, "signed by alice (operational)");

    // Every later presentation is a new process: replay, nothing sent.
    for _ in 0..2 {
        assert_rejected_replay(&a, &files);
        assert_eq!(a.pass().code, 0);
    }
    assert_eq!(deletes_of(pve(), v), 1, "executed exactly once");
}

fn assert_rejected_replay(a: &Agent, files: &(std::path::PathBuf, std::path::PathBuf)) {
    for run in [a.check_op(files), a.submit(files)] {
        assert_eq!(run.code, 65, "{}", run.stdout);
        assert_eq!(run.json()["error"], json!("replay"));
    }
}

#[test]
fn signed_destroy_of_another_guest_runs_as_signed_and_never_authorizes_the_delta() {
    let wanted = stopped_guest();
    let other = stopped_guest();
    let a = Agent::new(pve(), "gm-guest");
    a.write_desired(
        1,
        json!([{"vmid": wanted, "state": "absent", "purge": true}]),
    );
    let files = a.sign(&a.alice, &destroy_spec(other).build_now());
    assert_eq!(a.submit(&files).code, 0);
    let run = a.pass();
    assert_eq!(run.code, 4, "{}", run.stdout);
    let acts = run.actions();
    let by = |v: u32| acts.iter().find(|x| x["vmid"] == json!(v)).unwrap().clone();
    assert_eq!(by(wanted)["decision"], json!("pending_signature"));
    assert_eq!(by(other)["decision"], json!("allowed"));
    assert_eq!(by(other)["source"], json!("job"));
    assert_eq!(deletes_of(pve(), wanted), 0);
    assert_eq!(pve().guest(wanted)["exists"], json!(true));
    assert_eq!(pve().guest(other)["exists"], json!(false));
}

#[test]
fn signed_destroy_with_other_params_runs_as_signed_and_leaves_the_delta_pending() {
    let v = stopped_guest();
    let a = Agent::new(pve(), "gm-params");
    a.write_desired(1, json!([{"vmid": v, "state": "absent", "purge": true}]));
    let spec = BlobSpec::new("guest_destroy", json!({"purge": false}), Some(v));
    let files = a.sign(&a.alice, &spec.build_now());
    assert_eq!(a.submit(&files).code, 0);
    let run = a.pass();
    assert_eq!(run.code, 4, "{}", run.stdout);
    let acts = run.actions();
    let job = acts.iter().find(|x| x["source"] == json!("job")).unwrap();
    assert_eq!(job["params"], json!({"purge": false}));
    assert_eq!(job["outcome"], json!("succeeded"));
    let delta = acts
        .iter()
        .find(|x| x["source"] == json!("desired_state"))
        .unwrap();
    assert_eq!(delta["params"], json!({"purge": true}));
    assert_eq!(delta["decision"], json!("pending_signature"));
    let intents: Vec<Value> = a
        .records()
        .iter()
        .filter_map(|r| match r {
            Record::Intent { params, .. } => Some(params.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(intents, vec![json!({"purge": false})], "executed as signed");
    assert_eq!(deletes_of(pve(), v), 1);
    // Next pass: the guest is gone, which is what `absent` asked for.
    assert_eq!(a.pass().code, 0);
}

/// A real verified op (real key, real signature, real verifier).
fn verified(a: &Agent, spec: &BlobSpec) -> VerifiedOp {
    let blob = spec.build_now();
    let (_, sig) = a.sign(&a.alice, &blob);
    let signers = Signers::from_texts(
        Some(("op", &std::fs::read_to_string(&a.operational).unwrap())),
        Some(("rec", &std::fs::read_to_string(&a.recovery).unwrap())),
    )
    .unwrap();
    let policy = VerifyPolicy {
        host_id: HOST_ID.into(),
        now: felhom_agent::time::now_unix(),
        clock_skew_seconds: 120,
        max_validity_seconds: 86_400,
        require_user_presence: true,
    };
    authz::verify_detailed(
        &signers,
        &policy,
        blob.as_bytes(),
        &std::fs::read(sig).unwrap(),
        &|_| false,
    )
    .unwrap()
}

#[test]
fn gate_refuses_a_verified_op_that_names_another_guest_op_or_params() {
    let a = Agent::new(pve(), "gm-binding");
    let ctx = GateContext {
        host_id: HOST_ID,
        blocked: false,
        approvals: &RequiredApprovals::default(),
    };
    let destroy = |vmid, purge| Action {
        vmid,
        op: ActionOp::GuestDestroy { purge },
        source: Source::DesiredState,
    };
    let cases = [
        ("wrong guest", destroy_spec(9001), destroy(9002, true)),
        (
            "wrong op",
            BlobSpec::new(
                "restore_overwrite",
                json!({"snapshot": "before"}),
                Some(9001),
            ),
            destroy(9001, true),
        ),
        (
            "wrong params",
            BlobSpec::new("guest_destroy", json!({"purge": false}), Some(9001)),
            destroy(9001, true),
        ),
    ];
    for (what, spec, action) in cases {
        let op = verified(&a, &spec);
        let d = gate::decide(
            action,
            Some(Approvals::single(op)),
            AgentContext { transaction: None },
            None,
            GuestFacts::default(),
            &ctx,
        );
        match d {
            Decision::Refused { reason, .. } => {
                assert_eq!(reason, RefusalReason::BindingMismatch, "{what}")
            }
            other => panic!("{what}: {other:?}"),
        }
    }
    let op = verified(&a, &destroy_spec(9001));
    let d = gate::decide(
        destroy(9001, true),
        Some(Approvals::single(op)),
        AgentContext { transaction: None },
        None,
        GuestFacts::default(),
        &ctx,
    );
    assert!(
        matches!(d, Decision::Allowed(_)),
        "exact binding is allowed: {d:?}"
    );
}

#[test]
fn advisory_key_id_naming_another_signer_is_accepted_on_key_material_and_audited() {
    let v = stopped_guest();
    let a = Agent::new(pve(), "gm-keyid");
    let mut spec = destroy_spec(v);
    spec.key_id = "rescue".into();
    let files = a.sign(&a.alice, &spec.build_now());
    let check = a.check_op(&files);
    assert_eq!(check.code, 0, "{}", check.stdout);
    assert_eq!(check.json()["signer"], json!("alice"));
    assert_eq!(a.submit(&files).code, 0);
    let run = a.pass();
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert_eq!(pve().guest(v)["exists"], json!(false));
    let d = decisions(&a.records());
    let rec = d
        .iter()
        .find(|d| d.nonce.as_deref() == Some(spec.nonce.as_str()))
        .unwrap();
    assert_eq!(rec.decision, "allowed");
    assert_eq!(rec.signer.as_deref(), Some("alice"));
    assert!(
        rec.reason.contains("advisory key_id") && rec.reason.contains("rescue"),
        "{}",
        rec.reason
    );
    let audit = run
        .stderr
        .lines()
        .find(|l| l.contains("decision=allowed") && l.contains(&spec.nonce))
        .unwrap_or_else(|| panic!("no audit line:\n{}", run.stderr));
    assert!(
        audit.contains("advisory key_id") && audit.contains("signer=alice"),
        "{audit}"
    );
}

#[test]
fn recovery_key_rotates_operational_signers_and_the_old_key_becomes_unknown() {
    let v = stopped_guest();
    let a = Agent::new(pve(), "gm-rotate");
    let bob = sshkeys::keygen(&a.dir, "keys/bob");
    let line = format!("bob namespaces=\"felhom-op-v1\" {}", bob.public());
    let rotation = BlobSpec::new("key_rotation", json!({"operational_signers": [line]}), None);
    let files = a.sign(&a.rescue, &rotation.build_now());
    let sub = a.submit(&files);
    assert_eq!(sub.code, 0, "{}", sub.stdout);
    assert_eq!(sub.json()["role"], json!("recovery"));
    let run = a.pass();
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(run.actions()[0]["op"], json!("key_rotation"));
    assert_eq!(run.actions()[0]["outcome"], json!("succeeded"));
    let text = std::fs::read_to_string(&a.operational).unwrap();
    assert!(
        text.contains(&bob.public()) && !text.contains(&a.alice.public()),
        "{text}"
    );
    // The rewritten file is the agent's alone (CONTRACT §3), whatever mode
    // the file had before (the fixture writes it 0644).
    let mode = std::fs::metadata(&a.operational)
        .unwrap()
        .permissions()
        .mode()
        & 0o7777;
    assert_eq!(mode, 0o600, "operational file mode after the rotation");
    assert!(
        a.records()
            .iter()
            .any(|r| matches!(r, Record::SignersRotated { nonce, .. } if *nonce == rotation.nonce))
    );
    let old = a.sign(&a.alice, &destroy_spec(v).build_now());
    assert_rejected(&a, &old, "unknown_signer");
    let new = a.sign(&bob, &destroy_spec(v).build_now());
    let check = a.check_op(&new);
    assert_eq!(check.code, 0, "{}", check.stdout);
    assert_eq!(check.json()["signer"], json!("bob"));
    assert_eq!(deletes_of(pve(), v), 0);
}

fn lxc_create(name: &str) -> Value {
    json!({"kind": "lxc", "name": name, "storage": "local-lvm", "disk_gib": 4,
           "ostemplate": "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst"})
}

#[test]
fn hub_supplied_scratch_or_provenance_on_a_data_bearing_guest_is_refused() {
    let v = stopped_guest();
    let mut a = Agent::new(pve(), "gm-prov-claim");
    a.provision(pve(), json!({"storages": ["local-lvm"]}));
    a.write_desired(1, json!([{"vmid": v, "state": "absent", "purge": true}]));
    assert_eq!(a.pass().code, 4);
    let mut claim = lxc_create("x");
    claim["provenance"] = json!("agent");
    let mut scratch = lxc_create("x");
    scratch["scratch"] = json!(true);
    for (generation, guest) in [
        (
            2,
            json!({"vmid": v, "state": "absent", "purge": true, "create": lxc_create("x")}),
        ),
        (
            3,
            json!({"vmid": v, "state": "absent", "purge": true, "create": claim}),
        ),
        (4, json!({"vmid": v, "state": "stopped", "create": scratch})),
        (
            5,
            json!({"vmid": v, "state": "absent", "purge": true, "transaction": "txn-1"}),
        ),
    ] {
        a.write_desired(generation, json!([guest]));
        let run = a.pass();
        assert_eq!(run.code, 1, "{guest}: {}", run.stdout);
        assert!(
            run.errors().contains("desired state rejected"),
            "{}",
            run.errors()
        );
        // The last good document stays in force: the destroy still waits.
        assert_eq!(run.actions()[0]["decision"], json!("pending_signature"));
    }
    // A signed blob claiming scratch in its params never verifies.
    let spec = BlobSpec::new(
        "guest_destroy",
        json!({"purge": true, "scratch": true}),
        Some(v),
    );
    let files = a.sign(&a.alice, &spec.build_now());
    let check = a.check_op(&files);
    assert_eq!(check.code, 65, "{}", check.stdout);
    assert!(!nonce_consumed(&a.records(), &spec.nonce));
    assert_eq!(deletes_of(pve(), v), 0);
    assert_eq!(pve().guest(v)["exists"], json!(true));
}

#[test]
fn destroying_a_guest_the_agent_created_needs_a_signature_once_committed() {
    let mut a = Agent::new(pve(), "gm-committed");
    a.provision(pve(), json!({"storages": ["local-lvm"]}));
    let v = pve().next_vmid();
    a.write_desired(
        1,
        json!([{"vmid": v, "state": "stopped", "create": lxc_create("mine")}]),
    );
    let run = a.pass();
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(pve().guest(v)["exists"], json!(true));
    a.write_desired(2, json!([{"vmid": v, "state": "absent", "purge": true}]));
    for _ in 0..2 {
        let run = a.pass();
        assert_eq!(run.code, 4, "{}", run.stdout);
        let acts = run.actions();
        assert_eq!(acts[0]["decision"], json!("pending_signature"), "{acts:?}");
        assert_eq!(acts[0]["class"], json!("destructive"));
    }
    assert_eq!(deletes_of(pve(), v), 0);
}

#[test]
fn a_compensating_rollback_of_a_guest_whose_create_outcome_is_unknown_is_never_executed() {
    let mut a = Agent::new(pve(), "gm-unknown-create");
    a.provision(pve(), json!({"storages": ["local-lvm"]}));
    // A guest holds the vmid, named as the creation would have named it.
    let v = pve().add_lxc("stopped", json!({}));
    let create = lxc_create(&format!("ct{v}"));
    // The journal of a run that died after the create POST, before its task
    // id, with a rollback already asked for.
    let txn = "txn-1-1-0-x";
    {
        let j =
            felhom_agent::journal::Journal::open(&a.state_dir, std::time::Duration::from_secs(5))
                .unwrap();
        for r in [
            Record::TxnBegin {
                txn: txn.into(),
                vmid: v,
                create: create.clone(),
                config: None,
                start: true,
                generation: 1,
                at: felhom_agent::time::now_unix(),
            },
            Record::Intent {
                op_id: format!("{txn}/create"),
                vmid: v,
                op: "create".into(),
                params: create.clone(),
                source: "desired_state".into(),
                idempotency_key: format!("{txn}/create"),
                nonce: None,
                at: None,
            },
            Record::TxnAbort {
                txn: txn.into(),
                reason: "start failed".into(),
            },
        ] {
            j.append(r).unwrap();
        }
        // The gate itself: no provenance, so the destroy is not benign.
        let provenance = j.with_index(|i| i.transactions.provenance(txn));
        assert!(provenance.is_none());
        let d = gate::decide(
            Action {
                vmid: v,
                op: ActionOp::GuestDestroy { purge: true },
                source: Source::Agent,
            },
            None,
            AgentContext {
                transaction: Some(txn),
            },
            provenance.as_ref(),
            GuestFacts::default(),
            &GateContext {
                host_id: HOST_ID,
                blocked: false,
                approvals: &Default::default(),
            },
        );
        assert!(matches!(d, Decision::PendingSignature { .. }), "{d:?}");
    }
    a.write_desired(
        1,
        json!([{"vmid": v, "state": "stopped", "create": create}]),
    );
    let run = a.pass();
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(run.errors().contains("unresolved"), "{}", run.errors());
    assert!(
        !run.actions()
            .iter()
            .any(|x| x["op"] == json!("guest_destroy")),
        "{}",
        run.stdout
    );
    assert_eq!(a.pass().code, 0, "reported once, then an ordinary guest");
    assert_eq!(deletes_of(pve(), v), 0);
    assert_eq!(pve().guest(v)["exists"], json!(true));
    assert!(a.records().iter().any(|r| matches!(
        r,
        Record::TxnEnd {
            end: felhom_agent::journal::TxnEndKind::Unresolved,
            ..
        }
    )));
}
