//! The two-person rule through the daemon and the hub (CONTRACT §7, §11):
//! hub jobs carrying signatures over one blob accumulate as approvals of
//! one queued op, the op runs once, and every such job is deleted on the
//! hub after that single execution. Approvals held in the journal survive
//! a restart, and `STATUS=` names the op while it waits.
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

use daemon_support::{
    Agent, DESIRED, HOST, JOBS, NotifySocket, REPORT, Source, envelope, job, wait_for,
};
use felhom_agent::journal::{self, Record};
use serde_json::{Value, json};
use std::time::Duration;
use stub_hub::{Reply, StubHub};

const DELETE_ANY: &str = "/api/v1/hosts/pve1/jobs/*";

fn deletes_of(hub: &StubHub, id: &str) -> usize {
    hub.requests_to("DELETE", &format!("{JOBS}/{id}")).len()
}

/// Adds `bob` to the operational file and sets `authz.approvals`.
fn two_person_rule(agent: &Agent) -> sshkeys::Key {
    let bob = sshkeys::keygen(&agent.dir, "bob");
    let path = agent.dir.path().join("operational");
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str(&format!(
        "bob namespaces=\"felhom-op-v1\" {}\n",
        bob.public()
    ));
    std::fs::write(&path, text).unwrap();
    let mut cfg: Value = serde_json::from_slice(&std::fs::read(&agent.config).unwrap()).unwrap();
    cfg["authz"]["approvals"] = json!({"guest_destroy": 2});
    std::fs::write(&agent.config, cfg.to_string()).unwrap();
    bob
}

fn records(agent: &Agent) -> Vec<Record> {
    journal::read_records(&agent.state_dir.join(journal::JOURNAL_FILE))
        .unwrap()
        .into_iter()
        .map(|(_, r)| r)
        .collect()
}

#[test]
fn hub_jobs_over_one_blob_accumulate_and_both_are_deleted_after_the_single_execution() {
    let hub = StubHub::start();
    let agent = Agent::new("ap-hubjobs", 0.0);
    let vmid = agent
        .pve
        .add_lxc("stopped", json!({"cores": 1, "memory": 256}));
    let (blob, sig) = agent.signed("guest_destroy", json!({"purge": true}), HOST, vmid);
    hub.on(
        "POST",
        REPORT,
        Reply::json(200, &envelope(60, false, None, true)),
    );
    hub.on("GET", DESIRED, Reply::status(404));
    hub.on(
        "GET",
        JOBS,
        Reply::json_value(200, &json!({"jobs": [job("j1", &blob, &sig)]})),
    );
    hub.on("DELETE", DELETE_ANY, Reply::status(204));
    agent.configure(Source::Hub(&hub.url()), 1);
    let bob = two_person_rule(&agent);

    // One approval: the op is queued and held; STATUS= names it.
    let socket = NotifySocket::bind(agent.dir.path());
    let notify = [("NOTIFY_SOCKET", socket.path.display().to_string())];
    let mut daemon = agent.start(&notify);
    let mut status = Vec::new();
    assert!(
        wait_for(Duration::from_secs(30), || {
            status.extend(socket.collect(Duration::from_millis(200)));
            status
                .iter()
                .any(|m| m.contains(&format!("guest_destroy {vmid}: 1 of 2 approvals")))
        }),
        "{status:?}"
    );
    daemon.assert_alive();
    daemon.kill();
    assert_eq!(agent.pve.guest(vmid)["exists"], json!(true));
    assert_eq!(deletes_of(&hub, "j1"), 0, "a held job stays on the hub");

    // The hub now also carries bob's signature over the same bytes. After
    // a restart (the approval held in the journal survives it) both jobs
    // are fetched: j1 is the same approval again, j2 the second signer.
    let bob_sig = sshkeys::sign(&agent.dir, &bob, &blob, "felhom-op-v1", None);
    hub.on(
        "GET",
        JOBS,
        Reply::json_value(
            200,
            &json!({"jobs": [job("j1", &blob, &sig), job("j2", &blob, &bob_sig)]}),
        ),
    );
    let mut daemon = agent.start(&[]);
    assert!(wait_for(Duration::from_secs(30), || {
        agent.pve.guest(vmid)["exists"] == json!(false)
    }));
    assert!(hub.wait_until(Duration::from_secs(20), |_| {
        deletes_of(&hub, "j1") == 1 && deletes_of(&hub, "j2") == 1
    }));
    std::thread::sleep(Duration::from_secs(2));
    daemon.assert_alive();
    let log = daemon.log_text();
    daemon.kill();
    assert_eq!(agent.pve.mutating_requests_for(vmid), 1, "one DELETE");
    let recs = records(&agent);
    let added = recs
        .iter()
        .filter(|r| matches!(r, Record::ApprovalAdded { source, .. } if source == "hub:j2"))
        .count();
    assert_eq!(added, 1, "{recs:?}");
    let consumed = recs
        .iter()
        .filter(|r| matches!(r, Record::NonceConsumed { .. }))
        .count();
    assert_eq!(consumed, 1);
    assert!(
        log.lines()
            .any(|l| l.contains("decision=allowed") && l.contains("signer=operator@test,bob")),
        "{log}"
    );
}
