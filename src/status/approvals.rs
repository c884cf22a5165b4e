//! `status::approvals`: how many approvals an op needs and how many it
//! holds, as `--status` reports them (CONTRACT §11, §12). Reporting only:
//! nothing here decides anything, the gate and the moment of running do.
//!
//! Every count comes from the two-person rule's one definition:
//! - needed: `authz.approvals` ([`crate::config::RequiredApprovals`]);
//! - held by a queued op: `authz::approvals::verify` over every signature
//!   the journal holds for its blob, against the signer files and the clock
//!   as they are now (the journal records signatures, not who made them),
//!   so a signer rotated out or whose window closed is no longer listed;
//! - held by an action awaiting approvals: what the last mutating pass
//!   counted for it (`status.json`, `pending_actions[].approvals`; 0 for an
//!   action no queued op approves).

use super::files::PendingAction;
use crate::authz::{self, Signers, VerifyPolicy};
use crate::config::Config;
use crate::journal::{Index, QueuedOp};

/// Distinct signers `op` needs.
pub fn required(config: &Config, op: &str) -> u32 {
    config.authz.approvals.required(op)
}

/// Approvals an action awaiting them held at the last pass.
pub fn held_by_pending(action: &PendingAction) -> u32 {
    action.approvals
}

/// The distinct signers (first principals) of a queued op whose approval
/// verifies now, in the order their signatures arrived.
pub fn queued_signers(
    signers: &Signers,
    policy: &VerifyPolicy,
    index: &Index,
    q: &QueuedOp,
) -> Vec<String> {
    let consumed = |n: &str| index.is_nonce_consumed(n);
    authz::approvals::verify(
        signers,
        policy,
        q.blob.as_bytes(),
        &q.signatures(),
        &consumed,
    )
    .map(|a| a.approvers().iter().map(|s| s.signer.clone()).collect())
    .unwrap_or_default()
}

/// Approvals a queued op holds: one per distinct signer.
pub fn held_by_queued(signers: &[String]) -> u32 {
    u32::try_from(signers.len()).unwrap_or(u32::MAX)
}
