//! `--submit BLOB SIG`: verify (stages 1-9, as `--check-op`), then queue the
//! op durably in the journal for the next pass. The nonce is not consumed
//! here: it is consumed when the op passes the gate and executes.
//!
//! A signature over the blob of an op already queued is another signer's
//! approval of it (CONTRACT §11, see `reconcile::queue`). `--json` adds to
//! the `--check-op` document `"queued"` (`true`: new; `"approval"`: added
//! to the queued op; `"already"`: this signer already approves it),
//! `"approvals"` (distinct signers whose approval verifies now, this one
//! included) and `"approvals_required"`.
//!
//! Every `--json` answer carries the three, a rejection too (`"queued":
//! false`, with the approvals the queued op holding these very bytes has,
//! 0 when none does), so a caller never has to guess.
//!
//! Exit 0 when queued, approved, or already approved (a no-op); 65 when
//! rejected (a consumed nonce, or one a queued op with other bytes holds,
//! is `replay`); 1 when the queued op cannot hold another signature;
//! 75 when the state lock is held past the wait; 78 when the signer files
//! are invalid.

use super::Context;
use super::check_op::{print_verdict, read_inputs, rejected_doc, unreadable, valid_doc};
use crate::authz::Signers;
use crate::reconcile::queue::{self, Enqueued};
use std::path::Path;

pub fn run(ctx: &Context, blob: &Path, sig: &Path) -> u8 {
    let signers = match Signers::load(&ctx.config.authz) {
        Ok(s) => s,
        Err(e) => {
            log::error!("signer file invalid: {e}");
            return crate::exit::CONFIG;
        }
    };
    let (blob_bytes, sig_bytes) = match read_inputs(blob, sig) {
        Ok(pair) => pair,
        Err(why) => {
            log::error!("{why}");
            print_verdict(ctx, &with_counts(unreadable(), false.into(), 0, 1));
            return crate::exit::DATA_ERR;
        }
    };
    let journal = match super::open_journal(ctx) {
        Ok(j) => j,
        Err(code) => return code,
    };
    let outcome = queue::enqueue(
        &journal,
        &ctx.config,
        &signers,
        &blob_bytes,
        &sig_bytes,
        "submit",
    );
    let (submitted, queued) = match outcome {
        Ok(Enqueued::Queued(s)) => (s, serde_json::Value::from(true)),
        Ok(Enqueued::ApprovalAdded(s)) => (s, serde_json::Value::from("approval")),
        Ok(Enqueued::AlreadyApproved(s)) => {
            log::info!(
                "{} already approves the queued op (nonce {}); nothing to do",
                s.op.signer(),
                s.op.nonce()
            );
            (s, serde_json::Value::from("already"))
        }
        Ok(Enqueued::Full(s)) => {
            log::error!(
                "the queued op (nonce {}) holds {} signatures already; this approval is not \
                 kept",
                s.op.nonce(),
                crate::authz::MAX_HELD_SIGNATURES
            );
            let doc = valid_doc(&s.op);
            print_verdict(
                ctx,
                &with_counts(doc, false.into(), s.approvals, s.approvals_required),
            );
            return crate::exit::FAILURE;
        }
        Ok(Enqueued::Rejected(r)) => {
            log::info!("op rejected: {}", r.rejection);
            let (held, required) =
                queue::rejected_counts(&journal, &ctx.config, &signers, &blob_bytes, &r);
            print_verdict(
                ctx,
                &with_counts(rejected_doc(&r), false.into(), held, required),
            );
            return crate::exit::DATA_ERR;
        }
        Err(e) => return super::journal_exit(&e),
    };
    let doc = with_counts(
        valid_doc(&submitted.op),
        queued,
        submitted.approvals,
        submitted.approvals_required,
    );
    print_verdict(ctx, &doc);
    if !ctx.json {
        println!(
            "{} of {} approvals",
            submitted.approvals, submitted.approvals_required
        );
    }
    crate::exit::OK
}

/// The `--check-op` document plus `queued`, `approvals` and
/// `approvals_required` (CONTRACT §11).
fn with_counts(
    mut doc: serde_json::Value,
    queued: serde_json::Value,
    approvals: u32,
    required: u32,
) -> serde_json::Value {
    if let Some(map) = doc.as_object_mut() {
        map.insert("queued".to_string(), queued);
        map.insert("approvals".to_string(), approvals.into());
        map.insert("approvals_required".to_string(), required.into());
    }
    doc
}
