//! The daemon as systemd runs it, without a hub: sd_notify order, start-up
//! refusal on a damaged journal, one-shot modes beside a running daemon,
//! SIGKILL mid-pass and restart, a Proxmox outage.
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

use daemon_support::{Agent, NotifySocket, Source, wait_for};
use serde_json::{Value, json};
use std::time::Duration;

fn desired(generation: u64, guests: Value) -> Value {
    json!({"generation": generation, "desired_state": {"guests": guests}})
}

fn status(agent: &Agent, vmid: u32) -> String {
    agent.pve.guest(vmid)["status"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// PVE config values come back as numbers or strings.
fn cores(guest: &Value) -> Option<u64> {
    let v = &guest["config"]["cores"];
    v.as_u64()
        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
}

fn start_posts(agent: &Agent, vmid: u32) -> usize {
    let suffix = format!("/{vmid}/status/start");
    agent
        .pve
        .requests()
        .iter()
        .filter(|(m, p)| m == "POST" && p.ends_with(&suffix))
        .count()
}

#[test]
fn sd_notify_sends_ready_first_then_status_and_watchdog_pings() {
    let agent = Agent::new("notify", 0.0);
    let vmid = agent
        .pve
        .add_qemu("stopped", json!({"cores": 1, "memory": 512}));
    agent.configure(
        Source::File(&desired(1, json!([{"vmid": vmid, "state": "running"}]))),
        1,
    );
    let socket = NotifySocket::bind(agent.dir.path());
    let mut daemon = agent.start(&[
        ("NOTIFY_SOCKET", socket.path.display().to_string()),
        ("WATCHDOG_USEC", "1000000".to_string()),
    ]);
    let messages = socket.collect(Duration::from_secs(4));
    daemon.assert_alive();
    assert_eq!(
        messages.first().map(String::as_str),
        Some("READY=1"),
        "{messages:?}"
    );
    assert_eq!(messages.iter().filter(|m| *m == "READY=1").count(), 1);
    assert!(
        messages.iter().any(|m| m.starts_with("STATUS=last pass ")),
        "no pass summary in {messages:?}"
    );
    // 1 s watchdog: a ping every half second while both loops beat.
    let pings = messages.iter().filter(|m| *m == "WATCHDOG=1").count();
    assert!(pings >= 3, "only {pings} watchdog pings in {messages:?}");
    assert_eq!(status(&agent, vmid), "running");
}

#[test]
fn without_watchdog_usec_no_watchdog_pings_are_sent() {
    let agent = Agent::new("nowatchdog", 0.0);
    agent.configure(Source::File(&desired(1, json!([]))), 1);
    let socket = NotifySocket::bind(agent.dir.path());
    let mut daemon = agent.start(&[("NOTIFY_SOCKET", socket.path.display().to_string())]);
    let messages = socket.collect(Duration::from_secs(2));
    daemon.assert_alive();
    assert_eq!(messages.first().map(String::as_str), Some("READY=1"));
    assert!(!messages.iter().any(|m| m == "WATCHDOG=1"), "{messages:?}");
}

#[test]
fn a_damaged_journal_exits_65_before_ready() {
    let agent = Agent::new("damaged", 0.0);
    agent.configure(Source::File(&desired(1, json!([]))), 1);
    std::fs::write(agent.state_dir.join("journal"), vec![b'A'; 4096]).unwrap();
    let socket = NotifySocket::bind(agent.dir.path());
    let mut daemon = agent.start(&[("NOTIFY_SOCKET", socket.path.display().to_string())]);
    let exited = wait_for(Duration::from_secs(20), || {
        daemon.child.try_wait().unwrap().is_some()
    });
    assert!(exited, "daemon kept running on a damaged journal");
    let code = daemon.child.wait().unwrap().code();
    assert_eq!(code, Some(65), "log:\n{}", daemon.log_text());
    let messages = socket.collect(Duration::from_millis(300));
    assert!(!messages.iter().any(|m| m == "READY=1"), "{messages:?}");
    assert_eq!(
        std::fs::read(agent.state_dir.join("journal")).unwrap(),
        vec![b'A'; 4096],
        "the damaged journal must be left untouched"
    );
}

#[test]
fn reconcile_now_and_submit_succeed_beside_a_running_daemon() {
    let agent = Agent::new("beside", 0.0);
    let managed = agent
        .pve
        .add_qemu("stopped", json!({"cores": 1, "memory": 512}));
    let other = agent
        .pve
        .add_lxc("running", json!({"cores": 1, "memory": 256}));
    agent.configure(
        Source::File(&desired(1, json!([{"vmid": managed, "state": "running"}]))),
        1,
    );
    let mut daemon = agent.start(&[]);
    assert!(wait_for(Duration::from_secs(30), || status(
        &agent, managed
    ) == "running"));
    for _ in 0..3 {
        let out = agent.run(&["--reconcile-now"]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let (blob, sig) = agent.signed(
        "set_config",
        json!({"description": "signed beside the daemon"}),
        daemon_support::HOST,
        other,
    );
    let blob_path = agent.dir.write("op.json", &blob);
    let sig_path = agent.dir.write("op.json.sig", &sig);
    let out = agent.run(&[
        "--submit",
        blob_path.to_str().unwrap(),
        sig_path.to_str().unwrap(),
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let described = wait_for(Duration::from_secs(30), || {
        agent.pve.guest(other)["config"]["description"]
            .as_str()
            .is_some_and(|d| d.trim_end() == "signed beside the daemon")
    });
    assert!(described, "the daemon did not execute the submitted op");
    daemon.assert_alive();
    daemon.kill();
    assert_eq!(agent.run(&["--journal-verify"]).status.code(), Some(0));
}

#[test]
fn sigkill_mid_pass_then_restart_recovers_and_converges() {
    let agent = Agent::new("sigkill", 0.01);
    let guests: Vec<u32> = (0..3)
        .map(|_| {
            agent
                .pve
                .add_qemu("stopped", json!({"cores": 1, "memory": 512}))
        })
        .collect();
    for &g in &guests {
        // 300 PVE seconds at scale 0.01: each start task runs for 3 s.
        agent.pve.set_guest(g, "start_secs", json!(300));
    }
    let wanted: Vec<Value> = guests
        .iter()
        .map(|g| json!({"vmid": g, "state": "running", "cores": 2}))
        .collect();
    agent.configure(Source::File(&desired(1, json!(wanted))), 1);
    let mut first = agent.start(&[]);
    let started = wait_for(Duration::from_secs(30), || {
        guests.iter().any(|&g| start_posts(&agent, g) > 0)
    });
    assert!(started, "no start task was issued");
    first.kill();
    let mut second = agent.start(&[]);
    let converged = wait_for(Duration::from_secs(60), || {
        guests.iter().all(|&g| {
            let guest = agent.pve.guest(g);
            guest["status"] == "running" && cores(&guest) == Some(2)
        })
    });
    assert!(converged, "not converged after restart");
    // Converged means stable: further passes change nothing.
    let before = agent.pve.mutating_requests();
    std::thread::sleep(Duration::from_secs(3));
    second.assert_alive();
    assert_eq!(agent.pve.mutating_requests(), before);
    for &g in &guests {
        assert!(start_posts(&agent, g) >= 1);
    }
    second.kill();
    let verify = agent.run(&["--journal-verify"]);
    assert_eq!(
        verify.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&verify.stderr)
    );
    assert!(
        second.log_text().contains("recovery"),
        "the restarted daemon did not report recovery:\n{}",
        second.log_text()
    );
}

#[test]
fn a_proxmox_outage_fails_passes_cleanly_and_reconcile_resumes() {
    let agent = Agent::new("pvedown", 0.0);
    let vmid = agent
        .pve
        .add_qemu("stopped", json!({"cores": 1, "memory": 512}));
    agent.pve.call(
        "fail",
        json!(["GET", "/cluster/resources"]),
        json!({"status": 500, "message": "pveproxy down", "times": 15}),
    );
    agent.configure(
        Source::File(&desired(1, json!([{"vmid": vmid, "state": "running"}]))),
        1,
    );
    let mut daemon = agent.start(&[]);
    assert!(
        wait_for(Duration::from_secs(60), || status(&agent, vmid)
            == "running"),
        "reconcile did not resume after the outage"
    );
    daemon.assert_alive();
    assert!(
        daemon
            .log_text()
            .contains("cannot read guests from Proxmox"),
        "no pass failed during the outage:\n{}",
        daemon.log_text()
    );
}
