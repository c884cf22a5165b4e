//! `reconcile::converge`: config writes PVE accepts but reads back
//! differently are not sent again every pass.
//!
//! Why: PVE < 8.2.2 decodes `%XX` in a description on every read but did
//! not escape `%` on write (pve-common `PVE/Tools.pm` decode_text /
//! encode_text, "fix #5486"), and every version drops a description of
//! exactly "0" (qemu-server `write_vm_config` and pve-container
//! `write_pct_config` keep it only if Perl-true). Such a field never
//! converges, and without memory the agent would rewrite it every pass.
//!
//! Rule (any managed field: `cores`, `memory`, `description`): after a
//! successful write, the next pass's read is the first read-back. When the
//! field still differs and the pass after the next write reads back the
//! same value again (the second identical read-back), the field is
//! reported as not converging, with both values, and not written again
//! until the desired or the actual value changes. So at most two writes.
//!
//! Memory across passes is a small state file, `<state_dir>/readback.json`,
//! replaced whole and durably ([`crate::state_file`]); only a mutating pass
//! writes it. It holds hashes, not values (the values are in this pass's
//! desired and actual state when they are reported), one entry per field
//! written and not yet converged, for listed guests only: O(managed
//! guests). Losing it costs at most two writes per field, so an unreadable
//! file is logged and started afresh.
//!
//! Format: `{"version":1,"fields":[{"vmid":100,"field":"description",
//! "wrote":"<sha256 hex>","read":"<sha256 hex>"|null,"seen":0..2,
//! "written":true|false}]}` (`seen`: identical read-backs in a row;
//! `written`: written since the last read).

use super::desired::{DesiredGuest, DesiredState};
use super::normalize::{canonical_description, memory_bytes_to_mib};
use super::plan::ActualGuest;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The state file's name in the state directory.
pub const READBACK_FILE: &str = "readback.json";
/// Three fields per guest of the largest desired state, plus room.
const MAX_ENTRIES: usize = 3 * super::desired::MAX_GUESTS + 64;
/// Each entry is about 200 bytes.
const MAX_FILE_BYTES: u64 = 256 * MAX_ENTRIES as u64;
/// Identical read-backs after which a field is no longer written.
const STUCK_AFTER: u8 = 2;
/// Longest value shown in a report line.
const MAX_SHOWN_CHARS: usize = 200;

/// A managed field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Field {
    Cores,
    Memory,
    Description,
}

impl Field {
    const ALL: [Field; 3] = [Field::Cores, Field::Memory, Field::Description];

    fn as_str(self) -> &'static str {
        match self {
            Field::Cores => "cores",
            Field::Memory => "memory",
            Field::Description => "description",
        }
    }

    /// The desired value in the form it is written (memory in MiB).
    fn desired(self, g: &DesiredGuest) -> Option<String> {
        match self {
            Field::Cores => g.cores.map(|c| c.to_string()),
            Field::Memory => g.memory_bytes.map(|b| memory_bytes_to_mib(b).to_string()),
            Field::Description => g
                .description
                .as_deref()
                .map(|d| canonical_description(d).to_string()),
        }
    }

    /// PVE's value in the same form; absent reads as empty.
    fn actual(self, g: &ActualGuest) -> String {
        match self {
            Field::Cores => g.cores.map(|c| c.to_string()).unwrap_or_default(),
            Field::Memory => g.memory_mib.map(|m| m.to_string()).unwrap_or_default(),
            Field::Description => {
                canonical_description(g.description.as_deref().unwrap_or("")).to_string()
            }
        }
    }

    /// The value a `set_config` params object wrote, in the same form.
    fn written(self, params: &Value) -> Option<String> {
        let v = params.get(self.as_str())?;
        match self {
            Field::Cores | Field::Memory => v.as_u64().map(|n| n.to_string()),
            Field::Description => v.as_str().map(|d| canonical_description(d).to_string()),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    vmid: u32,
    field: Field,
    wrote: String,
    read: Option<String>,
    seen: u8,
    written: bool,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileForm {
    version: u32,
    fields: Vec<Entry>,
}

/// A field not written again this pass, with both values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stuck {
    pub vmid: u32,
    pub field: &'static str,
    pub wrote: String,
    pub reads: String,
}

impl Stuck {
    /// The pass error line.
    pub fn message(&self) -> String {
        format!(
            "guest {}: {} does not converge: the agent wrote {:?} and Proxmox reads it back as \
             {:?}, twice; not written again until the desired or the actual value changes",
            self.vmid,
            self.field,
            shown(&self.wrote),
            shown(&self.reads)
        )
    }
}

fn shown(text: &str) -> String {
    text.chars().take(MAX_SHOWN_CHARS).collect()
}

fn digest(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The read-back memory of this state dir.
#[derive(Debug, Default)]
pub struct Readback {
    entries: BTreeMap<(u32, Field), Entry>,
    changed: bool,
}

impl Readback {
    fn path(state_dir: &Path) -> PathBuf {
        state_dir.join(READBACK_FILE)
    }

    /// Loads the memory; a missing file is empty, a damaged one is logged
    /// and empty (it only saves writes).
    pub fn load(state_dir: &Path) -> Readback {
        match Self::read(&Self::path(state_dir)) {
            Ok(r) => r,
            Err(why) => {
                log::warn!("{READBACK_FILE}: {why}; starting with no read-back memory");
                Readback::default()
            }
        }
    }

    fn read(path: &Path) -> Result<Readback, String> {
        use std::io::Read;
        let file = match std::fs::File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Readback::default()),
            Err(e) => return Err(e.to_string()),
        };
        let mut bytes = Vec::new();
        file.take(MAX_FILE_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| e.to_string())?;
        if bytes.len() as u64 > MAX_FILE_BYTES {
            return Err("file too large".into());
        }
        Self::read_bytes(&bytes)
    }

    fn read_bytes(bytes: &[u8]) -> Result<Readback, String> {
        let form: FileForm = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
        if form.version != 1 || form.fields.len() > MAX_ENTRIES {
            return Err("unknown version or too many entries".into());
        }
        let entries = form
            .fields
            .into_iter()
            .map(|e| ((e.vmid, e.field), e))
            .collect();
        Ok(Readback {
            entries,
            changed: false,
        })
    }

    /// Saves the memory if this pass changed it.
    pub fn save(&mut self, state_dir: &Path) -> std::io::Result<()> {
        if !self.changed {
            return Ok(());
        }
        let form = FileForm {
            version: 1,
            fields: self.entries.values().cloned().collect(),
        };
        let bytes = serde_json::to_vec(&form).map_err(std::io::Error::other)?;
        crate::state_file::write_atomically(&Self::path(state_dir), &bytes, 0o600)?;
        self.changed = false;
        Ok(())
    }

    /// Folds this pass's reads of the managed guests in; returns the fields
    /// that are not to be written this pass. Guests listed but not read
    /// (`unread`) keep their entries untouched.
    pub fn observe(
        &mut self,
        desired: &DesiredState,
        actual: &[ActualGuest],
        unread: &[u32],
    ) -> Vec<Stuck> {
        let before = self.entries.clone();
        let mut stuck = Vec::new();
        self.entries.retain(|(vmid, field), e| {
            if unread.contains(vmid) {
                return true;
            }
            let (Some(want), Some(have)) = (
                desired.guest(*vmid),
                actual.iter().find(|g| g.vmid == *vmid),
            ) else {
                return false;
            };
            let Some(wanted) = field.desired(want) else {
                return false;
            };
            let reads = field.actual(have);
            if digest(&wanted) != e.wrote || reads == wanted {
                return false;
            }
            let read = digest(&reads);
            if e.written {
                e.seen = if e.read.as_deref() == Some(read.as_str()) {
                    e.seen.saturating_add(1)
                } else {
                    1
                };
                e.read = Some(read);
                e.written = false;
            } else if e.read.as_deref() != Some(read.as_str()) {
                return false;
            }
            if e.seen >= STUCK_AFTER {
                stuck.push(Stuck {
                    vmid: *vmid,
                    field: field.as_str(),
                    wrote: wanted,
                    reads,
                });
            }
            true
        });
        self.changed |= self.entries != before;
        stuck
    }

    /// Records a successful `set_config` on `vmid` with these params.
    pub fn wrote(&mut self, vmid: u32, params: &Value) {
        for field in Field::ALL {
            let Some(value) = field.written(params) else {
                continue;
            };
            let wrote = digest(&value);
            let e = self.entries.entry((vmid, field)).or_insert_with(|| Entry {
                vmid,
                field,
                wrote: wrote.clone(),
                read: None,
                seen: 0,
                written: false,
            });
            if e.wrote != wrote {
                *e = Entry {
                    vmid,
                    field,
                    wrote,
                    read: None,
                    seen: 0,
                    written: false,
                };
            }
            e.written = true;
            self.changed = true;
        }
    }
}

/// `desired` without the stuck fields (they are not written this pass).
pub fn without_stuck(desired: &DesiredState, stuck: &[Stuck]) -> DesiredState {
    if stuck.is_empty() {
        return desired.clone();
    }
    let guests = desired
        .guests()
        .iter()
        .map(|g| {
            let mut g = g.clone();
            for s in stuck.iter().filter(|s| s.vmid == g.vmid) {
                match s.field {
                    "cores" => g.cores = None,
                    "memory" => g.memory_bytes = None,
                    _ => g.description = None,
                }
            }
            g
        })
        .collect();
    DesiredState::new(desired.generation(), guests).unwrap_or_else(|_| desired.clone())
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
mod tests;
