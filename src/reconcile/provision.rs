//! `reconcile::provision`: which creations a pass attempts (CONTRACT §10).
//!
//! Owns: the selection of desired guests to create, and the bounds that
//! keep a compromised hub (creation is benign, hence unsigned) from filling
//! the host. Trusts: the config's `provision` section, PVE's guest list and
//! storage status.
//!
//! A listed guest with a `create` object is a candidate when its vmid is on
//! no node of the cluster. In vmid order, a candidate is *held* (reported
//! with its reason, not attempted, still `missing`) when:
//! - its vmid exists on another node, or as a template (the reason names it);
//! - a compensating rollback of it is recent (same generation, < 1 hour);
//! - its storage is not in `provision.storages`;
//! - a qemu clone's source is not a qemu template on this node, or a linked
//!   clone's template disks are not on the named storage (a linked clone
//!   stays on its template's storage);
//! - `max_creates_per_pass` creations were already selected this pass;
//! - the storage is inactive, unreadable, or would be left with less than
//!   `min_free_percent` free after this pass's selected creations on it
//!   (a container needs `disk_gib`; a full clone its template's disks; a
//!   linked clone nothing up front).
//!
//! Without `provision` (or with no storages) nothing is selected and the
//! candidates are simply `missing`. Each selected creation becomes the
//! actions `create`, then `set_config` (the entry's cores, memory and
//! description, if any) and `start` (if `running`), which the gate decides
//! like any other action and `txn` runs as one transaction.

use super::action::{Action, ActionOp, Source};
use super::actual::ActualState;
use super::desired::{CreateSpec, DesiredGuest, DesiredState, GuestState};
use super::normalize::memory_bytes_to_mib;
use super::report::{ActionEntry, Class, Decision, Outcome};
use crate::config::{Config, ProvisionConfig};
use crate::journal::Transactions;
use crate::proxmox::{Client, Kind, StorageStatus};
use std::collections::{BTreeMap, BTreeSet};

/// This pass's creations.
#[derive(Debug, Default)]
pub struct Selection {
    /// Per selected creation: `create`, then `set_config`/`start` if planned.
    pub actions: Vec<Action>,
    /// A row (`refused`, `skipped`, with the reason) per held candidate.
    pub held: Vec<ActionEntry>,
    /// The vmids selected (they are being created, not `missing`).
    pub creating: BTreeSet<u32>,
    /// Reads that failed (a storage status, a template config): the pass
    /// has not converged (exit 1), like any unreadable state.
    pub errors: Vec<String>,
}

/// Selects the creations of this pass; reads storage status and template
/// configs from PVE only for candidates that pass every other bound.
pub fn select(
    desired: &DesiredState,
    actual: &ActualState,
    transactions: &Transactions,
    config: &Config,
    client: &Client,
    now: i64,
) -> Selection {
    let mut out = Selection::default();
    let Some(bounds) = config.provision.as_ref().filter(|p| p.enabled()) else {
        return out;
    };
    let mut room = Room::default();
    for guest in desired.guests() {
        let Some(spec) = &guest.create else { continue };
        if actual.resources.contains_key(&guest.vmid) || transactions.open_on(guest.vmid).is_some()
        {
            continue;
        }
        let selected = out.creating.len();
        let checked = check(
            guest,
            spec,
            actual,
            transactions,
            bounds,
            desired.generation(),
            now,
            selected,
            client.node(),
        );
        match checked.and_then(|need| room.reserve(client, bounds, spec, need)) {
            Ok(()) => {
                out.creating.insert(guest.vmid);
                out.actions.extend(actions(guest, spec));
            }
            Err(Hold::Bound(reason)) => out.held.push(held_row(guest.vmid, spec, reason)),
            Err(Hold::Unreadable(reason)) => {
                out.errors.push(format!("guest {}: {reason}", guest.vmid));
                out.held.push(held_row(guest.vmid, spec, reason));
            }
        }
    }
    out
}

/// The bounds that need no PVE read (other than a template's disks);
/// returns the bytes the creation needs on its storage.
#[allow(clippy::too_many_arguments)]
fn check(
    guest: &DesiredGuest,
    spec: &CreateSpec,
    actual: &ActualState,
    transactions: &Transactions,
    bounds: &ProvisionConfig,
    generation: u64,
    now: i64,
    selected: usize,
    node: &str,
) -> Result<Need, Hold> {
    let vmid = guest.vmid;
    if let Some(r) = actual.cluster.get(&vmid) {
        return Err(Hold::Bound(if r.template {
            format!("vmid {vmid} is a template on node {}; not created", r.node)
        } else {
            format!("vmid {vmid} exists on node {}; not created", r.node)
        }));
    }
    if let Some(hold) = transactions.holds.get(&vmid)
        && hold.holds(generation, now)
    {
        return Err(Hold::Bound(format!(
            "held after a compensating rollback (transaction {}, at {}): not tried again until \
             the generation changes or an hour has passed",
            hold.txn, hold.at
        )));
    }
    if !bounds.allows_storage(spec.storage()) {
        return Err(Hold::Bound(format!(
            "storage {} is not in provision.storages; not created",
            spec.storage()
        )));
    }
    if let CreateSpec::Qemu(q) = spec {
        let template = actual.cluster.get(&q.clone);
        let ok = template.is_some_and(|t| t.template && t.kind == Kind::Qemu && t.node == node);
        if !ok {
            return Err(Hold::Bound(format!(
                "clone source {} is not a qemu template on this node; not created",
                q.clone
            )));
        }
    }
    if u64::try_from(selected).unwrap_or(u64::MAX) >= bounds.max_creates_per_pass {
        return Err(Hold::Bound(format!(
            "deferred: provision.max_creates_per_pass ({}) reached this pass",
            bounds.max_creates_per_pass
        )));
    }
    Ok(match spec {
        CreateSpec::Lxc(l) => Need::Bytes(l.disk_gib.saturating_mul(1 << 30)),
        CreateSpec::Qemu(q) => Need::Template {
            vmid: q.clone,
            full: q.full(),
        },
    })
}

/// Why a candidate is not attempted this pass.
enum Hold {
    /// A bound of CONTRACT §10 (or the cluster) says no.
    Bound(String),
    /// PVE could not be read.
    Unreadable(String),
}

/// What a creation needs on its storage.
enum Need {
    Bytes(u64),
    /// A clone: known once the template's disks are read.
    Template {
        vmid: u32,
        full: bool,
    },
}

/// Storage status read once per storage per pass, and what this pass's
/// selected creations already take from it.
#[derive(Default)]
struct Room {
    status: BTreeMap<String, Result<StorageStatus, String>>,
    taken: BTreeMap<String, u64>,
}

impl Room {
    fn reserve(
        &mut self,
        client: &Client,
        bounds: &ProvisionConfig,
        spec: &CreateSpec,
        need: Need,
    ) -> Result<(), Hold> {
        let storage = spec.storage();
        let bytes = match need {
            Need::Bytes(b) => b,
            Need::Template { vmid, full } => {
                let disks = client.template_disks(vmid).map_err(|e| {
                    Hold::Unreadable(format!(
                        "template {vmid} config unreadable ({e}); not created"
                    ))
                })?;
                if !full
                    && let Some(d) = disks.iter().find(|d| d.storage.as_deref() != Some(storage))
                {
                    return Err(Hold::Bound(format!(
                        "a linked clone stays on its template's storage, but template {vmid} \
                         has {} on {}; not created",
                        d.key,
                        d.storage.as_deref().unwrap_or("no storage")
                    )));
                }
                if full {
                    disks
                        .iter()
                        .fold(0u64, |sum, d| sum.saturating_add(d.bytes))
                } else {
                    0
                }
            }
        };
        let status = self
            .status
            .entry(storage.to_string())
            .or_insert_with(|| client.storage_status(storage).map_err(|e| e.to_string()))
            .clone()
            .map_err(|e| {
                Hold::Unreadable(format!(
                    "storage {storage} status unreadable ({e}); not created"
                ))
            })?;
        let (true, true, Some(total @ 1..), Some(avail)) =
            (status.active, status.enabled, status.total, status.avail)
        else {
            return Err(Hold::Bound(format!(
                "storage {storage} is not active on this node (or reports no size); not created"
            )));
        };
        let taken = self.taken.get(storage).copied().unwrap_or(0);
        let after = avail.saturating_sub(taken).saturating_sub(bytes);
        let short =
            u128::from(after) * 100 < u128::from(total) * u128::from(bounds.min_free_percent);
        if short || avail.saturating_sub(taken) < bytes {
            return Err(Hold::Bound(format!(
                "storage {storage} would be left with less than provision.min_free_percent ({}%) \
                 free: {avail} of {total} bytes available, {taken} already taken this pass, \
                 {bytes} needed; not created",
                bounds.min_free_percent
            )));
        }
        self.taken
            .insert(storage.to_string(), taken.saturating_add(bytes));
        Ok(())
    }
}

/// `create`, then the entry's config and power state for the new guest.
fn actions(guest: &DesiredGuest, spec: &CreateSpec) -> Vec<Action> {
    let action = |op| Action {
        vmid: guest.vmid,
        op,
        source: Source::DesiredState,
    };
    let mut out = vec![action(ActionOp::Create(spec.clone()))];
    let memory_mib = guest.memory_bytes.map(memory_bytes_to_mib);
    if guest.cores.is_some() || memory_mib.is_some() || guest.description.is_some() {
        out.push(action(ActionOp::SetConfig {
            cores: guest.cores,
            memory_mib,
            description: guest.description.clone(),
        }));
    }
    if guest.state == Some(GuestState::Running) {
        out.push(action(ActionOp::Start));
    }
    out
}

fn held_row(vmid: u32, spec: &CreateSpec, reason: String) -> ActionEntry {
    let action = Action {
        vmid,
        op: ActionOp::Create(spec.clone()),
        source: Source::DesiredState,
    };
    let mut e = ActionEntry::planned(&action, Class::Benign, Decision::Refused);
    e.outcome = Outcome::Skipped;
    e.reason = Some(reason);
    e
}
