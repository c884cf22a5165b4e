//! `reconcile::preflight`: would PVE refuse this signed op right now?
//!
//! Owns: the checks a signed op passes before its nonce is consumed. A
//! signed op is consumed once and then runs; if PVE refused it, the
//! operator's signature would be burnt for nothing. So, immediately before
//! the executor writes its intent and consumes the nonce, the guest is read
//! (`config`, `status/current`, and for a destroy without `purge` the
//! replication jobs) and the op is checked against what PVE would refuse:
//!
//! | op | refused by PVE when | source |
//! |---|---|---|
//! | any | the guest carries a lock (`backup`, `migrate`, `snapshot`, ...) | `check_lock` in qemu-server / pve-container |
//! | `guest_destroy` | `protection` is set | `check_protection`, both `destroy_vm` APIs |
//! | `guest_destroy` without purge | the guest is HA-managed | "used in HA resources and purge parameter not set" |
//! | `guest_destroy` without purge | a replication job exists for it | pve-guest-common `ReplicationConfig.pm` |
//! | `stop`, `restart` | a qemu guest is paused / prelaunch / suspended | qemu-server `PVE/API2/Qemu.pm` vm_shutdown, vm_reboot |
//!
//! Exceptions PVE itself makes: `start` and a qemu `guest_destroy` accept
//! the `suspended` lock of a hibernated VM (qemu-server `vm_start`,
//! `destroy_vm`). A running guest is *not* a refusal: a signed destroy
//! stops it first (hard stop: it is being destroyed).
//!
//! A refusal (or a read that fails) keeps the op queued with its nonce; it
//! is reported each pass and runs once the cause is gone, while it is valid.
//! Trusts: PVE's answers, read fresh for this instant.

use super::action::ActionOp;
use super::gate::Allowed;
use crate::proxmox::{Client, GuestRef, Kind};

/// What the preflight found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Preflight {
    /// PVE would take the op. `running`: the guest is running now.
    Ready { running: bool },
    /// PVE would refuse the op now; why, for the operator.
    Refused(String),
}

/// The preflight step of a gate-allowed action: for a signed op on a guest,
/// `Err(why)` when PVE would refuse it right now (it stays queued, nonce
/// kept); else `Ok(running)`, whether the guest runs now (`false` when it
/// was not read: unsigned actions, host-scoped ops). Only reads: the
/// executor runs it before the intent, and `--plan` runs it to exit as
/// the pass would (CONTRACT §6).
pub fn for_allowed(
    client: &Client,
    allowed: &Allowed,
    target: Option<&GuestRef>,
) -> Result<bool, String> {
    let (Some(_), Some(guest)) = (allowed.authorization(), target) else {
        return Ok(false);
    };
    match &allowed.action().op {
        ActionOp::KeyRotation { .. } => Ok(false),
        op => match check(client, op, guest) {
            Preflight::Ready { running } => Ok(running),
            Preflight::Refused(why) => Err(why),
        },
    }
}

/// Checks `op` on `guest` against what PVE would refuse right now.
pub fn check(client: &Client, op: &ActionOp, guest: &GuestRef) -> Preflight {
    let config = match client.config(guest) {
        Ok(c) => c,
        Err(e) => return Preflight::Refused(format!("cannot read its config to check ({e})")),
    };
    let status = match client.status(guest) {
        Ok(s) => s,
        Err(e) => return Preflight::Refused(format!("cannot read its status to check ({e})")),
    };
    let lock = config.lock.as_deref().or(status.lock.as_deref());
    let destroy = matches!(op, ActionOp::GuestDestroy { .. });
    if let Some(lock) = lock {
        let hibernated = lock == "suspended" && guest.kind == Kind::Qemu;
        let accepted = hibernated && (destroy || matches!(op, ActionOp::Start));
        if !accepted {
            return Preflight::Refused(format!(
                "the guest is locked in Proxmox ({lock}), and PVE refuses to change a locked guest"
            ));
        }
    }
    match op {
        ActionOp::GuestDestroy { purge } => {
            if config.protection {
                return Preflight::Refused(
                    "protection is set on the guest (PVE: protection mode enabled); clear it \
                     to let the destroy run"
                        .into(),
                );
            }
            if !purge && status.ha_managed {
                return Preflight::Refused(
                    "the guest is HA-managed and the op has purge false (PVE: used in HA \
                     resources and purge parameter not set); remove it from HA first"
                        .into(),
                );
            }
            if !purge {
                match client.replication_jobs() {
                    Ok(jobs) => {
                        if let Some(job) = jobs.iter().find(|j| j.guest == guest.vmid) {
                            return Preflight::Refused(format!(
                                "replication job {} exists for the guest and the op has purge \
                                 false (PVE refuses); remove the job first",
                                job.id
                            ));
                        }
                    }
                    Err(e) => {
                        return Preflight::Refused(format!(
                            "cannot read the replication jobs to check ({e})"
                        ));
                    }
                }
            }
        }
        ActionOp::Stop | ActionOp::Restart if guest.kind == Kind::Qemu && status.is_paused() => {
            return Preflight::Refused(format!(
                "the VM is {} in Proxmox, and PVE refuses to shut down a paused VM; resume it first",
                status.qmpstatus.as_deref().unwrap_or("paused")
            ));
        }
        _ => {}
    }
    Preflight::Ready {
        running: status.is_running(),
    }
}
