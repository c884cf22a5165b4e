//! Guest reads: the resource list, power status, config and snapshots, as
//! typed values decoded from PVE's JSON.
//!
//! Trusts: nothing in the answers. Every decoder is a pure function from a
//! `serde_json::Value` to a typed result, fails with `PveError::Decode` on a
//! wrong shape, and bounds every string it keeps. Node names are checked
//! as DNS labels because they go back into URL paths.
//!
//! Config fields managed by the agent, as PVE stores them:
//! - `cores`: the `cores` key itself (qemu: cores per socket; `sockets` is
//!   reported beside it but never written);
//! - `memory_mib`: qemu `memory` in any of its forms, lxc `memory`;
//! - `description`: qemu as is, lxc without its trailing newline;
//! - `balloon_mib`: qemu `balloon` (the floor PVE keeps `memory` above;
//!   0 = ballooning off), read so a write PVE would refuse is not sent.

use serde_json::{Map, Value};

use super::error::PveError;
use super::normalize::{lxc_description, memory_mib, pve_bool, u64_value};
use super::upid::valid_node;
/// PVE's snapshot-name format, checked before a name enters a path: the
/// one definition in [`crate::ops`].
pub use crate::ops::valid_snapshot_name;

/// Guest names are DNS names (≤ 253); this leaves a margin.
const MAX_NAME_CHARS: usize = 256;
/// Lock, status and HA state words are short identifiers.
const MAX_WORD_CHARS: usize = 64;
/// PVE caps descriptions at 8 KiB; accept a margin, refuse more.
pub const MAX_DESCRIPTION_CHARS: usize = 64 * 1024;
/// PVE vmids are 100..=999_999_999; 1.. is accepted when reading.
const MAX_VMID: u64 = 999_999_999;
/// `digest` is a hex SHA-1 (40) or SHA-256 (64).
const MAX_DIGEST_CHARS: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Qemu,
    Lxc,
}

impl Kind {
    /// The path segment and `type` value PVE uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Qemu => "qemu",
            Kind::Lxc => "lxc",
        }
    }
}

/// Where a guest lives: the address of every per-guest call.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct GuestRef {
    pub vmid: u32,
    pub node: String,
    pub kind: Kind,
}

impl GuestRef {
    /// `/nodes/{node}/{qemu|lxc}/{vmid}`; refuses a node name that is not a
    /// DNS label (it would change the path).
    pub(crate) fn path(&self) -> Result<String, PveError> {
        if !valid_node(&self.node) {
            return Err(PveError::InvalidRequest("node name is not a DNS label"));
        }
        Ok(format!(
            "/nodes/{}/{}/{}",
            self.node,
            self.kind.as_str(),
            self.vmid
        ))
    }
}

/// One guest of `GET /cluster/resources?type=vm`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resource {
    pub vmid: u32,
    pub node: String,
    pub kind: Kind,
    pub name: Option<String>,
    /// `running`, `stopped`, or `unknown` when the node is offline.
    pub status: String,
    pub lock: Option<String>,
    pub template: bool,
    /// HA state when the guest is HA-managed.
    pub hastate: Option<String>,
    pub maxmem_bytes: Option<u64>,
}

impl Resource {
    pub fn guest_ref(&self) -> GuestRef {
        GuestRef {
            vmid: self.vmid,
            node: self.node.clone(),
            kind: self.kind,
        }
    }
}

/// `status/current`, reduced to what decisions need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuestStatus {
    /// `running` or `stopped` (PVE's `status`).
    pub status: String,
    /// qemu's finer state (`running`, `paused`, `prelaunch`, ...).
    pub qmpstatus: Option<String>,
    pub lock: Option<String>,
    pub ha_managed: bool,
    pub ha_state: Option<String>,
    pub name: Option<String>,
    pub template: bool,
    pub uptime: Option<u64>,
}

impl GuestStatus {
    pub fn is_running(&self) -> bool {
        self.status == "running"
    }

    /// qemu-server's `vm_is_paused($vmid, 1)`: a paused, prelaunch or
    /// suspended VM, whose shutdown and reboot PVE refuses.
    pub fn is_paused(&self) -> bool {
        is_paused(self.qmpstatus.as_deref())
    }
}

/// Whether a qemu run state (`qmpstatus`) is one PVE refuses to shut down.
pub fn is_paused(qmpstatus: Option<&str>) -> bool {
    matches!(qmpstatus, Some("paused" | "prelaunch" | "suspended"))
}

/// The normalized config (see the module header).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuestConfig {
    pub cores: Option<u32>,
    pub sockets: Option<u32>,
    pub memory_mib: Option<u64>,
    pub description: Option<String>,
    pub name: Option<String>,
    pub lock: Option<String>,
    pub protection: bool,
    /// qemu `balloon` in MiB (`None`: not set; `Some(0)`: ballooning off).
    pub balloon_mib: Option<u64>,
    /// Sent back with every write so a concurrent change is detected.
    pub digest: String,
}

/// A snapshot (PVE's pseudo-entry `current` is left out).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub name: String,
    pub parent: Option<String>,
    pub snaptime: Option<u64>,
    pub description: String,
}

fn decode_err(what: &str) -> PveError {
    PveError::Decode(what.to_string())
}

fn object<'a>(v: &'a Value, what: &str) -> Result<&'a Map<String, Value>, PveError> {
    v.as_object()
        .ok_or_else(|| decode_err(&format!("{what} is not an object")))
}

/// An optional string field, at most `max` characters.
pub(crate) fn opt_str(
    o: &Map<String, Value>,
    key: &str,
    max: usize,
) -> Result<Option<String>, PveError> {
    match o.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.chars().count() <= max => Ok(Some(s.clone())),
        Some(Value::String(_)) => Err(decode_err(&format!("{key} is too long"))),
        Some(_) => Err(decode_err(&format!("{key} is not a string"))),
    }
}

fn req_str(o: &Map<String, Value>, key: &str, max: usize) -> Result<String, PveError> {
    opt_str(o, key, max)?.ok_or_else(|| decode_err(&format!("{key} is missing")))
}

fn opt_u32(o: &Map<String, Value>, key: &str) -> Result<Option<u32>, PveError> {
    match o.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => u64_value(v)
            .and_then(|n| u32::try_from(n).ok())
            .map(Some)
            .ok_or_else(|| decode_err(&format!("{key} is not a small integer"))),
    }
}

fn opt_u64(o: &Map<String, Value>, key: &str) -> Result<Option<u64>, PveError> {
    match o.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => u64_value(v)
            .map(Some)
            .ok_or_else(|| decode_err(&format!("{key} is not an integer"))),
    }
}

fn flag(o: &Map<String, Value>, key: &str) -> Result<bool, PveError> {
    match o.get(key) {
        None | Some(Value::Null) => Ok(false),
        Some(v) => pve_bool(v).ok_or_else(|| decode_err(&format!("{key} is not a boolean"))),
    }
}

fn vmid(o: &Map<String, Value>) -> Result<u32, PveError> {
    o.get("vmid")
        .and_then(u64_value)
        .filter(|n| (1..=MAX_VMID).contains(n))
        .and_then(|n| u32::try_from(n).ok())
        .ok_or_else(|| decode_err("vmid is missing or out of range"))
}

/// `GET /cluster/resources?type=vm`: qemu and lxc entries, others skipped.
pub fn decode_resources(data: &Value) -> Result<Vec<Resource>, PveError> {
    let list = data
        .as_array()
        .ok_or_else(|| decode_err("resources is not a list"))?;
    let mut out = Vec::with_capacity(list.len());
    for item in list {
        let o = object(item, "resource")?;
        let kind = match o.get("type").and_then(Value::as_str) {
            Some("qemu") => Kind::Qemu,
            Some("lxc") => Kind::Lxc,
            _ => continue,
        };
        let node = req_str(o, "node", MAX_WORD_CHARS)?;
        if !valid_node(&node) {
            return Err(decode_err("resource node is not a valid node name"));
        }
        out.push(Resource {
            vmid: vmid(o)?,
            node,
            kind,
            name: opt_str(o, "name", MAX_NAME_CHARS)?,
            status: opt_str(o, "status", MAX_WORD_CHARS)?.unwrap_or_else(|| "unknown".into()),
            lock: opt_str(o, "lock", MAX_WORD_CHARS)?,
            template: flag(o, "template")?,
            hastate: opt_str(o, "hastate", MAX_WORD_CHARS)?,
            maxmem_bytes: opt_u64(o, "maxmem")?,
        });
    }
    Ok(out)
}

/// `GET .../status/current`.
pub fn decode_status(data: &Value) -> Result<GuestStatus, PveError> {
    let o = object(data, "status")?;
    let (ha_managed, ha_state) = match o.get("ha") {
        None | Some(Value::Null) => (false, None),
        Some(ha) => {
            let h = object(ha, "ha")?;
            (flag(h, "managed")?, opt_str(h, "state", MAX_WORD_CHARS)?)
        }
    };
    Ok(GuestStatus {
        status: req_str(o, "status", MAX_WORD_CHARS)?,
        qmpstatus: opt_str(o, "qmpstatus", MAX_WORD_CHARS)?,
        lock: opt_str(o, "lock", MAX_WORD_CHARS)?,
        ha_managed,
        ha_state,
        name: opt_str(o, "name", MAX_NAME_CHARS)?,
        template: flag(o, "template")?,
        uptime: opt_u64(o, "uptime")?,
    })
}

/// `GET .../config` of a guest of `kind`.
pub fn decode_config(kind: Kind, data: &Value) -> Result<GuestConfig, PveError> {
    let o = object(data, "config")?;
    let memory = match o.get("memory") {
        None | Some(Value::Null) => None,
        Some(v) => Some(memory_mib(v).ok_or_else(|| decode_err("memory is not a size in MiB"))?),
    };
    let description = opt_str(o, "description", MAX_DESCRIPTION_CHARS)?.map(|d| match kind {
        Kind::Lxc => lxc_description(&d),
        Kind::Qemu => d,
    });
    let name_key = match kind {
        Kind::Qemu => "name",
        Kind::Lxc => "hostname",
    };
    let digest = req_str(o, "digest", MAX_DIGEST_CHARS)?;
    if digest.is_empty() || !digest.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(decode_err("digest is not hexadecimal"));
    }
    Ok(GuestConfig {
        cores: opt_u32(o, "cores")?,
        sockets: opt_u32(o, "sockets")?,
        memory_mib: memory,
        description,
        name: opt_str(o, name_key, MAX_NAME_CHARS)?,
        lock: opt_str(o, "lock", MAX_WORD_CHARS)?,
        protection: flag(o, "protection")?,
        balloon_mib: match kind {
            Kind::Qemu => opt_u64(o, "balloon")?,
            Kind::Lxc => None,
        },
        digest,
    })
}

/// A `GET .../pending` list longer than this is not a guest config.
const MAX_PENDING_ENTRIES: usize = 4096;

/// `GET .../pending`: each key with its current `value`, its `pending` value
/// and/or a `delete` flag. Folded into the config the guest will run next
/// (what PVE's `config` without `current=1` documents), so a change that
/// waits for a reboot is not read as drift. The pending list carries no
/// digest: the returned `digest` is empty, and writers read `config` for it.
///
/// `delete` is 0 (none), 1 (pending delete) or 2 (forced pending delete,
/// `qm set --delete X --force` on a running guest: pve-guest-common
/// `PVE/GuestHelpers.pm` config_with_pending_array); 1 and 2 both mean the
/// key is gone from the next config.
pub fn decode_pending(kind: Kind, data: &Value) -> Result<GuestConfig, PveError> {
    let list = data
        .as_array()
        .ok_or_else(|| decode_err("pending is not a list"))?;
    if list.len() > MAX_PENDING_ENTRIES {
        return Err(decode_err("pending list is too long"));
    }
    let mut effective = serde_json::Map::new();
    for item in list {
        let o = object(item, "pending entry")?;
        let key = req_str(o, "key", MAX_WORD_CHARS)?;
        if pending_delete(o)? {
            continue;
        }
        let value = match (o.get("pending"), o.get("value")) {
            (Some(p), _) if !p.is_null() => p.clone(),
            (_, Some(v)) if !v.is_null() => v.clone(),
            _ => continue,
        };
        effective.insert(key, value);
    }
    effective.insert("digest".into(), Value::from("00"));
    let mut cfg = decode_config(kind, &Value::Object(effective))?;
    cfg.digest = String::new();
    Ok(cfg)
}

/// Whether a `/pending` entry's `delete` (0, 1 or 2, number or string)
/// removes its key.
fn pending_delete(o: &Map<String, Value>) -> Result<bool, PveError> {
    match o.get("delete") {
        None | Some(Value::Null) => Ok(false),
        Some(v) => match u64_value(v).or_else(|| pve_bool(v).map(u64::from)) {
            Some(0) => Ok(false),
            Some(1 | 2) => Ok(true),
            _ => Err(decode_err("delete is not 0, 1 or 2")),
        },
    }
}

/// `GET .../snapshot`.
pub fn decode_snapshots(data: &Value) -> Result<Vec<Snapshot>, PveError> {
    let list = data
        .as_array()
        .ok_or_else(|| decode_err("snapshots is not a list"))?;
    let mut out = Vec::with_capacity(list.len());
    for item in list {
        let o = object(item, "snapshot")?;
        let name = req_str(o, "name", MAX_WORD_CHARS)?;
        if name == "current" {
            continue;
        }
        out.push(Snapshot {
            name,
            parent: opt_str(o, "parent", MAX_WORD_CHARS)?,
            snaptime: opt_u64(o, "snaptime")?,
            description: opt_str(o, "description", MAX_DESCRIPTION_CHARS)?.unwrap_or_default(),
        });
    }
    Ok(out)
}
