//! Guest mutations: config writes, power actions, destroy, rollback.
//!
//! Every call here is sent exactly once (see `transport`): a lost answer
//! leaves the outcome unknown, and the caller re-reads state (or, after a
//! crash, recovery reads the task) instead of repeating the action.
//!
//! Exact requests (form-encoded; `{g}` is `/nodes/{node}/{qemu|lxc}/{vmid}`):
//!
//! | call | request | answer |
//! |---|---|---|
//! | `set_config` qemu | `POST {g}/config` `cores memory description delete digest` | UPID |
//! | `set_config` lxc, `set_config_sync` | `PUT {g}/config` (same fields) | null |
//! | `start` | `POST {g}/status/start` | UPID |
//! | `shutdown` | `POST {g}/status/shutdown` `timeout=N forceStop=0` | UPID |
//! | `stop` | `POST {g}/status/stop` | UPID |
//! | `reboot` | `POST {g}/status/reboot` | UPID |
//! | `destroy` | `DELETE {g}?purge=0|1` | UPID |
//! | `rollback` | `POST {g}/snapshot/{name}/rollback` | UPID |

use serde_json::Value;

use super::Client;
use super::error::PveError;
use super::guests::{GuestRef, Kind, MAX_DESCRIPTION_CHARS, valid_snapshot_name};
use super::tasks::decode_upid;
use super::transport::Method;
use super::upid::Upid;

/// A config key the agent manages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ConfigKey {
    Cores,
    Memory,
    Description,
}

impl ConfigKey {
    pub fn as_str(self) -> &'static str {
        match self {
            ConfigKey::Cores => "cores",
            ConfigKey::Memory => "memory",
            ConfigKey::Description => "description",
        }
    }
}

/// One config write: the keys to set, and the keys to delete.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfigChange {
    pub cores: Option<u32>,
    pub memory_mib: Option<u64>,
    pub description: Option<String>,
    pub delete: Vec<ConfigKey>,
}

impl ConfigChange {
    pub fn is_empty(&self) -> bool {
        self.cores.is_none()
            && self.memory_mib.is_none()
            && self.description.is_none()
            && self.delete.is_empty()
    }

    fn sets(&self, key: ConfigKey) -> bool {
        match key {
            ConfigKey::Cores => self.cores.is_some(),
            ConfigKey::Memory => self.memory_mib.is_some(),
            ConfigKey::Description => self.description.is_some(),
        }
    }

    /// The form fields, `digest` last.
    fn form(&self, digest: &str) -> Result<Vec<(&'static str, String)>, PveError> {
        if self.is_empty() {
            return Err(PveError::InvalidRequest("empty config change"));
        }
        if self.delete.iter().any(|k| self.sets(*k)) {
            return Err(PveError::InvalidRequest("a key is both set and deleted"));
        }
        if digest.is_empty() || digest.len() > 64 || !digest.bytes().all(|b| b.is_ascii_hexdigit())
        {
            return Err(PveError::InvalidRequest("config digest is not hexadecimal"));
        }
        let mut form = Vec::new();
        if let Some(c) = self.cores {
            form.push(("cores", c.to_string()));
        }
        if let Some(m) = self.memory_mib {
            form.push(("memory", m.to_string()));
        }
        if let Some(d) = &self.description {
            if d.chars().count() > MAX_DESCRIPTION_CHARS {
                return Err(PveError::InvalidRequest("description too long"));
            }
            form.push(("description", d.clone()));
        }
        if !self.delete.is_empty() {
            let mut keys: Vec<&str> = self.delete.iter().map(|k| k.as_str()).collect();
            keys.sort_unstable();
            keys.dedup();
            form.push(("delete", keys.join(",")));
        }
        form.push(("digest", digest.to_string()));
        Ok(form)
    }
}

impl Client {
    /// Writes the config. qemu: the asynchronous `POST`, whose task the
    /// caller waits for (`Some(upid)`); lxc: `PUT`, applied on return (`None`).
    pub fn set_config(
        &self,
        g: &GuestRef,
        change: &ConfigChange,
        digest: &str,
    ) -> Result<Option<Upid>, PveError> {
        let form = change.form(digest)?;
        let path = format!("{}/config", g.path()?);
        match g.kind {
            Kind::Qemu => {
                let data = self.transport.mutate(Method::Post, &path, &form)?;
                decode_upid(&data).map(Some)
            }
            Kind::Lxc => {
                let data = self.transport.mutate(Method::Put, &path, &form)?;
                optional_upid(&data)
            }
        }
    }

    /// Writes the config with the synchronous `PUT` (qemu and lxc).
    pub fn set_config_sync(
        &self,
        g: &GuestRef,
        change: &ConfigChange,
        digest: &str,
    ) -> Result<Option<Upid>, PveError> {
        let form = change.form(digest)?;
        let path = format!("{}/config", g.path()?);
        let data = self.transport.mutate(Method::Put, &path, &form)?;
        optional_upid(&data)
    }

    pub fn start(&self, g: &GuestRef) -> Result<Upid, PveError> {
        self.power(g, "start", &[])
    }

    /// Graceful shutdown: PVE gives up after `timeout_s` and never forces.
    pub fn shutdown(&self, g: &GuestRef, timeout_s: u64) -> Result<Upid, PveError> {
        let form = [
            ("timeout", timeout_s.to_string()),
            ("forceStop", "0".to_string()),
        ];
        self.power(g, "shutdown", &form)
    }

    /// Hard stop (power off).
    pub fn stop(&self, g: &GuestRef) -> Result<Upid, PveError> {
        self.power(g, "stop", &[])
    }

    pub fn reboot(&self, g: &GuestRef) -> Result<Upid, PveError> {
        self.power(g, "reboot", &[])
    }

    fn power(&self, g: &GuestRef, action: &str, form: &[(&str, String)]) -> Result<Upid, PveError> {
        let path = format!("{}/status/{action}", g.path()?);
        decode_upid(&self.transport.mutate(Method::Post, &path, form)?)
    }

    /// Destroys the guest and its disks; `purge` also removes it from
    /// backup jobs, replication and HA.
    pub fn destroy(&self, g: &GuestRef, purge: bool) -> Result<Upid, PveError> {
        let query = [("purge", if purge { "1" } else { "0" }.to_string())];
        decode_upid(&self.transport.mutate(Method::Delete, &g.path()?, &query)?)
    }

    /// Rolls the guest back to snapshot `snap` (current state is lost).
    pub fn rollback(&self, g: &GuestRef, snap: &str) -> Result<Upid, PveError> {
        if !valid_snapshot_name(snap) {
            return Err(PveError::InvalidRequest(
                "snapshot name is not a PVE config id",
            ));
        }
        let path = format!("{}/snapshot/{snap}/rollback", g.path()?);
        decode_upid(&self.transport.mutate(Method::Post, &path, &[])?)
    }
}

/// A synchronous write answers `null`; some PVE versions answer a UPID.
fn optional_upid(data: &Value) -> Result<Option<Upid>, PveError> {
    match data {
        Value::Null => Ok(None),
        other => decode_upid(other).map(Some),
    }
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
    fn form_carries_digest_and_delete() {
        let change = ConfigChange {
            cores: Some(2),
            memory_mib: None,
            description: None,
            delete: vec![ConfigKey::Description],
        };
        let form = change.form("abc123").unwrap();
        assert_eq!(
            form,
            vec![
                ("cores", "2".to_string()),
                ("delete", "description".to_string()),
                ("digest", "abc123".to_string())
            ]
        );
    }

    #[test]
    fn refuses_empty_contradictory_or_undigested_changes() {
        assert!(ConfigChange::default().form("ab").is_err());
        let both = ConfigChange {
            cores: Some(1),
            delete: vec![ConfigKey::Cores],
            ..ConfigChange::default()
        };
        assert!(both.form("ab").is_err());
        let ok = ConfigChange {
            cores: Some(1),
            ..ConfigChange::default()
        };
        assert!(ok.form("").is_err());
        assert!(ok.form("zz").is_err());
        assert!(ok.form("ab&x=1").is_err());
    }
}
