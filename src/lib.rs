//! felhom-agent: a hardened Proxmox VE host agent.
//!
//! The agent converges one host's guests toward a desired state and refuses,
//! by construction, to destroy or overwrite customer data unless an operator
//! signed for exactly that action with an SSH key. See `README.md` for the
//! operator's view and `SECURITY.md` for the threat model.
//!
//! Module map (dependencies point down):
//!
//! ```text
//! main ─→ cli, modes ─→ daemon ─→ status ─→ metrics, state_file
//!                 │          └──→ reconcile, hub
//!                 └──→ status, reconcile ─→ authz, journal, proxmox, hub ─→ config
//!                                     └──→ systemd, logging, time, state_file,
//!                                          ops (the op vocabulary)
//! ```
//!
//! No cycle (`tests/module_graph.rs`).
#![forbid(unsafe_code)]

pub mod authz;
pub mod base64;
pub mod cli;
pub mod config;
pub mod daemon;
pub mod exit;
pub mod hub;
pub mod journal;
pub mod logging;
pub mod metrics;
pub mod modes;
pub mod ops;
pub mod proxmox;
pub mod reconcile;
pub mod state_file;
pub mod status;
pub mod systemd;
pub mod time;
