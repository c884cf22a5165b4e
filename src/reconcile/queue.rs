//! `reconcile::queue`: the one entry point for signed ops from outside the
//! agent (`--submit` and hub jobs). Verifies (stages 1-9, nonce not
//! consumed) and queues the op durably in the journal; the next pass
//! verifies it again, gates it, and verifies it once more when it runs.
//!
//! Approvals (CONTRACT §11): a signature over the blob of an op already
//! queued is another signer's approval of it. What counts is decided by
//! `authz::approvals` against the signer files and the clock of this
//! instant:
//! - a new nonce → the op is queued with this signature (`queued: true`);
//! - a queued nonce, the same blob bytes, a signer who does not approve it
//!   yet → the signature is added (`approval`), journaled (fdatasync)
//!   before this returns;
//! - a signer who already approves it (the same key again, under any line
//!   or encoding, or another key under the same first principal) → nothing
//!   is written (`already`);
//! - a queued nonce with *other* blob bytes → `replay`: the nonce belongs
//!   to the queued blob, and an approval is only ever of exact bytes. The
//!   queued op is untouched, nothing is written;
//! - a consumed nonce → `replay`, as any stage-9 failure.
//!
//! A rejection never writes anything.

use super::signed;
use crate::authz::VerifiedOp;
use crate::authz::{Approvals, MAX_HELD_SIGNATURES, OpFacts, Rejected, Rejection, Signers};
use crate::config::Config;
use crate::journal::{Journal, JournalError, Record};

/// A verified signature and where its op stands after it.
#[derive(Debug)]
pub struct Submitted {
    /// This signature, verified (stages 1-9).
    pub op: VerifiedOp,
    /// Distinct signers whose approval verifies now, this one included.
    pub approvals: u32,
    /// What `authz.approvals` requires of this op.
    pub approvals_required: u32,
}

/// What happened to a submitted signature.
#[derive(Debug)]
pub enum Enqueued {
    /// A new op, queued with this signature.
    Queued(Submitted),
    /// Another signer's approval, added to the queued op.
    ApprovalAdded(Submitted),
    /// This signer already approves the queued op; nothing was written.
    AlreadyApproved(Submitted),
    /// The queued op holds [`MAX_HELD_SIGNATURES`] signatures already and
    /// this signer is not among those that count; nothing was written.
    Full(Submitted),
    Rejected(Rejected),
}

/// Verifies `blob`/`sig` against the signer files and the journal's
/// consumed nonces, and queues it (or adds it as an approval) with
/// `source` (`submit`, `hub:JOB_ID`).
pub fn enqueue(
    journal: &Journal,
    config: &Config,
    signers: &Signers,
    blob: &[u8],
    sig: &[u8],
    source: &str,
) -> Result<Enqueued, JournalError> {
    enqueue_at(
        journal,
        config,
        signers,
        blob,
        sig,
        source,
        crate::time::now_unix(),
    )
}

/// [`enqueue`] at the instant `now` (Unix seconds).
pub fn enqueue_at(
    journal: &Journal,
    config: &Config,
    signers: &Signers,
    blob: &[u8],
    sig: &[u8],
    source: &str,
    now: i64,
) -> Result<Enqueued, JournalError> {
    let index = journal.index();
    let op = match signed::verify_at(signers, config, &index, blob, sig, now) {
        Ok(op) => op,
        Err(rejected) => return Ok(Enqueued::Rejected(rejected)),
    };
    let approvals_required = config.authz.approvals.required(op.op_name());
    let Some(queued) = index.queued.iter().find(|q| q.nonce == op.nonce()) else {
        journal.append(Record::OpQueued {
            nonce: op.nonce().to_string(),
            blob: String::from_utf8_lossy(op.blob()).into_owned(),
            sig: String::from_utf8_lossy(sig).into_owned(),
            source: source.to_string(),
            expires_at: op.expires_at(),
        })?;
        log_submitted("queued", &op, 1, approvals_required, source);
        return Ok(Enqueued::Queued(Submitted {
            op,
            approvals: 1,
            approvals_required,
        }));
    };
    if queued.blob.as_bytes() != blob {
        log::warn!(
            "nonce {} is held by a queued op with other blob bytes; refused as replay (an \
             approval is of the exact bytes queued)",
            op.nonce()
        );
        return Ok(Enqueued::Rejected(nonce_taken(&op)));
    }
    let sigs = queued.signatures();
    let held = signed::verify_approvals(signers, config, &index, blob, &sigs, now).ok();
    let count = held.as_ref().map_or(0, Approvals::count);
    if held.as_ref().is_some_and(|a| a.includes(&op)) {
        log_submitted("already approved:", &op, count, approvals_required, source);
        return Ok(Enqueued::AlreadyApproved(Submitted {
            op,
            approvals: count,
            approvals_required,
        }));
    }
    if queued.held() >= MAX_HELD_SIGNATURES {
        log::warn!(
            "queued op (nonce {}) already holds {MAX_HELD_SIGNATURES} signatures; the approval \
             of {} is not kept",
            op.nonce(),
            op.signer()
        );
        return Ok(Enqueued::Full(Submitted {
            op,
            approvals: count,
            approvals_required,
        }));
    }
    journal.append(Record::ApprovalAdded {
        nonce: op.nonce().to_string(),
        sig: String::from_utf8_lossy(sig).into_owned(),
        source: source.to_string(),
    })?;
    let approvals = count.saturating_add(1);
    log_submitted(
        "approval added to",
        &op,
        approvals,
        approvals_required,
        source,
    );
    Ok(Enqueued::ApprovalAdded(Submitted {
        op,
        approvals,
        approvals_required,
    }))
}

/// The counts a rejected submission reports (CONTRACT §11: `--submit
/// --json` always carries them): the distinct signers whose approval of the
/// queued op holding exactly these blob bytes verifies now (0 when no
/// queued op holds them), and what `authz.approvals` requires of the op
/// (of the queued op, else of the op the rejection names, else 1).
pub fn rejected_counts(
    journal: &Journal,
    config: &Config,
    signers: &Signers,
    blob: &[u8],
    rejected: &Rejected,
) -> (u32, u32) {
    let index = journal.index();
    let named = rejected.op.as_ref().map(|f| f.op.as_str());
    let held = index
        .queued
        .iter()
        .find(|q| q.blob.as_bytes() == blob)
        .and_then(|q| {
            let sigs = q.signatures();
            let now = crate::time::now_unix();
            signed::verify_approvals(signers, config, &index, blob, &sigs, now).ok()
        });
    match held {
        Some(a) => (a.count(), config.authz.approvals.required(a.op().op_name())),
        None => (0, named.map_or(1, |op| config.authz.approvals.required(op))),
    }
}

/// `replay` for a verified signature whose nonce a queued op with other
/// bytes holds.
fn nonce_taken(op: &VerifiedOp) -> Rejected {
    Rejected {
        rejection: Rejection::Replay,
        signer: Some(op.signer_info().clone()),
        op: Some(Box::new(OpFacts {
            op: op.op_name().to_string(),
            host_id: op.host_id().to_string(),
            guest_id: op.guest_id().map(|g| g.to_string()).unwrap_or_default(),
        })),
    }
}

fn log_submitted(what: &str, op: &VerifiedOp, approvals: u32, required: u32, source: &str) {
    log::info!(
        "{what} {} for guest {} signed by {} ({}), nonce {}, from {source}: {approvals} of \
         {required} approvals",
        op.op_name(),
        op.guest_id()
            .map_or_else(|| "-".to_string(), |g| g.to_string()),
        op.signer(),
        op.role(),
        op.nonce()
    );
}
