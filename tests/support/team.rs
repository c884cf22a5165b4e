//! Test helper for the two-person rule: more operators around an
//! [`Agent`](crate::agent::Agent), each with a real `ssh-keygen` key, their
//! signer lines, and `authz.approvals` in the config.
//!
//! Include after `support/agent.rs` and `support/sshkeys.rs`:
//!
//! ```ignore
//! #[path = "support/team.rs"] mod team;
//! let mut a = Agent::new(&pve, "tag");
//! let t = team::Team::install(&mut a, json!({"guest_destroy": 2}));
//! ```
//!
//! Operational file: `alice` (the agent's key), `alice` again with a
//! second key, `bob`, `carol`. Recovery file: `rescue` (the agent's
//! key) and `rescue2`.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use crate::agent::{Agent, NAMESPACE};
use crate::sshkeys::{self, Key};
use serde_json::Value;

pub struct Team {
    /// A second key whose line's first principal is `alice`.
    pub alice2: Key,
    pub bob: Key,
    pub carol: Key,
    /// A second recovery signer.
    pub rescue2: Key,
}

/// `PRINCIPALS namespaces="felhom-op-v1"[,OPTIONS] KEY`.
pub fn line(principals: &str, key: &Key, options: &str) -> String {
    let extra = if options.is_empty() {
        String::new()
    } else {
        format!(",{options}")
    };
    format!(
        "{principals} namespaces=\"{NAMESPACE}\"{extra} {}",
        key.public()
    )
}

/// `valid-before="YYYYMMDDHHMMSSZ"` at Unix time `t`.
pub fn valid_before(t: i64) -> String {
    let text = felhom_agent::time::format_rfc3339(t);
    let digits: String = text.chars().filter(char::is_ascii_digit).collect();
    format!("valid-before=\"{digits}Z\"")
}

impl Team {
    /// Generates the keys, writes both signer files and sets
    /// `authz.approvals` to `approvals` (the config is rewritten).
    pub fn install(a: &mut Agent, approvals: Value) -> Team {
        let t = Team {
            alice2: sshkeys::keygen(&a.dir, "keys/alice2"),
            bob: sshkeys::keygen(&a.dir, "keys/bob"),
            carol: sshkeys::keygen(&a.dir, "keys/carol"),
            rescue2: sshkeys::keygen(&a.dir, "keys/rescue2"),
        };
        t.write_operational(a, &[]);
        write(
            a,
            "recovery.allowed_signers",
            &[
                line("rescue", &a.rescue, ""),
                line("rescue2", &t.rescue2, ""),
            ],
        );
        a.config["authz"]["approvals"] = approvals;
        a.write_config();
        t
    }

    /// The default operational lines (alice, alice's second key, bob,
    /// carol) minus the principals in `without`.
    pub fn operational_lines(&self, a: &Agent, without: &[&str]) -> Vec<String> {
        [
            ("alice", &a.alice),
            ("alice,alice@laptop", &self.alice2),
            ("bob", &self.bob),
            ("carol", &self.carol),
        ]
        .into_iter()
        .filter(|(p, _)| !without.iter().any(|w| p.split(',').next() == Some(*w)))
        .map(|(p, k)| line(p, k, ""))
        .collect()
    }

    /// Rewrites the operational file without the principals in `without`.
    pub fn write_operational(&self, a: &Agent, without: &[&str]) {
        write(
            a,
            "operational.allowed_signers",
            &self.operational_lines(a, without),
        );
    }
}

/// Replaces a signer file in the agent's directory (mode 0644, as installed).
pub fn write(a: &Agent, name: &str, lines: &[String]) {
    sshkeys::write_allowed_signers(&a.dir, name, lines);
}
