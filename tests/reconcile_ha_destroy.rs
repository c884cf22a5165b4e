//! HA-managed guests and signed destroys, as real PVE runs them (reproduced
//! by the launcher's `RealPve`, each naming its PVE source):
//!
//! - an HA-managed VM's shutdown is handed to the HA stack, which powers it
//!   off by force when the shutdown times out (pve-ha-manager PVEVM.pm),
//!   so an unsigned desired-state `stop` of one waits for a signature;
//!   containers are not forced (PVECT.pm) and stop as before;
//! - HA start/stop requests take effect when the HA stack acts (10-20 s);
//! - PVE refuses to destroy a running guest, a protected or locked one,
//!   and an HA or replicated one without `purge`: a signed destroy stops a
//!   running guest first, and one PVE would refuse stays queued, its nonce
//!   kept, reported each pass, until the cause is gone; a hibernated VM's
//!   `suspended` lock is no refusal (qemu-server destroy_vm, vm_start).
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

use agent::{Agent, BlobSpec, action, nonce_consumed};
use fakepve::FakePve;
use serde_json::{Value, json};

/// Signs and submits `op` on `vmid`; returns its nonce.
fn submit(a: &Agent, op: &str, params: Value, vmid: u32) -> String {
    let spec = BlobSpec::new(op, params, Some(vmid));
    let files = a.sign(&a.alice, &spec.build_now());
    let run = a.submit(&files);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    spec.nonce
}

#[test]
fn an_ha_managed_vm_stop_waits_for_a_signature_naming_ha_and_a_signed_stop_runs() {
    let pve = FakePve::start();
    let q = pve.add_qemu("running", json!({"cores": 1, "memory": 512}));
    let c = pve.add_lxc("running", json!({"cores": 1, "memory": 256}));
    for v in [q, c] {
        pve.set_guest(v, "ha_state", json!("started"));
    }
    let a = Agent::new(&pve, "ha-stop");
    a.write_desired(
        1,
        json!([{"vmid": q, "state": "stopped"}, {"vmid": c, "state": "stopped"}]),
    );
    let run = a.pass();
    assert_eq!(run.code, 4, "{}\n{}", run.stdout, run.stderr);
    let acts = run.actions();
    let held = action(&acts, q, "stop");
    assert_eq!(held["decision"], json!("pending_signature"), "{held}");
    assert_eq!(held["class"], json!("destructive"), "{held}");
    let reason = held["reason"].as_str().unwrap();
    assert!(reason.contains("HA"), "{held}");
    assert!(reason.ends_with("(0 of 1 approvals)"), "{held}");
    // The container is not forced off by its HA stack: it stops unsigned.
    let ct = action(&acts, c, "stop");
    assert_eq!(ct["outcome"], json!("succeeded"), "{ct}");
    assert_eq!(pve.guest(c)["status"], json!("stopped"));
    assert_eq!(pve.guest(q)["status"], json!("running"));

    let pending = a.run(&["--pending", "--json"]);
    assert_eq!(pending.code, 0, "{}", pending.stderr);
    let items = pending.json()["pending"].as_array().unwrap().clone();
    assert_eq!(items.len(), 1, "{items:?}");
    assert_eq!(items[0]["vmid"], json!(q));
    assert_eq!(items[0]["op"], json!("stop"));
    let blob = items[0]["blob"].as_str().unwrap().to_string();
    let files = a.sign(&a.alice, &blob);
    assert_eq!(a.submit(&files).code, 0);

    let signed = a.pass();
    assert_eq!(signed.code, 0, "{}\n{}", signed.stdout, signed.stderr);
    let signed_acts = signed.actions();
    let stop = action(&signed_acts, q, "stop");
    assert_eq!(stop["decision"], json!("allowed"), "{stop}");
    assert_eq!(stop["outcome"], json!("succeeded"), "{stop}");
    assert_eq!(pve.guest(q)["status"], json!("stopped"));
}

/// The HA stack acts on a start request after 12 s here (its CRM and LRM
/// loop every 10 s): the start is judged then, not after a fixed 10 s.
#[test]
fn an_ha_start_is_judged_once_the_ha_stack_has_acted() {
    let pve = FakePve::start();
    pve.set_pve("ha_delay", json!(1200));
    let q = pve.add_qemu("stopped", json!({"cores": 1, "memory": 512}));
    pve.set_guest(q, "ha_state", json!("stopped"));
    let a = Agent::new(&pve, "ha-start");
    a.write_desired(1, json!([{"vmid": q, "state": "running"}]));
    let run = a.pass();
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(
        action(&run.actions(), q, "start")["outcome"],
        json!("succeeded")
    );
    assert_eq!(pve.guest(q)["status"], json!("running"));
}

#[test]
fn a_signed_destroy_of_a_running_guest_stops_it_first_then_destroys() {
    let pve = FakePve::start();
    let q = pve.add_qemu("running", json!({"cores": 1, "memory": 512}));
    let l = pve.add_lxc("running", json!({"cores": 1, "memory": 256}));
    let a = Agent::new(&pve, "destroy-running");
    let nonces: Vec<String> = [q, l]
        .iter()
        .map(|v| submit(&a, "guest_destroy", json!({"purge": true}), *v))
        .collect();
    let run = a.pass();
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let acts = run.actions();
    for v in [q, l] {
        let d = action(&acts, v, "guest_destroy");
        assert_eq!(d["outcome"], json!("succeeded"), "{d}");
        assert_eq!(pve.guest(v)["exists"], json!(false));
    }
    let records = a.records();
    for n in &nonces {
        assert!(nonce_consumed(&records, n));
    }
    // A hard stop (status/stop), never a graceful one, before each DELETE.
    let log = pve.requests();
    for v in [q, l] {
        let tail = format!("/{v}");
        let stop = log
            .iter()
            .position(|(m, p)| m == "POST" && p.ends_with(&format!("{tail}/status/stop")));
        let delete = log
            .iter()
            .position(|(m, p)| m == "DELETE" && p.ends_with(&tail));
        assert!(stop.is_some() && stop < delete, "{log:?}");
        assert!(
            !log.iter()
                .any(|(_, p)| p.ends_with(&format!("{tail}/status/shutdown")))
        );
    }
}

#[test]
fn a_signed_destroy_pve_would_refuse_stays_queued_with_its_nonce_and_runs_once_the_cause_is_gone() {
    let pve = FakePve::start();
    let protected = pve.add_qemu(
        "stopped",
        json!({"cores": 1, "memory": 512, "protection": 1}),
    );
    let locked = pve.add_lxc("stopped", json!({"cores": 1, "memory": 256}));
    pve.call("snapshot_lock", json!([locked, "backup"]), json!({}));
    let replicated = pve.add_qemu("stopped", json!({"cores": 1, "memory": 512}));
    pve.add_replication(&format!("{replicated}-0"), replicated);
    let ha = pve.add_qemu("stopped", json!({"cores": 1, "memory": 512}));
    pve.set_guest(ha, "ha_state", json!("stopped"));
    let a = Agent::new(&pve, "destroy-refused");
    let cases = [
        (protected, "protection"),
        (locked, "backup"),
        (replicated, "replication"),
        (ha, "HA"),
    ];
    let nonces: Vec<String> = cases
        .iter()
        .map(|(v, _)| submit(&a, "guest_destroy", json!({"purge": false}), *v))
        .collect();
    // `--plan` exits as the pass would (CONTRACT §6): the same refusals,
    // read-only.
    let mutations = agent::mutating(&pve.requests()).len();
    for (mode, pass) in [
        ("--plan", 0),
        ("--reconcile-now", 0),
        ("--reconcile-now", 1),
    ] {
        let run = a.run(&[mode, "--json"]);
        assert_eq!(run.code, 1, "pass {pass}: {}\n{}", run.stdout, run.stderr);
        let errors = run.errors();
        let acts = run.actions();
        for (v, why) in cases {
            let d = action(&acts, v, "guest_destroy");
            assert_eq!(d["outcome"], json!("skipped"), "{d}");
            let reason = d["reason"].as_str().unwrap();
            assert!(
                reason.contains(why) && reason.contains("queued"),
                "{reason}"
            );
            assert!(errors.contains(&format!("guest {v}")), "{errors}");
            assert_eq!(pve.guest(v)["exists"], json!(true));
        }
        let records = a.records();
        for n in &nonces {
            assert!(
                !nonce_consumed(&records, n),
                "pass {pass}: a refused op burnt its nonce"
            );
        }
    }
    assert_eq!(agent::mutating(&pve.requests()).len(), mutations);
    assert_eq!(agent::deletes_of(&pve, protected), 0);

    // The causes go away: the queued ops run, while still valid.
    pve.set_guest(protected, "config", json!({"cores": 1, "memory": 512}));
    pve.call("unlock", json!([locked]), json!({}));
    pve.set_pve("replication_jobs", json!([]));
    pve.set_guest(ha, "ha_state", Value::Null);
    let plan = a.run(&["--plan", "--json"]);
    assert_eq!(plan.code, 0, "{}\n{}", plan.stdout, plan.stderr);
    assert!(
        plan.actions()
            .iter()
            .all(|d| d["outcome"] == json!("planned"))
    );
    let run = a.pass();
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let acts = run.actions();
    for (v, _) in cases {
        let d = action(&acts, v, "guest_destroy");
        assert_eq!(d["outcome"], json!("succeeded"), "{d}");
        assert_eq!(pve.guest(v)["exists"], json!(false));
    }
    let records = a.records();
    for n in &nonces {
        assert!(nonce_consumed(&records, n));
    }
}

/// A hibernated VM (PVE lock `suspended`) is no refusal for a signed
/// destroy or start: qemu-server `destroy_vm` skips the lock check for
/// `suspended`, and `vm_start` resumes from the saved state. Both run at
/// once, and their nonces are consumed.
#[test]
fn a_signed_destroy_or_start_of_a_hibernated_vm_runs() {
    let pve = FakePve::start();
    let hibernated = || {
        let v = pve.add_qemu(
            "stopped",
            json!({"cores": 1, "memory": 512, "lock": "suspended"}),
        );
        pve.set_guest(v, "lock", json!("suspended"));
        v
    };
    let (gone, resumed) = (hibernated(), hibernated());
    let a = Agent::new(&pve, "hibernated-signed");
    let nonces = [
        submit(&a, "guest_destroy", json!({"purge": true}), gone),
        submit(&a, "start", json!({}), resumed),
    ];
    let run = a.pass();
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let acts = run.actions();
    for (v, op) in [(gone, "guest_destroy"), (resumed, "start")] {
        let d = action(&acts, v, op);
        assert_eq!(d["outcome"], json!("succeeded"), "{d}");
    }
    assert_eq!(pve.guest(gone)["exists"], json!(false));
    let g = pve.guest(resumed);
    assert_eq!(g["status"], json!("running"), "{g}");
    assert_eq!(g["lock"], Value::Null, "{g}");
    let records = a.records();
    for n in &nonces {
        assert!(nonce_consumed(&records, n));
    }
}
