//! `reconcile::verify_now`: a signed op is verified again at the moment it
//! runs (CONTRACT §4 "Verified at the moment it runs", DESIGN §5b).
//!
//! Owns: [`verify_now`], the only constructor of [`VerifiedNow`], and
//! [`consume_nonce`], the only writer of a `nonce_consumed` record, which
//! takes a [`VerifiedNow`].
//! Trusts: the signer files as they are on disk at this instant, the clock
//! at this instant, the journal's index at this instant (the queued blob
//! and every signature held for it, consumed nonces).
//!
//! Why: the pass verifies its queue when it starts, but an op may run
//! minutes later (its lane was busy), after a `key_rotation` committed, or
//! after an operator edited a signer file. Verification is not a cache:
//! whatever decides that the op may run is evaluated again, from the bytes
//! in the queue, immediately before its nonce is consumed:
//!
//! ```text
//! queued blob + sigs ─→ signer files (re-loaded) ─→ stages 1-9 at now, per signature
//!   ─→ distinct signers (authz::approvals) ─→ binding, role of each approver
//!   ─→ k of authz.approvals? ─→ VerifiedNow ─→ consume_nonce
//! ```
//!
//! Invariants (the security argument, in types):
//! - An `Allowed` (only `gate::decide` builds one) lets an action reach an
//!   executor; a `VerifiedNow` (only [`verify_now`] builds one) lets a
//!   signed action consume its nonce, and execution starts only after that.
//!   So a signed op runs only if it verified twice: at the gate, and now.
//! - A refusal here consumes nothing; the caller audits it and dequeues the
//!   op when waiting cannot help ([`NotNow::is_terminal`]).
//!
//! The two-person rule (CONTRACT §11) is decided here a second time: every
//! signature the queued op holds is verified against the same files and
//! clock by `signed::verify_approvals` (the one definition of an approval,
//! `authz::approvals`), and the op runs only if at least as many distinct
//! signers verify as `authz.approvals` requires of it. An approval whose key
//! was rotated out, or whose line's validity window closed, since the gate
//! no longer counts: the op is not started ([`NotNow::TooFewApprovals`],
//! not terminal: it stays queued with its approvals and waits, reported
//! `N of K approvals`).

use super::audit::PassAudit;
use super::gate::{self, Allowed, RefusalReason};
use super::signed::{self, QueueRejection};
use crate::authz::{Approvals, Rejected, Shortfall, Signers, VerifiedOp};
use crate::config::Config;
use crate::journal::{Journal, JournalError, Record};

/// A signed op verified against the signer files and the clock of this
/// instant, bound to its gated action. Only [`verify_now`] builds one.
#[derive(Debug)]
pub struct VerifiedNow {
    approvals: Approvals,
}

impl VerifiedNow {
    pub fn op(&self) -> &VerifiedOp {
        self.approvals.op()
    }

    /// The distinct signers whose approval verified at this instant.
    pub fn approvals(&self) -> &Approvals {
        &self.approvals
    }
}

/// Why a signed op may not run now.
#[derive(Debug)]
pub enum NotNow {
    /// Its nonce is no longer queued (consumed or dequeued meanwhile).
    NotQueued,
    /// A stage of 1-9 fails now (a key rotated away, the blob expired...).
    Rejected(Rejected),
    /// It verifies, but not for exactly the gated action, or not for this
    /// signer's role.
    Refused(RefusalReason),
    /// Fewer distinct signers approve it now than `authz.approvals`
    /// requires (an approver rotated out or expired since the gate).
    TooFewApprovals(Shortfall),
}

impl NotNow {
    /// The code of the audit record and the report row.
    pub fn code(&self) -> &'static str {
        match self {
            NotNow::NotQueued => "not_queued",
            NotNow::Rejected(r) => r.code(),
            NotNow::Refused(reason) => reason.code(),
            NotNow::TooFewApprovals(_) => "pending_signature",
        }
    }

    /// The reason of the audit record and the report row: the code, or
    /// `N of K approvals`.
    pub fn reason(&self) -> String {
        match self {
            NotNow::TooFewApprovals(short) => short.to_string(),
            other => other.code().to_string(),
        }
    }

    /// Whether waiting can never make it run (the op then leaves the queue).
    pub fn is_terminal(&self) -> bool {
        match self {
            NotNow::NotQueued => false,
            NotNow::Rejected(r) => signed::is_terminal(&r.rejection),
            NotNow::Refused(reason) => *reason != RefusalReason::Blocked,
            NotNow::TooFewApprovals(_) => false,
        }
    }
}

/// Verifies `allowed`'s signed op again, now: the queued blob and every
/// signature held for it, the signer files re-loaded, stages 1-9 with the
/// clock and the consumed nonces of this instant, then binding, the role of
/// each approver, and the number of distinct approvers.
pub fn verify_now(
    journal: &Journal,
    config: &Config,
    allowed: &Allowed,
    signed_op: &VerifiedOp,
) -> Result<VerifiedNow, NotNow> {
    let signers = Signers::load(&config.authz).unwrap_or_else(|e| {
        log::error!("signer files unusable at the moment of running, no signature verifies: {e}");
        Signers::default()
    });
    // Under the index's lock: the queue and the consumed nonces are those
    // of this instant (a lane appending meanwhile waits a signature check).
    let approvals = journal.with_index(|index| {
        let queued = index
            .queued
            .iter()
            .find(|q| q.nonce == signed_op.nonce())
            .ok_or(NotNow::NotQueued)?;
        let sigs = queued.signatures();
        let now = crate::time::now_unix();
        signed::verify_approvals(&signers, config, index, queued.blob.as_bytes(), &sigs, now)
            .map_err(NotNow::Rejected)
    })?;
    signed::log_not_counted(signed_op.nonce(), &approvals);
    let action = allowed.action();
    if !gate::binds(approvals.op(), action, &config.host_id) {
        return Err(NotNow::Refused(RefusalReason::BindingMismatch));
    }
    if approvals.role_denied(action.op.name()) {
        return Err(NotNow::Refused(RefusalReason::RoleDenied));
    }
    approvals
        .suffice(action.op.name(), &config.authz.approvals)
        .map_err(NotNow::TooFewApprovals)?;
    Ok(VerifiedNow { approvals })
}

/// Consumes the nonce of an op verified this instant, durably, before its
/// execution starts (CONTRACT §4). The only `nonce_consumed` writer.
pub fn consume_nonce(
    journal: &Journal,
    now: &VerifiedNow,
    op_id: &str,
) -> Result<(), JournalError> {
    journal
        .append(Record::NonceConsumed {
            nonce: now.op().nonce().to_string(),
            expires_at: now.op().expires_at(),
            op_id: op_id.to_string(),
        })
        .map(|_| ())
}

/// Audits why `allowed` does not run now and, when waiting cannot help,
/// takes its signed op out of the queue (its nonce is never consumed).
/// Returns the operator's line for the pass report, if any.
pub fn settle(
    audit: &PassAudit<'_>,
    journal: &Journal,
    allowed: &Allowed,
    not_now: &NotNow,
) -> Result<Option<String>, JournalError> {
    let now = crate::time::now_unix();
    let action = allowed.action();
    let nonce = allowed.authorization().map(|op| op.nonce().to_string());
    if let (NotNow::Rejected(rejected), Some(nonce)) = (not_now, &nonce) {
        let r = QueueRejection {
            nonce: nonce.clone(),
            rejected: rejected.clone(),
        };
        let line = signed::settle_rejection(audit, Some(journal), &r, Some(action), now)?;
        return Ok(Some(format!("{line} (verified again when its turn came)")));
    }
    let code = not_now.code();
    let mut record = super::dispatch::refusal_record(
        action,
        allowed.class(),
        allowed.authorization(),
        &not_now.reason(),
        now,
    );
    if let NotNow::TooFewApprovals(_) = not_now {
        // Not refused: it waits for approvals, as at the gate.
        record.decision = "pending_signature".into();
    }
    audit.record(record)?;
    match nonce {
        Some(nonce) if not_now.is_terminal() => {
            journal.append(Record::OpDequeued {
                nonce: nonce.clone(),
                reason: code.to_string(),
            })?;
            Ok(Some(format!(
                "queued signed op (nonce {nonce}) refused when its turn came: {code}; removed \
                 from the queue"
            )))
        }
        _ => Ok(None),
    }
}
