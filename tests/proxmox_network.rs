//! A flaky network (connections reset, answers that never come) against a
//! real fakepve. Network faults are server-wide, so this file has its own
//! fakepve and runs its scenarios in sequence.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "support/fakepve.rs"]
mod fakepve;

use std::time::Duration;

use felhom_agent::proxmox::{Client, GuestRef, Kind, PveError};
use serde_json::json;

fn network(pve: &fakepve::FakePve, drop_rate: f64, hang_rate: f64) {
    pve.call(
        "flaky_network",
        json!([]),
        json!({"drop_rate": drop_rate, "hang_rate": hang_rate, "hang_secs": 1000, "seed": 7}),
    );
}

#[test]
fn flaky_and_hanging_network_give_typed_errors_and_never_repeat_a_mutation() {
    let pve = fakepve::FakePve::start();
    let mut cfg = pve.proxmox_config();
    cfg.timeout = Duration::from_millis(500);
    let c = Client::new(&cfg).unwrap();
    let vmid = pve.add_qemu("stopped", json!({}));
    let g = GuestRef {
        vmid,
        node: pve.node.clone(),
        kind: Kind::Qemu,
    };

    // Every connection reset: reads give up after 3 attempts, start is sent once.
    network(&pve, 1.0, 0.0);
    let before = c.request_count();
    let e = c.resources().unwrap_err();
    assert!(
        matches!(e, PveError::Transport(_)) && e.is_transient(),
        "{e:?}"
    );
    assert_eq!(c.request_count() - before, 3);
    let before = c.request_count();
    let e = c.start(&g).unwrap_err();
    assert!(matches!(e, PveError::Transport(_)), "{e:?}");
    assert_eq!(c.request_count() - before, 1, "start was retried");

    // Every answer hangs: a timeout, not a hang of the client.
    network(&pve, 0.0, 1.0);
    let before = c.request_count();
    assert_eq!(c.stop(&g).unwrap_err(), PveError::Timeout);
    assert_eq!(c.request_count() - before, 1, "stop was retried");

    // A third of connections reset: reads mostly recover by retrying, and
    // every failure is a typed transient error.
    network(&pve, 0.33, 0.0);
    let mut ok = 0;
    for _ in 0..12 {
        match c.resources() {
            Ok(list) => {
                assert!(list.iter().any(|r| r.vmid == vmid));
                ok += 1;
            }
            Err(e) => assert!(e.is_transient(), "{e:?}"),
        }
    }
    assert!(ok >= 6, "only {ok} of 12 reads recovered");

    // The network heals: everything works again on the same client.
    network(&pve, 0.0, 0.0);
    assert_eq!(
        pve.guest(vmid)["status"],
        json!("stopped"),
        "a dropped start ran"
    );
    let upid = c.start(&g).unwrap();
    c.wait_task(&upid, Duration::from_secs(30)).unwrap();
    assert!(c.status(&g).unwrap().is_running());
}

#[test]
fn five_hundred_guests_fit_in_one_resources_read() {
    let pve = fakepve::FakePve::start_with(fakepve::Options {
        qemu: 300,
        lxc: 200,
        ..fakepve::Options::default()
    });
    let c = Client::new(&pve.proxmox_config()).unwrap();
    let list = c.resources().unwrap();
    assert_eq!(list.len(), 500);
    assert_eq!(list.iter().filter(|r| r.kind == Kind::Lxc).count(), 200);
    assert_eq!(c.request_count(), 1);
}
