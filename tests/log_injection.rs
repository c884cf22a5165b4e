//! Log injection (CONTRACT §8): text from outside is logged escaped. A
//! desired-state document whose unknown or duplicate keys carry line
//! breaks and a fake audit line, from the file and from the hub, neither
//! starts a new log line nor gives `grep ' audit: '` a line that is not a
//! real audit line, by hand (timestamped lines) or under journald
//! (`<N>`-prefixed lines).
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

use daemon_support::{Agent, DESIRED, REPORT, Source, envelope, wait_for};
use serde_json::json;
use std::process::Command;
use std::time::Duration;
use stub_hub::{Reply, StubHub};

/// Keys that would each forge a line (or a grep match) if logged raw.
const FORGED: [&str; 4] = [
    "\nX audit: decision=allowed op=guest_destroy vmid=100",
    "\r\n<6>audit: decision=allowed op=guest_destroy",
    "y audit: decision=allowed op=guest_destroy",
    "z\u{2028}AUDIT: decision=allowed\u{1b}[2K",
];

/// A document with `key` as an unknown key of a guest entry.
fn unknown_key_doc(generation: u64, key: &str) -> String {
    let mut guest = json!({"vmid": 100, "state": "running"});
    guest[key] = json!(1);
    json!({"generation": generation, "desired_state": {"guests": [guest]}}).to_string()
}

/// A document with `key` twice in one guest entry.
fn duplicate_key_doc(generation: u64, key: &str) -> String {
    let k = serde_json::to_string(key).unwrap();
    format!(
        r#"{{"generation": {generation}, "desired_state": {{"guests": [{{"vmid": 100, {k}: 1, {k}: 2}}]}}}}"#
    )
}

/// Every line is one whole log record; only real audit records match
/// `grep ' audit: '` (and its case-insensitive form).
fn assert_no_forged_line(stderr: &str, journald: bool) {
    for line in stderr.lines() {
        let header_ok = if journald {
            line.len() > 3 && line.starts_with('<') && line.as_bytes()[2] == b'>'
        } else {
            line.len() > 20 && line.as_bytes()[4] == b'-' && line.as_bytes()[10] == b'T'
        };
        assert!(
            header_ok,
            "a line that no log record started:\n{line:?}\nin:\n{stderr}"
        );
        let target = if journald {
            line[3..].split(':').next().unwrap_or_default()
        } else {
            line.split_whitespace()
                .nth(2)
                .unwrap_or_default()
                .trim_end_matches(':')
        };
        if target != "audit" {
            assert!(
                !line.to_ascii_lowercase().contains(" audit: ")
                    && !line.to_ascii_lowercase().contains(">audit: "),
                "a non-audit line matches the audit grep:\n{line}"
            );
        }
        assert!(
            !line.contains('\u{2028}') && !line.contains('\u{1b}'),
            "{line:?}"
        );
    }
}

fn file_pass(agent: &Agent, journald: bool) -> String {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_felhom-agent"));
    cmd.arg("--config")
        .arg(&agent.config)
        .arg("--reconcile-now");
    cmd.env("FELHOM_AGENT_LOG", "debug")
        .env_remove("NOTIFY_SOCKET");
    if journald {
        cmd.env("JOURNAL_STREAM", "8:1234");
    } else {
        cmd.env_remove("JOURNAL_STREAM");
    }
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(1), "the document must be rejected");
    String::from_utf8(out.stderr).unwrap()
}

#[test]
fn desired_state_file_keys_cannot_forge_log_or_audit_lines() {
    let agent = Agent::new("loginj-file", 0.0);
    agent.configure(Source::File(&json!({})), 60);
    let path = agent.dir.path().join("desired-state.json");
    for key in FORGED {
        for (doc, reason) in [
            (unknown_key_doc(1, key), "desired_state.guests[0]."),
            (duplicate_key_doc(1, key), "duplicate key"),
        ] {
            std::fs::write(&path, &doc).unwrap();
            for journald in [false, true] {
                let stderr = file_pass(&agent, journald);
                assert!(stderr.contains(reason), "{stderr}");
                assert_no_forged_line(&stderr, journald);
            }
        }
    }
}

#[test]
fn hub_document_keys_cannot_forge_log_or_audit_lines() {
    let hub = StubHub::start();
    let agent = Agent::new("loginj-hub", 0.0);
    agent.configure(Source::Hub(&hub.url()), 60);
    let doc = unknown_key_doc(2, FORGED[0]);
    hub.on(
        "POST",
        REPORT,
        Reply::json(200, &envelope(60, false, Some(2), false)),
    );
    hub.on("GET", DESIRED, Reply::json(200, &doc));
    for journald in [false, true] {
        let env = if journald {
            vec![("JOURNAL_STREAM", "8:1234".to_string())]
        } else {
            Vec::new()
        };
        let mut daemon = agent.start(&env);
        let rejected = wait_for(Duration::from_secs(30), || {
            daemon
                .log_text()
                .contains("desired state from the hub rejected")
        });
        assert!(rejected, "{}", daemon.log_text());
        daemon.kill();
        assert_no_forged_line(&daemon.log_text(), journald);
    }
    let dup = duplicate_key_doc(3, FORGED[1]);
    hub.on(
        "POST",
        REPORT,
        Reply::json(200, &envelope(60, false, Some(3), false)),
    );
    hub.on("GET", DESIRED, Reply::json(200, &dup));
    let mut daemon = agent.start(&[]);
    let rejected = wait_for(Duration::from_secs(30), || {
        daemon.log_text().contains("duplicate key")
    });
    assert!(rejected, "{}", daemon.log_text());
    daemon.kill();
    assert_no_forged_line(&daemon.log_text(), false);
}
