//! `reconcile::classify`: is an action benign or destructive?
//!
//! Owns: the one function that answers that question.
//! Trusts: the agent's own journal (provenance records), nothing else.
//!
//! Classification is by intent and data-bearing-ness, never by HTTP verb:
//! the op vocabulary of CONTRACT §4 names the intent, and an op name the
//! agent does not know is destructive. The single exception is
//! `guest_destroy` of a guest whose provenance *the agent's journal* records
//! as created by the agent in the same transaction (a compensating rollback)
//! or tagged by the agent as its own scratch guest. Nothing in the desired
//! state or from the hub can create such a record: only the executor that
//! creates guests writes provenance.

use crate::authz::{OpClass, op_class};
use crate::journal::Provenance;

/// The agent-side context of an action that may make a destroy benign.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AgentContext<'a> {
    /// The journaled transaction this action belongs to, if the agent
    /// itself started one (never set for desired-state or job actions).
    pub transaction: Option<&'a str>,
}

/// Classifies `op` on `vmid`. `provenance` is the journal's record for that
/// vmid, if any.
pub fn classify(op: &str, context: AgentContext<'_>, provenance: Option<&Provenance>) -> OpClass {
    let class = op_class(op);
    if op != "guest_destroy" || class == OpClass::Benign {
        return class;
    }
    match provenance {
        Some(p) if p.scratch_in.is_some() => OpClass::Benign,
        Some(p)
            if context
                .transaction
                .is_some_and(|t| p.created_in.contains(t)) =>
        {
            OpClass::Benign
        }
        _ => OpClass::Destructive,
    }
}
