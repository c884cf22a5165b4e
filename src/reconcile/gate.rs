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
//!   op's nonce is consumed, `verify_now` verifies it again against the
//!   signer files and the clock of that instant, and consuming a nonce
//!   needs the `VerifiedNow` only it builds.
//! - A destructive action is allowed only with a [`VerifiedOp`] (which only
//!   `authz::verify` can build) whose op, host, guest and params equal the
//!   action exactly; otherwise it is `binding_mismatch` (refused) or, with no
//!   signature at all, `pending_signature`. Role scoping was already enforced
//!   by the verifier (stage 8) and is checked again here, cheaply.
//! - A hub `blocked` envelope refuses every mutation, benign ones included.
//! - The decision is a pure function of its inputs; recording it (journal +
//!   audit line) is the caller's job and never changes it.

use super::action::Action;
use super::classify::{AgentContext, classify};
use crate::authz::{OpClass, Role, VerifiedOp};
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

/// Permission to execute one action. Only [`decide`] constructs it.
#[derive(Debug)]
pub struct Allowed {
    action: Action,
    class: OpClass,
    authorization: Option<VerifiedOp>,
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
        self.authorization.as_ref()
    }
}

/// The outcome of the gate for one action.
#[derive(Debug)]
pub enum Decision {
    Allowed(Allowed),
    PendingSignature {
        action: Action,
        class: OpClass,
    },
    Refused {
        action: Action,
        class: OpClass,
        reason: RefusalReason,
        op: Option<VerifiedOp>,
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

    pub fn signed_op(&self) -> Option<&VerifiedOp> {
        match self {
            Decision::Allowed(a) => a.authorization.as_ref(),
            Decision::Refused { op, .. } => op.as_ref(),
            Decision::PendingSignature { .. } => None,
        }
    }

    /// The reason string of the audit record and the pass report.
    pub fn reason(&self) -> String {
        match self {
            Decision::Allowed(a) => match (&a.authorization, a.class) {
                (Some(op), _) => format!("signed by {} ({})", op.signer(), op.role()),
                (None, OpClass::Benign) => "benign".to_string(),
                // Unreachable by construction of `decide`; stated for the reader.
                (None, OpClass::Destructive) => "destructive without signature".to_string(),
            },
            Decision::PendingSignature { .. } => {
                "destructive: awaiting an operator signature".into()
            }
            Decision::Refused { reason, .. } => reason.code().to_string(),
        }
    }
}

/// What the gate knows about the world besides the action.
pub struct GateContext<'a> {
    pub host_id: &'a str,
    pub blocked: bool,
}

/// Decides one action. `signed` is the verified op offered for it (a job,
/// a `--submit`ted op, or one matched to a desired-state delta).
pub fn decide(
    action: Action,
    signed: Option<VerifiedOp>,
    agent: AgentContext<'_>,
    provenance: Option<&Provenance>,
    ctx: &GateContext<'_>,
) -> Decision {
    let class = classify(action.op.name(), action.vmid, agent, provenance);
    if ctx.blocked {
        return Decision::Refused {
            action,
            class,
            reason: RefusalReason::Blocked,
            op: signed,
        };
    }
    if let Some(op) = &signed {
        if !binds(op, &action, ctx.host_id) {
            return Decision::Refused {
                action,
                class,
                reason: RefusalReason::BindingMismatch,
                op: signed,
            };
        }
        if op.role() == Role::Recovery && action.op.name() != "key_rotation" {
            return Decision::Refused {
                action,
                class,
                reason: RefusalReason::RoleDenied,
                op: signed,
            };
        }
    }
    match (class, signed) {
        (OpClass::Benign, authorization) => Decision::Allowed(Allowed {
            action,
            class,
            authorization,
        }),
        (OpClass::Destructive, Some(op)) => Decision::Allowed(Allowed {
            action,
            class,
            authorization: Some(op),
        }),
        (OpClass::Destructive, None) => Decision::PendingSignature { action, class },
    }
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
