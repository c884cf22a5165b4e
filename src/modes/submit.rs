//! `--submit BLOB SIG`: verify (stages 1-9, as `--check-op`), then queue the
//! op durably in the journal for the next pass. The nonce is not consumed
//! here: it is consumed when the op passes the gate and executes.
//!
//! Exit 0 when queued, or when the same op is already queued (a no-op);
//! 65 when rejected (a consumed nonce is `replay`); 75 when the state lock
//! is held past the wait; 78 when the signer files are invalid.

use super::Context;
use super::check_op::{print_verdict, read_bounded, valid_doc, verify_files};
use crate::journal::Record;
use std::path::Path;

pub fn run(ctx: &Context, blob: &Path, sig: &Path) -> u8 {
    let journal = match super::open_journal(ctx) {
        Ok(j) => j,
        Err(code) => return code,
    };
    let index = journal.index();
    let consumed = |nonce: &str| index.is_nonce_consumed(nonce);
    let op = match verify_files(ctx, blob, sig, &consumed) {
        Ok(Ok(op)) => op,
        Ok(Err(doc)) => {
            print_verdict(ctx, &doc);
            return crate::exit::DATA_ERR;
        }
        Err(code) => return code,
    };
    let mut doc = valid_doc(&op);
    if index.is_queued(op.nonce()) {
        log::info!(
            "op {} (nonce {}) is already queued; nothing to do",
            op.op_name(),
            op.nonce()
        );
        set_queued(&mut doc, "already".into());
        print_verdict(ctx, &doc);
        return crate::exit::OK;
    }
    let record = Record::OpQueued {
        nonce: op.nonce().to_string(),
        blob: String::from_utf8_lossy(op.blob()).into_owned(),
        sig: match read_bounded(sig, crate::authz::MAX_ARMORED_LEN) {
            Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Err(why) => {
                log::error!("{why}");
                return crate::exit::DATA_ERR;
            }
        },
        source: "submit".to_string(),
        expires_at: op.expires_at(),
    };
    if let Err(e) = journal.append(record) {
        return super::journal_exit(&e);
    }
    log::info!(
        "queued {} for guest {} signed by {} ({}), nonce {}; the next pass executes it",
        op.op_name(),
        op.guest_id()
            .map_or_else(|| "-".to_string(), |g| g.to_string()),
        op.signer(),
        op.role(),
        op.nonce()
    );
    set_queued(&mut doc, true.into());
    print_verdict(ctx, &doc);
    crate::exit::OK
}

fn set_queued(doc: &mut serde_json::Value, value: serde_json::Value) {
    if let Some(map) = doc.as_object_mut() {
        map.insert("queued".to_string(), value);
    }
}
