//! The PVE client against a real fakepve: every endpoint for qemu and lxc
//! (resources, status, config read and write, power actions, destroy,
//! snapshots, rollback, task status and waiting) and digest mismatches.
//!
//! One fakepve serves the whole file; each test creates its own guests.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "support/fakepve.rs"]
mod fakepve;

use std::time::Duration;

use felhom_agent::proxmox::{Client, ConfigChange, ConfigKey, Kind, PveError, TaskState, Upid};
use serde_json::json;

#[path = "support/pve_shared.rs"]
mod pve_shared;
use pve_shared::{TASK_DEADLINE, add_guest, assert_clean, client, gref, pve};

fn wait_ok(c: &Client, upid: &Upid) {
    let out = c.wait_task(upid, TASK_DEADLINE).unwrap();
    assert!(out.exitstatus == "OK" || out.exitstatus.starts_with("WARNINGS: "));
}

fn wait_err(c: &Client, upid: &Upid) -> PveError {
    let e = c.wait_task(upid, TASK_DEADLINE).unwrap_err();
    assert_clean(&e);
    e
}

#[test]
fn resources_list_seeded_qemu_and_lxc_with_node_and_kind() {
    let list = client().resources().unwrap();
    let find = |id| list.iter().find(|r| r.vmid == id).unwrap();
    assert_eq!(find(100).kind, Kind::Qemu);
    assert_eq!(find(100).status, "running");
    assert_eq!(find(101).status, "stopped");
    assert_eq!(find(102).kind, Kind::Lxc);
    assert_eq!(find(102).node, "pve1");
    assert_eq!(find(102).name.as_deref(), Some("ct102"));
    assert_eq!(find(101).maxmem_bytes, Some(1024 * 1024 * 1024));
    assert!(!find(100).template);
}

#[test]
fn status_and_config_are_normalized_for_both_kinds() {
    let c = client();
    let q = pve().add_qemu(
        "running",
        json!({"cores": 2, "memory": "current=1536", "sockets": 2}),
    );
    let l = pve().add_lxc(
        "stopped",
        json!({"cores": 3, "memory": 768, "description": "web\n"}),
    );
    let qs = c.status(&gref(q, Kind::Qemu)).unwrap();
    assert!(qs.is_running());
    assert_eq!(qs.qmpstatus.as_deref(), Some("running"));
    assert!(!qs.ha_managed);
    let ls = c.status(&gref(l, Kind::Lxc)).unwrap();
    assert_eq!(ls.status, "stopped");
    let qc = c.config(&gref(q, Kind::Qemu)).unwrap();
    assert_eq!(
        (qc.cores, qc.sockets, qc.memory_mib),
        (Some(2), Some(2), Some(1536))
    );
    assert_eq!(qc.digest.len(), 40);
    let lc = c.config(&gref(l, Kind::Lxc)).unwrap();
    assert_eq!((lc.cores, lc.memory_mib), (Some(3), Some(768)));
    assert_eq!(lc.description.as_deref(), Some("web"));
    assert_eq!(lc.name.as_deref(), Some(format!("ct{l}").as_str()));
    let lcur = c.config_current(&gref(l, Kind::Lxc)).unwrap();
    assert_eq!(lcur.digest, lc.digest);
    assert!(c.config_current(&gref(q, Kind::Qemu)).is_ok());
}

#[test]
fn qemu_config_write_is_an_async_task_that_lands_with_delete() {
    let c = client();
    let q = pve().add_qemu(
        "stopped",
        json!({"cores": 1, "memory": 512, "description": "old"}),
    );
    let g = gref(q, Kind::Qemu);
    let before = c.config(&g).unwrap();
    let change = ConfigChange {
        cores: Some(4),
        memory_mib: Some(2048),
        description: None,
        delete: vec![ConfigKey::Description],
    };
    let upid = c.set_config(&g, &change, &before.digest).unwrap().unwrap();
    assert_eq!(upid.node(), "pve1");
    wait_ok(&c, &upid);
    let after = c.config(&g).unwrap();
    assert_eq!((after.cores, after.memory_mib), (Some(4), Some(2048)));
    assert_eq!(after.description, None);
    assert_ne!(after.digest, before.digest);
    let sync = ConfigChange {
        description: Some("via put".into()),
        ..ConfigChange::default()
    };
    assert_eq!(c.set_config_sync(&g, &sync, &after.digest).unwrap(), None);
    assert_eq!(
        c.config(&g).unwrap().description.as_deref(),
        Some("via put")
    );
}

#[test]
fn lxc_config_write_is_synchronous_and_round_trips_description() {
    let c = client();
    let l = pve().add_lxc("stopped", json!({"cores": 1, "memory": 512}));
    let g = gref(l, Kind::Lxc);
    let digest = c.config(&g).unwrap().digest;
    let change = ConfigChange {
        cores: Some(2),
        memory_mib: Some(1024),
        description: Some("hello".into()),
        delete: vec![],
    };
    assert_eq!(c.set_config(&g, &change, &digest).unwrap(), None);
    let after = c.config(&g).unwrap();
    assert_eq!(after.cores, Some(2));
    assert_eq!(after.memory_mib, Some(1024));
    assert_eq!(after.description.as_deref(), Some("hello"));
}

#[test]
fn digest_mismatch_is_typed_for_both_kinds_and_changes_nothing() {
    let c = client();
    for kind in [Kind::Qemu, Kind::Lxc] {
        let cfg = json!({"cores": 1, "memory": 512});
        let (_, g) = add_guest(kind, "stopped", cfg);
        let stale = c.config(&g).unwrap().digest;
        let bump = ConfigChange {
            cores: Some(2),
            ..ConfigChange::default()
        };
        c.set_config_sync(&g, &bump, &stale).unwrap();
        let again = ConfigChange {
            cores: Some(3),
            ..ConfigChange::default()
        };
        let e = match c.set_config(&g, &again, &stale) {
            Ok(Some(upid)) => wait_err(&c, &upid),
            Ok(None) => panic!("stale digest accepted"),
            Err(e) => e,
        };
        assert!(e.is_digest_mismatch(), "{kind:?}: {e:?}");
        assert_eq!(c.config(&g).unwrap().cores, Some(2));
    }
}

#[test]
fn power_actions_start_reboot_shutdown_stop_for_both_kinds() {
    let c = client();
    for kind in [Kind::Qemu, Kind::Lxc] {
        let (id, g) = add_guest(kind, "stopped", json!({}));
        wait_ok(&c, &c.start(&g).unwrap());
        assert!(c.status(&g).unwrap().is_running());
        wait_ok(&c, &c.reboot(&g).unwrap());
        assert!(c.status(&g).unwrap().is_running());
        let upid = c.shutdown(&g, 30).unwrap();
        assert!(upid.task_type().ends_with("shutdown"), "{upid}");
        wait_ok(&c, &upid);
        assert_eq!(c.status(&g).unwrap().status, "stopped");
        wait_ok(&c, &c.start(&g).unwrap());
        wait_ok(&c, &c.stop(&g).unwrap());
        assert_eq!(c.status(&g).unwrap().status, "stopped");
        let shutdown = pve()
            .requests()
            .into_iter()
            .filter(|(m, p)| m == "POST" && p.ends_with(&format!("/{id}/status/shutdown")))
            .count();
        assert_eq!(shutdown, 1);
    }
}

#[test]
fn task_status_once_reports_running_then_stopped() {
    let c = client();
    let q = pve().add_qemu("stopped", json!({}));
    pve().set_guest(q, "start_secs", json!(100)); // 1 s of real time
    let upid = c.start(&gref(q, Kind::Qemu)).unwrap();
    assert_eq!(c.task_status_once(&upid).unwrap(), TaskState::Running);
    wait_ok(&c, &upid);
    match c.task_status_once(&upid).unwrap() {
        TaskState::Stopped { ok, exitstatus } => assert!(ok && exitstatus == "OK"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn wait_task_deadline_is_a_task_timeout() {
    let c = client();
    let q = pve().add_qemu("stopped", json!({}));
    pve().set_guest(q, "start_secs", json!(500)); // 5 s of real time
    let upid = c.start(&gref(q, Kind::Qemu)).unwrap();
    let e = c.wait_task(&upid, Duration::from_millis(300)).unwrap_err();
    assert_eq!(
        e,
        PveError::TaskTimeout {
            upid: upid.as_str().into()
        }
    );
}

#[test]
fn destroy_removes_qemu_and_lxc_guests() {
    let c = client();
    for (kind, purge) in [(Kind::Qemu, true), (Kind::Lxc, false)] {
        let (id, g) = add_guest(kind, "stopped", json!({}));
        wait_ok(&c, &c.destroy(&g, purge).unwrap());
        assert_eq!(pve().guest(id)["exists"], json!(false));
        assert!(c.resources().unwrap().iter().all(|r| r.vmid != id));
        let e = c.config(&g).unwrap_err();
        assert!(matches!(e, PveError::NotFound { .. }), "{e:?}");
    }
}

#[test]
fn snapshots_list_and_rollback_for_both_kinds() {
    let c = client();
    for kind in [Kind::Qemu, Kind::Lxc] {
        let cfg = json!({"cores": 1, "memory": 512});
        let (id, g) = add_guest(kind, "stopped", cfg);
        pve().add_snapshot(id, "before");
        let snaps = c.snapshots(&g).unwrap();
        assert_eq!(snaps.len(), 1, "{snaps:?}");
        assert_eq!(snaps[0].name, "before");
        let digest = c.config(&g).unwrap().digest;
        let change = ConfigChange {
            cores: Some(4),
            ..ConfigChange::default()
        };
        c.set_config_sync(&g, &change, &digest).unwrap();
        wait_ok(&c, &c.rollback(&g, "before").unwrap());
        assert_eq!(c.config(&g).unwrap().cores, Some(1));
        let e = c.rollback(&g, "../../x").unwrap_err();
        assert!(matches!(e, PveError::InvalidRequest(_)));
    }
}
