//! `status::approvals`: how many approvals an op needs and how many it
//! holds, as `--status` reports them. The one place the two-person rule
//! (CONTRACT §11, `authz.approvals`) replaces when it is built.
//!
//! Today, before that rule: every op needs exactly one approval; a queued
//! op holds the one signature it was queued with; an action awaiting a
//! signature holds none (a verified signature for it would have queued or
//! run it). Nothing here decides anything: the gate does.
//!
//! A queued op's signer is found again, not remembered: stages 1-4 run on
//! its blob and signature against the signer files as they are now (the
//! journal records the signature, not who made it), so a signer removed
//! since it was queued is no longer listed.

use crate::authz::{self, Signers, VerifyPolicy};
use crate::journal::QueuedOp;

/// Distinct signers `op` needs.
pub fn required(_op: &str) -> u32 {
    1
}

/// Approvals an action awaiting a signature holds.
pub fn held_by_pending(_vmid: u32, _op: &str) -> u32 {
    0
}

/// The distinct signers (first principals) of a queued op whose signature
/// verifies now.
pub fn queued_signers(signers: &Signers, policy: &VerifyPolicy, q: &QueuedOp) -> Vec<String> {
    match authz::verify_signature(signers, policy, q.blob.as_bytes(), q.sig.as_bytes()) {
        Ok(line) => vec![line.first_principal().to_string()],
        Err(_) => Vec::new(),
    }
}

/// Approvals a queued op holds: one per distinct signer.
pub fn held_by_queued(signers: &[String]) -> u32 {
    u32::try_from(signers.len()).unwrap_or(u32::MAX)
}
