//! The PVE client against the behaviours of real PVE 8.0–9.x that fakepve
//! 0.5.0 lacks, reproduced by the launcher's `RealPve` (each names its PVE
//! source in `tests/support/fakepve_launch.py`):
//!
//! - libpve-http-server-perl before 5.2.0 (PVE 8.0–8.3) puts an error's
//!   message only in the HTTP status line; 595/596 have empty bodies;
//! - `/pending` marks a forced delete with `delete: 2`;
//! - an unknown task id is a 400 whose `errors.upid` says "no such task";
//! - task logs are paged, with the line count in `total`;
//! - certificates renew, so a pinned fingerprint stops matching.
//!
//! Each test starts its own fakepve when it switches a server behaviour.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "support/fakepve.rs"]
mod fakepve;

use std::time::Duration;

use felhom_agent::config::TlsTrust;
use felhom_agent::proxmox::{Client, ConfigChange, GuestRef, Kind, PveError, Upid};
use serde_json::json;

const DEADLINE: Duration = Duration::from_secs(30);

fn gref(pve: &fakepve::FakePve, vmid: u32, kind: Kind) -> GuestRef {
    GuestRef {
        vmid,
        node: pve.node.clone(),
        kind,
    }
}

fn sync_err<T: std::fmt::Debug>(r: Result<T, PveError>) -> PveError {
    r.unwrap_err()
}

/// PVE 8.0–8.3: `{"data": null}` bodies. Lock timeouts, locks, digest
/// mismatches and missing privileges are still told apart, from the
/// status line.
#[test]
fn pve_8_0_messages_in_the_status_line_are_read_and_classified() {
    let pve = fakepve::FakePve::start();
    pve.set_pve("message_in_body", json!(false));
    let c = Client::new(&pve.proxmox_config()).unwrap();

    let q = pve.add_qemu("stopped", json!({"cores": 1, "memory": 512}));
    let g = gref(&pve, q, Kind::Qemu);
    let digest = c.config(&g).unwrap().digest;
    let change = ConfigChange {
        cores: Some(2),
        ..ConfigChange::default()
    };
    assert_eq!(
        sync_err(c.set_config_sync(&g, &change, "0000000000")),
        PveError::DigestMismatch
    );

    pve.call("hold_config_lock", json!([q, null]), json!({}));
    let e = sync_err(c.set_config_sync(&g, &change, &digest));
    assert!(e.is_lock_timeout(), "{e:?}");
    assert!(e.to_string().contains("can't lock file"), "{e}");
    pve.call("release_config_lock", json!([q]), json!({}));

    let r = pve.add_qemu("running", json!({}));
    pve.call("snapshot_lock", json!([r, "backup"]), json!({}));
    let e = sync_err(c.shutdown(&gref(&pve, r, Kind::Qemu), 10));
    assert_eq!(e.lock(), Some("backup"), "{e:?}");

    let limited = Client::new(&pve.config_with(
        TlsTrust::CaFile(pve.ca_file.clone()),
        &pve.limited_token_file,
    ))
    .unwrap();
    match sync_err(limited.start(&g)) {
        PveError::PermissionDenied {
            privilege, path, ..
        } => {
            assert_eq!(privilege.as_deref(), Some("VM.PowerMgmt"));
            assert_eq!(path, Some(format!("/vms/{q}")));
        }
        other => panic!("{other:?}"),
    }

    // Any other error keeps PVE's own words.
    pve.fail(
        "POST",
        &format!("/qemu/{q}/status/start"),
        500,
        "VM 42 qmp command failed",
    );
    let e = sync_err(c.start(&g));
    assert!(e.to_string().contains("VM 42 qmp command failed"), "{e}");
}

/// pveproxy's 595 (node unreachable) and 596 (connection broke) carry
/// their reason only in the status line, on every PVE version.
#[test]
fn node_unreachable_reasons_come_from_the_status_line_of_empty_bodies() {
    let pve = fakepve::FakePve::start();
    let c = Client::new(&pve.proxmox_config()).unwrap();
    let q = pve.add_qemu("running", json!({}));
    let g = gref(&pve, q, Kind::Qemu);

    pve.call("set_node_offline", json!([pve.node]), json!({}));
    match sync_err(c.status(&g)) {
        PveError::NodeUnreachable { status, message } => {
            assert_eq!(status, 595);
            assert_eq!(message, "No route to host");
        }
        other => panic!("{other:?}"),
    }
    pve.call("set_node_offline", json!([pve.node, false]), json!({}));

    // Every read attempt breaks the same way.
    pve.fail_after("GET", "/status/current", 596, "Connection timed out", 3);
    match sync_err(c.status(&g)) {
        PveError::NodeUnreachable { status, message } => {
            assert_eq!(status, 596);
            assert_eq!(message, "Connection timed out");
        }
        other => panic!("{other:?}"),
    }
}

/// `qm set --delete X --force` on a running VM: `/pending` says `delete: 2`.
#[test]
fn a_forced_pending_delete_reads_as_deleted_not_as_an_unreadable_config() {
    let pve = fakepve::FakePve::start();
    let c = Client::new(&pve.proxmox_config()).unwrap();
    for kind in [Kind::Qemu, Kind::Lxc] {
        let cfg = json!({"cores": 2, "memory": 512, "description": "going"});
        let v = match kind {
            Kind::Qemu => pve.add_qemu("running", cfg),
            Kind::Lxc => pve.add_lxc("running", cfg),
        };
        pve.set_guest(v, "pending", json!({"description": null, "cores": 4}));
        pve.set_guest(v, "forced_deletes", json!(["description"]));
        let got = c.pending_config(&gref(&pve, v, kind)).unwrap();
        assert_eq!(got.description, None, "{kind:?}");
        assert_eq!(got.cores, Some(4), "{kind:?}");
    }
}

/// PVE answers 400 with `errors.upid = "no such task"` for a task id it has
/// no file for (e.g. after its task log was rotated away).
#[test]
fn an_unknown_task_id_is_task_unknown() {
    let pve = fakepve::FakePve::start();
    let c = Client::new(&pve.proxmox_config()).unwrap();
    let upid = Upid::parse(&format!(
        "UPID:{}:0000ABCD:00012345:65000000:qmstart:100:felhom@pve!agent:",
        pve.node
    ))
    .unwrap();
    match c.task_status_once(&upid) {
        Err(PveError::TaskUnknown { upid: u }) => assert_eq!(u, upid.as_str()),
        other => panic!("{other:?}"),
    }
    match c.wait_task(&upid, DEADLINE) {
        Err(PveError::TaskUnknown { .. }) => {}
        other => panic!("{other:?}"),
    }
}

/// A failing start whose worker logged 1500 lines: the tail attached is the
/// log's real end, with PVE's `TASK ERROR` line last.
#[test]
fn the_log_tail_of_a_long_failed_task_is_its_real_end() {
    let pve = fakepve::FakePve::start();
    let c = Client::new(&pve.proxmox_config()).unwrap();
    let q = pve.add_qemu("stopped", json!({}));
    pve.set_guest(q, "task_log_lines", json!(1500));
    pve.set_guest(q, "start_error", json!("kvm: cannot allocate memory"));
    let upid = c.start(&gref(&pve, q, Kind::Qemu)).unwrap();
    match c.wait_task(&upid, DEADLINE) {
        Err(PveError::TaskFailed { log_tail, .. }) => {
            assert_eq!(log_tail.len(), felhom_agent::proxmox::tasks::LOG_TAIL_LINES);
            assert_eq!(
                log_tail.last().map(String::as_str),
                Some("TASK ERROR: kvm: cannot allocate memory"),
                "{log_tail:?}"
            );
            assert!(log_tail.contains(&"qmstart: progress 1500".to_string()));
        }
        other => panic!("{other:?}"),
    }
}

fn colon_hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// PVE re-issues `pve-ssl.pem` and ACME renews `pveproxy-ssl.pem`: the pin
/// then fails, and the error says which certificate was found, which was
/// pinned, and why.
#[test]
fn a_renewed_certificate_fails_the_pin_naming_both_fingerprints_and_renewal() {
    let pve = fakepve::FakePve::start();
    let old_pin = [0x5Au8; 32];
    let c = Client::new(&pve.config_with(TlsTrust::Fingerprint(old_pin), &pve.token_file)).unwrap();
    let e = c.resources().unwrap_err();
    let text = e.to_string();
    assert!(matches!(e, PveError::Tls(_)), "{e:?}");
    assert!(text.contains(&colon_hex(&old_pin)), "{text}");
    assert!(text.contains(&colon_hex(&pve.fingerprint)), "{text}");
    assert!(text.contains("renew"), "{text}");
    assert!(text.contains("ca_file"), "{text}");
}
