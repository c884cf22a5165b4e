//! `reconcile::classify`: is an action benign or destructive?
//!
//! Owns: the one function that answers that question ([`classify`]).
//! Trusts: the agent's own journal (provenance records), and what PVE
//! reports about the target guest ([`GuestFacts`]); nothing else.
//!
//! Classification is by intent and data-bearing-ness, never by HTTP verb:
//! the op vocabulary of CONTRACT §4 names the intent, and an op name the
//! agent does not know is destructive. Two facts refine the vocabulary:
//!
//! - `guest_destroy` of a guest whose provenance *the agent's journal*
//!   records as created by the agent in the same transaction (a
//!   compensating rollback) or tagged by the agent as its own scratch guest
//!   is benign. Nothing in the desired state or from the hub can create
//!   such a record: only the executor that creates guests writes provenance.
//! - `stop` of an HA-managed qemu guest is destructive. PVE hands its
//!   shutdown to the HA stack (qemu-server `PVE/API2/Qemu.pm` vm_shutdown →
//!   `ha-manager crm-command stop`), which shuts it down with
//!   `forceStop => 1` (pve-ha-manager `PVE/HA/Resources/PVEVM.pm`): a guest
//!   that does not finish its shutdown in time is powered off, and may lose
//!   data. HA-managed containers are not forced (`PVECT.pm`): their `stop`
//!   stays benign. The fact comes from PVE's own answers for the guest
//!   (`/cluster/resources` `hastate`, `status/current` `ha.managed`), never
//!   from the hub or the desired state, and can only make an op *more*
//!   guarded.

use crate::authz::{OpClass, op_class};
use crate::journal::Provenance;

/// The agent-side context of an action that may make a destroy benign.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AgentContext<'a> {
    /// The journaled transaction this action belongs to, if the agent
    /// itself started one (never set for desired-state or job actions).
    pub transaction: Option<&'a str>,
}

/// What PVE reports about the target guest that changes what an op does
/// to its data. The default (nothing known) changes nothing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GuestFacts {
    /// A qemu guest managed by PVE's HA stack.
    pub ha_managed_qemu: bool,
}

/// Whether `op` on this guest is a shutdown PVE's HA stack would force.
pub fn ha_forces_stop(op: &str, guest: GuestFacts) -> bool {
    op == "stop" && guest.ha_managed_qemu
}

/// Classifies `op` on `vmid`. `provenance` is the journal's record for that
/// vmid, if any; `guest` what PVE reports about it.
pub fn classify(
    op: &str,
    context: AgentContext<'_>,
    provenance: Option<&Provenance>,
    guest: GuestFacts,
) -> OpClass {
    if ha_forces_stop(op, guest) {
        return OpClass::Destructive;
    }
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

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
mod tests {
    use super::*;

    const NONE: AgentContext<'static> = AgentContext { transaction: None };
    const HA_VM: GuestFacts = GuestFacts {
        ha_managed_qemu: true,
    };

    #[test]
    fn a_stop_the_ha_stack_would_force_is_destructive_and_nothing_else_changes() {
        assert_eq!(classify("stop", NONE, None, HA_VM), OpClass::Destructive);
        assert_eq!(
            classify("stop", NONE, None, GuestFacts::default()),
            OpClass::Benign
        );
        for op in ["start", "restart", "set_config"] {
            assert_eq!(classify(op, NONE, None, HA_VM), OpClass::Benign, "{op}");
        }
        for op in ["guest_destroy", "restore_overwrite", "key_rotation", "wipe"] {
            assert_eq!(
                classify(op, NONE, None, HA_VM),
                OpClass::Destructive,
                "{op}"
            );
        }
    }
}
