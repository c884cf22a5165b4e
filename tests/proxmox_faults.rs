//! The faults PVE produces, against a real fakepve: task errors, a guest
//! locked by a backup, config lock timeouts, slow shutdowns, 401/403,
//! offline and slow nodes, transient 5xx, per-field parameter errors.
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

use felhom_agent::config::{Secret, TlsTrust};
use felhom_agent::proxmox::{Client, ConfigChange, GuestRef, Kind, PveError, Upid};
use serde_json::json;

#[path = "support/pve_shared.rs"]
mod pve_shared;
use pve_shared::{TASK_DEADLINE, assert_clean, client, gref, pve, secret};

fn wait_err(c: &Client, upid: &Upid) -> PveError {
    let e = c.wait_task(upid, TASK_DEADLINE).unwrap_err();
    assert_clean(&e);
    e
}

#[test]
fn failed_task_carries_exitstatus_and_log_tail() {
    let c = client();
    let q = pve().add_qemu("stopped", json!({}));
    pve().set_guest(
        q,
        "start_error",
        json!("missing disk local-lvm:vm-1-disk-0"),
    );
    let e = wait_err(&c, &c.start(&gref(q, Kind::Qemu)).unwrap());
    match e {
        PveError::TaskFailed {
            exitstatus,
            log_tail,
            ..
        } => {
            assert_eq!(exitstatus, "missing disk local-lvm:vm-1-disk-0");
            assert_eq!(
                log_tail.last().map(String::as_str),
                Some("TASK ERROR: missing disk local-lvm:vm-1-disk-0")
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn guest_locked_by_backup_is_reported_and_typed() {
    let c = client();
    let q = pve().add_qemu("running", json!({}));
    let l = pve().add_lxc("running", json!({}));
    for (id, kind) in [(q, Kind::Qemu), (l, Kind::Lxc)] {
        pve().call("snapshot_lock", json!([id, "backup"]), json!({}));
        let g = gref(id, kind);
        assert_eq!(c.config(&g).unwrap().lock.as_deref(), Some("backup"));
        let r = c.resources().unwrap();
        assert_eq!(
            r.iter().find(|r| r.vmid == id).unwrap().lock.as_deref(),
            Some("backup")
        );
        let e = match c.shutdown(&g, 10) {
            Ok(upid) => wait_err(&c, &upid),
            Err(e) => e,
        };
        assert_eq!(e.lock(), Some("backup"), "{kind:?}: {e:?}");
        assert!(c.status(&g).unwrap().is_running());
        pve().call("unlock", json!([id]), json!({}));
    }
}

#[test]
fn config_lock_timeout_is_transient_and_never_retried() {
    let c = client();
    let l = pve().add_lxc("stopped", json!({"cores": 1}));
    let q = pve().add_qemu("stopped", json!({"cores": 1}));
    let change = ConfigChange {
        cores: Some(2),
        ..ConfigChange::default()
    };
    for (id, kind) in [(l, Kind::Lxc), (q, Kind::Qemu)] {
        let g = gref(id, kind);
        let digest = c.config(&g).unwrap().digest;
        pve().call("hold_config_lock", json!([id, null]), json!({}));
        let e = c.set_config_sync(&g, &change, &digest).unwrap_err();
        assert!(matches!(e, PveError::LockTimeout { .. }), "{e:?}");
        assert!(e.is_transient() && e.is_lock_timeout());
        assert_clean(&e);
        assert_eq!(
            pve().mutating_requests_for(id),
            1,
            "a config write was retried"
        );
        pve().call("release_config_lock", json!([id]), json!({}));
        assert_eq!(c.config(&g).unwrap().cores, Some(1));
    }
    // qemu's asynchronous write reports the same timeout as its task failure.
    let g = gref(q, Kind::Qemu);
    let digest = c.config(&g).unwrap().digest;
    pve().call("hold_config_lock", json!([q, null]), json!({}));
    let e = wait_err(&c, &c.set_config(&g, &change, &digest).unwrap().unwrap());
    assert!(e.is_lock_timeout(), "{e:?}");
    pve().call("release_config_lock", json!([q]), json!({}));
}

#[test]
fn shutdown_slower_than_its_timeout_fails_and_never_forces() {
    let c = client();
    for kind in [Kind::Qemu, Kind::Lxc] {
        let id = match kind {
            Kind::Qemu => pve().add_qemu("running", json!({})),
            Kind::Lxc => pve().add_lxc("running", json!({})),
        };
        pve().set_guest(id, "shutdown_secs", json!(1000));
        let g = gref(id, kind);
        let e = wait_err(&c, &c.shutdown(&g, 5).unwrap());
        assert!(matches!(e, PveError::TaskFailed { .. }), "{e:?}");
        assert!(
            c.status(&g).unwrap().is_running(),
            "{kind:?} was forced off"
        );
    }
}

#[test]
fn wrong_token_is_unauthorized_and_never_printed() {
    let wrong = "felhom@pve!agent=00000000-dead-beef-0000-000000000000";
    let cfg = pve().config_with_token(
        TlsTrust::CaFile(pve().ca_file.clone()),
        Secret::new(wrong.into()),
    );
    let c = Client::new(&cfg).unwrap();
    let e = c.resources().unwrap_err();
    assert_eq!(e, PveError::Unauthorized);
    assert!(!e.to_string().contains("dead-beef"));
    assert!(!format!("{c:?}").contains("dead-beef"));
    assert!(!format!("{c:?}").contains(&secret()));
    assert_eq!(c.request_count(), 1, "a 401 is not retried");
}

#[test]
fn missing_privilege_is_permission_denied_naming_it() {
    let cfg = pve().config_with(
        TlsTrust::CaFile(pve().ca_file.clone()),
        &pve().limited_token_file,
    );
    let c = Client::new(&cfg).unwrap();
    let q = pve().add_qemu("stopped", json!({}));
    let g = gref(q, Kind::Qemu);
    assert!(c.status(&g).is_ok(), "VM.Audit suffices to read");
    match c.start(&g).unwrap_err() {
        PveError::PermissionDenied {
            privilege, path, ..
        } => {
            assert_eq!(privilege.as_deref(), Some("VM.PowerMgmt"));
            assert_eq!(path, Some(format!("/vms/{q}")));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(pve().guest(q)["status"], json!("stopped"));
}

#[test]
fn offline_node_is_unreachable_and_reads_retry_boundedly() {
    let c = client();
    let q = pve().add_qemu_on("pve-off", "running", json!({}));
    pve().call("set_node_offline", json!(["pve-off"]), json!({}));
    let g = GuestRef {
        vmid: q,
        node: "pve-off".into(),
        kind: Kind::Qemu,
    };
    let before = c.request_count();
    let e = c.status(&g).unwrap_err();
    assert!(
        matches!(e, PveError::NodeUnreachable { status: 595, .. }),
        "{e:?}"
    );
    assert!(e.is_transient());
    assert_eq!(
        c.request_count() - before,
        3,
        "reads are tried exactly 3 times"
    );
    let before = c.request_count();
    assert!(matches!(
        c.start(&g).unwrap_err(),
        PveError::NodeUnreachable { .. }
    ));
    assert_eq!(c.request_count() - before, 1, "start is sent once");
    let r = c.resources().unwrap();
    assert_eq!(r.iter().find(|r| r.vmid == q).unwrap().status, "unknown");
}

#[test]
fn slow_node_within_timeout_works_beyond_it_times_out_without_retrying_start() {
    // 0.5 s of latency on one node; the client allows 5 s, then 0.2 s.
    let q = pve().add_qemu_on("pve-slow", "stopped", json!({}));
    pve().call("slow_network", json!([50]), json!({"node": "pve-slow"}));
    let g = GuestRef {
        vmid: q,
        node: "pve-slow".into(),
        kind: Kind::Qemu,
    };
    assert_eq!(client().status(&g).unwrap().status, "stopped");
    let mut cfg = pve().proxmox_config();
    cfg.timeout = Duration::from_millis(200);
    let impatient = Client::new(&cfg).unwrap();
    assert_eq!(impatient.start(&g).unwrap_err(), PveError::Timeout);
    assert_eq!(impatient.request_count(), 1);
    assert_eq!(impatient.status(&g).unwrap_err(), PveError::Timeout);
    assert_eq!(impatient.request_count(), 4);
}

#[test]
fn transient_5xx_on_a_read_is_retried_until_it_succeeds() {
    let c = client();
    let q = pve().add_qemu("stopped", json!({}));
    let suffix = format!("/qemu/{q}/status/current");
    pve().call(
        "fail",
        json!(["GET", suffix]),
        json!({"status": 503, "message": "busy", "times": 2}),
    );
    assert_eq!(c.status(&gref(q, Kind::Qemu)).unwrap().status, "stopped");
    assert_eq!(c.request_count(), 3);
}

#[test]
fn answer_errors_keep_pve_per_field_messages() {
    let c = client();
    let l = pve().add_lxc("stopped", json!({}));
    let g = gref(l, Kind::Lxc);
    let e = c
        .rollback(&g, "nosuch")
        .map(|u| wait_err(&c, &u))
        .unwrap_or_else(|e| e);
    assert!(matches!(e, PveError::TaskFailed { .. }), "{e:?}");
    let digest = c.config(&g).unwrap().digest;
    let bad = ConfigChange {
        cores: Some(0),
        ..ConfigChange::default()
    };
    match c.set_config(&g, &bad, &digest).unwrap_err() {
        PveError::Http { status, errors, .. } => {
            assert_eq!(status, 400);
            assert!(errors.contains_key("cores"), "{errors:?}");
        }
        other => panic!("{other:?}"),
    }
}
