//! The metrics file (CONTRACT §12) after `--reconcile-now` passes: strict
//! exposition format, every listed gauge with HELP and TYPE, each value
//! equal to what the pass reported; `promtool check metrics` agrees; a bad
//! `metrics_file` is a configuration error at its JSON path.
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
#[path = "support/prom_text.rs"]
mod prom_text;
#[path = "support/sshkeys.rs"]
mod sshkeys;

use agent::{Agent, BlobSpec};
use fakepve::{FakePve, Options};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The gauges CONTRACT §12 lists, all of which must be present.
const LISTED: [&str; 11] = [
    "felhom_agent_info",
    "felhom_agent_last_pass_timestamp_seconds",
    "felhom_agent_last_pass_duration_seconds",
    "felhom_agent_last_pass_actions",
    "felhom_agent_pending_signature",
    "felhom_agent_queued_ops",
    "felhom_agent_guests",
    "felhom_agent_desired_generation",
    "felhom_agent_journal_bytes",
    "felhom_agent_hub_blocked",
    "felhom_agent_hub_last_success_timestamp_seconds",
];

const PROMTOOL_HINT: &str = "promtool is needed to check the metrics file and the alert rules: \
    apt-get install prometheus (bash tests/run.sh installs it when run as root)";

/// `promtool` must be there: a missing tool fails the test, never skips it.
pub fn promtool() -> Command {
    let ok = Command::new("promtool")
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(ok, "{PROMTOOL_HINT}");
    Command::new("promtool")
}

fn metrics_agent(pve: &FakePve, tag: &str) -> (Agent, PathBuf) {
    let mut a = Agent::new(pve, tag);
    let dir = a.dir.path().join("textfile");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("felhom-agent.prom");
    a.config["metrics_file"] = json!(path);
    a.write_config();
    (a, path)
}

fn read(path: &Path) -> prom_text::Exposition {
    let text = std::fs::read_to_string(path).unwrap();
    prom_text::parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

fn count(doc: &Value, key: &str, value: &str) -> f64 {
    doc["actions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a[key] == value)
        .count() as f64
}

/// Every gauge against the pass document `doc`, run between `t0` and `t1`.
fn check_against_pass(m: &prom_text::Exposition, doc: &Value, t0: i64, t1: i64) {
    for name in LISTED {
        let f = m.family(name).unwrap_or_else(|| panic!("no {name}"));
        assert_eq!(f.kind.as_deref(), Some("gauge"), "{name}");
        assert!(!f.help.as_deref().unwrap_or_default().is_empty(), "{name}");
    }
    let version = env!("CARGO_PKG_VERSION");
    assert_eq!(m.value("felhom_agent_info", &[("version", version)]), 1.0);
    let at = m.value("felhom_agent_last_pass_timestamp_seconds", &[]);
    assert!(at >= t0 as f64 && at <= t1 as f64, "{at} not in {t0}..{t1}");
    let took = m.value("felhom_agent_last_pass_duration_seconds", &[]);
    assert!(took >= 0.0 && took <= (t1 - t0 + 1) as f64, "{took}");
    for outcome in ["planned", "succeeded", "failed", "skipped"] {
        assert_eq!(
            m.value("felhom_agent_last_pass_actions", &[("outcome", outcome)]),
            count(doc, "outcome", outcome),
            "{outcome}"
        );
    }
    assert_eq!(
        m.value("felhom_agent_pending_signature", &[]),
        count(doc, "decision", "pending_signature")
    );
    let listed = |k: &str| doc[k].as_array().unwrap().len() as f64;
    assert_eq!(
        m.value("felhom_agent_guests", &[("state", "unmanaged")]),
        listed("unmanaged")
    );
    assert_eq!(
        m.value("felhom_agent_guests", &[("state", "missing")]),
        listed("missing")
    );
    assert_eq!(
        m.value("felhom_agent_desired_generation", &[]),
        doc["generation"].as_f64().unwrap()
    );
    assert_eq!(
        m.value("felhom_agent_last_pass_errors", &[]),
        listed("errors")
    );
    assert_eq!(
        m.value("felhom_agent_hub_last_success_timestamp_seconds", &[]),
        0.0
    );
    assert_eq!(
        m.value("felhom_agent_reconcile_interval_seconds", &[]),
        60.0
    );
}

#[test]
fn every_listed_gauge_equals_what_the_pass_reported_blocked_or_not() {
    let pve = FakePve::start_with(Options {
        qemu: 0,
        lxc: 0,
        ..Options::default()
    });
    let up = pve.add_qemu("stopped", json!({"cores": 1, "memory": 512}));
    let broken = pve.add_qemu("stopped", json!({"cores": 1, "memory": 512}));
    pve.set_guest(
        broken,
        "start_error",
        json!("kvm: failed to allocate memory"),
    );
    let doomed = pve.add_lxc("stopped", json!({"cores": 1, "memory": 256}));
    let _unmanaged = pve.add_lxc("running", json!({"cores": 1, "memory": 256}));
    let (a, path) = metrics_agent(&pve, "metrics-pass");
    a.write_desired(
        4,
        json!([{"vmid": up, "state": "running"}, {"vmid": broken, "state": "running"},
               {"vmid": doomed, "state": "absent", "purge": true},
               {"vmid": 99_001, "state": "running"}]),
    );
    let t0 = felhom_agent::time::now_unix();
    let run = a.pass();
    let t1 = felhom_agent::time::now_unix();
    assert_eq!(run.code, 1, "a start failed: {}", run.stdout);
    let doc = run.json();
    let m = read(&path);
    check_against_pass(&m, &doc, t0, t1);
    assert_eq!(
        m.value(
            "felhom_agent_last_pass_actions",
            &[("outcome", "succeeded")]
        ),
        1.0
    );
    assert_eq!(
        m.value("felhom_agent_last_pass_actions", &[("outcome", "failed")]),
        1.0
    );
    assert_eq!(m.value("felhom_agent_pending_signature", &[]), 1.0);
    assert_eq!(m.value("felhom_agent_guests", &[("state", "managed")]), 3.0);
    assert_eq!(
        m.value("felhom_agent_guests", &[("state", "unmanaged")]),
        1.0
    );
    assert_eq!(m.value("felhom_agent_guests", &[("state", "missing")]), 1.0);
    assert_eq!(m.value("felhom_agent_desired_generation", &[]), 4.0);
    assert_eq!(m.value("felhom_agent_queued_ops", &[]), 0.0);
    assert_eq!(m.value("felhom_agent_hub_blocked", &[]), 0.0);
    assert_eq!(
        m.value("felhom_agent_journal_bytes", &[]),
        a.journal_bytes().len() as f64
    );
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&path).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o644, "the collector's user must read it");
    let lint = promtool()
        .args(["check", "metrics"])
        .stdin(std::fs::File::open(&path).unwrap())
        .output()
        .unwrap();
    assert!(
        lint.status.success(),
        "promtool check metrics: {}{}",
        String::from_utf8_lossy(&lint.stdout),
        String::from_utf8_lossy(&lint.stderr)
    );

    // Blocked by the hub, with a signed op queued: nothing runs, the op
    // stays queued, and the file says so.
    std::fs::write(a.state_dir.join("hub-blocked"), b"").unwrap();
    let spec = BlobSpec::new("guest_destroy", json!({"purge": true}), Some(doomed));
    let sub = a.submit(&a.sign(&a.alice, &spec.build_now()));
    assert_eq!(sub.code, 0, "{}", sub.stderr);
    let t0 = felhom_agent::time::now_unix();
    let run = a.pass();
    let t1 = felhom_agent::time::now_unix();
    let doc = run.json();
    let m = read(&path);
    check_against_pass(&m, &doc, t0, t1);
    assert_eq!(m.value("felhom_agent_hub_blocked", &[]), 1.0);
    assert_eq!(m.value("felhom_agent_queued_ops", &[]), 1.0);
    assert_eq!(
        m.value(
            "felhom_agent_last_pass_actions",
            &[("outcome", "succeeded")]
        ),
        0.0
    );
    assert_eq!(
        m.value("felhom_agent_journal_bytes", &[]),
        a.journal_bytes().len() as f64
    );
    let status = a.run(&["--status", "--json"]).json();
    assert_eq!(status["hub"]["blocked"], true);
    assert_eq!(status["queued"][0]["nonce"], spec.nonce);
}

#[test]
fn plan_writes_no_metrics_and_a_missing_directory_does_not_fail_the_pass() {
    let pve = FakePve::start_with(Options {
        qemu: 1,
        lxc: 0,
        ..Options::default()
    });
    let (mut a, path) = metrics_agent(&pve, "metrics-plan");
    let plan = a.run(&["--plan", "--json"]);
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    assert!(!path.exists(), "--plan wrote the metrics file");
    let gone = a.dir.path().join("no-such-dir/felhom-agent.prom");
    a.config["metrics_file"] = json!(gone);
    a.write_config();
    let run = a.pass();
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr.contains("metrics_file: cannot write"),
        "{}",
        run.stderr
    );
    assert!(a.state_dir.join("status.json").exists());
}

#[test]
fn a_bad_metrics_file_is_a_configuration_error_naming_the_key() {
    let pve = FakePve::start_with(Options {
        qemu: 0,
        lxc: 0,
        ..Options::default()
    });
    let mut a = Agent::new(&pve, "metrics-config");
    for bad in [json!("relative.prom"), json!(12), json!("/tmp/dir/")] {
        a.config["metrics_file"] = bad.clone();
        a.write_config();
        let run = a.run(&["--check-config"]);
        assert_eq!(run.code, 78, "{bad}: {}", run.stderr);
        assert!(run.stderr.contains("metrics_file"), "{bad}: {}", run.stderr);
    }
    a.config["metrics_file"] = json!(a.state_dir.join("journal"));
    a.write_config();
    assert_eq!(a.run(&["--status"]).code, 78);
}
