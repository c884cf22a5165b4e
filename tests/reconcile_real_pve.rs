//! Passes of the real binary against real PVE behaviours that fakepve 0.5.0
//! lacks (reproduced by the launcher's `RealPve`, each naming its PVE
//! source): a stale `/cluster/resources`, forced pending deletes, writes
//! that read back differently, paused and hibernated VMs, the balloon
//! floor, shutdowns that outlast their timeout, 596 after a write, task ids
//! PVE no longer knows, PVE's config defaults, and PVE 8.0–8.3's
//! status-line errors.
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

use agent::{Agent, action, mutating, names_guest};
use fakepve::FakePve;
use felhom_agent::journal::{Journal, Record};
use serde_json::{Value, json};
use std::time::Duration;

fn writes_to(pve: &FakePve, vmid: u32) -> Vec<(String, String)> {
    mutating(&pve.requests())
        .into_iter()
        .filter(|(_, p)| names_guest(p, vmid))
        .collect()
}

/// pvestatd has not refreshed `/cluster/resources` since before the start:
/// the second pass, right after, must not send a second start.
#[test]
fn a_quick_second_pass_on_a_stale_resource_list_sends_no_second_start() {
    let pve = FakePve::start();
    pve.set_pve("status_cache_secs", json!(600));
    let v = pve.add_qemu("stopped", json!({"cores": 1, "memory": 512}));
    let a = Agent::new(&pve, "rp-stale");
    a.write_desired(1, json!([{"vmid": v, "state": "running"}]));
    let first = a.pass();
    assert_eq!(first.code, 0, "{}\n{}", first.stdout, first.stderr);
    assert_eq!(
        action(&first.actions(), v, "start")["outcome"],
        json!("succeeded")
    );
    assert_eq!(pve.guest(v)["status"], json!("running"));

    let before = pve.requests().len();
    let second = a.pass();
    assert_eq!(second.code, 0, "{}\n{}", second.stdout, second.stderr);
    assert!(second.actions().is_empty(), "{:?}", second.actions());
    let pass = pve.requests()[before..].to_vec();
    assert_eq!(mutating(&pass), vec![], "a start was sent again");
    // The list, the pending config, and the live status of the one guest
    // whose listed state is off.
    assert!(pass.len() <= 3, "{pass:?}");
}

/// A forced pending delete (`delete: 2`) is a delete, not an unreadable config.
#[test]
fn a_forced_pending_delete_leaves_the_guest_managed() {
    let pve = FakePve::start();
    let v = pve.add_qemu("running", json!({"cores": 1, "memory": 512, "tags": "old"}));
    pve.set_guest(v, "pending", json!({"tags": null}));
    pve.set_guest(v, "forced_deletes", json!(["tags"]));
    let a = Agent::new(&pve, "rp-forced");
    a.write_desired(1, json!([{"vmid": v, "cores": 2}]));
    let run = a.pass();
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(
        action(&run.actions(), v, "set_config")["outcome"],
        json!("succeeded")
    );
}

/// PVE < 8.2.2 decodes `%XX` in a description on every read, and every
/// version drops a description of exactly "0": the agent writes twice at
/// most, then reports the guest as not converging, with both values, until
/// a value changes.
#[test]
fn a_write_that_reads_back_differently_is_not_sent_again_every_pass() {
    let pve = FakePve::start();
    pve.set_pve("percent_bug", json!(true));
    let q = pve.add_qemu(
        "stopped",
        json!({"cores": 1, "memory": 512, "description": "x"}),
    );
    let l = pve.add_lxc(
        "stopped",
        json!({"cores": 1, "memory": 256, "description": "x\n"}),
    );
    let a = Agent::new(&pve, "rp-readback");
    a.write_desired(
        1,
        json!([{"vmid": q, "description": "50%25 off"}, {"vmid": l, "description": "0"}]),
    );
    for pass in 1..=2 {
        let run = a.pass();
        assert_eq!(run.code, 0, "pass {pass}: {}\n{}", run.stdout, run.stderr);
        assert_eq!(run.actions().len(), 2, "pass {pass}: {:?}", run.actions());
    }
    assert_eq!(writes_to(&pve, q).len(), 2);
    assert_eq!(writes_to(&pve, l).len(), 2);
    for pass in 3..=4 {
        let run = a.pass();
        assert_eq!(run.code, 1, "pass {pass}: {}", run.stdout);
        assert!(run.actions().is_empty(), "pass {pass}: {:?}", run.actions());
        let errors = run.errors();
        for (vmid, wrote, reads) in [(q, "50%25 off", "50% off"), (l, "0", "")] {
            let line = errors
                .lines()
                .find(|e| e.contains(&format!("guest {vmid}")) && e.contains("does not converge"))
                .unwrap_or_else(|| panic!("pass {pass}: {errors}"));
            assert!(line.contains("description"), "{line}");
            assert!(line.contains(&format!("{wrote:?}")), "{line}");
            assert!(line.contains(&format!("{reads:?}")), "{line}");
        }
    }
    assert_eq!(
        writes_to(&pve, q).len(),
        2,
        "written again after 2 read-backs"
    );
    assert_eq!(
        writes_to(&pve, l).len(),
        2,
        "written again after 2 read-backs"
    );
    // A new desired value is written again.
    a.write_desired(
        2,
        json!([{"vmid": q, "description": "plain"}, {"vmid": l, "description": "0"}]),
    );
    let run = a.pass();
    assert_eq!(
        action(&run.actions(), q, "set_config")["outcome"],
        json!("succeeded")
    );
    assert_eq!(pve.guest(q)["config"]["description"], json!("plain"));
    assert_eq!(writes_to(&pve, l).len(), 2);
}

/// A paused, prelaunch or suspended VM refuses a shutdown ("VM is paused -
/// cannot shutdown": qemu-server `vm_is_paused($vmid, 1)`); the agent does
/// not send one, and says why, every pass.
#[test]
fn a_paused_vm_is_reported_naming_the_pause_and_no_shutdown_is_sent() {
    let pve = FakePve::start();
    let a = Agent::new(&pve, "rp-paused");
    let mut generation = 0;
    for qmpstatus in ["paused", "prelaunch", "suspended"] {
        let v = pve.add_qemu("running", json!({"cores": 1, "memory": 512}));
        pve.set_guest(v, "qmpstatus", json!(qmpstatus));
        generation += 1;
        a.write_desired(generation, json!([{"vmid": v, "state": "stopped"}]));
        for _ in 0..2 {
            let run = a.pass();
            assert_eq!(run.code, 1, "{qmpstatus}: {}", run.stdout);
            let errors = run.errors();
            assert!(
                errors.contains(&format!("guest {v}"))
                    && errors.contains(qmpstatus)
                    && errors.contains("paused"),
                "{qmpstatus}: {errors}"
            );
            assert!(run.actions().is_empty(), "{qmpstatus}: {:?}", run.actions());
        }
        assert_eq!(writes_to(&pve, v), vec![], "{qmpstatus}");
    }
}

/// Memory below the balloon target is refused by PVE ("balloon value too
/// large"); the agent does not send it and names the balloon.
#[test]
fn memory_below_the_balloon_target_is_reported_not_written() {
    let pve = FakePve::start();
    let v = pve.add_qemu(
        "stopped",
        json!({"cores": 1, "memory": 4096, "balloon": 2048}),
    );
    let a = Agent::new(&pve, "rp-balloon");
    a.write_desired(
        1,
        json!([{"vmid": v, "memory_bytes": 1024u64 << 20, "cores": 2}]),
    );
    let run = a.pass();
    assert_eq!(run.code, 1, "{}", run.stdout);
    let errors = run.errors();
    assert!(
        errors.contains(&format!("guest {v}")) && errors.contains("balloon"),
        "{errors}"
    );
    let acts = run.actions();
    let set = action(&acts, v, "set_config");
    assert_eq!(set["params"], json!({"cores": 2}), "{set}");
    assert_eq!(set["outcome"], json!("succeeded"));
}

/// A hibernated VM (lock `suspended`) with desired `running` is resumed.
#[test]
fn a_hibernated_vm_with_desired_running_is_resumed() {
    let pve = FakePve::start();
    let v = pve.add_qemu(
        "stopped",
        json!({"cores": 1, "memory": 512, "lock": "suspended"}),
    );
    pve.set_guest(v, "lock", json!("suspended"));
    let a = Agent::new(&pve, "rp-hibernated");
    a.write_desired(1, json!([{"vmid": v, "state": "running"}]));
    let run = a.pass();
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(
        action(&run.actions(), v, "start")["outcome"],
        json!("succeeded")
    );
    let g = pve.guest(v);
    assert_eq!(g["status"], json!("running"));
    assert_eq!(g["lock"], Value::Null);
}

/// At real speed, a guest that ignores ACPI: PVE's shutdown timeout is
/// shorter than the agent's wait, so the failure is PVE's own ("got
/// timeout"), its task has ended, and the next pass does not collide
/// with a held config lock.
#[test]
fn a_shutdown_that_times_out_fails_with_pves_reason_and_releases_its_lock() {
    let pve = FakePve::start_with(fakepve::Options {
        qemu: 0,
        lxc: 0,
        time_scale: 1.0,
        ..Default::default()
    });
    let v = pve.add_qemu("running", json!({"cores": 1, "memory": 512}));
    pve.set_guest(v, "acpi", json!(false));
    let mut a = Agent::new(&pve, "rp-timeout");
    a.config["proxmox"]["task_timeout_seconds"] = json!(6);
    a.write_config();
    a.write_desired(1, json!([{"vmid": v, "state": "stopped"}]));
    for _ in 0..2 {
        let run = a.pass();
        assert_eq!(run.code, 1, "{}", run.stdout);
        let acts = run.actions();
        let stop = action(&acts, v, "stop").clone();
        assert_eq!(stop["outcome"], json!("failed"), "{stop}");
        let why = stop["reason"].as_str().unwrap();
        assert!(
            why.contains("got timeout") && !why.contains("can't lock"),
            "{why}"
        );
    }
    assert_eq!(pve.guest(v)["status"], json!("running"));
}

/// 596 after PVE executed the write: the agent re-reads before judging.
#[test]
fn a_596_after_the_write_executed_is_judged_by_re_reading() {
    let pve = FakePve::start();
    let l = pve.add_lxc("stopped", json!({"cores": 1, "memory": 256}));
    let q = pve.add_qemu("stopped", json!({"cores": 1, "memory": 512}));
    pve.fail_after(
        "PUT",
        &format!("/lxc/{l}/config"),
        596,
        "Connection timed out",
        1,
    );
    pve.fail_after(
        "POST",
        &format!("/qemu/{q}/status/start"),
        596,
        "Connection timed out",
        1,
    );
    let a = Agent::new(&pve, "rp-596");
    a.write_desired(
        1,
        json!([{"vmid": l, "cores": 2}, {"vmid": q, "state": "running"}]),
    );
    let run = a.pass();
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let acts = run.actions();
    for (vmid, op) in [(l, "set_config"), (q, "start")] {
        let act = action(&acts, vmid, op);
        assert_eq!(act["outcome"], json!("succeeded"), "{act}");
        assert!(act["reason"].as_str().unwrap().contains("596"), "{act}");
    }
    assert_eq!(writes_to(&pve, l).len(), 1);
    assert_eq!(writes_to(&pve, q).len(), 1);
}

/// A qemu config without `cores` or `memory` runs with PVE's defaults
/// (qemu-server: 1 core, 512 MiB): asking for exactly those is no drift.
#[test]
fn an_unreadable_answer_after_the_write_executed_is_judged_by_re_reading() {
    // PVE ran the request, but its answer arrived cut short: the write may
    // have happened, so the agent re-reads, as after a 596.
    let pve = FakePve::start();
    let l = pve.add_lxc("stopped", json!({"cores": 1, "memory": 256}));
    let q = pve.add_qemu("stopped", json!({"cores": 1, "memory": 512}));
    pve.garble_after("PUT", &format!("/lxc/{l}/config"), "{\"data\":", 1);
    pve.garble_after("POST", &format!("/qemu/{q}/status/start"), "{\"da", 1);
    let a = Agent::new(&pve, "rp-garbled");
    a.write_desired(
        1,
        json!([{"vmid": l, "cores": 2}, {"vmid": q, "state": "running"}]),
    );
    let run = a.pass();
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let acts = run.actions();
    for (vmid, op) in [(l, "set_config"), (q, "start")] {
        let act = action(&acts, vmid, op);
        assert_eq!(act["outcome"], json!("succeeded"), "{act}");
        let reason = act["reason"].as_str().unwrap();
        assert!(
            reason.contains("unexpected PVE answer") && reason.contains("re-read"),
            "{act}"
        );
    }
    assert_eq!(writes_to(&pve, l).len(), 1);
    assert_eq!(writes_to(&pve, q).len(), 1);
}

#[test]
fn missing_qemu_cores_and_memory_are_the_pve_defaults_not_drift() {
    let pve = FakePve::start();
    let v = pve.add_qemu("stopped", json!({}));
    let a = Agent::new(&pve, "rp-defaults");
    a.write_desired(
        1,
        json!([{"vmid": v, "cores": 1, "memory_bytes": 512u64 << 20}]),
    );
    let run = a.pass();
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(run.actions().is_empty(), "{:?}", run.actions());
    assert_eq!(writes_to(&pve, v), vec![]);
}

/// A task id PVE answers "no such task" for closes its in-flight entry as
/// unknown (reported); the guest is not held in flight.
#[test]
fn recovery_closes_an_entry_whose_task_pve_does_not_know() {
    let pve = FakePve::start();
    let v = pve.add_qemu("stopped", json!({"cores": 1, "memory": 512}));
    let a = Agent::new(&pve, "rp-unknown");
    assert_eq!(a.pass().code, 0);
    {
        let j = Journal::open(&a.state_dir, Duration::from_secs(5)).unwrap();
        j.append(Record::Intent {
            op_id: "lost-1".into(),
            vmid: v,
            op: "start".into(),
            params: json!({}),
            source: "desired_state".into(),
            idempotency_key: "lost-1".into(),
            nonce: None,
            at: None,
        })
        .unwrap();
        j.append(Record::TaskStarted {
            op_id: "lost-1".into(),
            upid: format!(
                "UPID:{}:0000ABCD:00012345:65000000:qmstart:{v}:felhom@pve!agent:",
                pve.node
            ),
        })
        .unwrap();
    }
    a.write_desired(1, json!([{"vmid": v, "state": "running"}]));
    let run = a.pass();
    let doc = run.json();
    assert_eq!(doc["recovery"]["examined"], json!(1), "{doc}");
    assert_eq!(doc["recovery"]["unresolved"], json!(0), "{doc}");
    let errors = run.errors();
    assert!(
        errors.contains("no such task") || errors.contains("does not know"),
        "{errors}"
    );
    assert_eq!(
        action(&run.actions(), v, "start")["outcome"],
        json!("succeeded")
    );
    let again = a.pass();
    assert_eq!(again.code, 0, "{}", again.stdout);
    assert_eq!(again.json()["recovery"]["examined"], json!(0));
}

/// PVE 8.0–8.3: an error answered only in the status line reaches the report.
#[test]
fn a_pve_8_0_status_line_error_reaches_the_report() {
    let pve = FakePve::start();
    pve.set_pve("message_in_body", json!(false));
    let v = pve.add_qemu("stopped", json!({"cores": 1, "memory": 512}));
    pve.fail(
        "POST",
        &format!("/qemu/{v}/status/start"),
        500,
        "storage 'tank' is not online",
    );
    let a = Agent::new(&pve, "rp-statusline");
    a.write_desired(1, json!([{"vmid": v, "state": "running"}]));
    let run = a.pass();
    assert_eq!(run.code, 1, "{}", run.stdout);
    let acts = run.actions();
    let start = action(&acts, v, "start");
    assert!(
        start["reason"]
            .as_str()
            .unwrap()
            .contains("storage 'tank' is not online"),
        "{start}"
    );
}
