//! The first HostReport tells the truth (CONTRACT §7): it goes out at start
//! and already lists this node's guests as PVE reports them, never an empty
//! list standing for "not read yet". When PVE cannot be read at start the
//! report still goes out as the heartbeat, without a guest list, and the
//! guests follow as soon as they are read.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "daemon_support/mod.rs"]
mod daemon_support;
#[path = "support/fakepve.rs"]
mod fakepve;
#[path = "support/sshkeys.rs"]
mod sshkeys;
#[path = "support/stub_hub.rs"]
mod stub_hub;

use daemon_support::{Agent, DESIRED, REPORT, Source, envelope};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::time::Duration;
use stub_hub::{Reply, StubHub};

/// The vmids PVE lists on `node` (templates excluded), read with the
/// agent's own client: what "as PVE reports them" means.
fn guests_on(agent: &Agent, node: &str) -> BTreeSet<u64> {
    let client = felhom_agent::proxmox::Client::new(&agent.pve.proxmox_config()).unwrap();
    client
        .resources()
        .unwrap()
        .into_iter()
        .filter(|r| r.node == node && !r.template)
        .map(|r| u64::from(r.vmid))
        .collect()
}

fn reported_vmids(report: &Value) -> BTreeSet<u64> {
    report["guests"]
        .as_array()
        .unwrap_or_else(|| panic!("guests is not a list: {report}"))
        .iter()
        .map(|g| g["vmid"].as_u64().unwrap())
        .collect()
}

fn hub_answering() -> StubHub {
    let hub = StubHub::start();
    hub.on(
        "POST",
        REPORT,
        Reply::json(200, &envelope(60, false, None, false)),
    );
    hub.on("GET", DESIRED, Reply::status(404));
    hub
}

#[test]
fn the_first_report_lists_this_nodes_guests_and_none_of_another_nodes() {
    let hub = hub_answering();
    let agent = Agent::new("firstreport", 0.0);
    let here = agent
        .pve
        .add_qemu("running", json!({"cores": 2, "memory": 1024}));
    let there = agent
        .pve
        .add_lxc_on("pve2", "running", json!({"cores": 1, "memory": 256}));
    let expected = guests_on(&agent, "pve1");
    assert!(expected.contains(&u64::from(here)));
    assert!(!expected.contains(&u64::from(there)));
    agent.configure(Source::Hub(&hub.url()), 60);
    let mut daemon = agent.start(&[]);
    assert!(hub.wait_until(Duration::from_secs(30), |r| {
        r.iter().any(|q| q.path == REPORT)
    }));
    let first = hub.requests_to("POST", REPORT)[0].json();
    assert_eq!(
        reported_vmids(&first),
        expected,
        "the first report must list this node's guests: {first}"
    );
    let guest = first["guests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["vmid"] == here)
        .unwrap()
        .clone();
    assert_eq!(guest["kind"], "qemu");
    assert_eq!(guest["status"], "running");
    assert_eq!(guest["spec"]["memory_bytes"], 1024u64 * 1024 * 1024);
    daemon.assert_alive();
}

#[test]
fn when_pve_is_unreadable_at_start_the_heartbeat_goes_out_and_the_guests_follow_once_read() {
    let hub = hub_answering();
    let agent = Agent::new("firstreportdown", 0.0);
    let here = agent
        .pve
        .add_lxc("stopped", json!({"cores": 1, "memory": 256}));
    let expected = guests_on(&agent, "pve1");
    // Every attempt of the start-up read fails (the client tries a read
    // three times); the first pass's read succeeds.
    agent.pve.call(
        "fail",
        json!(["GET", "/cluster/resources"]),
        json!({"status": 500, "message": "pvestatd not answering", "times": 3}),
    );
    agent.configure(Source::Hub(&hub.url()), 60);
    let mut daemon = agent.start(&[]);
    assert!(hub.wait_until(Duration::from_secs(30), |r| {
        r.iter().any(|q| q.path == REPORT)
    }));
    let first = hub.requests_to("POST", REPORT)[0].json();
    assert_eq!(
        first["guests"],
        Value::Null,
        "a report sent before PVE was read must not claim a guest list: {first}"
    );
    // The hub asked for a 60 s interval; the guests must not wait for it.
    assert!(
        hub.wait_until(Duration::from_secs(20), |r| {
            r.iter().filter(|q| q.path == REPORT).count() >= 2
        }),
        "no report carried the guests once they were read"
    );
    let second = hub.requests_to("POST", REPORT)[1].json();
    assert_eq!(reported_vmids(&second), expected, "{second}");
    assert!(expected.contains(&u64::from(here)));
    std::thread::sleep(Duration::from_secs(2));
    daemon.assert_alive();
    assert_eq!(
        hub.requests_to("POST", REPORT).len(),
        2,
        "only the one extra report that carries the guests"
    );
}
