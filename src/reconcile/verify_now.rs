//! `reconcile::verify_now`: a signed op is verified again at the moment it
//! runs (CONTRACT §4 "Verified at the moment it runs", DESIGN §5b).
//!
//! Owns: [`verify_now`], the only constructor of [`VerifiedNow`], and
//! [`consume_nonce`], the only writer of a `nonce_consumed` record, which
//! takes a [`VerifiedNow`].
//! Trusts: the signer files as they are on disk at this instant, the clock
//! at this instant, the journal's index at this instant (the queued blob
//! and signature, consumed nonces).
//!
//! Why: the pass verifies its queue when it starts, but an op may run
//! minutes later (its lane was busy), after a `key_rotation` committed, or
//! after an operator edited a signer file. Verification is not a cache:
//! whatever decides that the op may run is evaluated again, from the bytes
//! in the queue, immediately before its nonce is consumed:
//!
//! ```text
//! queued blob + sig ─→ signer files (re-loaded) ─→ stages 1-9 at now
//!                   ─→ binding to the gated action ─→ VerifiedNow ─→ consume_nonce
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
//! One signature per op today. An op that needs k approvals (CONTRACT §11)
//! verifies each of its signatures here with [`signature_now`], each
//! against the same files and clock, and counts distinct signers.

use super::audit::PassAudit;
use super::gate::{self, Allowed, RefusalReason};
use super::signed::{self, QueueRejection};
use crate::authz::{Rejected, Role, Signers, VerifiedOp};
use crate::config::Config;
use crate::journal::{Index, Journal, JournalError, Record};

/// A signed op verified against the signer files and the clock of this
/// instant, bound to its gated action. Only [`verify_now`] builds one.
#[derive(Debug)]
pub struct VerifiedNow {
    op: VerifiedOp,
}

impl VerifiedNow {
    pub fn op(&self) -> &VerifiedOp {
        &self.op
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
}

impl NotNow {
    /// The code of the audit record and the report row.
    pub fn code(&self) -> &'static str {
        match self {
            NotNow::NotQueued => "not_queued",
            NotNow::Rejected(r) => r.code(),
            NotNow::Refused(reason) => reason.code(),
        }
    }

    /// Whether waiting can never make it run (the op then leaves the queue).
    pub fn is_terminal(&self) -> bool {
        match self {
            NotNow::NotQueued => false,
            NotNow::Rejected(r) => signed::is_terminal(&r.rejection),
            NotNow::Refused(reason) => *reason != RefusalReason::Blocked,
        }
    }
}

/// Verifies `allowed`'s signed op again, now: the queued blob and
/// signature, the signer files re-loaded, stages 1-9 with the clock and the
/// consumed nonces of this instant, then binding and role.
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
    let op = journal.with_index(|index| {
        let queued = index
            .queued
            .iter()
            .find(|q| q.nonce == signed_op.nonce())
            .ok_or(NotNow::NotQueued)?;
        signature_now(
            &signers,
            config,
            index,
            queued.blob.as_bytes(),
            queued.sig.as_bytes(),
        )
        .map_err(NotNow::Rejected)
    })?;
    if !gate::binds(&op, allowed.action(), &config.host_id) {
        return Err(NotNow::Refused(RefusalReason::BindingMismatch));
    }
    if op.role() == Role::Recovery && allowed.action().op.name() != "key_rotation" {
        return Err(NotNow::Refused(RefusalReason::RoleDenied));
    }
    Ok(VerifiedNow { op })
}

/// One signature over the queued blob, stages 1-9, now.
fn signature_now(
    signers: &Signers,
    config: &Config,
    index: &Index,
    blob: &[u8],
    sig: &[u8],
) -> Result<VerifiedOp, Rejected> {
    signed::verify(signers, config, index, blob, sig)
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
            nonce: now.op.nonce().to_string(),
            expires_at: now.op.expires_at(),
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
    audit.record(super::dispatch::refusal_record(
        action,
        allowed.class(),
        allowed.authorization(),
        code,
        now,
    ))?;
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
