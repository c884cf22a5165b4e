//! Actions: one intended change to one guest (or, for `key_rotation`, to
//! the host), and who asked for it.
//!
//! The op vocabulary itself, [`ActionOp`] with its exact wire params and
//! their inverse, lives in [`crate::ops`]: stage 5 of the verifier and the
//! executor share that one definition of what is valid. It is re-exported
//! here, where the reconcile modules look for it.

pub use crate::ops::{
    ActionOp, MAX_SIGNER_LINE_BYTES, MAX_SIGNER_LINES, OpError, valid_snapshot_name,
};

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

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
mod tests;
