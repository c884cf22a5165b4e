//! `ops`: the op vocabulary (CONTRACT §4), defined once: which ops exist,
//! their class, and exactly which `params` each accepts.
//!
//! Owns: [`ActionOp`], its wire params ([`ActionOp::params`]) and their
//! inverse ([`ActionOp::parse`]), op classes, and the limits of every
//! param. Trusts nothing: `parse` is fed blob content.
//!
//! One definition of what is valid: stage 5 of `authz` (`--check-op`,
//! `--submit`, hub jobs) accepts a blob's params only through `parse`, and
//! execution turns a verified op into an action through the same `parse`,
//! so an op that `--check-op` calls valid is never dropped later as
//! `unsupported_op`. The desired state's limits (cores, description) and
//! the PVE client's snapshot-name check are these constants and functions
//! too. This module depends on nothing else in the crate, so every layer
//! may use it without turning DESIGN §2's dependency arrows around.
//!
//! | op | params |
//! |---|---|
//! | `start`, `stop`, `restart` | `{}` |
//! | `set_config` | `{"cores"? 1..=8192, "memory"? (MiB) ≥ 1, "description"? ≤ 8 KiB}`, at least one |
//! | `guest_destroy` | `{"purge": bool}` |
//! | `restore_overwrite` | `{"snapshot": NAME}` (letter, then letters, digits, `_`, `-`; 2..=40) |
//! | `key_rotation` | `{"operational_signers": [LINE, ...]}` (≤ 1024 lines, each 1..=4096 bytes, no CR/LF/NUL) |
//! | `create` | the desired state's `create` object ([`create`]); never from a blob |
//!
//! Anything else (other keys, wrong types, out-of-range values) is a
//! [`OpError::Params`]; an op name outside the table (`create` included,
//! which only the desired state may ask for) is [`OpError::Unsupported`].
//! A `key_rotation` line must also be a signer line without a recovery
//! key's point: `authz` checks that (it owns the signer-file syntax) at
//! stage 5 and again when the rotation runs.

pub mod create;

pub use create::CreateSpec;
use serde_json::{Map, Value};
use std::fmt;

/// Highest `cores` PVE accepts for a guest.
pub const MAX_CORES: u64 = 8192;
/// PVE keeps descriptions in the guest config file; 8 KiB is far above any
/// sensible note and keeps config writes small.
pub const MAX_DESCRIPTION_BYTES: usize = 8 * 1024;
/// Snapshot names as PVE takes them: a letter, then letters, digits, `_`
/// or `-`; 2 to 40 characters.
pub const MIN_SNAPSHOT_NAME: usize = 2;
pub const MAX_SNAPSHOT_NAME: usize = 40;
/// A signer set larger than this is not a plausible operational team and
/// would only bloat the rewritten file.
pub const MAX_SIGNER_LINES: usize = 1024;
/// An `allowed_signers` line with an ed25519 key and options fits easily.
pub const MAX_SIGNER_LINE_BYTES: usize = 4096;

/// The ops this host executes, in the order of CONTRACT §4.
const SUPPORTED: [&str; 7] = [
    "start",
    "stop",
    "restart",
    "set_config",
    "guest_destroy",
    "restore_overwrite",
    "key_rotation",
];

/// Whether an op needs a signature (CONTRACT §4, DESIGN §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpClass {
    Benign,
    Destructive,
}

impl fmt::Display for OpClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            OpClass::Benign => "benign",
            OpClass::Destructive => "destructive",
        })
    }
}

/// The class of an op name; anything unknown is destructive.
pub fn op_class(op: &str) -> OpClass {
    match op {
        "start" | "stop" | "restart" | "set_config" | "create" => OpClass::Benign,
        _ => OpClass::Destructive,
    }
}

/// Ops this host executes; a verified blob naming another is `unsupported_op`.
pub fn op_is_supported(op: &str) -> bool {
    SUPPORTED.contains(&op)
}

/// Ops a signature authorizes on this host and that cannot run without
/// one: supported and destructive (`authz.approvals` may name only these).
pub fn requires_signature(op: &str) -> bool {
    op_is_supported(op) && op_class(op) == OpClass::Destructive
}

/// Ops that act on one guest and so need a vmid (`key_rotation` acts on the
/// host and takes none).
pub fn is_guest_op(op: &str) -> bool {
    op_is_supported(op) && op != "key_rotation"
}

/// Why an op/params pair is not an action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpError {
    /// Not an op this host executes.
    Unsupported,
    /// The params do not fit the op (the text says how).
    Params(String),
}

impl fmt::Display for OpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OpError::Unsupported => write!(f, "not an op this host executes"),
            OpError::Params(why) => f.write_str(why),
        }
    }
}

fn params_err(why: &str) -> OpError {
    OpError::Params(why.to_string())
}

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
    /// Provision a guest (CONTRACT §10). Built only from the desired state
    /// (`reconcile::provision`): [`ActionOp::parse`] never returns it, so a
    /// signed `create` is `unsupported_op`.
    Create(CreateSpec),
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

    /// The inverse of (`name`, `params`): the action, or why there is none.
    pub fn parse(op: &str, params: &Value) -> Result<ActionOp, OpError> {
        if !op_is_supported(op) {
            return Err(OpError::Unsupported);
        }
        let m = params
            .as_object()
            .ok_or_else(|| params_err("params must be an object"))?;
        ActionOp::parse_map(op, m)
    }

    /// [`ActionOp::parse`] of a params object.
    pub fn parse_map(op: &str, m: &Map<String, Value>) -> Result<ActionOp, OpError> {
        let only = |keys: &[&str]| m.keys().all(|k| keys.contains(&k.as_str()));
        match op {
            "start" | "stop" | "restart" if !m.is_empty() => Err(params_err("must be {}")),
            "start" => Ok(ActionOp::Start),
            "stop" => Ok(ActionOp::Stop),
            "restart" => Ok(ActionOp::Restart),
            "set_config" if m.is_empty() || !only(&["cores", "memory", "description"]) => Err(
                params_err("set_config takes cores, memory, description (at least one)"),
            ),
            "set_config" => set_config(m),
            "guest_destroy" => match m.get("purge") {
                Some(Value::Bool(purge)) if m.len() == 1 => {
                    Ok(ActionOp::GuestDestroy { purge: *purge })
                }
                _ => Err(params_err("guest_destroy takes exactly {\"purge\": bool}")),
            },
            "restore_overwrite" => match m.get("snapshot") {
                Some(Value::String(s)) if m.len() == 1 && valid_snapshot_name(s) => {
                    Ok(ActionOp::RestoreOverwrite {
                        snapshot: s.clone(),
                    })
                }
                _ => Err(OpError::Params(format!(
                    "restore_overwrite takes exactly {{\"snapshot\": NAME}} (a letter, then \
                     letters, digits, _ or -; {MIN_SNAPSHOT_NAME} to {MAX_SNAPSHOT_NAME} \
                     characters)"
                ))),
            },
            "key_rotation" => signer_lines(m),
            _ => Err(OpError::Unsupported),
        }
    }

    /// `Some` exactly when [`ActionOp::parse`] gives an action.
    pub fn from_name_params(op: &str, params: &Value) -> Option<ActionOp> {
        ActionOp::parse(op, params).ok()
    }
}

fn set_config(m: &Map<String, Value>) -> Result<ActionOp, OpError> {
    let cores = match m.get("cores") {
        None => None,
        Some(v) => Some(
            v.as_u64()
                .filter(|c| (1..=MAX_CORES).contains(c))
                .ok_or_else(|| {
                    OpError::Params(format!("cores must be an integer from 1 to {MAX_CORES}"))
                })?,
        ),
    };
    let memory_mib = match m.get("memory") {
        None => None,
        Some(v) => Some(
            v.as_u64()
                .filter(|mib| *mib > 0)
                .ok_or_else(|| params_err("memory must be a positive integer (MiB)"))?,
        ),
    };
    let description = match m.get("description") {
        None => None,
        Some(Value::String(d)) if d.len() <= MAX_DESCRIPTION_BYTES => Some(d.clone()),
        Some(_) => {
            return Err(OpError::Params(format!(
                "description must be a string of at most {MAX_DESCRIPTION_BYTES} bytes"
            )));
        }
    };
    Ok(ActionOp::SetConfig {
        cores,
        memory_mib,
        description,
    })
}

fn signer_lines(m: &Map<String, Value>) -> Result<ActionOp, OpError> {
    let shape = || params_err("key_rotation takes exactly {\"operational_signers\": [LINE, ...]}");
    let items = match m.get("operational_signers") {
        Some(Value::Array(items)) if m.len() == 1 => items,
        _ => return Err(shape()),
    };
    if items.len() > MAX_SIGNER_LINES {
        return Err(OpError::Params(format!(
            "operational_signers: more than {MAX_SIGNER_LINES} lines"
        )));
    }
    let mut lines = Vec::with_capacity(items.len());
    for (i, v) in items.iter().enumerate() {
        let line = v.as_str().ok_or_else(shape)?;
        if !valid_signer_line(line) {
            return Err(OpError::Params(format!(
                "operational_signers[{i}]: a line must be 1 to {MAX_SIGNER_LINE_BYTES} bytes \
                 without CR, LF or NUL"
            )));
        }
        lines.push(line.to_owned());
    }
    Ok(ActionOp::KeyRotation { lines })
}

/// One physical line: the rewritten file must have exactly these lines.
fn valid_signer_line(line: &str) -> bool {
    !line.is_empty()
        && line.len() <= MAX_SIGNER_LINE_BYTES
        && !line.chars().any(|c| c == '\n' || c == '\r' || c == '\0')
}

/// PVE's `pve-snapshot-name`, checked before a name enters a URL path.
pub fn valid_snapshot_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    let first_ok = bytes.next().is_some_and(|b| b.is_ascii_alphabetic());
    first_ok
        && (MIN_SNAPSHOT_NAME..=MAX_SNAPSHOT_NAME).contains(&name.len())
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
