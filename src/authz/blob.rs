//! The op blob (CONTRACT §4): canonical JSON, its fields, and the op
//! vocabulary with each op's params.
//!
//! Owns: stage 5 (parse + canonical form + field and params rules),
//! serialization of new blobs for `--pending`, and op classes.
//! Trusts: nothing; the bytes are checked after the signature (stage 4).
//!
//! ```text
//! {"expires_at":T,"issued_at":T,"key_id":S,"nonce":HEX,"op":OP,"params":{..},
//!  "target":{"guest_id":VMID|"","host_id":S}}
//! ```
//!
//! - Canonical: the bytes must equal serde_json's compact serialization of
//!   the parsed value (keys sorted by bytes at every level, no whitespace,
//!   minimal escapes, no trailing newline). Duplicate keys therefore fail.
//! - No floating-point number anywhere (integers only).
//! - `nonce`: 32..=64 lowercase hex. `op`: `[a-z][a-z0-9_]{0,63}`.
//! - `guest_id`: `""` or a vmid 100..=999999999 in decimal without leading
//!   zeros; guest ops need a vmid, `key_rotation` needs `""`.
//! - Params of the ops this host executes are checked by
//!   [`crate::ops::ActionOp::parse`], the very function execution uses, so
//!   stage 5 accepts exactly what execution accepts; a `key_rotation`'s
//!   lines are also checked as the executor will write them
//!   ([`Signers::check_rotation`]). Other op names pass with any object
//!   (they end as `unsupported_op` after stage 9).

use super::rfc3339::{self, Timestamp};
use super::signers::Signers;
use crate::ops::{ActionOp, OpError, is_guest_op};
use serde_json::{Map, Value};
use std::fmt;

/// Largest blob read: a key_rotation with many signer lines stays far below.
pub const MAX_BLOB_LEN: usize = 64 * 1024;
const MAX_KEY_ID: usize = 256;
const MAX_HOST_ID: usize = 253;
const FIELDS: [&str; 7] = [
    "expires_at",
    "issued_at",
    "key_id",
    "nonce",
    "op",
    "params",
    "target",
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlobError {
    TooLarge,
    NotJson,
    NotCanonical,
    Float,
    /// A top-level or `target` field missing, extra, or of the wrong type.
    Fields,
    Nonce,
    OpName,
    Timestamp(&'static str, rfc3339::Rfc3339Error),
    GuestId,
    HostId,
    KeyId,
    /// The params do not fit the op (the text says how).
    Params(String),
}

impl fmt::Display for BlobError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BlobError::TooLarge => write!(f, "blob larger than {MAX_BLOB_LEN} bytes"),
            BlobError::NotJson => write!(f, "blob is not UTF-8 JSON"),
            BlobError::NotCanonical => write!(
                f,
                "blob is not canonical JSON (sorted keys, no whitespace, no trailing newline)"
            ),
            BlobError::Float => write!(f, "blob contains a non-integer number"),
            BlobError::Fields => write!(
                f,
                "blob must have exactly expires_at, issued_at, key_id, nonce, op, params, target{{guest_id, host_id}} with their types"
            ),
            BlobError::Nonce => write!(f, "nonce is not 32 to 64 lowercase hex characters"),
            BlobError::OpName => write!(f, "op name is not [a-z][a-z0-9_]{{0,63}}"),
            BlobError::Timestamp(field, e) => write!(f, "{field}: {e}"),
            BlobError::GuestId => write!(f, "target.guest_id is not valid for this op"),
            BlobError::HostId => write!(f, "target.host_id is empty or too long"),
            BlobError::KeyId => write!(f, "key_id longer than {MAX_KEY_ID} bytes"),
            BlobError::Params(why) => write!(f, "params: {why}"),
        }
    }
}

/// A blob that passed stage 5.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedBlob {
    pub op: String,
    pub params: Value,
    pub host_id: String,
    pub guest_id: Option<u32>,
    pub guest_id_text: String,
    pub nonce: String,
    pub issued_at: Timestamp,
    pub expires_at: Timestamp,
    pub key_id: String,
}

/// Stage 5. `signers` lets a `key_rotation` be refused when it would give
/// a recovery key the operational role.
pub fn parse(bytes: &[u8], signers: &Signers) -> Result<ParsedBlob, BlobError> {
    if bytes.len() > MAX_BLOB_LEN {
        return Err(BlobError::TooLarge);
    }
    let text = std::str::from_utf8(bytes).map_err(|_| BlobError::NotJson)?;
    let value: Value = serde_json::from_str(text).map_err(|_| BlobError::NotJson)?;
    if has_float(&value) {
        return Err(BlobError::Float);
    }
    if serde_json::to_string(&value).ok().as_deref() != Some(text) {
        return Err(BlobError::NotCanonical);
    }
    let obj = value.as_object().ok_or(BlobError::Fields)?;
    if obj.len() != FIELDS.len() || !FIELDS.iter().all(|k| obj.contains_key(*k)) {
        return Err(BlobError::Fields);
    }
    let str_field = |k: &str| obj.get(k).and_then(Value::as_str).ok_or(BlobError::Fields);
    let target = obj
        .get("target")
        .and_then(Value::as_object)
        .ok_or(BlobError::Fields)?;
    if target.len() != 2 {
        return Err(BlobError::Fields);
    }
    let target_str = |k: &str| {
        target
            .get(k)
            .and_then(Value::as_str)
            .ok_or(BlobError::Fields)
    };
    let params = obj
        .get("params")
        .and_then(Value::as_object)
        .ok_or(BlobError::Fields)?;
    let (op, nonce, key_id) = (str_field("op")?, str_field("nonce")?, str_field("key_id")?);
    let (host_id, guest_text) = (target_str("host_id")?, target_str("guest_id")?);
    let issued_at = rfc3339::parse(str_field("issued_at")?)
        .map_err(|e| BlobError::Timestamp("issued_at", e))?;
    let expires_at = rfc3339::parse(str_field("expires_at")?)
        .map_err(|e| BlobError::Timestamp("expires_at", e))?;
    check_nonce(nonce)?;
    check_op_name(op)?;
    if host_id.is_empty() || host_id.len() > MAX_HOST_ID {
        return Err(BlobError::HostId);
    }
    if key_id.len() > MAX_KEY_ID {
        return Err(BlobError::KeyId);
    }
    let guest_id = guest_id(op, guest_text)?;
    check_params(op, params, signers)?;
    Ok(ParsedBlob {
        op: op.to_string(),
        params: Value::Object(params.clone()),
        host_id: host_id.to_string(),
        guest_id,
        guest_id_text: guest_text.to_string(),
        nonce: nonce.to_string(),
        issued_at,
        expires_at,
        key_id: key_id.to_string(),
    })
}

fn has_float(v: &Value) -> bool {
    match v {
        Value::Number(n) => n.is_f64(),
        Value::Array(a) => a.iter().any(has_float),
        Value::Object(o) => o.values().any(has_float),
        _ => false,
    }
}

fn check_nonce(nonce: &str) -> Result<(), BlobError> {
    let hex = nonce
        .bytes()
        .all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f'));
    if hex && (32..=64).contains(&nonce.len()) {
        Ok(())
    } else {
        Err(BlobError::Nonce)
    }
}

fn check_op_name(op: &str) -> Result<(), BlobError> {
    let mut bytes = op.bytes();
    let first_ok = bytes.next().is_some_and(|c| c.is_ascii_lowercase());
    let rest_ok = bytes.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_');
    if first_ok && rest_ok && op.len() <= 64 {
        Ok(())
    } else {
        Err(BlobError::OpName)
    }
}

/// `""` → `None`; a vmid → `Some`; checked against what the op needs.
fn guest_id(op: &str, text: &str) -> Result<Option<u32>, BlobError> {
    let id = if text.is_empty() {
        None
    } else {
        let digits_ok = text.bytes().all(|c| c.is_ascii_digit()) && !text.starts_with('0');
        let id: u32 = text.parse().map_err(|_| BlobError::GuestId)?;
        if !digits_ok || !(100..=999_999_999).contains(&id) {
            return Err(BlobError::GuestId);
        }
        Some(id)
    };
    match (op, id) {
        ("key_rotation", Some(_)) => Err(BlobError::GuestId),
        (op, None) if is_guest_op(op) => Err(BlobError::GuestId),
        _ => Ok(id),
    }
}

/// The params rules of the vocabulary (CONTRACT §4), from `crate::ops`.
fn check_params(op: &str, p: &Map<String, Value>, signers: &Signers) -> Result<(), BlobError> {
    match ActionOp::parse_map(op, p) {
        Ok(ActionOp::KeyRotation { lines }) => signers
            .check_rotation(&lines)
            .map(|_| ())
            .map_err(|e| BlobError::Params(format!("operational_signers: {e}"))),
        Ok(_) | Err(OpError::Unsupported) => Ok(()),
        Err(OpError::Params(why)) => Err(BlobError::Params(why)),
    }
}

/// Serializes a blob in canonical form (the exact bytes an operator signs).
#[allow(clippy::too_many_arguments)]
pub fn canonical_blob(
    op: &str,
    params: &Value,
    host_id: &str,
    guest_id: Option<u32>,
    nonce: &str,
    issued_at: i64,
    expires_at: i64,
    key_id: &str,
) -> String {
    let doc = serde_json::json!({
        "expires_at": rfc3339::format_utc(expires_at),
        "issued_at": rfc3339::format_utc(issued_at),
        "key_id": key_id,
        "nonce": nonce,
        "op": op,
        "params": params,
        "target": {
            "guest_id": guest_id.map(|g| g.to_string()).unwrap_or_default(),
            "host_id": host_id,
        },
    });
    doc.to_string()
}

#[cfg(test)]
#[path = "blob_tests.rs"]
mod tests;
