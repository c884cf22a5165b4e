//! `reconcile::signed`: signed ops waiting in the journal's queue (from
//! `--submit` and hub jobs), and the one way the reconcile side verifies a
//! blob against the journal.
//!
//! Owns: [`verify`] (stages 1-9 with stage 9 answered by the journal) and
//! [`verify_approvals`] (every signature held for one blob, counted by
//! `authz::approvals`, the two-person rule's one definition), turning
//! queued ops (a blob and its signatures) into gate inputs, splitting the
//! queue at the rotation barrier, and settling a rejected queued op (audit,
//! dequeue).
//! Trusts: the verifier; nothing in the queue is trusted by itself (the
//! signer files may have been rotated and time has passed since queueing).
//!
//! A rejection is *terminal* when waiting cannot change it (CONTRACT §7's
//! list: malformed, namespace, bad_signature, target, expired,
//! validity_too_long, role_denied, replay, unsupported_op): the op leaves
//! the queue. `unknown_signer` and `not_yet_valid` may change (a key added,
//! a clock corrected), so such an op stays queued until it expires.
//!
//! Stage 9 and compaction: the journal remembers a consumed nonce until
//! its blob expires, then compaction may forget it, and it records below
//! which expiry it forgot ([`Index::may_have_forgotten`]). A blob expiring
//! below that is `replay`: its nonce may have been consumed, and a clock
//! that stepped back since cannot make it look fresh.

use super::action::{Action, ActionOp, Source};
use super::audit::PassAudit;
use super::dispatch::class_str;
use crate::authz::{self, Approvals, Rejected, Rejection, Signers, VerifiedOp, VerifyPolicy};
use crate::config::Config;
use crate::journal::{DecisionRecord, Index, Journal, JournalError, QueuedOp, Record};

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

/// Stages 1-9 of `blob`/`sig` against `signers` and the clock now, with
/// stage 9 answered by `index`: a consumed nonce, or one the journal may
/// have forgotten, is `replay`.
pub fn verify(
    signers: &Signers,
    config: &Config,
    index: &Index,
    blob: &[u8],
    sig: &[u8],
) -> Result<VerifiedOp, Rejected> {
    verify_at(signers, config, index, blob, sig, crate::time::now_unix())
}

/// [`verify`] at the instant `now` (Unix seconds).
pub fn verify_at(
    signers: &Signers,
    config: &Config,
    index: &Index,
    blob: &[u8],
    sig: &[u8],
    now: i64,
) -> Result<VerifiedOp, Rejected> {
    let policy = policy(config, now);
    let consumed = |n: &str| index.is_nonce_consumed(n);
    let op = authz::verify_detailed(signers, &policy, blob, sig, &consumed)?;
    not_forgotten(index, op.expires_at(), op.signer_info())?;
    Ok(op)
}

/// Every approval held for `blob` (CONTRACT §11), each through stages 1-9
/// against `signers` at `now`, counted by `authz::approvals`; stage 9 as in
/// [`verify`].
pub fn verify_approvals(
    signers: &Signers,
    config: &Config,
    index: &Index,
    blob: &[u8],
    sigs: &[&[u8]],
    now: i64,
) -> Result<Approvals, Rejected> {
    let policy = policy(config, now);
    let consumed = |n: &str| index.is_nonce_consumed(n);
    let approvals = authz::approvals::verify(signers, &policy, blob, sigs, &consumed)?;
    let op = approvals.op();
    not_forgotten(index, op.expires_at(), op.signer_info())?;
    Ok(approvals)
}

/// A blob expiring below what compaction forgot may carry a consumed
/// nonce: `replay`.
fn not_forgotten(
    index: &Index,
    expires_at: i64,
    signer: &authz::SignerInfo,
) -> Result<(), Rejected> {
    if index.may_have_forgotten(expires_at) {
        return Err(Rejected {
            rejection: Rejection::Replay,
            signer: Some(signer.clone()),
            op: None,
        });
    }
    Ok(())
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

/// Whether a queued op belongs before the rotation barrier: a
/// `key_rotation`, or a blob whose op cannot even be read (it is then
/// rejected there, against the files as they were; never let through to
/// run beside ops that a rotation should have been able to stop).
pub fn is_before_barrier(q: &QueuedOp) -> bool {
    let op = serde_json::from_str::<serde_json::Value>(&q.blob)
        .ok()
        .and_then(|v| v.get("op").and_then(|o| o.as_str().map(str::to_string)));
    op.is_none_or(|op| op == "key_rotation")
}

/// Verifies each of `queue` against `signers`, now: every signature an op
/// holds, counted by `authz::approvals`.
pub fn verify_queue(
    signers: &Signers,
    config: &Config,
    index: &Index,
    queue: &[QueuedOp],
) -> (Vec<SignedJob>, Vec<QueueRejection>) {
    verify_queue_at(signers, config, index, queue, crate::time::now_unix())
}

/// [`verify_queue`] at the instant `now` (Unix seconds).
pub fn verify_queue_at(
    signers: &Signers,
    config: &Config,
    index: &Index,
    queue: &[QueuedOp],
    now: i64,
) -> (Vec<SignedJob>, Vec<QueueRejection>) {
    let mut jobs = Vec::new();
    let mut rejections = Vec::new();
    for q in queue {
        let reject = |rejected| QueueRejection {
            nonce: q.nonce.clone(),
            rejected,
        };
        let sigs = q.signatures();
        match verify_approvals(signers, config, index, q.blob.as_bytes(), &sigs, now) {
            Ok(approvals) => {
                log_not_counted(&q.nonce, &approvals);
                match action_of(approvals.op()) {
                    Some(action) => jobs.push(SignedJob { approvals, action }),
                    None => rejections.push(reject(Rejected {
                        rejection: Rejection::UnsupportedOp(approvals.op().op_name().to_string()),
                        signer: Some(approvals.op().signer_info().clone()),
                        op: None,
                    })),
                }
            }
            Err(rejected) => rejections.push(reject(rejected)),
        }
    }
    (jobs, rejections)
}

/// Held signatures that no longer count (a key rotated out, a validity
/// window closed) are logged: the operator sees why an op waits.
pub fn log_not_counted(nonce: &str, approvals: &Approvals) {
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

/// Audits a queued op's rejection and, when it is terminal, takes the op
/// out of the queue (the nonce is never consumed). `action`: the gated
/// action when the rejection came at the moment of running. Returns the
/// operator's line for the pass report.
pub fn settle_rejection(
    audit: &PassAudit<'_>,
    journal: Option<&Journal>,
    r: &QueueRejection,
    action: Option<&Action>,
    now: i64,
) -> Result<String, JournalError> {
    let code = r.rejected.code();
    audit.record(rejection_record(r, action, now))?;
    if !r.is_terminal() {
        return Ok(format!(
            "queued signed op (nonce {}) not yet acceptable: {code}; kept queued",
            r.nonce
        ));
    }
    if let Some(j) = journal {
        j.append(Record::OpDequeued {
            nonce: r.nonce.clone(),
            reason: code.to_string(),
        })?;
    }
    Ok(format!(
        "queued signed op (nonce {}) rejected: {code}; removed from the queue",
        r.nonce
    ))
}

/// The audit record of a rejected queued op: what the action is, when it
/// is known, else what the blob names (once stage 5 passed).
fn rejection_record(r: &QueueRejection, action: Option<&Action>, now: i64) -> DecisionRecord {
    let facts = r.rejected.op.as_deref();
    let signer = r.rejected.signer.as_ref();
    let (op, vmid) = match (action, facts) {
        (Some(a), _) => (a.op.name().to_string(), (a.vmid != 0).then_some(a.vmid)),
        (None, Some(f)) => (f.op.clone(), f.guest_id.parse().ok()),
        (None, None) => ("unknown".to_string(), None),
    };
    DecisionRecord {
        decision: "refused".into(),
        class: class_str(authz::op_class(&op)).into(),
        op,
        vmid,
        source: Source::Job.as_str().into(),
        signer: signer.map(|s| s.signer.clone()),
        role: signer.map(|s| s.role.to_string()),
        reason: r.rejected.code().to_string(),
        nonce: Some(r.nonce.clone()),
        at: now,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queued(blob: &str) -> QueuedOp {
        QueuedOp {
            nonce: "n".into(),
            blob: blob.into(),
            sig: String::new(),
            source: "submit".into(),
            expires_at: 0,
            added: Vec::new(),
        }
    }

    #[test]
    fn rotations_and_unreadable_blobs_go_before_the_barrier_and_nothing_else_does() {
        assert!(is_before_barrier(&queued(
            r#"{"op":"key_rotation","params":{}}"#
        )));
        assert!(is_before_barrier(&queued("not json")));
        assert!(is_before_barrier(&queued(r#"{"op":7}"#)));
        assert!(is_before_barrier(&queued(r#"{"params":{}}"#)));
        assert!(!is_before_barrier(&queued(r#"{"op":"guest_destroy"}"#)));
        assert!(!is_before_barrier(&queued(r#"{"op":"start"}"#)));
    }
}
