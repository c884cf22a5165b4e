//! `reconcile::actual`: what Proxmox says this node's guests are, adapted
//! into the plan's model.
//!
//! Reads: one `GET /cluster/resources?type=vm` for the whole host, then one
//! `/pending` read per *managed* guest (listed in the desired state and
//! present on this node). Unmanaged guests cost no read beyond the resource
//! list, so a converged pass makes at most 1 + N reads and no writes.
//!
//! The resource list's `status` is a cache (pvestatd refreshes it every
//! 10 s, minutes when it stalls: pve-manager `PVE/Service/pvestatd.pm`,
//! `PVE/API2/Cluster.pm`): it never alone decides a power action. Where it
//! shows a managed guest's power state off from the desired one (or the
//! guest locked `suspended`), that guest's live `status/current` is read
//! and used instead, with its qemu run state (paused?) and HA flag. So a
//! second pass right after a start sees the guest running, and a converged
//! pass still makes no extra read.
//!
//! PVE's defaults stand for keys a config leaves out (qemu-server
//! `PVE/QemuServer.pm` `cores` 1, `PVE/QemuServer/Memory.pm` `memory`
//! 512 MiB; pve-container `PVE/LXC/Config.pm` `memory` 512 MiB), so asking
//! for the default is not drift.

use super::classify::GuestFacts;
use super::desired::{DesiredGuest, DesiredState, GuestState};
use super::plan::{ActualGuest, GuestKind, PowerState, PveFacts};
use crate::proxmox::{Client, GuestRef, GuestStatus, Kind, PveError, Resource};
use std::collections::BTreeMap;

/// qemu-server's default `cores` (per socket).
pub const QEMU_DEFAULT_CORES: u64 = 1;
/// qemu-server's and pve-container's default `memory`, in MiB.
pub const DEFAULT_MEMORY_MIB: u64 = 512;

/// This node's guests as read this pass.
#[derive(Debug, Default)]
pub struct ActualState {
    /// Every guest PVE lists on this node (managed or not), by vmid.
    pub resources: BTreeMap<u32, Resource>,
    /// Managed guests, adapted for the plan.
    pub managed: Vec<ActualGuest>,
    /// Managed guests whose config could not be read (vmid, error).
    pub unreadable: Vec<(u32, String)>,
    /// Live `status/current` of the managed guests whose listed power
    /// state was off from the desired one.
    pub live: BTreeMap<u32, GuestStatus>,
    /// Every guest and template of the cluster, any node, by vmid (from the
    /// same list): where a vmid to be created may already exist.
    pub cluster: BTreeMap<u32, Resource>,
}

impl ActualState {
    pub fn guest_ref(&self, vmid: u32) -> Option<GuestRef> {
        self.resources.get(&vmid).map(Resource::guest_ref)
    }

    /// Every guest on the node in the plan's model; unmanaged guests carry
    /// only what the resource list says (for reports).
    pub fn all_guests(&self) -> Vec<ActualGuest> {
        self.resources
            .values()
            .map(|r| match self.managed.iter().find(|g| g.vmid == r.vmid) {
                Some(g) => g.clone(),
                None => from_resource(r),
            })
            .collect()
    }

    /// What the gate must know about `vmid`: an HA-managed qemu guest is
    /// one whose list entry has an HA state or whose live status says so.
    pub fn facts(&self, vmid: u32) -> GuestFacts {
        let Some(r) = self.resources.get(&vmid) else {
            return GuestFacts::default();
        };
        let ha = r.hastate.is_some() || self.live.get(&vmid).is_some_and(|s| s.ha_managed);
        GuestFacts {
            ha_managed_qemu: ha && r.kind == Kind::Qemu,
        }
    }
}

/// Reads the node's guests. Fails only when the resource list itself is
/// unreadable (PVE down): then nothing can be planned.
pub fn read(client: &Client, desired: Option<&DesiredState>) -> Result<ActualState, PveError> {
    let mut state = ActualState::default();
    for r in client.resources()? {
        if r.node == client.node() && !r.template {
            state.resources.entry(r.vmid).or_insert_with(|| r.clone());
        }
        state.cluster.entry(r.vmid).or_insert(r);
    }
    let Some(desired) = desired else {
        return Ok(state);
    };
    for wanted in desired.guests() {
        let Some(resource) = state.resources.get(&wanted.vmid) else {
            continue;
        };
        let g = resource.guest_ref();
        let mut guest = from_resource(resource);
        match client.pending_config(&g) {
            Ok(cfg) => {
                let default_cores = (g.kind == Kind::Qemu).then_some(QEMU_DEFAULT_CORES);
                guest.cores = cfg.cores.map(u64::from).or(default_cores);
                guest.memory_mib = cfg.memory_mib.or(Some(DEFAULT_MEMORY_MIB));
                guest.description = cfg.description;
                guest.lock = resource.lock.clone().or(cfg.lock);
                guest.pve.balloon_mib = cfg.balloon_mib;
            }
            Err(e) => {
                state.unreadable.push((wanted.vmid, e.to_string()));
                continue;
            }
        }
        if listed_power_is_off(wanted, &guest) {
            match client.status(&g) {
                Ok(live) => {
                    apply_live(&mut guest, &live);
                    state.live.insert(wanted.vmid, live);
                }
                Err(e) => {
                    log::warn!("guest {}: live status unreadable ({e})", wanted.vmid);
                    guest.status = PowerState::Unknown;
                }
            }
        }
        state.managed.push(guest);
    }
    Ok(state)
}

/// Whether the list shows a power state the desired one would act on.
fn listed_power_is_off(want: &DesiredGuest, have: &ActualGuest) -> bool {
    let hibernated = have.lock.as_deref() == Some("suspended");
    match (want.state, have.status) {
        (Some(GuestState::Running), PowerState::Stopped) => true,
        (Some(GuestState::Running), _) => hibernated,
        (Some(GuestState::Stopped), PowerState::Running) => true,
        _ => false,
    }
}

fn apply_live(guest: &mut ActualGuest, live: &GuestStatus) {
    guest.status = power_state(&live.status);
    if live.lock.is_some() {
        guest.lock.clone_from(&live.lock);
    }
    guest.pve.qmpstatus.clone_from(&live.qmpstatus);
}

fn power_state(status: &str) -> PowerState {
    match status {
        "running" => PowerState::Running,
        "stopped" => PowerState::Stopped,
        _ => PowerState::Unknown,
    }
}

fn from_resource(r: &Resource) -> ActualGuest {
    ActualGuest {
        vmid: r.vmid,
        kind: match r.kind {
            Kind::Qemu => GuestKind::Qemu,
            Kind::Lxc => GuestKind::Lxc,
        },
        name: r.name.clone().unwrap_or_default(),
        status: power_state(&r.status),
        lock: r.lock.clone(),
        cores: None,
        memory_mib: r.maxmem_bytes.map(|b| b.div_ceil(1024 * 1024)),
        description: None,
        pve: PveFacts::default(),
    }
}
