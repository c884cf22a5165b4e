//! The example alert rules shipped in `dist/` (README "Metrics and
//! alerting"): `promtool check rules` accepts them, `promtool test rules`
//! proves each alert silent before its threshold and firing after it, and
//! every metric they name is one the agent writes.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Output};

const RULES: &str = "dist/felhom-agent.rules.yml";
const RULE_TESTS: &str = "tests/fixtures/alert-rules.test.yml";
const HINT: &str = "promtool is needed to check the alert rules: apt-get install prometheus \
    (bash tests/run.sh installs it when run as root)";

fn promtool(args: &[&str]) -> Output {
    let out = Command::new("promtool")
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap_or_else(|e| panic!("cannot run promtool ({e}): {HINT}"));
    assert!(
        out.status.success(),
        "promtool {args:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

#[test]
fn promtool_accepts_the_shipped_rules() {
    let out = promtool(&["check", "rules", RULES]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("SUCCESS: 4 rules found"));
}

#[test]
fn each_alert_fires_after_its_threshold_and_not_before() {
    promtool(&["test", "rules", RULE_TESTS]);
}

#[test]
fn the_rules_name_only_metrics_the_agent_writes() {
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(RULES)).unwrap();
    let written = felhom_agent::metrics::render(&felhom_agent::metrics::Snapshot::default());
    let families: BTreeSet<&str> = written
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split(' ').next())
        .collect();
    let mut named = BTreeSet::new();
    for line in text.lines().filter(|l| l.trim_start().starts_with("expr:")) {
        let mut rest = line;
        while let Some(at) = rest.find("felhom_agent_") {
            let tail = &rest[at..];
            let end = tail
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(tail.len());
            named.insert(tail[..end].to_string());
            rest = &tail[end..];
        }
    }
    assert!(named.len() >= 5, "{named:?}");
    for name in &named {
        assert!(families.contains(name.as_str()), "{name} is not written");
    }
}
