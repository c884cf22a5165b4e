//! `reconcile::classify`: is an action benign or destructive?
//!
//! Owns: the one function that answers that question.
//! Trusts: the agent's own journal (transaction provenance), nothing else.
//!
//! Classification is by intent and data-bearing-ness, never by HTTP verb:
//! the op vocabulary of CONTRACT §4 names the intent, and an op name the
//! agent does not know is destructive. The single exception is the
//! compensating rollback: `guest_destroy` of a guest that an *open*
//! transaction of this agent created, asked for by that very transaction.
//! Three facts must line up, and only the journal and the transaction
//! executor can supply them:
//! - the action runs inside transaction `t` ([`AgentContext`], set only by
//!   `reconcile::txn`, never for desired-state or job actions);
//! - the journal holds provenance for `t` (its own create task was seen
//!   succeeding, and `t` is still open: see `journal::txn`);
//! - that provenance names the action's vmid.
//!
//! Nothing in the desired state or from the hub can create provenance.
//! Scratch guests (CONTRACT §4) would need a record that tags them; the
//! agent has no feature that creates one, so no destroy is benign as scratch.

use crate::authz::{OpClass, op_class};
use crate::journal::Provenance;

/// The agent-side context of an action that may make a destroy benign.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AgentContext<'a> {
    /// The journaled transaction this action belongs to, if the agent
    /// itself started one (never set for desired-state or job actions).
    pub transaction: Option<&'a str>,
}

/// Classifies `op` on `vmid`. `provenance` is the journal's provenance of
/// the context's transaction, if it holds any.
pub fn classify(
    op: &str,
    vmid: u32,
    context: AgentContext<'_>,
    provenance: Option<&Provenance>,
) -> OpClass {
    let class = op_class(op);
    if op != "guest_destroy" || class == OpClass::Benign {
        return class;
    }
    match (context.transaction, provenance) {
        (Some(t), Some(p)) if p.txn == t && p.vmid == vmid => OpClass::Benign,
        _ => OpClass::Destructive,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn prov(txn: &str, vmid: u32) -> Provenance {
        Provenance {
            txn: txn.into(),
            vmid,
            upid: "UPID:pve1:1:2:3:vzcreate:9100:a@pve!t:".into(),
        }
    }

    #[test]
    fn a_destroy_is_benign_only_in_its_own_transaction_on_its_own_vmid() {
        let ctx = |t| AgentContext { transaction: t };
        let p = prov("t1", 9100);
        assert_eq!(
            classify("guest_destroy", 9100, ctx(Some("t1")), Some(&p)),
            OpClass::Benign
        );
        for (vmid, t, p) in [
            (9100, None, Some(&p)),
            (9100, Some("t2"), Some(&p)),
            (9101, Some("t1"), Some(&p)),
            (9100, Some("t1"), None),
        ] {
            assert_eq!(
                classify("guest_destroy", vmid, ctx(t), p),
                OpClass::Destructive
            );
        }
        for op in ["restore_overwrite", "key_rotation", "storage_wipe", "wipe"] {
            assert_eq!(
                classify(op, 9100, ctx(Some("t1")), Some(&p)),
                OpClass::Destructive
            );
        }
        for op in ["start", "stop", "restart", "set_config", "create"] {
            assert_eq!(classify(op, 9100, ctx(None), None), OpClass::Benign);
        }
    }
}
