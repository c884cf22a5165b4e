//! `authz`: who may act. Verifies SSHSIG-signed op blobs against the two
//! OpenSSH `allowed_signers` files (CONTRACT §3-§4, DESIGN §3).
//!
//! Owns: SSHSIG armor and structure, allowed_signers parsing and matching,
//! the op blob (canonical JSON and vocabulary), and the pipeline of stages
//! 1-9. Trusts: the signer files only. Verify-only: the product contains no
//! signing code.
//!
//! ```text
//! let signers = Signers::load(&config.authz)?;            // exit 78 on error
//! let policy = VerifyPolicy { host_id, now, clock_skew_seconds, .. };
//! match verify(&signers, &policy, blob, sig, &|nonce| consumed.contains(nonce)) {
//!     Ok(op) => { /* op.op_name(), op.guest_id(), op.signer(), op.role() ... */ }
//!     Err(rejection) => { /* rejection.code() == "bad_signature", ... */ }
//! }
//! ```
//!
//! Files: `armor` (armored text → bytes), `wire` (SSH encoding), `sshsig`
//! (the SSHSIG blob), `key` (Ed25519 / sk-Ed25519 keys and signatures),
//! `pattern` (OpenSSH pattern lists), `options` (with `local_zone`), `signer_line`, `signers`
//! and `signer_file` (the signer files: line syntax, roles, modes), `rfc3339`, `blob` (stage 5; the op vocabulary itself is
//! `crate::ops`), `verify` (the pipeline), `approvals` (the two-person
//! rule: distinct signers over one blob, each verified now).
//!
//! Deliberate differences from `ssh-keygen -Y verify` (each is a refusal
//! where OpenSSH would accept; every case outside this list is proven equal
//! by `tests/authz_differential.rs`):
//! - signer files: only `ssh-ed25519` and `sk-ssh-ed25519@openssh.com` keys;
//!   no `cert-authority`, no option but `namespaces`, `valid-after`,
//!   `valid-before`; a validity time without a `Z` suffix (local time in
//!   OpenSSH) only where the host's zone is provably UTC (`local_zone`; else
//!   refused with that message), calendar-valid, no second 60; a malformed line anywhere rejects the
//!   whole file (OpenSSH skips lines whose principal does not match -I);
//!   the same key in both files is an error.
//! - SSHSIG: version must be 1 (OpenSSH also takes 0); the reserved field
//!   must be empty (OpenSSH ignores it); Ed25519 is checked with `verify_strict` (no small-order points,
//!   canonical S), which real signers always satisfy.
//! - principals: the agent has no `-I PRINCIPAL`; a key is admitted by any
//!   line carrying it whose namespaces and validity allow the signature, so
//!   a negated principal pattern (which OpenSSH honours for the negated
//!   name) cannot be honoured and rejects the file.
//! - key identity is the Ed25519 point: the same point under another
//!   encoding (`ssh-ed25519` or `sk-ssh-ed25519@openssh.com` with any
//!   application) is the same key, found at stage 3, and a signature must
//!   use exactly the encoding on its line (OpenSSH also refuses it).
//! - sk keys: with `require_user_presence` a signature without the
//!   user-presence flag is `bad_signature`.

pub mod approvals;
mod armor;
mod blob;
mod key;
mod local_zone;
mod options;
mod pattern;
pub mod rfc3339;
mod signer_file;
mod signer_line;
mod signers;
mod sshsig;
mod verify;
mod wire;

/// The SSHSIG namespace of op signatures; never configurable.
pub const NAMESPACE: &str = "felhom-op-v1";

pub use crate::ops::{OpClass, op_class, op_is_supported};
pub use approvals::{Approvals, MAX_HELD_SIGNATURES, Shortfall};
pub use armor::{ArmorError, MAX_ARMORED_LEN, dearmor};
pub use blob::{BlobError, MAX_BLOB_LEN, canonical_blob};
pub use key::{KeyError, SigError};
pub use signers::{Role, SignerFileError, SignerLine, Signers, operational_file_text};
pub use sshsig::StructureError;
pub use verify::{
    Malformed, OpFacts, Rejected, Rejection, SignerInfo, VerifiedOp, VerifyPolicy, verify,
    verify_detailed, verify_signature,
};

/// Parsers of untrusted input, exposed for the mutation-fuzz tests: each
/// returns a typed error or a value and never panics.
pub mod fuzz {
    pub use super::armor::dearmor;
    pub use super::options::time as signer_time;
    pub use super::rfc3339::parse as rfc3339;
    pub use super::sshsig::parse as sshsig;

    /// Stage 5 alone against the given signers.
    pub fn blob(bytes: &[u8], signers: &super::Signers) -> Result<(), super::BlobError> {
        super::blob::parse(bytes, signers).map(|_| ())
    }
}
