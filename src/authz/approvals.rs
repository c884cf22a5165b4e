//! `authz::approvals`: the two-person rule (CONTRACT §11), defined once.
//!
//! Owns: what counts as an approval, what one signer is, the verification
//! of every approval held for one blob, and whether they suffice.
//! `--submit`, hub jobs (both through `reconcile::queue`), the pass and the
//! moment an op runs all count approvals with [`verify`] and nothing else,
//! and the gate and the moment of running decide with
//! [`Approvals::suffice`] (against `authz.approvals`,
//! `config::RequiredApprovals`) and [`Approvals::role_denied`].
//! Trusts: the verifier (stages 1-9) and what the caller passes in: the
//! signer files, the clock (in the policy) and the consumed-nonce oracle,
//! all as they are at the instant of the call.
//!
//! Rules:
//! - An approval is one signature over the blob's exact bytes that passes
//!   stages 1-9 *now*. Nothing is remembered from an earlier verification:
//!   a signature whose key was rotated out, or whose line's `valid-before`
//!   has passed, no longer counts. Role scoping is stage 8, per signature:
//!   a recovery signature counts only for `key_rotation`.
//! - A signer is the first principal of the line that admitted its key (in
//!   either file): two keys under one first principal are one signer, and
//!   only that signer's first approval that verifies counts. A key is its
//!   Ed25519 point (CONTRACT §3): one point on several lines, under other
//!   first principals or encodings (`ssh-ed25519`, `sk-ssh-ed25519`), is
//!   still one signer, so one private key never approves twice.
//! - A rejection that concerns the blob itself (stages 5-7 and 9, an op
//!   this host does not run) is the same for every signature over it: it
//!   is the verdict on the op, whatever the other approvals say.
//! - When no approval verifies, the verdict is the first rejection that
//!   waiting may cure (`unknown_signer`, `not_yet_valid`: a key added back,
//!   a clock corrected), else the first approval's rejection. With one
//!   signature this is exactly the single-signature verdict, so k = 1
//!   behaves as it always did.
//! - A queued op holds at most [`MAX_HELD_SIGNATURES`] signatures (the
//!   journal's live state stays bounded).

use super::verify::{Rejected, Rejection, SignerInfo, VerifiedOp, VerifyPolicy, verify_detailed};
use super::{Malformed, Role, Signers};
use crate::config::RequiredApprovals;

/// Signatures one queued op may hold: far above the largest quorum
/// (`config::MAX_REQUIRED_APPROVALS`), so approvals that stopped counting
/// (a key rotated out, its signer approving again with a new one) leave
/// room, while a queued op stays a few tens of KiB at most.
pub const MAX_HELD_SIGNATURES: usize = 16;

/// The approvals of one blob that verify at one instant: at least one, each
/// from a distinct signer. Built only by [`verify`] and [`Approvals::single`],
/// from [`VerifiedOp`]s (which only the verifier builds).
#[derive(Debug, Clone, PartialEq)]
pub struct Approvals {
    /// The first approval that verified: the blob's facts (all approvals
    /// are over the same bytes, so any one would say the same).
    op: VerifiedOp,
    /// One per distinct signer, in the order the signatures were held.
    approvers: Vec<SignerInfo>,
    /// The Ed25519 point of each approver's key, in the same order.
    points: Vec<[u8; 32]>,
    /// Held signatures that did not count now, and why (for the log).
    not_counted: Vec<Rejected>,
}

impl Approvals {
    /// One verified signature is one approval.
    pub fn single(op: VerifiedOp) -> Approvals {
        Approvals {
            approvers: vec![op.signer_info().clone()],
            points: vec![*op.key_point()],
            op,
            not_counted: Vec::new(),
        }
    }

    /// The op as the blob states it (nonce, op, target, params, validity).
    pub fn op(&self) -> &VerifiedOp {
        &self.op
    }

    pub fn into_op(self) -> VerifiedOp {
        self.op
    }

    /// The distinct signers whose approval verifies, in arrival order.
    pub fn approvers(&self) -> &[SignerInfo] {
        &self.approvers
    }

    /// How many distinct signers approve.
    pub fn count(&self) -> u32 {
        u32::try_from(self.approvers.len()).unwrap_or(u32::MAX)
    }

    /// Whether the signer of `op` is among the approvers: the same first
    /// principal, or the same key (Ed25519 point) under any line or
    /// encoding.
    pub fn includes(&self, op: &VerifiedOp) -> bool {
        self.approvers.iter().any(|a| a.signer == op.signer())
            || self.points.contains(op.key_point())
    }

    /// Held signatures that do not count now, with their rejection.
    pub fn not_counted(&self) -> &[Rejected] {
        &self.not_counted
    }

    /// Role scoping over every approver (stage 8 again): whether one of
    /// them is a recovery signer and `op` is not `key_rotation`.
    pub fn role_denied(&self, op: &str) -> bool {
        op != "key_rotation" && self.approvers.iter().any(|a| a.role == Role::Recovery)
    }

    /// The rule itself: enough distinct signers for `op` under
    /// `authz.approvals`, or the shortfall (`N of K approvals`). The gate
    /// and the moment of running both decide with this, nothing else.
    pub fn suffice(&self, op: &str, required: &RequiredApprovals) -> Result<(), Shortfall> {
        let need = required.required(op);
        if self.count() >= need {
            Ok(())
        } else {
            Err(Shortfall {
                held: self.count(),
                required: need,
            })
        }
    }

    /// `alice (operational), bob (operational)`: the audit's approver list.
    pub fn describe(&self) -> String {
        self.approvers
            .iter()
            .map(|a| format!("{} ({})", a.signer, a.role))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Fewer distinct signers than an op requires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shortfall {
    pub held: u32,
    pub required: u32,
}

impl std::fmt::Display for Shortfall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} of {} approvals", self.held, self.required)
    }
}

/// Verifies every signature held for `blob` (stages 1-9, each against
/// `signers` and `policy.now`) and counts the distinct signers. `Err`: the
/// blob is refused, or no approval verifies (see the module header for
/// which rejection is the verdict). An empty `sigs` is `unknown_signer`.
pub fn verify(
    signers: &Signers,
    policy: &VerifyPolicy,
    blob: &[u8],
    sigs: &[&[u8]],
    nonce_consumed: &dyn Fn(&str) -> bool,
) -> Result<Approvals, Rejected> {
    let mut counted: Option<Approvals> = None;
    let mut not_counted: Vec<Rejected> = Vec::new();
    for sig in sigs.iter().take(MAX_HELD_SIGNATURES) {
        match verify_detailed(signers, policy, blob, sig, nonce_consumed) {
            Err(rejected) if concerns_blob(&rejected.rejection) => return Err(rejected),
            Err(rejected) => not_counted.push(rejected),
            Ok(op) => match &mut counted {
                None => counted = Some(Approvals::single(op)),
                Some(a) if a.includes(&op) => {}
                Some(a) => {
                    a.approvers.push(op.signer_info().clone());
                    a.points.push(*op.key_point());
                }
            },
        }
    }
    match counted {
        Some(mut a) => {
            a.not_counted = not_counted;
            Ok(a)
        }
        None => Err(verdict_without_approval(not_counted)),
    }
}

/// Whether a rejection is about the blob (the same for every signature
/// over it) rather than about one signature.
fn concerns_blob(r: &Rejection) -> bool {
    match r {
        Rejection::Malformed(m) => matches!(m, Malformed::Blob(_)),
        Rejection::Target
        | Rejection::NotYetValid
        | Rejection::Expired
        | Rejection::ValidityTooLong
        | Rejection::Replay
        | Rejection::UnsupportedOp(_) => true,
        Rejection::Namespace
        | Rejection::UnknownSigner
        | Rejection::BadSignature(_)
        | Rejection::RoleDenied => false,
    }
}

fn verdict_without_approval(not_counted: Vec<Rejected>) -> Rejected {
    let curable = not_counted.iter().position(|r| r.rejection.may_change());
    let pick = curable.unwrap_or(0);
    not_counted.into_iter().nth(pick).unwrap_or(Rejected {
        rejection: Rejection::UnknownSigner,
        signer: None,
        op: None,
    })
}
