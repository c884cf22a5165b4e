//! Config `provision` (CONTRACT §10): the bounds on what the agent may
//! create. Without this section (or with an empty `storages`) nothing is
//! ever created, whatever the desired state asks.
//!
//! ```json
//! "provision": {"storages": ["local-lvm"], "max_creates_per_pass": 4, "min_free_percent": 10}
//! ```
//!
//! - `storages` (required): PVE storage ids a creation may allocate on,
//!   unique, at most [`MAX_STORAGES`]. Empty means provisioning is off.
//! - `max_creates_per_pass` (default 4): 1..=[`MAX_CREATES_PER_PASS`].
//! - `min_free_percent` (default 10): 0..=99; a creation that would leave
//!   its target storage with less free space is not attempted.
//!
//! Why bounds at all: creation is benign (unsigned), so a compromised hub
//! may ask for as many as it likes; an overfilled thin pool damages every
//! guest on it.

use super::ConfigError;
use super::json::Obj;
pub use crate::ops::create::valid_storage_id;
use serde_json::Value;

/// More storages than any one host configures.
pub const MAX_STORAGES: usize = 64;
/// Creations are slow (minutes each); more per pass only delays reports.
pub const MAX_CREATES_PER_PASS: u64 = 64;

/// The validated `provision` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProvisionConfig {
    pub storages: Vec<String>,
    pub max_creates_per_pass: u64,
    pub min_free_percent: u64,
}

impl ProvisionConfig {
    /// Whether any creation may happen at all.
    pub fn enabled(&self) -> bool {
        !self.storages.is_empty()
    }

    pub fn allows_storage(&self, storage: &str) -> bool {
        self.storages.iter().any(|s| s == storage)
    }

    pub fn to_json(&self) -> Value {
        serde_json::json!({
            "storages": self.storages,
            "max_creates_per_pass": self.max_creates_per_pass,
            "min_free_percent": self.min_free_percent,
        })
    }
}

pub(super) fn parse_provision(p: &mut Obj<'_>) -> Result<ProvisionConfig, ConfigError> {
    let items = p.array("storages")?;
    if items.len() > MAX_STORAGES {
        return Err(p
            .error("storages", &format!("at most {MAX_STORAGES} storages"))
            .into());
    }
    let mut storages: Vec<String> = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let at = format!("storages[{i}]");
        let id = item
            .as_str()
            .ok_or_else(|| p.error(&at, "expected a storage id (a string)"))?;
        if !valid_storage_id(id) {
            return Err(p
                .error(
                    &at,
                    "not a PVE storage id (a letter, then letters, digits, '-', '_' or '.')",
                )
                .into());
        }
        if storages.iter().any(|s| s == id) {
            return Err(p.error(&at, "listed twice").into());
        }
        storages.push(id.to_string());
    }
    let max_creates_per_pass = p.opt_u64("max_creates_per_pass")?.unwrap_or(4);
    if !(1..=MAX_CREATES_PER_PASS).contains(&max_creates_per_pass) {
        return Err(p
            .error(
                "max_creates_per_pass",
                &format!("must be between 1 and {MAX_CREATES_PER_PASS}"),
            )
            .into());
    }
    let min_free_percent = p.opt_u64("min_free_percent")?.unwrap_or(10);
    if min_free_percent > 99 {
        return Err(p
            .error("min_free_percent", "must be between 0 and 99")
            .into());
    }
    p.finish()?;
    Ok(ProvisionConfig {
        storages,
        max_creates_per_pass,
        min_free_percent,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::ops::create::MAX_STORAGE_ID_LEN;

    #[test]
    fn storage_ids_follow_pve_format() {
        for ok in ["local", "local-lvm", "ceph_pool.2", "a1"] {
            assert!(valid_storage_id(ok), "{ok}");
        }
        let long = "a".repeat(MAX_STORAGE_ID_LEN + 1);
        for bad in [
            "",
            "a",
            "1local",
            "local-",
            "loc al",
            "loc/al",
            "lo:cal",
            long.as_str(),
        ] {
            assert!(!valid_storage_id(bad), "{bad}");
        }
    }
}
