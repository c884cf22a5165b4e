//! `reconcile::pending`: actions held for an operator signature, each with
//! the canonical blob that authorizes exactly it (`--pending`, hub report).
//!
//! The blob has a fresh random nonce, `issued_at` now, `expires_at` one hour
//! later and an empty advisory `key_id`. Signing it with `ssh-keygen -Y sign
//! -n felhom-op-v1` and submitting it makes the next pass execute the action.
//! Serialization only: there is no signing code in the agent.
//!
//! Two-person rule (CONTRACT §11): each item says how many distinct signers
//! the action needs (`approvals_required`) and how many approve it now
//! (`approvals`). An action whose queued op already holds approvals, but
//! not enough, is listed with *that op's* blob, byte for byte: the next
//! approver signs the same bytes, never a fresh blob (a fresh nonce would
//! start a second op with its own count).

use super::action::Action;
use super::gate::Decision;
use crate::authz::{Approvals, canonical_blob};
use serde_json::{Value, json};
use std::io::Read;

/// How long a generated blob stays signable.
pub const PENDING_VALIDITY_SECONDS: i64 = 3600;
/// Nonce length in bytes (32 hex characters, the contract's minimum).
const NONCE_BYTES: usize = 16;

#[derive(Debug, Clone, PartialEq)]
pub struct PendingItem {
    pub vmid: u32,
    pub op: String,
    pub params: Value,
    pub blob: String,
    pub sign_command: String,
    /// Distinct signers approving the queued op now (0: none queued).
    pub approvals: u32,
    /// Distinct signers `authz.approvals` requires of this op.
    pub approvals_required: u32,
}

impl PendingItem {
    pub fn to_json(&self) -> Value {
        json!({
            "vmid": self.vmid,
            "op": self.op,
            "params": self.params,
            "blob": self.blob,
            "sign_command": self.sign_command,
            "approvals": self.approvals,
            "approvals_required": self.approvals_required,
        })
    }
}

/// The pending items among `decisions`.
pub fn items(decisions: &[Decision], host_id: &str, now: i64) -> Vec<PendingItem> {
    decisions
        .iter()
        .filter_map(|d| match d {
            Decision::PendingSignature { held, required, .. } => Some((d, held, *required)),
            _ => None,
        })
        .map(|(d, held, required)| {
            let a = d.action();
            let blob = match held {
                Some(h) => String::from_utf8_lossy(h.op().blob()).into_owned(),
                None => fresh_blob(a, host_id, now),
            };
            PendingItem {
                vmid: a.vmid,
                op: a.op.name().to_string(),
                params: a.op.params(),
                sign_command: sign_command(&blob, a.vmid, a.op.name()),
                blob,
                approvals: held.as_ref().map_or(0, Approvals::count),
                approvals_required: required,
            }
        })
        .collect()
}

/// A new blob for exactly `a`, valid from `now` for an hour.
fn fresh_blob(a: &Action, host_id: &str, now: i64) -> String {
    let guest = (a.op.name() != "key_rotation").then_some(a.vmid);
    canonical_blob(
        a.op.name(),
        &a.op.params(),
        host_id,
        guest,
        &fresh_nonce(),
        now,
        now.saturating_add(PENDING_VALIDITY_SECONDS),
        "",
    )
}

/// A shell command an operator can paste: write the blob byte-exact (no
/// trailing newline), sign it, submit it.
fn sign_command(blob: &str, vmid: u32, op: &str) -> String {
    let file = format!("felhom-op-{vmid}-{op}.json");
    format!(
        "printf '%s' '{}' > {file} && ssh-keygen -Y sign -f ~/.ssh/id_ed25519 -n felhom-op-v1 {file} \
         && felhom-agent --submit {file} {file}.sig",
        blob.replace('\'', "'\\''")
    )
}

/// 16 random bytes from the kernel as 32 lowercase hex characters. Falls back
/// to a time- and pid-derived value hashed with SHA-256 only if
/// `/dev/urandom` is unreadable (the nonce must be unique, not secret).
pub fn fresh_nonce() -> String {
    let mut bytes = [0u8; NONCE_BYTES];
    let read = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut bytes));
    if read.is_err() {
        use sha2::Digest;
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let digest = sha2::Sha256::digest(format!("{nanos}-{}", std::process::id()));
        for (b, d) in bytes.iter_mut().zip(digest.iter()) {
            *b = *d;
        }
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
