//! `--submit BLOB SIG`: verify (stages 1-9, as `--check-op`), then queue the
//! op durably in the journal for the next pass. The nonce is not consumed
//! here: it is consumed when the op passes the gate and executes.
//!
//! Exit 0 when queued, or when the same op is already queued (a no-op);
//! 65 when rejected (a consumed nonce is `replay`); 75 when the state lock
//! is held past the wait; 78 when the signer files are invalid.

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
            print_verdict(ctx, &unreadable());
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
    let (doc, queued) = match outcome {
        Ok(Enqueued::Queued(op)) => (valid_doc(&op), serde_json::Value::from(true)),
        Ok(Enqueued::AlreadyQueued(op)) => {
            log::info!("op (nonce {}) is already queued; nothing to do", op.nonce());
            (valid_doc(&op), serde_json::Value::from("already"))
        }
        Ok(Enqueued::Rejected(r)) => {
            log::info!("op rejected: {}", r.rejection);
            print_verdict(ctx, &rejected_doc(&r));
            return crate::exit::DATA_ERR;
        }
        Err(e) => return super::journal_exit(&e),
    };
    let mut doc = doc;
    if let Some(map) = doc.as_object_mut() {
        map.insert("queued".to_string(), queued);
    }
    print_verdict(ctx, &doc);
    crate::exit::OK
}
