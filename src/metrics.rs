//! `metrics`: the Prometheus text file (CONTRACT §12) that node_exporter's
//! textfile collector reads.
//!
//! Owns: the exposition text and the replacement of `metrics_file`.
//! Trusts: the [`Snapshot`] it is given (built by `status` from the agent's
//! own files).
//!
//! Format: Prometheus text exposition 0.0.4. Every family is written as
//! `# HELP`, `# TYPE … gauge`, then its samples, one family after another,
//! each series once; the file ends with a newline. HELP text escapes `\`
//! and newline; label values escape `\`, `"` and newline. Values are
//! decimal integers except the pass duration (seconds, decimal fraction).
//! A timestamp that never happened (no pass yet, hub never reached) and a
//! generation never applied are written as 0.
//!
//! Invariants:
//! - The file is replaced only through [`crate::state_file::write_atomically`]
//!   (temp file `.NAME.tmp.PID` in the same directory, fsync, rename,
//!   directory fsync), so a reader sees the old or the new file, never a
//!   partial one; the textfile collector ignores the temp name (it reads
//!   `*.prom` only). Mode 0644: the collector runs as another user, and the
//!   file holds no secret.
//! - Within one process, writes are serialized (the daemon's two loops both
//!   refresh the file and would otherwise share the temp name).

use std::fmt::Write as _;
use std::path::Path;
use std::sync::{Mutex, PoisonError};

/// The file's mode: readable by the collector's user.
pub const FILE_MODE: u32 = 0o644;

/// Serializes this process's writers (see the module header).
static WRITER: Mutex<()> = Mutex::new(());

/// The last pass, as the gauges show it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PassGauges {
    /// Unix seconds.
    pub at: i64,
    pub duration_seconds: f64,
    pub planned: u64,
    pub succeeded: u64,
    pub failed: u64,
    pub skipped: u64,
    pub errors: u64,
    pub pending_signature: u64,
    pub queued_ops: u64,
    pub in_flight_ops: u64,
    pub managed: u64,
    pub unmanaged: u64,
    pub missing: u64,
    pub desired_generation: Option<u64>,
}

/// Everything the file shows.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    pub version: String,
    pub reconcile_interval_seconds: u64,
    /// `None` before the first pass.
    pub pass: Option<PassGauges>,
    pub journal_bytes: u64,
    pub hub_configured: bool,
    pub hub_blocked: bool,
    /// Unix seconds of the last successful hub exchange.
    pub hub_last_success: Option<i64>,
}

/// One gauge family: name, help, and its samples as (labels, value).
struct Family<'a> {
    name: &'a str,
    help: &'a str,
    samples: Vec<(Vec<(&'a str, String)>, String)>,
}

impl<'a> Family<'a> {
    fn single(name: &'a str, help: &'a str, value: impl ToString) -> Family<'a> {
        Family {
            name,
            help,
            samples: vec![(Vec::new(), value.to_string())],
        }
    }

    fn by(name: &'a str, help: &'a str, label: &'a str, values: &[(&str, u64)]) -> Family<'a> {
        Family {
            name,
            help,
            samples: values
                .iter()
                .map(|(l, v)| (vec![(label, (*l).to_string())], v.to_string()))
                .collect(),
        }
    }
}

/// The exposition text for `s`.
pub fn render(s: &Snapshot) -> String {
    let p = s.pass.clone().unwrap_or_default();
    let families = [
        Family {
            name: "felhom_agent_info",
            help: "Agent build information; the value is always 1.",
            samples: vec![(vec![("version", s.version.clone())], "1".to_string())],
        },
        Family::single(
            "felhom_agent_reconcile_interval_seconds",
            "Configured seconds between reconcile passes.",
            s.reconcile_interval_seconds,
        ),
        Family::single(
            "felhom_agent_last_pass_timestamp_seconds",
            "Unix time the last pass started (0: no pass yet).",
            p.at,
        ),
        Family::single(
            "felhom_agent_last_pass_duration_seconds",
            "Duration of the last pass in seconds.",
            p.duration_seconds,
        ),
        Family::by(
            "felhom_agent_last_pass_actions",
            "Actions of the last pass by outcome.",
            "outcome",
            &[
                ("planned", p.planned),
                ("succeeded", p.succeeded),
                ("failed", p.failed),
                ("skipped", p.skipped),
            ],
        ),
        Family::single(
            "felhom_agent_last_pass_errors",
            "Errors of the last pass (any error: the host did not converge).",
            p.errors,
        ),
        Family::single(
            "felhom_agent_pending_signature",
            "Actions of the last pass awaiting an operator signature.",
            p.pending_signature,
        ),
        Family::single(
            "felhom_agent_queued_ops",
            "Signed ops queued in the journal after the last pass.",
            p.queued_ops,
        ),
        Family::single(
            "felhom_agent_in_flight_ops",
            "Journaled ops without an outcome after the last pass.",
            p.in_flight_ops,
        ),
        Family::by(
            "felhom_agent_guests",
            "Guests of the last pass: managed and unmanaged on this node, missing from it.",
            "state",
            &[
                ("managed", p.managed),
                ("unmanaged", p.unmanaged),
                ("missing", p.missing),
            ],
        ),
        Family::single(
            "felhom_agent_desired_generation",
            "Desired-state generation applied (0: none).",
            p.desired_generation.unwrap_or(0),
        ),
        Family::single(
            "felhom_agent_journal_bytes",
            "Size of the journal file in bytes.",
            s.journal_bytes,
        ),
        Family::single(
            "felhom_agent_hub_configured",
            "1 if a hub is configured.",
            u8::from(s.hub_configured),
        ),
        Family::single(
            "felhom_agent_hub_blocked",
            "1 while the hub blocks every mutation.",
            u8::from(s.hub_blocked),
        ),
        Family::single(
            "felhom_agent_hub_last_success_timestamp_seconds",
            "Unix time of the last successful hub exchange (0: never).",
            s.hub_last_success.unwrap_or(0),
        ),
    ];
    let mut out = String::new();
    for f in &families {
        let _ = writeln!(out, "# HELP {} {}", f.name, escape_help(f.help));
        let _ = writeln!(out, "# TYPE {} gauge", f.name);
        for (labels, value) in &f.samples {
            out.push_str(f.name);
            if !labels.is_empty() {
                let inner: Vec<String> = labels
                    .iter()
                    .map(|(k, v)| format!("{k}=\"{}\"", escape_label_value(v)))
                    .collect();
                let _ = write!(out, "{{{}}}", inner.join(","));
            }
            let _ = writeln!(out, " {value}");
        }
    }
    out
}

/// HELP text: `\` → `\\`, newline → `\n`.
pub fn escape_help(text: &str) -> String {
    text.replace('\\', "\\\\").replace('\n', "\\n")
}

/// Label value: `\` → `\\`, `"` → `\"`, newline → `\n`.
pub fn escape_label_value(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Replaces `path` with the exposition of `s` (see the module header).
pub fn write(path: &Path, s: &Snapshot) -> std::io::Result<()> {
    let text = render(s);
    let _serial = WRITER.lock().unwrap_or_else(PoisonError::into_inner);
    crate::state_file::write_atomically(path, text.as_bytes(), FILE_MODE)
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
mod tests {
    use super::*;

    #[test]
    fn label_values_and_help_are_escaped() {
        assert_eq!(escape_label_value("a\\b\"c\nd"), "a\\\\b\\\"c\\nd");
        assert_eq!(escape_help("x\\y\nz\""), "x\\\\y\\nz\"");
        let text = render(&Snapshot {
            version: "1.0\"\n# TYPE x counter".into(),
            ..Snapshot::default()
        });
        assert!(text.contains("felhom_agent_info{version=\"1.0\\\"\\n# TYPE x counter\"} 1\n"));
        assert!(!text.lines().any(|l| l == "# TYPE x counter\"} 1"));
    }

    #[test]
    fn every_family_has_help_and_type_before_its_samples() {
        let text = render(&Snapshot::default());
        let mut announced = Vec::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                announced.push(rest.split(' ').next().unwrap().to_string());
            } else if !line.starts_with('#') {
                let name = line.split(['{', ' ']).next().unwrap();
                assert_eq!(announced.last().map(String::as_str), Some(name), "{line}");
            }
        }
        assert_eq!(announced.len(), 15);
        assert!(text.ends_with('\n'));
    }
}
