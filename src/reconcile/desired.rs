//! The desired-state document (CONTRACT §5): model, strict parser, the
//! generation rule, and its providers (see [`provider`]).
//!
//! Owns: the only way to build a [`DesiredState`] ([`parse`] or
//! [`DesiredState::new`]), so every value in one is validated.
//! Trusts: nothing. The document comes from a local file or from the hub.
//!
//! Format (every key other than `vmid` optional; `null` = omitted):
//!
//! ```json
//! {"generation": 12,
//!  "desired_state": {"guests": [
//!    {"vmid": 9001, "state": "running", "cores": 2, "memory_bytes": 2147483648, "description": "web"},
//!    {"vmid": 9003, "state": "absent", "purge": true}]}}
//! ```
//!
//! Rules, each a typed [`DesiredError`] naming the JSON path:
//! - unknown keys at any level, duplicate object keys, wrong types, numbers
//!   with a fraction or exponent, negative numbers;
//! - `vmid` in `1..=999999999` (PVE itself starts at 100: lower ids are
//!   simply reported `missing`), unique across the list;
//! - `state` one of `running`, `stopped`, `absent`;
//! - `cores` in `1..=8192`, `memory_bytes` above zero, `description` at most
//!   8 KiB of UTF-8;
//! - `purge: true` without `state: absent` is rejected: a request to delete
//!   disks attached to a guest that should keep running is a contradiction,
//!   and destructive intent must never be guessed. `purge: false` is
//!   harmless anywhere and accepted.
//! - with `state: absent`, `cores`/`memory_bytes`/`description` are accepted
//!   and ignored by the plan (nothing to configure on a guest being
//!   destroyed).
//! - `create` (CONTRACT §10, see [`create`]) is rejected together with
//!   `state: absent`, and a qemu clone of the guest's own vmid is rejected.
//! - a `generation` lower than the last applied one is rejected by
//!   [`accept`]; an equal one is the same document read again.

pub mod create;
mod error;
mod json;
pub mod provider;

pub use create::{CreateSpec, LxcSpec, QemuSpec};
pub use error::DesiredError;

pub use provider::{
    LAST_GOOD_FILE, Provider, Resolution, ingest_hub_document, load_last_good, save_last_good,
};

use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// A document above this size is refused before parsing. 10,000 guests
/// with short descriptions take about 1.5 MiB; 4 MiB leaves room without
/// letting the hub make the agent buffer arbitrary amounts.
pub const MAX_DOCUMENT_BYTES: usize = 4 * 1024 * 1024;
/// More guests than any single PVE host runs; bounds plan and lane work.
pub const MAX_GUESTS: usize = 10_000;
/// Each guest is one object with at most seven keys, one of them a
/// `create` object with at most seven more; a small allowance for the
/// envelope. Bounds the parse tree whatever the byte size.
const MAX_JSON_VALUES: usize = 16 * MAX_GUESTS + 16;
/// Highest vmid PVE accepts.
pub const MAX_VMID: u64 = 999_999_999;
/// The limits a desired-state guest shares with a signed `set_config`.
pub use crate::ops::{MAX_CORES, MAX_DESCRIPTION_BYTES};

/// The power state a guest should be in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum GuestState {
    Running,
    Stopped,
    /// The guest should not exist: a `guest_destroy` (destructive).
    Absent,
}

impl GuestState {
    pub fn as_str(self) -> &'static str {
        match self {
            GuestState::Running => "running",
            GuestState::Stopped => "stopped",
            GuestState::Absent => "absent",
        }
    }

    fn parse(s: &str) -> Option<GuestState> {
        match s {
            "running" => Some(GuestState::Running),
            "stopped" => Some(GuestState::Stopped),
            "absent" => Some(GuestState::Absent),
            _ => None,
        }
    }
}

/// One listed guest. `None` = not managed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredGuest {
    pub vmid: u32,
    pub state: Option<GuestState>,
    pub cores: Option<u64>,
    pub memory_bytes: Option<u64>,
    pub description: Option<String>,
    /// Only ever true together with `state: Some(Absent)`.
    pub purge: bool,
    /// How to provision the guest when it is on no node (never with `Absent`).
    pub create: Option<CreateSpec>,
}

impl DesiredGuest {
    /// A listed guest with nothing managed.
    pub fn listed(vmid: u32) -> DesiredGuest {
        DesiredGuest {
            vmid,
            state: None,
            cores: None,
            memory_bytes: None,
            description: None,
            purge: false,
            create: None,
        }
    }
}

/// A validated document: guests unique and sorted by vmid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredState {
    generation: u64,
    guests: Vec<DesiredGuest>,
}

/// Parses and validates a document.
pub fn parse(bytes: &[u8]) -> Result<DesiredState, DesiredError> {
    if bytes.len() > MAX_DOCUMENT_BYTES {
        return Err(DesiredError::TooLarge {
            size: bytes.len(),
            limit: MAX_DOCUMENT_BYTES,
        });
    }
    let root = json::read_strict(bytes, MAX_JSON_VALUES)?;
    let mut top = json::Obj::new(String::new(), &root)?;
    let generation = top.u64("generation")?;
    let mut body = top.obj("desired_state")?;
    let list = body.array("guests")?;
    body.finish()?;
    top.finish()?;
    if list.len() > MAX_GUESTS {
        return Err(DesiredError::TooManyGuests {
            count: list.len(),
            limit: MAX_GUESTS,
        });
    }
    let guests = list
        .iter()
        .enumerate()
        .map(|(i, v)| parse_guest(guest_path(i), v))
        .collect::<Result<Vec<_>, _>>()?;
    DesiredState::new(generation, guests)
}

fn guest_path(index: usize) -> String {
    format!("desired_state.guests[{index}]")
}

fn parse_guest(path: String, v: &Value) -> Result<DesiredGuest, DesiredError> {
    let mut g = json::Obj::new(path, v)?;
    let vmid = g.u64("vmid")?;
    let vmid = u32::try_from(vmid)
        .ok()
        .filter(|_| vmid <= MAX_VMID)
        .ok_or_else(|| out_of_range(g.path("vmid"), "1..=999999999"))?;
    let state = match g.opt_str("state")? {
        None => None,
        Some(s) => Some(
            GuestState::parse(s).ok_or_else(|| DesiredError::InvalidState {
                path: g.path("state"),
            })?,
        ),
    };
    let guest = DesiredGuest {
        vmid,
        state,
        cores: g.opt_u64("cores")?,
        memory_bytes: g.opt_u64("memory_bytes")?,
        description: g.opt_str("description")?.map(str::to_owned),
        purge: g.opt_bool("purge")?.unwrap_or(false),
        create: match g.opt_value("create") {
            None => None,
            Some(v) => Some(create::parse_create(g.path("create"), v)?),
        },
    };
    g.finish()?;
    Ok(guest)
}

fn out_of_range(path: String, allowed: &'static str) -> DesiredError {
    DesiredError::OutOfRange { path, allowed }
}

/// Range rules shared by [`parse`] and [`DesiredState::new`].
fn validate_guest(path: &str, g: &DesiredGuest) -> Result<(), DesiredError> {
    let at = |key: &str| format!("{path}.{key}");
    if g.vmid == 0 || u64::from(g.vmid) > MAX_VMID {
        return Err(out_of_range(at("vmid"), "1..=999999999"));
    }
    if g.cores.is_some_and(|c| c == 0 || c > MAX_CORES) {
        return Err(out_of_range(at("cores"), "1..=8192"));
    }
    if g.memory_bytes == Some(0) {
        return Err(out_of_range(at("memory_bytes"), "above 0"));
    }
    if g.description
        .as_ref()
        .is_some_and(|d| d.len() > MAX_DESCRIPTION_BYTES)
    {
        return Err(out_of_range(at("description"), "at most 8192 bytes"));
    }
    if g.purge && g.state != Some(GuestState::Absent) {
        return Err(DesiredError::PurgeWithoutAbsent { path: at("purge") });
    }
    if let Some(c) = &g.create {
        if g.state == Some(GuestState::Absent) {
            return Err(DesiredError::CreateWithAbsent { path: at("create") });
        }
        create::validate_create(c, &at("create"))?;
        if matches!(c, CreateSpec::Qemu(q) if q.clone == g.vmid) {
            return Err(DesiredError::Invalid {
                path: at("create.clone"),
                expected: "the vmid of another guest (a template)",
            });
        }
    }
    Ok(())
}

impl DesiredState {
    /// Validates `guests` (ranges, count, unique vmids; paths name the
    /// index in the given order) and sorts them by vmid.
    pub fn new(generation: u64, guests: Vec<DesiredGuest>) -> Result<DesiredState, DesiredError> {
        if guests.len() > MAX_GUESTS {
            return Err(DesiredError::TooManyGuests {
                count: guests.len(),
                limit: MAX_GUESTS,
            });
        }
        let mut by_vmid = BTreeMap::new();
        for (i, g) in guests.into_iter().enumerate() {
            let path = guest_path(i);
            validate_guest(&path, &g)?;
            let vmid = g.vmid;
            if by_vmid.insert(vmid, g).is_some() {
                let path = format!("{path}.vmid");
                return Err(DesiredError::DuplicateVmid { path, vmid });
            }
        }
        let guests = by_vmid.into_values().collect();
        Ok(DesiredState { generation, guests })
    }

    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Listed guests, sorted by vmid, unique.
    pub fn guests(&self) -> &[DesiredGuest] {
        &self.guests
    }

    pub fn guest(&self, vmid: u32) -> Option<&DesiredGuest> {
        let i = self.guests.binary_search_by_key(&vmid, |g| g.vmid).ok()?;
        self.guests.get(i)
    }

    /// The document in its CONTRACT §5 form, omitted fields left out.
    /// `parse` of its serialization yields `self` again.
    pub fn to_document(&self) -> Value {
        let guests = self.guests.iter().map(guest_document).collect();
        let mut body = Map::new();
        body.insert("guests".into(), Value::Array(guests));
        let mut top = Map::new();
        top.insert("generation".into(), self.generation.into());
        top.insert("desired_state".into(), Value::Object(body));
        Value::Object(top)
    }
}

fn guest_document(g: &DesiredGuest) -> Value {
    let mut m = Map::new();
    m.insert("vmid".into(), g.vmid.into());
    if let Some(s) = g.state {
        m.insert("state".into(), s.as_str().into());
    }
    if let Some(c) = g.cores {
        m.insert("cores".into(), c.into());
    }
    if let Some(b) = g.memory_bytes {
        m.insert("memory_bytes".into(), b.into());
    }
    if let Some(d) = &g.description {
        m.insert("description".into(), d.as_str().into());
    }
    if g.purge {
        m.insert("purge".into(), true.into());
    }
    if let Some(c) = &g.create {
        m.insert("create".into(), c.to_value());
    }
    Value::Object(m)
}

/// The generation rule: a document older than the last applied one is
/// rejected; the same generation again is the same document re-read.
pub fn accept(
    doc: DesiredState,
    last_applied_generation: Option<u64>,
) -> Result<DesiredState, DesiredError> {
    match last_applied_generation {
        Some(last_applied) if doc.generation < last_applied => {
            Err(DesiredError::GenerationWentBack {
                generation: doc.generation,
                last_applied,
            })
        }
        _ => Ok(doc),
    }
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
mod tests;
