//! The plan: a pure diff of desired × actual → actions.
//!
//! Owns the decision of WHAT to change; not whether it is allowed (the
//! gate) nor how (the executors). No I/O, no clock: same inputs, same plan.
//!
//! Rules (CONTRACT §5):
//! - Only listed guests are managed. An unlisted guest is `unmanaged`: no
//!   action ever names it.
//! - A listed guest PVE does not have is `missing`, except `state: absent`:
//!   a guest that should not exist and does not is converged.
//! - A guest with a PVE lock is skipped whole and reported with its lock,
//!   except a hibernated qemu guest (lock `suspended`) whose desired state
//!   is `running`: its `start` resumes it (qemu-server `vm_start` takes the
//!   `suspended` lock), and nothing else is planned for it this pass.
//! - What PVE would refuse is not planned, it is reported in `held` with
//!   a reason a person can act on: a graceful `stop` of a paused,
//!   prelaunch or suspended VM ("VM is paused - cannot shutdown",
//!   qemu-server `PVE/API2/Qemu.pm`), and `memory` below the VM's `balloon`
//!   ("balloon value too large", same file; the other keys are still
//!   written).
//! - `state: absent` → one `guest_destroy {purge}` and nothing else.
//! - Otherwise at most one `set_config` carrying only the drifted keys
//!   (compared through [`crate::reconcile::normalize`]), then at most one
//!   `start` or `stop`.
//! - Unknown power state with a desired `running`/`stopped` → no power
//!   action; the vmid is reported in `unknown_power`.
//! - Actions are sorted by vmid; within a guest, config before power.
//! - If `actual` lists a vmid twice, the first entry is used.

use crate::reconcile::action::{Action, ActionOp, Source};
use crate::reconcile::desired::{DesiredGuest, DesiredState, GuestState};
use crate::reconcile::normalize::{description_matches, memory_bytes_to_mib, memory_matches};
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GuestKind {
    Qemu,
    Lxc,
}

impl GuestKind {
    /// The PVE path segment and report name.
    pub fn as_str(self) -> &'static str {
        match self {
            GuestKind::Qemu => "qemu",
            GuestKind::Lxc => "lxc",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PowerState {
    Running,
    Stopped,
    /// PVE did not say, or said something else (e.g. a node offline).
    Unknown,
}

impl PowerState {
    /// The HostReport `status` value.
    pub fn as_str(self) -> &'static str {
        match self {
            PowerState::Running => "running",
            PowerState::Stopped => "stopped",
            PowerState::Unknown => "unknown",
        }
    }
}

/// What PVE's live status and config add to a guest's picture; the
/// default knows nothing (no pause, no balloon). Whether PVE's HA stack
/// manages the guest is the gate's to know: [`super::actual::ActualState::facts`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PveFacts {
    /// qemu's run state from `status/current` (`running`, `paused`,
    /// `prelaunch`, `suspended`, ...), when it was read.
    pub qmpstatus: Option<String>,
    /// qemu `balloon` in MiB (0: ballooning off).
    pub balloon_mib: Option<u64>,
}

impl PveFacts {
    /// qemu-server's `vm_is_paused($vmid, 1)`: a shutdown is refused.
    pub fn paused(&self) -> bool {
        crate::proxmox::guests::is_paused(self.qmpstatus.as_deref())
    }
}

/// A guest as PVE reports it, already normalized by the adapter:
/// `memory_mib` in MiB, `None` for anything PVE did not report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActualGuest {
    pub vmid: u32,
    pub kind: GuestKind,
    pub name: String,
    pub status: PowerState,
    /// PVE's `lock` (`backup`, `migrate`, ...), if any.
    pub lock: Option<String>,
    pub cores: Option<u64>,
    pub memory_mib: Option<u64>,
    pub description: Option<String>,
    pub pve: PveFacts,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// Sorted by vmid; within a guest, config before power.
    pub actions: Vec<Action>,
    /// On the host, not listed. Sorted.
    pub unmanaged: Vec<u32>,
    /// Listed (and not `absent`), not on the host. Sorted.
    pub missing: Vec<u32>,
    /// Listed, on the host, locked in PVE: (vmid, lock). Sorted.
    pub skipped_locked: Vec<(u32, String)>,
    /// Listed with a desired power state that PVE did not report. Sorted.
    pub unknown_power: Vec<u32>,
    /// Changes PVE would refuse, not planned: (vmid, why). By vmid.
    pub held: Vec<(u32, String)>,
}

/// The minimal actions that move `actual` toward `desired`.
pub fn plan(desired: &DesiredState, actual: &[ActualGuest]) -> Plan {
    let mut on_host: BTreeMap<u32, &ActualGuest> = BTreeMap::new();
    for g in actual {
        on_host.entry(g.vmid).or_insert(g);
    }
    let listed: BTreeSet<u32> = desired.guests().iter().map(|g| g.vmid).collect();
    let mut out = Plan {
        unmanaged: on_host
            .keys()
            .copied()
            .filter(|v| !listed.contains(v))
            .collect(),
        ..Plan::default()
    };
    for want in desired.guests() {
        match on_host.get(&want.vmid) {
            None if want.state == Some(GuestState::Absent) => {}
            None => out.missing.push(want.vmid),
            Some(have) => plan_guest(want, have, &mut out),
        }
    }
    out
}

/// A locked guest is never changed. It is reported (the pass has not
/// converged, CONTRACT §6) only when something would have been done to it
/// unlocked; a converged guest under, say, a backup lock skipped nothing.
/// A hibernated VM (lock `suspended`) that should run is started, which
/// resumes it.
fn plan_guest(want: &DesiredGuest, have: &ActualGuest, out: &mut Plan) {
    let Some(lock) = &have.lock else {
        plan_unlocked(want, have, out);
        return;
    };
    let hibernated = lock == "suspended" && have.kind == GuestKind::Qemu;
    if hibernated && want.state == Some(GuestState::Running) {
        out.actions.push(Action {
            vmid: want.vmid,
            op: ActionOp::Start,
            source: Source::DesiredState,
        });
        return;
    }
    let mut unlocked = Plan::default();
    plan_unlocked(want, have, &mut unlocked);
    if unlocked != Plan::default() {
        out.skipped_locked.push((have.vmid, lock.clone()));
    }
}

fn plan_unlocked(want: &DesiredGuest, have: &ActualGuest, out: &mut Plan) {
    let push = |out: &mut Plan, op| {
        out.actions.push(Action {
            vmid: want.vmid,
            op,
            source: Source::DesiredState,
        })
    };
    if want.state == Some(GuestState::Absent) {
        push(out, ActionOp::GuestDestroy { purge: want.purge });
        return;
    }
    if let Some(op) = config_drift(want, have, &mut out.held) {
        push(out, op);
    }
    match (want.state, have.status) {
        (Some(GuestState::Running), PowerState::Stopped) => push(out, ActionOp::Start),
        (Some(GuestState::Stopped), PowerState::Running) if have.pve.paused() => {
            out.held.push((
                want.vmid,
                format!(
                    "the VM is {} in Proxmox, and PVE refuses to shut down a paused VM \
                     (\"VM is paused - cannot shutdown\"); resume it (qm resume {}) and the \
                     next pass shuts it down",
                    have.pve.qmpstatus.as_deref().unwrap_or("paused"),
                    want.vmid
                ),
            ));
        }
        (Some(GuestState::Stopped), PowerState::Running) => push(out, ActionOp::Stop),
        (Some(_), PowerState::Unknown) => out.unknown_power.push(want.vmid),
        _ => {}
    }
}

/// One `set_config` with only the keys that differ, or `None`. A memory
/// size PVE would refuse (below the balloon target) is left out and held.
fn config_drift(
    want: &DesiredGuest,
    have: &ActualGuest,
    held: &mut Vec<(u32, String)>,
) -> Option<ActionOp> {
    let cores = want.cores.filter(|c| have.cores != Some(*c));
    let memory_mib = want
        .memory_bytes
        .filter(|b| !memory_matches(*b, have.memory_mib))
        .map(memory_bytes_to_mib)
        .filter(|mib| match have.pve.balloon_mib {
            Some(balloon) if balloon > *mib => {
                held.push((
                    want.vmid,
                    format!(
                        "memory {mib} MiB is below the VM's balloon target of {balloon} MiB, \
                         which PVE refuses (\"balloon value too large\"); lower or disable \
                         `balloon` first (qm set {} --balloon 0)",
                        want.vmid
                    ),
                ));
                false
            }
            _ => true,
        });
    let description = want
        .description
        .as_ref()
        .filter(|d| !description_matches(d, have.description.as_deref()))
        .cloned();
    let drifted = cores.is_some() || memory_mib.is_some() || description.is_some();
    drifted.then_some(ActionOp::SetConfig {
        cores,
        memory_mib,
        description,
    })
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
mod tests;
