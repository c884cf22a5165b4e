//! Property test of the pure plan over random desired/actual pairs.
//!
//! For thousands of seeded cases: applying the planned benign actions the
//! way PVE would (memory stored in MiB, lxc descriptions read back with a
//! trailing newline) yields a state whose plan has no benign action left;
//! no action ever names an unmanaged or locked guest; every `set_config`
//! carries exactly the drifted keys; order is by vmid, config before power.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use felhom_agent::reconcile::action::{Action, ActionOp, Source};
use felhom_agent::reconcile::desired::{DesiredGuest, DesiredState, GuestState};
use felhom_agent::reconcile::normalize::{
    MIB, description_matches, memory_bytes_to_mib, memory_matches,
};
use felhom_agent::reconcile::plan::{ActualGuest, GuestKind, Plan, PowerState, PveFacts, plan};
use std::collections::{BTreeMap, BTreeSet};

const CASES: u64 = 5000;
/// Small, so desired and actual overlap often.
const VMID_POOL: u32 = 24;

struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn chance(&mut self, one_in: u64) -> bool {
        self.below(one_in) == 0
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

const DESCRIPTIONS: &[&str] = &["web", "web\n", "", "db  ", "two\nlines", " lead", "\n"];

fn maybe<T>(rng: &mut SplitMix, value: impl FnOnce(&mut SplitMix) -> T) -> Option<T> {
    if rng.chance(2) {
        Some(value(rng))
    } else {
        None
    }
}

fn memory_bytes(rng: &mut SplitMix) -> u64 {
    let mib = 1 + rng.below(8);
    match rng.below(4) {
        0 => mib * MIB,
        1 => mib * MIB + 1,
        2 => 1 + rng.below(4 * MIB),
        _ => 1 + rng.below(u64::MAX - 1),
    }
}

fn random_desired(rng: &mut SplitMix) -> DesiredState {
    let mut guests = Vec::new();
    for vmid in 1..=VMID_POOL {
        if !rng.chance(2) {
            continue;
        }
        let state = *rng.pick(&[
            None,
            Some(GuestState::Running),
            Some(GuestState::Stopped),
            Some(GuestState::Absent),
        ]);
        guests.push(DesiredGuest {
            vmid,
            state,
            cores: maybe(rng, |r| 1 + r.below(8)),
            memory_bytes: maybe(rng, memory_bytes),
            description: maybe(rng, |r| r.pick(DESCRIPTIONS).to_string()),
            purge: state == Some(GuestState::Absent) && rng.chance(2),
            create: None,
        });
    }
    DesiredState::new(rng.next(), guests).unwrap()
}

fn random_actual(rng: &mut SplitMix) -> Vec<ActualGuest> {
    let mut out = Vec::new();
    for vmid in 1..=VMID_POOL {
        if !rng.chance(2) {
            continue;
        }
        let kind = *rng.pick(&[GuestKind::Qemu, GuestKind::Lxc]);
        out.push(ActualGuest {
            vmid,
            kind,
            name: format!("g{vmid}"),
            status: *rng.pick(&[
                PowerState::Running,
                PowerState::Stopped,
                PowerState::Unknown,
            ]),
            lock: rng.chance(8).then(|| "backup".to_string()),
            cores: maybe(rng, |r| 1 + r.below(8)),
            memory_mib: maybe(rng, |r| 1 + r.below(9)),
            description: maybe(rng, |r| r.pick(DESCRIPTIONS).to_string()),
            pve: PveFacts::default(),
        });
    }
    // PVE lists guests in no particular order.
    for i in (1..out.len()).rev() {
        out.swap(i, rng.below(i as u64 + 1) as usize);
    }
    out
}

fn is_benign(a: &Action) -> bool {
    matches!(
        a.op,
        ActionOp::Start | ActionOp::Stop | ActionOp::SetConfig { .. }
    )
}

/// What PVE holds after the action, read back with its quirks.
fn apply(actual: &mut [ActualGuest], action: &Action) {
    let g = actual.iter_mut().find(|g| g.vmid == action.vmid).unwrap();
    match &action.op {
        ActionOp::Start => g.status = PowerState::Running,
        ActionOp::Stop => g.status = PowerState::Stopped,
        ActionOp::SetConfig {
            cores,
            memory_mib,
            description,
        } => {
            g.cores = cores.or(g.cores);
            g.memory_mib = memory_mib.or(g.memory_mib);
            if let Some(d) = description {
                let read_back = match g.kind {
                    GuestKind::Lxc => format!("{d}\n"),
                    GuestKind::Qemu => d.clone(),
                };
                g.description = Some(read_back);
            }
        }
        other => panic!("not benign: {other:?}"),
    }
}

fn check_scope(d: &DesiredState, actual: &[ActualGuest], p: &Plan) {
    let listed: BTreeSet<u32> = d.guests().iter().map(|g| g.vmid).collect();
    let on_host: BTreeMap<u32, &ActualGuest> = actual.iter().map(|g| (g.vmid, g)).collect();
    let unmanaged: Vec<u32> = on_host
        .keys()
        .copied()
        .filter(|v| !listed.contains(v))
        .collect();
    assert_eq!(p.unmanaged, unmanaged);
    for a in &p.actions {
        assert!(listed.contains(&a.vmid), "action on unlisted {}", a.vmid);
        assert!(
            on_host[&a.vmid].lock.is_none(),
            "action on locked {}",
            a.vmid
        );
        assert_eq!(a.source, Source::DesiredState);
    }
    for vmid in &p.missing {
        assert!(!on_host.contains_key(vmid));
        assert_ne!(d.guest(*vmid).unwrap().state, Some(GuestState::Absent));
    }
    // A locked guest is reported exactly when it would have been changed
    // unlocked (CONTRACT §6: the pass skipped an action); a converged one
    // under a lock skipped nothing.
    let locked: Vec<u32> = p.skipped_locked.iter().map(|(v, _)| *v).collect();
    let expect_locked: Vec<u32> = listed
        .iter()
        .copied()
        .filter(|v| {
            on_host.get(v).is_some_and(|g| {
                let mut unlocked = (*g).clone();
                unlocked.lock = None;
                let u = plan(d, std::slice::from_ref(&unlocked));
                g.lock.is_some()
                    && (u.actions.iter().any(|a| a.vmid == *v)
                        || u.held.iter().any(|(h, _)| h == v)
                        || u.unknown_power.contains(v))
            })
        })
        .collect();
    assert_eq!(locked, expect_locked);
}

fn check_order(p: &Plan) {
    let rank = |a: &Action| match a.op {
        ActionOp::SetConfig { .. } => 0,
        ActionOp::Start | ActionOp::Stop => 1,
        _ => 2,
    };
    let keys: Vec<(u32, u8)> = p.actions.iter().map(|a| (a.vmid, rank(a))).collect();
    for pair in keys.windows(2) {
        assert!(pair[0] < pair[1], "order or duplicate: {keys:?}");
    }
}

fn check_set_config_minimal(d: &DesiredState, actual: &[ActualGuest], p: &Plan) {
    for g in actual.iter().filter(|g| g.lock.is_none()) {
        let Some(want) = d.guest(g.vmid) else {
            continue;
        };
        if want.state == Some(GuestState::Absent) {
            continue;
        }
        let drift_cores = want.cores.filter(|c| g.cores != Some(*c));
        let drift_mem = want
            .memory_bytes
            .filter(|b| !memory_matches(*b, g.memory_mib))
            .map(memory_bytes_to_mib);
        let drift_desc = want
            .description
            .clone()
            .filter(|w| !description_matches(w, g.description.as_deref()));
        let planned = p.actions.iter().find_map(|a| match &a.op {
            ActionOp::SetConfig {
                cores,
                memory_mib,
                description,
            } if a.vmid == g.vmid => Some((*cores, *memory_mib, description.clone())),
            _ => None,
        });
        let expected = (drift_cores.is_some() || drift_mem.is_some() || drift_desc.is_some())
            .then_some((drift_cores, drift_mem, drift_desc));
        assert_eq!(planned, expected, "vmid {}", g.vmid);
    }
}

#[test]
fn planned_benign_actions_converge_and_never_touch_unmanaged_or_locked_guests() {
    let mut rng = SplitMix(0x5EED_F31A_0000_0001);
    let mut totals = BTreeMap::new();
    for case in 0..CASES {
        let d = random_desired(&mut rng);
        let mut actual = random_actual(&mut rng);
        let p = plan(&d, &actual);
        check_scope(&d, &actual, &p);
        check_order(&p);
        check_set_config_minimal(&d, &actual, &p);
        for a in &p.actions {
            *totals.entry(a.op.name()).or_insert(0u64) += 1;
            if let ActionOp::GuestDestroy { purge } = a.op {
                let want = d.guest(a.vmid).unwrap();
                assert_eq!((want.state, want.purge), (Some(GuestState::Absent), purge));
            }
        }
        for a in p.actions.iter().filter(|a| is_benign(a)) {
            apply(&mut actual, a);
        }
        let again = plan(&d, &actual);
        let left: Vec<&Action> = again.actions.iter().filter(|a| is_benign(a)).collect();
        assert!(left.is_empty(), "case {case}: still planned {left:?}");
        let destroys = |p: &Plan| {
            p.actions
                .iter()
                .filter(|a| !is_benign(a))
                .cloned()
                .collect::<Vec<_>>()
        };
        assert_eq!(destroys(&again), destroys(&p), "case {case}");
        assert_eq!(
            (
                &again.unmanaged,
                &again.missing,
                &again.skipped_locked,
                &again.unknown_power
            ),
            (
                &p.unmanaged,
                &p.missing,
                &p.skipped_locked,
                &p.unknown_power
            )
        );
    }
    // The generator exercises every op the plan can emit.
    for op in ["set_config", "start", "stop", "guest_destroy"] {
        assert!(
            totals.get(op).copied().unwrap_or(0) > 100,
            "{op}: {totals:?}"
        );
    }
}

#[test]
fn unmanaged_guests_are_untouched_even_when_they_drift_wildly() {
    let d = DesiredState::new(1, vec![DesiredGuest::listed(5)]).unwrap();
    let wild = ActualGuest {
        vmid: 6,
        kind: GuestKind::Qemu,
        name: "other".into(),
        status: PowerState::Unknown,
        lock: Some("backup".into()),
        cores: None,
        memory_mib: None,
        description: Some("\u{1b}".into()),
        pve: PveFacts::default(),
    };
    let p = plan(&d, &[wild]);
    assert!(p.actions.is_empty() && p.skipped_locked.is_empty() && p.unknown_power.is_empty());
    assert_eq!((p.unmanaged, p.missing), (vec![6], vec![5]));
}
