//! `proxmox`: the PVE REST client, the only code that holds the API token.
//!
//! ```text
//! Client ─ transport (ureq agent, token header, caps, status, read retries)
//!        ├ tls        (CA-file trust or SHA-256 leaf pin; the ureq connector)
//!        ├ status_line (the reason phrase: PVE 8.0–8.3's only error message)
//!        ├ guests     (reads: resources, status, config, snapshots)
//!        ├ actions    (mutations, each sent once)
//!        ├ provision  (create a container, clone a template; storage status)
//!        ├ tasks      (task status, log tail, wait_task)
//!        ├ replication (jobs that make PVE refuse a destroy without purge)
//!        ├ upid, normalize, error
//! ```
//!
//! Trusts: the TLS peer that [`tls`] verified, for the facts it reports;
//! nothing in an answer is trusted in shape (all decoding is checked and
//! bounded). The client knows nothing about signatures or desired state;
//! it never decides whether an action is allowed, it only performs it.
//!
//! Usage (as the reconcile engine drives it):
//!
//! ```no_run
//! # fn demo(cfg: &felhom_agent::config::ProxmoxConfig) -> Result<(), felhom_agent::proxmox::PveError> {
//! use felhom_agent::proxmox::Client;
//! let pve = Client::new(cfg)?;
//! for r in pve.resources()? {
//!     let g = r.guest_ref();
//!     let cfg = pve.config(&g)?;
//!     if cfg.lock.is_none() && pve.status(&g)?.status == "stopped" {
//!         let upid = pve.start(&g)?;
//!         pve.wait_task(&upid, std::time::Duration::from_secs(600))?;
//!     }
//! }
//! # Ok(()) }
//! ```

pub mod actions;
pub mod error;
pub mod guests;
pub mod normalize;
pub mod provision;
pub mod replication;
pub mod status_line;
pub mod tasks;
pub mod tls;
mod transport;
pub mod upid;

pub use actions::{ConfigChange, ConfigKey};
pub use error::PveError;
pub use guests::{GuestConfig, GuestRef, GuestStatus, Kind, Resource, Snapshot};
pub use provision::{LxcCreate, QemuClone, StorageStatus, TemplateDisk};
pub use tasks::{TaskOutcome, TaskState};
pub use upid::{Upid, UpidError};

use crate::config::ProxmoxConfig;

/// The PVE API client. `Send + Sync`: lanes share one through an `Arc`, and
/// its agent pools connections between them.
#[derive(Debug)]
pub struct Client {
    transport: transport::Transport,
    node: String,
    task_timeout: std::time::Duration,
}

impl Client {
    /// Builds the client: loads the TLS trust (a bad CA file is an error
    /// here), no network access yet.
    pub fn new(cfg: &ProxmoxConfig) -> Result<Client, PveError> {
        Ok(Client {
            transport: transport::Transport::new(cfg)?,
            node: cfg.node.clone(),
            task_timeout: cfg.task_timeout,
        })
    }

    /// The configured node (this host).
    pub fn node(&self) -> &str {
        &self.node
    }

    /// `proxmox.task_timeout_seconds`, the usual deadline for `wait_task`.
    pub fn task_timeout(&self) -> std::time::Duration {
        self.task_timeout
    }

    /// HTTP requests sent so far (every attempt, reads and writes).
    pub fn request_count(&self) -> u64 {
        self.transport.sent()
    }

    /// Mutating requests (POST, PUT, DELETE) sent so far.
    pub fn mutation_count(&self) -> u64 {
        self.transport.mutations()
    }

    /// `GET /cluster/resources?type=vm`: every qemu and lxc guest the token
    /// may audit, with its node and kind.
    pub fn resources(&self) -> Result<Vec<Resource>, PveError> {
        let data = self
            .transport
            .get("/cluster/resources", &[("type", "vm".to_string())])?;
        guests::decode_resources(&data)
    }

    /// `GET {guest}/status/current`.
    pub fn status(&self, g: &GuestRef) -> Result<GuestStatus, PveError> {
        let data = self
            .transport
            .get(&format!("{}/status/current", g.path()?), &[])?;
        guests::decode_status(&data)
    }

    /// `GET {guest}/config`: the config PVE will run next (pending changes
    /// applied), which is what desired state is compared against.
    pub fn config(&self, g: &GuestRef) -> Result<GuestConfig, PveError> {
        let data = self.transport.get(&format!("{}/config", g.path()?), &[])?;
        guests::decode_config(g.kind, &data)
    }

    /// `GET {guest}/pending`, folded into the config the guest runs next.
    /// Drift is compared against this: PVE versions and fakes differ in
    /// whether `config` shows pending values, `pending` always does. One
    /// read per managed guest, like `config`; its `digest` is empty.
    pub fn pending_config(&self, g: &GuestRef) -> Result<GuestConfig, PveError> {
        let data = self.transport.get(&format!("{}/pending", g.path()?), &[])?;
        guests::decode_pending(g.kind, &data)
    }

    /// `GET {guest}/config?current=1`: the config the guest runs with now.
    pub fn config_current(&self, g: &GuestRef) -> Result<GuestConfig, PveError> {
        let data = self.transport.get(
            &format!("{}/config", g.path()?),
            &[("current", "1".to_string())],
        )?;
        guests::decode_config(g.kind, &data)
    }

    /// `GET {guest}/snapshot`, without PVE's `current` pseudo-entry.
    pub fn snapshots(&self, g: &GuestRef) -> Result<Vec<Snapshot>, PveError> {
        let data = self
            .transport
            .get(&format!("{}/snapshot", g.path()?), &[])?;
        guests::decode_snapshots(&data)
    }
}

/// Decoders of every PVE answer type, exposed for fuzzing and tests.
pub mod decode {
    pub use super::guests::{
        decode_config, decode_pending, decode_resources, decode_snapshots, decode_status,
    };
    pub use super::provision::{decode_storage_status, decode_template_disks};
    pub use super::replication::decode_replication;
    pub use super::status_line::reason_phrase;
    pub use super::tasks::{decode_task_log, decode_task_status, decode_upid};
    pub use super::transport::{decode_answer, decode_answer_with_reason};
}
