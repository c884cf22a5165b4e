//! The verification pipeline: CONTRACT §4 stages 1-9, in order, each one
//! step with its own error, the first failure is the verdict.
//!
//! Owns: the order of checks and the only constructor of [`VerifiedOp`].
//! Trusts: the parsed signer files and the caller's nonce oracle.
//!
//! The pipeline never consumes a nonce (it has no write access): the caller
//! consumes it durably after a successful verification and binding.
//! After stage 9, an op this host does not execute is `unsupported_op`.

use super::blob::{self, ParsedBlob};
use super::key::{PublicKey, SigError};
use super::signers::{Role, SignerLine, Signers};
use super::{NAMESPACE, armor, sshsig};
use crate::ops::{self, OpClass};
use serde_json::Value;
use std::fmt;

/// The host's verification policy (from config and the clock).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyPolicy {
    pub host_id: String,
    pub now: i64,
    pub clock_skew_seconds: u64,
    pub max_validity_seconds: u64,
    pub require_user_presence: bool,
}

/// Why stage 1 or 5 refused the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Malformed {
    Armor(armor::ArmorError),
    Structure(sshsig::StructureError),
    /// The SSHSIG names a supported key type but its blob is invalid.
    Key(super::key::KeyError),
    Blob(blob::BlobError),
}

impl fmt::Display for Malformed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Malformed::Armor(e) => e.fmt(f),
            Malformed::Structure(e) => e.fmt(f),
            Malformed::Key(e) => write!(f, "SSHSIG public key: {e}"),
            Malformed::Blob(e) => e.fmt(f),
        }
    }
}

/// The stage that refused the op; `code()` is the contract's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    Malformed(Malformed),
    Namespace,
    UnknownSigner,
    BadSignature(SigError),
    Target,
    NotYetValid,
    Expired,
    ValidityTooLong,
    RoleDenied,
    Replay,
    UnsupportedOp(String),
}

impl Rejection {
    pub fn code(&self) -> &'static str {
        match self {
            Rejection::Malformed(_) => "malformed",
            Rejection::Namespace => "namespace",
            Rejection::UnknownSigner => "unknown_signer",
            Rejection::BadSignature(_) => "bad_signature",
            Rejection::Target => "target",
            Rejection::NotYetValid => "not_yet_valid",
            Rejection::Expired => "expired",
            Rejection::ValidityTooLong => "validity_too_long",
            Rejection::RoleDenied => "role_denied",
            Rejection::Replay => "replay",
            Rejection::UnsupportedOp(_) => "unsupported_op",
        }
    }

    /// Whether waiting may make this rejection go away: a key added back
    /// to a signer file, a clock corrected. Every other rejection is
    /// terminal for its signature (CONTRACT §7's list).
    pub fn may_change(&self) -> bool {
        matches!(self, Rejection::UnknownSigner | Rejection::NotYetValid)
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rejection::Malformed(m) => write!(f, "malformed: {m}"),
            Rejection::Namespace => write!(f, "namespace: signature is not for {NAMESPACE}"),
            Rejection::UnknownSigner => write!(
                f,
                "unknown_signer: key not in a signer file, or outside its valid-after/valid-before/namespaces"
            ),
            Rejection::BadSignature(e) => write!(f, "bad_signature: {e}"),
            Rejection::Target => write!(f, "target: blob is for another host"),
            Rejection::NotYetValid => write!(f, "not_yet_valid: issued_at is in the future"),
            Rejection::Expired => write!(f, "expired: expires_at has passed"),
            Rejection::ValidityTooLong => {
                write!(
                    f,
                    "validity_too_long: expires_at - issued_at exceeds max_validity_seconds"
                )
            }
            Rejection::RoleDenied => write!(f, "role_denied: recovery keys sign only key_rotation"),
            Rejection::Replay => write!(f, "replay: nonce already consumed"),
            Rejection::UnsupportedOp(op) => {
                write!(f, "unsupported_op: {op:?} is not executed on this host")
            }
        }
    }
}

impl std::error::Error for Rejection {}

/// The signer a rejection is attributed to, once stage 3 found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignerInfo {
    pub signer: String,
    pub role: Role,
    pub key_fingerprint: String,
}

/// A rejection with what was learned before it (for audit and `--check-op`).
#[derive(Debug, Clone, PartialEq)]
pub struct Rejected {
    pub rejection: Rejection,
    pub signer: Option<SignerInfo>,
    /// What the blob names, once stage 5 passed.
    pub op: Option<Box<OpFacts>>,
}

/// The op, host and guest (as the blob spells it) of a parsed blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpFacts {
    pub op: String,
    pub host_id: String,
    pub guest_id: String,
}

impl Rejected {
    pub fn code(&self) -> &'static str {
        self.rejection.code()
    }
}

/// An op that passed stages 1-9. Only [`verify`] constructs one.
#[derive(Debug, Clone, PartialEq)]
pub struct VerifiedOp {
    blob: Vec<u8>,
    parsed: ParsedBlob,
    signer: SignerInfo,
    /// The signing key's Ed25519 point: its identity, whatever its
    /// encoding (CONTRACT §3).
    key_point: [u8; 32],
}

impl VerifiedOp {
    pub fn op_name(&self) -> &str {
        &self.parsed.op
    }
    pub fn params(&self) -> &Value {
        &self.parsed.params
    }
    pub fn host_id(&self) -> &str {
        &self.parsed.host_id
    }
    /// `None` for a host-scoped op (`guest_id` `""`).
    pub fn guest_id(&self) -> Option<u32> {
        self.parsed.guest_id
    }
    pub fn nonce(&self) -> &str {
        &self.parsed.nonce
    }
    pub fn issued_at(&self) -> i64 {
        self.parsed.issued_at.floor()
    }
    pub fn expires_at(&self) -> i64 {
        self.parsed.expires_at.floor()
    }
    pub fn key_id(&self) -> &str {
        &self.parsed.key_id
    }
    /// Whether the advisory `key_id` names the signer (audit only).
    pub fn key_id_matches_signer(&self) -> bool {
        self.parsed.key_id == self.signer.signer
    }
    pub fn signer(&self) -> &str {
        &self.signer.signer
    }
    pub fn role(&self) -> Role {
        self.signer.role
    }
    pub fn key_fingerprint(&self) -> &str {
        &self.signer.key_fingerprint
    }
    /// The signing key's Ed25519 point (its identity).
    pub fn key_point(&self) -> &[u8; 32] {
        &self.key_point
    }
    pub fn signer_info(&self) -> &SignerInfo {
        &self.signer
    }
    pub fn blob(&self) -> &[u8] {
        &self.blob
    }
    pub fn class(&self) -> OpClass {
        ops::op_class(&self.parsed.op)
    }
}

/// Stages 1-9; see [`verify_detailed`] for what is known on rejection.
pub fn verify(
    signers: &Signers,
    policy: &VerifyPolicy,
    blob: &[u8],
    armored_sig: &[u8],
    nonce_consumed: &dyn Fn(&str) -> bool,
) -> Result<VerifiedOp, Rejection> {
    verify_detailed(signers, policy, blob, armored_sig, nonce_consumed).map_err(|r| r.rejection)
}

/// Stages 1-4: who signed these bytes, if anyone the signer files admit.
pub fn verify_signature<'s>(
    signers: &'s Signers,
    policy: &VerifyPolicy,
    blob: &[u8],
    armored_sig: &[u8],
) -> Result<&'s SignerLine, (Rejection, Option<&'s SignerLine>)> {
    let malformed = |m| (Rejection::Malformed(m), None);
    let raw = armor::dearmor(armored_sig).map_err(|e| malformed(Malformed::Armor(e)))?; // 1
    let sig = sshsig::parse(&raw).map_err(|e| malformed(Malformed::Structure(e)))?; // 1
    let key = supported_key(&sig.public_key).map_err(malformed)?; // 1
    if sig.namespace != NAMESPACE.as_bytes() {
        return Err((Rejection::Namespace, None)); // 2
    }
    let line = key
        .as_ref()
        .and_then(|k| signers.find(k, NAMESPACE, policy.now))
        .ok_or((Rejection::UnknownSigner, None))?; // 3
    let bad = |e| (Rejection::BadSignature(e), Some(line));
    if key.as_ref() != Some(&line.key) {
        return Err(bad(SigError::OtherEncoding)); // 4
    }
    let signed =
        sshsig::signed_data(NAMESPACE, sig.hash_alg, blob).ok_or(bad(SigError::Invalid))?;
    line.key
        .verify(&signed, &sig.signature, policy.require_user_presence)
        .map_err(bad)?; // 4
    Ok(line)
}

/// The signing key, if of a supported type (another type falls to stage 3
/// as unknown); a supported type whose blob does not parse is malformed.
fn supported_key(key_blob: &[u8]) -> Result<Option<PublicKey>, Malformed> {
    match PublicKey::from_blob(key_blob) {
        Ok(k) => Ok(Some(k)),
        Err(super::key::KeyError::UnsupportedType(_)) => Ok(None),
        Err(e) => Err(Malformed::Key(e)),
    }
}

/// Stages 1-9 in contract order, then the host's supported-op check.
pub fn verify_detailed(
    signers: &Signers,
    policy: &VerifyPolicy,
    blob: &[u8],
    armored_sig: &[u8],
    nonce_consumed: &dyn Fn(&str) -> bool,
) -> Result<VerifiedOp, Rejected> {
    let line = verify_signature(signers, policy, blob, armored_sig).map_err(|(r, l)| Rejected {
        rejection: r,
        signer: l.map(signer_info),
        op: None,
    })?; // 1-4
    let signer = signer_info(line);
    let key_point = *line.key.point();
    let reject = |rejection, parsed: Option<&ParsedBlob>| Rejected {
        rejection,
        signer: Some(signer.clone()),
        op: parsed.map(|p| {
            Box::new(OpFacts {
                op: p.op.clone(),
                host_id: p.host_id.clone(),
                guest_id: p.guest_id_text.clone(),
            })
        }),
    };
    let parsed = blob::parse(blob, signers)
        .map_err(|e| reject(Rejection::Malformed(Malformed::Blob(e)), None))?; // 5
    let p = Some(&parsed);
    if parsed.host_id != policy.host_id {
        return Err(reject(Rejection::Target, p)); // 6
    }
    check_time(policy, &parsed).map_err(|r| reject(r, p))?; // 7
    if signer.role == Role::Recovery && parsed.op != "key_rotation" {
        return Err(reject(Rejection::RoleDenied, p)); // 8
    }
    if nonce_consumed(&parsed.nonce) {
        return Err(reject(Rejection::Replay, p)); // 9
    }
    if !ops::op_is_supported(&parsed.op) {
        return Err(reject(Rejection::UnsupportedOp(parsed.op.clone()), p));
    }
    Ok(VerifiedOp {
        blob: blob.to_vec(),
        parsed,
        signer,
        key_point,
    })
}

/// Stage 7. Fractions round against the signer: `issued_at` up, `expires_at`
/// down, and the validity span is measured outward.
fn check_time(policy: &VerifyPolicy, p: &ParsedBlob) -> Result<(), Rejection> {
    let skew = i64::try_from(policy.clock_skew_seconds).unwrap_or(i64::MAX);
    let max = i64::try_from(policy.max_validity_seconds).unwrap_or(i64::MAX);
    if p.issued_at.ceil().saturating_sub(skew) > policy.now {
        return Err(Rejection::NotYetValid);
    }
    if policy.now > p.expires_at.floor() {
        return Err(Rejection::Expired);
    }
    if p.expires_at.ceil().saturating_sub(p.issued_at.floor()) > max {
        return Err(Rejection::ValidityTooLong);
    }
    Ok(())
}

fn signer_info(line: &SignerLine) -> SignerInfo {
    SignerInfo {
        signer: line.first_principal().to_string(),
        role: line.role,
        key_fingerprint: line.key.fingerprint(),
    }
}
