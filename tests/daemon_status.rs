//! The daemon's side of CONTRACT §12: the metrics file is replaced whole
//! (a reader polling it during passes never sees a partial file), and hub
//! rounds record the hub's contact, error and block for `--status` and the
//! metrics file, across a restart.
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
#[path = "support/prom_text.rs"]
mod prom_text;
#[path = "support/sshkeys.rs"]
mod sshkeys;
#[path = "support/stub_hub.rs"]
mod stub_hub;

use daemon_support::{Agent, DESIRED, REPORT, Source, envelope, wait_for};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use stub_hub::{Reply, StubHub};

/// Adds `metrics_file` (in its own directory) to the agent's config.
fn with_metrics(agent: &Agent) -> PathBuf {
    let dir = agent.dir.path().join("textfile");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("felhom-agent.prom");
    let mut cfg: Value = serde_json::from_slice(&std::fs::read(&agent.config).unwrap()).unwrap();
    cfg["metrics_file"] = json!(path);
    std::fs::write(&agent.config, cfg.to_string()).unwrap();
    path
}

fn status(agent: &Agent) -> Value {
    let out = agent.run(&["--status", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn a_reader_polling_the_metrics_file_during_passes_never_sees_a_partial_file() {
    let agent = Agent::new("metrics-atomic", 0.0);
    let vmid = agent
        .pve
        .add_qemu("stopped", json!({"cores": 1, "memory": 512}));
    let doc = json!({"generation": 1, "desired_state": {"guests": [
        {"vmid": vmid, "state": "running", "description": "polled"}]}});
    agent.configure(Source::File(&doc), 1);
    let path = with_metrics(&agent);
    let mut daemon = agent.start(&[]);
    let until = Instant::now() + Duration::from_secs(6);
    let mut versions = BTreeSet::new();
    let mut reads = 0u64;
    while Instant::now() < until {
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                let m = prom_text::parse(&text)
                    .unwrap_or_else(|e| panic!("a reader saw a partial file ({e}):\n{text}"));
                let at = m.value("felhom_agent_last_pass_timestamp_seconds", &[]);
                assert!(at > 0.0, "{text}");
                assert!(
                    m.family("felhom_agent_hub_last_success_timestamp_seconds")
                        .is_some()
                );
                versions.insert(text);
                reads += 1;
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                assert!(versions.is_empty(), "the file disappeared between passes");
            }
            Err(e) => panic!("{e}"),
        }
    }
    daemon.assert_alive();
    assert!(
        versions.len() >= 3,
        "the file was replaced {} times in 6 s of 1 s passes",
        versions.len()
    );
    assert!(
        reads > 10 * versions.len() as u64,
        "the reader polled {reads} times only"
    );
    let names: Vec<String> = std::fs::read_dir(path.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert!(
        names
            .iter()
            .all(|n| n == "felhom-agent.prom" || n.starts_with(".felhom-agent.prom.tmp.")),
        "{names:?}"
    );
}

#[test]
fn hub_rounds_record_contact_error_and_block_for_status_and_metrics_across_a_restart() {
    let hub = StubHub::start();
    hub.on(
        "POST",
        REPORT,
        Reply::json(200, &envelope(60, true, None, false)),
    );
    hub.on("GET", DESIRED, Reply::status(404));
    let agent = Agent::new("hub-status", 0.0);
    agent.configure(Source::Hub(&hub.url()), 60);
    let path = with_metrics(&agent);
    let t0 = felhom_agent::time::now_unix();
    let mut daemon = agent.start(&[]);
    let contacted = wait_for(Duration::from_secs(20), || {
        std::fs::read_to_string(&path)
            .ok()
            .and_then(|t| prom_text::parse(&t).ok())
            .is_some_and(|m| {
                m.value("felhom_agent_hub_last_success_timestamp_seconds", &[]) > 0.0
                    && m.value("felhom_agent_hub_blocked", &[]) == 1.0
            })
    });
    assert!(contacted, "no hub round reached the metrics file");
    let m = prom_text::parse(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(m.value("felhom_agent_hub_configured", &[]), 1.0);
    let last = m.value("felhom_agent_hub_last_success_timestamp_seconds", &[]);
    assert!(last >= t0 as f64 && last <= felhom_agent::time::now_unix() as f64);
    let doc = status(&agent);
    assert_eq!(doc["hub"]["configured"], true);
    assert_eq!(doc["hub"]["blocked"], true);
    assert_eq!(doc["hub"]["last_error"], Value::Null);
    let contact = doc["hub"]["last_contact_at"].clone();
    assert!(contact.is_string(), "{doc}");
    let human = agent.run(&["--status"]);
    let human = String::from_utf8_lossy(&human.stdout);
    assert!(human.contains("hub: last contact"), "{human}");
    assert!(human.contains("BLOCKED"), "{human}");
    daemon.kill();

    // Restarted while the hub fails its first report: the error shows,
    // and the retried good report clears it.
    hub.once("POST", REPORT, Reply::status(503));
    let mut daemon = agent.start(&[]);
    let failing = wait_for(Duration::from_secs(20), || {
        status(&agent)["hub"]["last_error"].is_string()
    });
    assert!(failing, "the failed report was not recorded");
    let doc = status(&agent);
    assert!(
        doc["hub"]["last_error"].as_str().unwrap().contains("503"),
        "{doc}"
    );
    let recovered = wait_for(Duration::from_secs(20), || {
        status(&agent)["hub"]["last_error"].is_null()
    });
    assert!(recovered, "a good report did not clear the error");
    let doc = status(&agent);
    assert_ne!(doc["hub"]["last_contact_at"], Value::Null);
    assert!(doc["hub"]["last_contact_at"].as_str() >= contact.as_str());
    daemon.assert_alive();
}
