//! `reconcile`: make the host's guests match the desired state, one pass at
//! a time, and touch nothing that is not listed.
//!
//! A pass, as data (DESIGN §2a):
//!
//! ```text
//! desired (provider) ──┐
//! actual (proxmox) ────┴→ normalize → plan (pure) → actions
//!                                                    │ gate: classify → bind → decision
//!                                                    ▼
//!                            lanes: one worker thread per vmid, bounded parallelism
//!                                                    ▼
//!                                    report (`--plan` / `--reconcile-now`)
//! ```
//!
//! Submodules, one responsibility each:
//! - [`desired`]: the CONTRACT §5 document, strict parser, generation rule,
//!   providers and the last good copy in the state directory;
//! - [`normalize`]: canonical forms, so a value the agent wrote and read
//!   back never reads as drift;
//! - [`action`]: the op vocabulary (CONTRACT §4) and its exact params;
//! - [`plan`]: the pure diff desired × actual → actions;
//! - [`provision`]: which creations a pass attempts, within the config's
//!   bounds; [`txn`]: each creation as one journaled transaction, its
//!   compensating rollback and its recovery;
//! - [`lanes`]: thread-per-guest workers, the per-guest serializer;
//! - [`report`]: the pass document and its exit code (CONTRACT §6).
//!
//! The pass itself (engine), classification, the gate, recovery and the
//! executors are separate modules beside these, with the executors' helpers
//! for real PVE: [`preflight`] (would PVE refuse this signed op now?),
//! [`settle`] (judging power actions by the guest's state; lost answers),
//! and [`converge`] (writes PVE reads back differently are not resent).

pub mod action;
pub mod actual;
pub mod audit;
mod candidates;
pub mod classify;
pub mod converge;
pub mod desired;
mod dispatch;
pub mod engine;
pub mod execute;
pub mod gate;
pub mod lanes;
pub mod leftovers;
pub mod normalize;
pub mod pending;
pub mod plan;
pub mod preflight;
pub mod provision;
pub mod queue;
pub mod recover;
pub mod report;
pub mod settle;
pub mod signed;
pub mod txn;
pub mod verify_now;
