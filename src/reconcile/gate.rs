//! `reconcile::gate`: the reversibility gate. Every mutation passes here.
//!
//! Owns: the decision for one action (allowed, pending_signature, refused),
//! and the audit record of that decision.
//! Trusts: the verifier (`authz`) for signatures, the journal for provenance.
//!
//! Invariants (the security argument, in types):
//! - The executor takes an [`Allowed`], and only [`decide`] can build one
//!   (private fields, no other constructor). There is no path to a PVE
//!   mutation that does not go through `decide`.
//! - The gate's verdict on a signed op is not the last word: before the
//!   op's nonce is consumed, `verify_now` verifies it again (every one of
//!   its approvals) against the signer files and the clock of that
//!   instant, and consuming a nonce needs the `VerifiedNow` only it builds.
//! - A destructive action is allowed only with [`Approvals`] (built only by
//!   `authz::approvals` from [`VerifiedOp`]s, which only `authz::verify`
//!   can build) whose op, host, guest and params equal the action exactly;
//!   otherwise it is `binding_mismatch` (refused) or, with no signature at
//!   all, `pending_signature`. What is destructive is [`classify`]'s
//!   answer, which includes what PVE reports about the guest (a `stop` the
//!   HA stack would force is destructive). Role scoping was already
//!   enforced by the verifier (stage 8, per signature) and is checked again
//!   here, cheaply, for every approver.
//! - The two-person rule (CONTRACT §11): a signed op runs only when as
//!   many distinct signers approve it as `authz.approvals` requires of its
//!   op; until then it is `pending_signature`, reason `N of K approvals`.
//! - A hub `blocked` envelope refuses every mutation, benign ones included.
//! - The decision is a pure function of its inputs; recording it (journal +
//!   audit line) is the caller's job and never changes it.

use super::action::Action;
use super::classify::{AgentContext, GuestFacts, classify, ha_forces_stop};
use crate::authz::{Approvals, OpClass, VerifiedOp};
use crate::config::RequiredApprovals;
use crate::journal::Provenance;

/// Why an action was not allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefusalReason {
    /// The signed op does not authorize exactly this action.
    BindingMismatch,
    /// The signer's role may not authorize this op.
    RoleDenied,
    /// The hub said `blocked: true`.
    Blocked,
}

impl RefusalReason {
    pub fn code(self) -> &'static str {
        match self {
            RefusalReason::BindingMismatch => "binding_mismatch",
            RefusalReason::RoleDenied => "role_denied",
            RefusalReason::Blocked => "blocked_by_hub",
        }
    }
}

/// Why an action awaits a signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Held {
    /// Its op is destructive (CONTRACT §4).
    Destructive,
    /// A `stop` that PVE's HA stack would force on this qemu guest.
    HaForcedStop,
}

/// Permission to execute one action. Only [`decide`] constructs it.
#[derive(Debug)]
pub struct Allowed {
    action: Action,
    class: OpClass,
    authorization: Option<Approvals>,
    required: u32,
}

impl Allowed {
    pub fn action(&self) -> &Action {
        &self.action
    }

    pub fn class(&self) -> OpClass {
        self.class
    }

    /// The signed op that authorized a destructive action (or a benign one
    /// that arrived signed, e.g. a job).
    pub fn authorization(&self) -> Option<&VerifiedOp> {
        self.authorization.as_ref().map(Approvals::op)
    }

    /// Its approvals: every distinct signer that verified at the gate.
    pub fn approvals(&self) -> Option<&Approvals> {
        self.authorization.as_ref()
    }
}

/// The outcome of the gate for one action.
#[derive(Debug)]
pub enum Decision {
    Allowed(Allowed),
    /// No signature, or fewer distinct signers than `required`.
    PendingSignature {
        action: Action,
        class: OpClass,
        /// The approvals a queued op holds for it so far, if any.
        held: Option<Approvals>,
        required: u32,
        /// Why the action needs a signature at all.
        why: Held,
    },
    Refused {
        action: Action,
        class: OpClass,
        reason: RefusalReason,
        op: Option<Approvals>,
    },
}

impl Decision {
    pub fn code(&self) -> &'static str {
        match self {
            Decision::Allowed(_) => "allowed",
            Decision::PendingSignature { .. } => "pending_signature",
            Decision::Refused { .. } => "refused",
        }
    }

    pub fn action(&self) -> &Action {
        match self {
            Decision::Allowed(a) => &a.action,
            Decision::PendingSignature { action, .. } | Decision::Refused { action, .. } => action,
        }
    }

    pub fn class(&self) -> OpClass {
        match self {
            Decision::Allowed(a) => a.class,
            Decision::PendingSignature { class, .. } | Decision::Refused { class, .. } => *class,
        }
    }

    /// The signed op offered for the action (for a pending one: the op
    /// whose approvals are not enough yet).
    pub fn signed_op(&self) -> Option<&VerifiedOp> {
        self.approvals().map(Approvals::op)
    }

    /// The approvals offered for the action, if a signed op was.
    pub fn approvals(&self) -> Option<&Approvals> {
        match self {
            Decision::Allowed(a) => a.authorization.as_ref(),
            Decision::Refused { op, .. } => op.as_ref(),
            Decision::PendingSignature { held, .. } => held.as_ref(),
        }
    }

    /// The reason string of the audit record and the pass report.
    pub fn reason(&self) -> String {
        match self {
            Decision::Allowed(a) => match (&a.authorization, a.class) {
                (Some(ap), _) if ap.count() == 1 && a.required == 1 => {
                    format!("signed by {} ({})", ap.op().signer(), ap.op().role())
                }
                (Some(ap), _) => format!(
                    "signed by {}: {} of {} approvals",
                    ap.describe(),
                    ap.count(),
                    a.required
                ),
                (None, OpClass::Benign) => "benign".to_string(),
                // Unreachable by construction of `decide`; stated for the reader.
                (None, OpClass::Destructive) => "destructive without signature".to_string(),
            },
            // CONTRACT §11: until k approvals verify, the reason reads
            // `N of K approvals`; with k = 1 and nothing held, it also says
            // why a signature is needed (§4: an HA-forced stop names HA).
            Decision::PendingSignature {
                held: None,
                required: 1,
                why: Held::Destructive,
                ..
            } => "destructive: awaiting an operator signature (0 of 1 approvals)".into(),
            Decision::PendingSignature {
                held: None,
                required: 1,
                why: Held::HaForcedStop,
                ..
            } => "HA-managed VM: PVE's HA stack powers it off by force when its shutdown \
                  times out, which may lose data; awaiting an operator signature (0 of 1 \
                  approvals)"
                .into(),
            Decision::PendingSignature { held, required, .. } => format!(
                "{} of {required} approvals",
                held.as_ref().map_or(0, Approvals::count)
            ),
            Decision::Refused { reason, .. } => reason.code().to_string(),
        }
    }
}

/// What the gate knows about the world besides the action.
pub struct GateContext<'a> {
    pub host_id: &'a str,
    pub blocked: bool,
    /// `authz.approvals`: distinct signers each op needs.
    pub approvals: &'a RequiredApprovals,
}

/// Decides one action. `signed` is what was offered for it: the approvals
/// of a queued op (a job, a `--submit`ted op, or one matched to a
/// desired-state delta), each verified at the same instant; `guest` is
/// what PVE reports about its target.
pub fn decide(
    action: Action,
    signed: Option<Approvals>,
    agent: AgentContext<'_>,
    provenance: Option<&Provenance>,
    guest: GuestFacts,
    ctx: &GateContext<'_>,
) -> Decision {
    let class = classify(action.op.name(), action.vmid, agent, provenance, guest);
    let why = if ha_forces_stop(action.op.name(), guest) {
        Held::HaForcedStop
    } else {
        Held::Destructive
    };
    let required = ctx.approvals.required(action.op.name());
    let refused = |action, reason, op| Decision::Refused {
        action,
        class,
        reason,
        op,
    };
    if ctx.blocked {
        return refused(action, RefusalReason::Blocked, signed);
    }
    let Some(approvals) = signed else {
        return match class {
            OpClass::Benign => Decision::Allowed(Allowed {
                action,
                class,
                authorization: None,
                required,
            }),
            OpClass::Destructive => Decision::PendingSignature {
                action,
                class,
                held: None,
                required,
                why,
            },
        };
    };
    if !binds(approvals.op(), &action, ctx.host_id) {
        return refused(action, RefusalReason::BindingMismatch, Some(approvals));
    }
    if approvals.role_denied(action.op.name()) {
        return refused(action, RefusalReason::RoleDenied, Some(approvals));
    }
    if approvals.suffice(action.op.name(), ctx.approvals).is_err() {
        return Decision::PendingSignature {
            action,
            class,
            held: Some(approvals),
            required,
            why,
        };
    }
    Decision::Allowed(Allowed {
        action,
        class,
        authorization: Some(approvals),
        required,
    })
}

/// Binding: the verified blob's op, host, guest and params equal the action.
pub fn binds(op: &VerifiedOp, action: &Action, host_id: &str) -> bool {
    let guest_matches = match action.op.name() {
        "key_rotation" => op.guest_id().is_none(),
        _ => op.guest_id() == Some(action.vmid),
    };
    op.op_name() == action.op.name()
        && op.host_id() == host_id
        && guest_matches
        && *op.params() == action.op.params()
}
