//! `reconcile::signed`: signed ops waiting in the journal's queue (from
//! `--submit` and hub jobs), verified again at the moment they would run.
//!
//! Owns: turning queued ops (a blob and the signatures held for it) into
//! gate inputs: each op's approvals, counted by `authz::approvals` against
//! the signer files and the clock of this pass.
//! Trusts: the verifier; nothing in the queue is trusted by itself (the
//! signer files may have been rotated and time has passed since queueing).
//!
//! A rejection is *terminal* when waiting cannot change it (CONTRACT §7's
//! list: malformed, namespace, bad_signature, target, expired,
//! validity_too_long, role_denied, replay, unsupported_op): the op leaves
//! the queue. `unknown_signer` and `not_yet_valid` may change (a key added,
//! a clock corrected), so such an op stays queued until it expires.

use super::action::{Action, ActionOp, Source};
use crate::authz::{self, Approvals, Rejected, Rejection, Signers, VerifiedOp, VerifyPolicy};
use crate::config::Config;
use crate::journal::QueuedOp;

/// A queued op with at least one approval that verifies, and the action it
/// asks for (whether its approvals are enough is the gate's decision).
#[derive(Debug)]
pub struct SignedJob {
    pub approvals: Approvals,
    pub action: Action,
}

impl SignedJob {
    pub fn op(&self) -> &VerifiedOp {
        self.approvals.op()
    }
}

/// A queued op that did not verify.
#[derive(Debug)]
pub struct QueueRejection {
    pub nonce: String,
    pub rejected: Rejected,
}

impl QueueRejection {
    pub fn is_terminal(&self) -> bool {
        is_terminal(&self.rejected.rejection)
    }
}

/// Whether waiting can never make this rejection go away (CONTRACT §7).
pub fn is_terminal(r: &Rejection) -> bool {
    !r.may_change()
}

/// The verification policy of this agent at `now`.
pub fn policy(config: &Config, now: i64) -> VerifyPolicy {
    VerifyPolicy {
        host_id: config.host_id.clone(),
        now,
        clock_skew_seconds: config.authz.clock_skew_seconds,
        max_validity_seconds: config.authz.max_validity_seconds,
        require_user_presence: config.authz.require_user_presence,
    }
}

/// The action a verified op asks for, built from the blob alone.
pub fn action_of(op: &VerifiedOp) -> Option<Action> {
    let action_op = ActionOp::from_name_params(op.op_name(), op.params())?;
    let vmid = match action_op {
        ActionOp::KeyRotation { .. } => 0,
        _ => op.guest_id()?,
    };
    Some(Action {
        vmid,
        op: action_op,
        source: Source::Job,
    })
}

/// Verifies every queued op: each of its signatures, now, with
/// `authz::approvals`. `consumed` answers stage 9 from the journal.
pub fn verify_queue(
    signers: &Signers,
    policy: &VerifyPolicy,
    queue: &[QueuedOp],
    consumed: &dyn Fn(&str) -> bool,
) -> (Vec<SignedJob>, Vec<QueueRejection>) {
    let mut jobs = Vec::new();
    let mut rejections = Vec::new();
    for q in queue {
        let blob = q.blob.as_bytes();
        match authz::approvals::verify(signers, policy, blob, &q.signatures(), consumed) {
            Ok(approvals) => {
                log_not_counted(&q.nonce, &approvals);
                match action_of(approvals.op()) {
                    Some(action) => jobs.push(SignedJob { approvals, action }),
                    None => rejections.push(QueueRejection {
                        nonce: q.nonce.clone(),
                        rejected: Rejected {
                            rejection: Rejection::UnsupportedOp(
                                approvals.op().op_name().to_string(),
                            ),
                            signer: Some(approvals.op().signer_info().clone()),
                            op: None,
                        },
                    }),
                }
            }
            Err(rejected) => rejections.push(QueueRejection {
                nonce: q.nonce.clone(),
                rejected,
            }),
        }
    }
    (jobs, rejections)
}

/// Held signatures that no longer count (a key rotated out, a validity
/// window closed) are logged: the operator sees why an op waits.
fn log_not_counted(nonce: &str, approvals: &Approvals) {
    for r in approvals.not_counted() {
        let who = r.signer.as_ref().map_or_else(
            || "a signer no longer admitted".to_string(),
            |s| s.signer.clone(),
        );
        log::warn!(
            "queued signed op (nonce {nonce}): the approval of {who} does not count now: {}",
            r.rejection
        );
    }
}
