//! `reconcile::actual`: what Proxmox says this node's guests are, adapted
//! into the plan's model.
//!
//! Reads: one `GET /cluster/resources?type=vm` for the whole host, then one
//! config read per *managed* guest (listed in the desired state and present
//! on this node). Unmanaged guests cost no read beyond the resource list, so
//! a converged pass makes at most 1 + N reads and no writes.

use super::desired::DesiredState;
use super::plan::{ActualGuest, GuestKind, PowerState};
use crate::proxmox::{Client, GuestRef, Kind, PveError, Resource};
use std::collections::BTreeMap;

/// This node's guests as read this pass.
#[derive(Debug, Default)]
pub struct ActualState {
    /// Every guest PVE lists on this node (managed or not), by vmid.
    pub resources: BTreeMap<u32, Resource>,
    /// Managed guests, adapted for the plan.
    pub managed: Vec<ActualGuest>,
    /// Managed guests whose config could not be read (vmid, error).
    pub unreadable: Vec<(u32, String)>,
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
        let mut guest = from_resource(resource);
        match client.pending_config(&resource.guest_ref()) {
            Ok(cfg) => {
                guest.cores = cfg.cores.map(u64::from);
                guest.memory_mib = cfg.memory_mib;
                guest.description = cfg.description;
                guest.lock = resource.lock.clone().or(cfg.lock);
                state.managed.push(guest);
            }
            Err(e) => state.unreadable.push((wanted.vmid, e.to_string())),
        }
    }
    Ok(state)
}

fn from_resource(r: &Resource) -> ActualGuest {
    ActualGuest {
        vmid: r.vmid,
        kind: match r.kind {
            Kind::Qemu => GuestKind::Qemu,
            Kind::Lxc => GuestKind::Lxc,
        },
        name: r.name.clone().unwrap_or_default(),
        status: match r.status.as_str() {
            "running" => PowerState::Running,
            "stopped" => PowerState::Stopped,
            _ => PowerState::Unknown,
        },
        lock: r.lock.clone(),
        cores: None,
        memory_mib: r.maxmem_bytes.map(|b| b.div_ceil(1024 * 1024)),
        description: None,
    }
}
