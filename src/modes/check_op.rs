//! `--check-op BLOB SIG`: run verification stages 1-9 on a blob and its
//! armored signature without consuming the nonce; print the verdict.
//!
//! Output (`--json`, CONTRACT §6): `{"valid", "error", "op", "host_id",
//! "guest_id", "signer", "role", "key_fingerprint"}`, each field `null` when
//! the pipeline stopped before learning it; `guest_id` is the blob's string.
//! Exit 0 valid, 65 rejected (an unreadable or oversized BLOB/SIG file is
//! `malformed`), 78 when the signer files are invalid.

use super::Context;
use crate::authz::{self, Rejected, Signers, VerifiedOp};
use serde_json::{Value, json};
use std::io::Read;
use std::path::Path;

pub fn run(ctx: &Context, blob: &Path, sig: &Path) -> u8 {
    // Stage 9 reads the journal's consumed nonces, without the lock and
    // without writing (a read-only mode never changes the journal).
    let index = match crate::journal::open_read_only(&ctx.config.state_dir) {
        Ok(i) => i,
        Err(e) => return super::journal_exit(&e),
    };
    match verify_files(ctx, blob, sig, &index) {
        Ok(Ok(op)) => {
            print_verdict(ctx, &valid_doc(&op));
            crate::exit::OK
        }
        Ok(Err(doc)) => {
            print_verdict(ctx, &doc);
            crate::exit::DATA_ERR
        }
        Err(code) => code,
    }
}

/// Loads the signer files, reads BLOB and SIG (bounded) and runs stages
/// 1-9. `Ok(Err(doc))` is a rejection with its verdict document; `Err` is
/// an exit code (signer files invalid).
pub(super) fn verify_files(
    ctx: &Context,
    blob: &Path,
    sig: &Path,
    index: &crate::journal::Index,
) -> Result<Result<VerifiedOp, Value>, u8> {
    let signers = match Signers::load(&ctx.config.authz) {
        Ok(s) => s,
        Err(e) => {
            log::error!("signer file invalid: {e}");
            return Err(crate::exit::CONFIG);
        }
    };
    let (blob_bytes, sig_bytes) = match read_inputs(blob, sig) {
        Ok(pair) => pair,
        Err(why) => {
            log::error!("{why}");
            return Ok(Err(unreadable()));
        }
    };
    match crate::reconcile::signed::verify(&signers, &ctx.config, index, &blob_bytes, &sig_bytes) {
        Ok(op) => Ok(Ok(op)),
        Err(rejected) => {
            log::info!("op rejected: {}", rejected.rejection);
            Ok(Err(rejected_doc(&rejected)))
        }
    }
}

/// BLOB and SIG, each bounded by its format's limit.
pub(super) fn read_inputs(blob: &Path, sig: &Path) -> Result<(Vec<u8>, Vec<u8>), String> {
    let blob = read_bounded(blob, authz::MAX_BLOB_LEN)?;
    Ok((blob, read_bounded(sig, authz::MAX_ARMORED_LEN)?))
}

/// Reads at most `max` bytes; a larger or unreadable file is an error text.
fn read_bounded(path: &Path, max: usize) -> Result<Vec<u8>, String> {
    let file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut bytes = Vec::new();
    file.take(u64::try_from(max).unwrap_or(u64::MAX) + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    if bytes.len() > max {
        return Err(format!("{}: larger than {max} bytes", path.display()));
    }
    Ok(bytes)
}

pub(super) fn valid_doc(op: &VerifiedOp) -> Value {
    json!({
        "valid": true,
        "error": null,
        "op": op.op_name(),
        "host_id": op.host_id(),
        "guest_id": op.guest_id().map(|g| g.to_string()).unwrap_or_default(),
        "signer": op.signer(),
        "role": op.role().to_string(),
        "key_fingerprint": op.key_fingerprint(),
    })
}

pub(super) fn rejected_doc(r: &Rejected) -> Value {
    let (op, host, guest) = match &r.op {
        Some(f) => (json!(f.op), json!(f.host_id), json!(f.guest_id)),
        None => (Value::Null, Value::Null, Value::Null),
    };
    let signer = r.signer.as_ref();
    json!({
        "valid": false,
        "error": r.code(),
        "op": op,
        "host_id": host,
        "guest_id": guest,
        "signer": signer.map(|s| s.signer.clone()),
        "role": signer.map(|s| s.role.to_string()),
        "key_fingerprint": signer.map(|s| s.key_fingerprint.clone()),
    })
}

pub(super) fn unreadable() -> Value {
    json!({
        "valid": false, "error": "malformed", "op": null, "host_id": null,
        "guest_id": null, "signer": null, "role": null, "key_fingerprint": null,
    })
}

pub(super) fn print_verdict(ctx: &Context, doc: &Value) {
    if ctx.json {
        super::print_json(doc);
        return;
    }
    let field = |k: &str| match doc.get(k) {
        Some(Value::String(s)) => s.clone(),
        _ => "-".to_string(),
    };
    let head = if doc.get("valid") == Some(&Value::Bool(true)) {
        "valid".to_string()
    } else {
        format!("rejected: {}", field("error"))
    };
    println!(
        "{head} op={} host={} guest={} signer={} role={} key={}",
        field("op"),
        field("host_id"),
        field("guest_id"),
        field("signer"),
        field("role"),
        field("key_fingerprint")
    );
}
