//! `reconcile::classify`: is an action benign or destructive?
//!
//! Owns: the one function that answers that question ([`classify`]).
//! Trusts: the agent's own journal (transaction provenance), and what PVE
//! reports about the target guest ([`GuestFacts`]); nothing else.
//!
//! Classification is by intent and data-bearing-ness, never by HTTP verb:
//! the op vocabulary of CONTRACT §4 names the intent, and an op name the
//! agent does not know is destructive. Two facts refine the vocabulary:
//!
//! - The compensating rollback is benign: `guest_destroy` of a guest that
//!   an *open* transaction of this agent created, asked for by that very
//!   transaction. Three facts must line up, and only the journal and the
//!   transaction executor can supply them: the action runs inside
//!   transaction `t` ([`AgentContext`], set only by `reconcile::txn`, never
//!   for desired-state or job actions); the journal holds provenance for `t`
//!   (its own create task was seen succeeding, and `t` is still open: see
//!   `journal::txn`); that provenance names the action's vmid. Nothing in
//!   the desired state or from the hub can create provenance. Scratch guests
//!   (CONTRACT §4) would need a record that tags them; the agent has no
//!   feature that creates one, so no destroy is benign as scratch.
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

/// Classifies `op` on `vmid`. `provenance` is the journal's provenance of
/// the context's transaction, if it holds any; `guest` what PVE reports
/// about the guest.
pub fn classify(
    op: &str,
    vmid: u32,
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
    match (context.transaction, provenance) {
        (Some(t), Some(p)) if p.txn == t && p.vmid == vmid => OpClass::Benign,
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
        assert_eq!(classify("stop", 1, NONE, None, HA_VM), OpClass::Destructive);
        assert_eq!(
            classify("stop", 1, NONE, None, GuestFacts::default()),
            OpClass::Benign
        );
        for op in ["start", "restart", "set_config"] {
            assert_eq!(classify(op, 1, NONE, None, HA_VM), OpClass::Benign, "{op}");
        }
        for op in ["guest_destroy", "restore_overwrite", "key_rotation", "wipe"] {
            assert_eq!(
                classify(op, 1, NONE, None, HA_VM),
                OpClass::Destructive,
                "{op}"
            );
        }
    }

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
        let none = GuestFacts::default();
        let p = prov("t1", 9100);
        assert_eq!(
            classify("guest_destroy", 9100, ctx(Some("t1")), Some(&p), none),
            OpClass::Benign
        );
        for (vmid, t, p) in [
            (9100, None, Some(&p)),
            (9100, Some("t2"), Some(&p)),
            (9101, Some("t1"), Some(&p)),
            (9100, Some("t1"), None),
        ] {
            assert_eq!(
                classify("guest_destroy", vmid, ctx(t), p, none),
                OpClass::Destructive
            );
        }
        for op in ["restore_overwrite", "key_rotation", "storage_wipe", "wipe"] {
            assert_eq!(
                classify(op, 9100, ctx(Some("t1")), Some(&p), none),
                OpClass::Destructive
            );
        }
        for op in ["start", "stop", "restart", "set_config", "create"] {
            assert_eq!(classify(op, 9100, ctx(None), None, none), OpClass::Benign);
        }
    }
}
