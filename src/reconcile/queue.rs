//! `reconcile::queue`: the one entry point for signed ops from outside the
//! agent (`--submit` and hub jobs). Verifies (stages 1-9, nonce not
//! consumed) and queues the op durably in the journal; the next pass
//! verifies it again, gates it, and verifies it once more when it runs.
//!
//! Submitting an op that is already queued is a no-op; one whose nonce was
//! consumed is `replay`. A rejection never writes anything.

use super::signed;
use crate::authz::{Rejected, Signers, VerifiedOp};
use crate::config::Config;
use crate::journal::{Journal, JournalError, Record};

/// What happened to a submitted op.
#[derive(Debug)]
pub enum Enqueued {
    Queued(VerifiedOp),
    AlreadyQueued(VerifiedOp),
    Rejected(Rejected),
}

/// Verifies `blob`/`sig` against the signer files and the journal's
/// consumed nonces, and queues it with `source` (`submit`, `hub:JOB_ID`).
pub fn enqueue(
    journal: &Journal,
    config: &Config,
    signers: &Signers,
    blob: &[u8],
    sig: &[u8],
    source: &str,
) -> Result<Enqueued, JournalError> {
    let index = journal.index();
    let op = match signed::verify(signers, config, &index, blob, sig) {
        Ok(op) => op,
        Err(rejected) => return Ok(Enqueued::Rejected(rejected)),
    };
    if index.is_queued(op.nonce()) {
        return Ok(Enqueued::AlreadyQueued(op));
    }
    journal.append(Record::OpQueued {
        nonce: op.nonce().to_string(),
        blob: String::from_utf8_lossy(op.blob()).into_owned(),
        sig: String::from_utf8_lossy(sig).into_owned(),
        source: source.to_string(),
        expires_at: op.expires_at(),
    })?;
    log::info!(
        "queued {} for guest {} signed by {} ({}), nonce {}, from {source}",
        op.op_name(),
        op.guest_id()
            .map_or_else(|| "-".to_string(), |g| g.to_string()),
        op.signer(),
        op.role(),
        op.nonce()
    );
    Ok(Enqueued::Queued(op))
}
