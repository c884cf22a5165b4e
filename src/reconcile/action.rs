//! The op vocabulary (CONTRACT §4): what the agent may do to a guest, and
//! the exact `params` object a signed blob carries for it.
//!
//! Owns: [`ActionOp::params`] and its inverse [`ActionOp::from_name_params`].
//! Binding compares a verified blob against a gated action through these,
//! so the params shape here IS the wire shape:
//!
//! | op | params |
//! |---|---|
//! | `start`, `stop`, `restart` | `{}` |
//! | `set_config` | `{"cores"?, "memory"? (MiB), "description"?}`, only keys present, at least one |
//! | `guest_destroy` | `{"purge": bool}` |
//! | `restore_overwrite` | `{"snapshot": NAME}` (PVE snapshot name: letter, then letters, digits, `_`, `-`; 2..=40) |
//! | `key_rotation` | `{"operational_signers": [LINE, ...]}` (single lines, bounded) |
//! | `create` | the desired state's `create` object (CONTRACT §10); never from a blob |
//!
//! Trusts nothing in `from_name_params`: it is fed verified-but-arbitrary
//! blob content. Unknown ops, `create` (reserved), extra keys, wrong types
//! and out-of-range values give `None` (the caller reports `unsupported_op`
//! or `malformed`). Class (benign/destructive) is not decided here.

use crate::reconcile::desired::{CreateSpec, MAX_CORES, MAX_DESCRIPTION_BYTES};
use serde_json::{Map, Value};

/// Longest snapshot name PVE accepts (`pve-configid`).
const MAX_SNAPSHOT_NAME: usize = 40;
/// A signer set larger than this is not a plausible operational team and
/// would only bloat the rewritten file.
pub const MAX_SIGNER_LINES: usize = 1024;
/// An `allowed_signers` line with an ed25519 key and options fits easily.
pub const MAX_SIGNER_LINE_BYTES: usize = 4096;

/// What to do to one guest (or, for `key_rotation`, to the host).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActionOp {
    Start,
    Stop,
    Restart,
    /// One config write; `None` fields are left alone. `memory_mib` in MiB.
    SetConfig {
        cores: Option<u64>,
        memory_mib: Option<u64>,
        description: Option<String>,
    },
    GuestDestroy {
        purge: bool,
    },
    RestoreOverwrite {
        snapshot: String,
    },
    KeyRotation {
        lines: Vec<String>,
    },
    /// Provision a guest from the desired state (CONTRACT §10). Built only
    /// by the provisioning plan: [`ActionOp::from_name_params`] never
    /// returns it, so a signed `create` is `unsupported_op`.
    Create(CreateSpec),
}

/// Who asked for an action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Source {
    DesiredState,
    /// A signed op from `--submit` or a hub job.
    Job,
    /// The agent itself (e.g. a compensating rollback).
    Agent,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::DesiredState => "desired_state",
            Source::Job => "job",
            Source::Agent => "agent",
        }
    }
}

/// One intended change. `vmid` 0 is used only for host-scoped ops
/// (`key_rotation`, whose blob has `guest_id: ""`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Action {
    pub vmid: u32,
    pub op: ActionOp,
    pub source: Source,
}

impl ActionOp {
    /// The CONTRACT §4 op name.
    pub fn name(&self) -> &'static str {
        match self {
            ActionOp::Start => "start",
            ActionOp::Stop => "stop",
            ActionOp::Restart => "restart",
            ActionOp::SetConfig { .. } => "set_config",
            ActionOp::GuestDestroy { .. } => "guest_destroy",
            ActionOp::RestoreOverwrite { .. } => "restore_overwrite",
            ActionOp::KeyRotation { .. } => "key_rotation",
            ActionOp::Create(_) => "create",
        }
    }

    /// The CONTRACT §4 params object, exactly.
    pub fn params(&self) -> Value {
        let mut m = Map::new();
        match self {
            ActionOp::Start | ActionOp::Stop | ActionOp::Restart => {}
            ActionOp::SetConfig {
                cores,
                memory_mib,
                description,
            } => {
                if let Some(c) = cores {
                    m.insert("cores".into(), (*c).into());
                }
                if let Some(mib) = memory_mib {
                    m.insert("memory".into(), (*mib).into());
                }
                if let Some(d) = description {
                    m.insert("description".into(), d.as_str().into());
                }
            }
            ActionOp::GuestDestroy { purge } => {
                m.insert("purge".into(), (*purge).into());
            }
            ActionOp::RestoreOverwrite { snapshot } => {
                m.insert("snapshot".into(), snapshot.as_str().into());
            }
            ActionOp::KeyRotation { lines } => {
                let lines = lines.iter().map(|l| Value::from(l.as_str())).collect();
                m.insert("operational_signers".into(), Value::Array(lines));
            }
            ActionOp::Create(spec) => return spec.to_value(),
        }
        Value::Object(m)
    }

    /// The inverse of (`name`, `params`): `None` unless `params` has exactly
    /// the keys and value ranges this op allows.
    pub fn from_name_params(op: &str, params: &Value) -> Option<ActionOp> {
        let m = params.as_object()?;
        let only = |keys: &[&str]| m.keys().all(|k| keys.contains(&k.as_str()));
        match op {
            "start" | "stop" | "restart" if !m.is_empty() => None,
            "start" => Some(ActionOp::Start),
            "stop" => Some(ActionOp::Stop),
            "restart" => Some(ActionOp::Restart),
            "set_config" if only(&["cores", "memory", "description"]) => set_config(m),
            "guest_destroy" if only(&["purge"]) => Some(ActionOp::GuestDestroy {
                purge: m.get("purge")?.as_bool()?,
            }),
            "restore_overwrite" if only(&["snapshot"]) => {
                let snapshot = m.get("snapshot")?.as_str()?;
                valid_snapshot_name(snapshot).then(|| ActionOp::RestoreOverwrite {
                    snapshot: snapshot.to_owned(),
                })
            }
            "key_rotation" if only(&["operational_signers"]) => signer_lines(m),
            _ => None,
        }
    }
}

fn set_config(m: &Map<String, Value>) -> Option<ActionOp> {
    if m.is_empty() {
        return None;
    }
    let cores = match m.get("cores") {
        None => None,
        Some(v) => Some(v.as_u64().filter(|c| (1..=MAX_CORES).contains(c))?),
    };
    let memory_mib = match m.get("memory") {
        None => None,
        Some(v) => Some(v.as_u64().filter(|mib| *mib > 0)?),
    };
    let description = match m.get("description") {
        None => None,
        Some(v) => Some(
            v.as_str()
                .filter(|d| d.len() <= MAX_DESCRIPTION_BYTES)?
                .to_owned(),
        ),
    };
    Some(ActionOp::SetConfig {
        cores,
        memory_mib,
        description,
    })
}

fn signer_lines(m: &Map<String, Value>) -> Option<ActionOp> {
    let items = m.get("operational_signers")?.as_array()?;
    if items.len() > MAX_SIGNER_LINES {
        return None;
    }
    let lines = items
        .iter()
        .map(|v| {
            v.as_str()
                .filter(|l| valid_signer_line(l))
                .map(str::to_owned)
        })
        .collect::<Option<Vec<_>>>()?;
    Some(ActionOp::KeyRotation { lines })
}

/// One physical line: the rewritten file must have exactly these lines.
fn valid_signer_line(line: &str) -> bool {
    !line.is_empty()
        && line.len() <= MAX_SIGNER_LINE_BYTES
        && !line.chars().any(|c| c == '\n' || c == '\r' || c == '\0')
}

/// PVE's `pve-configid` format, which snapshot names use.
pub fn valid_snapshot_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    let first_ok = bytes.next().is_some_and(|b| b.is_ascii_alphabetic());
    first_ok
        && (2..=MAX_SNAPSHOT_NAME).contains(&name.len())
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
mod tests;
