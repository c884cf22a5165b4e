//! Power cuts under the real binary (CONTRACT §8 with §10), creation
//! transactions: a creation (create → config → start → commit) and a
//! compensating rollback (the start fails after the guest came up → hard
//! stop → destroy), each cut at the file-system operations of every step
//! and at the PVE requests it sends. Beyond the shared invariants (among
//! them: no guest created twice, no PVE mutation sent twice):
//! - the guest ends fully created to spec and committed, or gone;
//! - `unresolved` (a guest left alone for the operator) exactly when the
//!   create POST was sent and its task id was not durable: a create the
//!   journal can prove (task id durable) is always completed or rolled
//!   back, one it cannot prove is never destroyed;
//! - a DELETE only of a guest whose provenance (`txn_created`) was durable
//!   before it went out;
//! - the pass after the restart converges.
//!
//! Each scenario runs uncut once to count its file-system operations, then
//! once per cut point; the invariants every trial checks are listed in
//! `support/powercut_trial.rs` (with how to add a scenario), the disk model
//! in `support/powercut_fs.py`. Needs `fuse3` and `mfusepy` (installed by
//! `bash tests/run.sh`); fails with an install hint without them.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "support/fakepve.rs"]
mod fakepve;
#[path = "support/powercut.rs"]
mod powercut;
#[path = "support/powercut_trial.rs"]
mod powercut_trial;
#[path = "support/powercut_world.rs"]
mod powercut_world;
#[path = "support/sshkeys.rs"]
mod sshkeys;
#[path = "support/stub_hub.rs"]
mod stub_hub;

use felhom_agent::journal::{self, Record, TxnEndKind};
use powercut::{Policy, Trigger};
use powercut_trial::{
    Cut, CutAt, Interrupted, Scenario, assert_converged, count, cut, nothing_kept, one_shot_done,
    pass, restart_pass, run, what,
};
use powercut_world::{Ctx, Run, World};
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

const TEMPLATE: &str = "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst";
const NAME: &str = "pcshop";
const DESCRIPTION: &str = "power cut";

/// A world that may provision (the provisioning token, `provision`), and
/// a desired guest to create: lxc, 2 cores, a description, running.
fn provisioning_world(ctx: &Ctx, tag: &str) -> World {
    let mut w = World::new(ctx, tag);
    w.config["proxmox"]["token_file"] = json!(ctx.pve.provision_token_file);
    w.config["provision"] = json!({"storages": ["local-lvm"]});
    w.write_config();
    let v = ctx.pve.next_vmid();
    w.vmids.push(v);
    w.write_desired(
        1,
        json!([{"vmid": v, "state": "running", "cores": 2, "description": DESCRIPTION,
                "create": {"kind": "lxc", "name": NAME, "ostemplate": TEMPLATE,
                           "storage": "local-lvm", "disk_gib": 1}}]),
    );
    w
}

/// What the durable journal said about the creation when the power came
/// back, and what PVE had received by then.
#[derive(Debug)]
struct AtCut {
    /// Create POSTs PVE had received.
    posts: u64,
    /// The create step's task id was durable.
    create_task: bool,
    /// Provenance (`txn_created`) was durable.
    provenance: bool,
    /// A rollback (`txn_abort`) was durable.
    aborting: bool,
    /// How the transaction had ended, if its end was durable.
    ended: Option<TxnEndKind>,
    /// DELETEs PVE had received.
    deletes: usize,
}

fn is_create_step(op_id: &str) -> bool {
    op_id.ends_with("/create")
}

fn at_cut(w: &World, ctx: &Ctx) -> AtCut {
    let v = w.vmids[0];
    let records = w.records();
    AtCut {
        posts: ctx.pve.creates(v),
        create_task: records
            .iter()
            .any(|r| matches!(r, Record::TaskStarted { op_id, .. } if is_create_step(op_id))),
        provenance: records
            .iter()
            .any(|r| matches!(r, Record::TxnCreated { .. })),
        aborting: records.iter().any(|r| matches!(r, Record::TxnAbort { .. })),
        ended: records.iter().rev().find_map(|r| match r {
            Record::TxnEnd { vmid, end, .. } if *vmid == v => Some(*end),
            _ => None,
        }),
        deletes: ctx.pve.deletes(v),
    }
}

/// Write-ahead: every PVE request the interrupted pass sent for the guest
/// had its intent durable (`records`: the journal the cut left).
fn assert_written_ahead(ctx: &Ctx, vmid: u32, records: &[Record], what: &str) {
    let intents: BTreeSet<&str> = records
        .iter()
        .filter_map(|r| match r {
            Record::Intent { vmid: v, op, .. } if *v == vmid => Some(op.as_str()),
            _ => None,
        })
        .collect();
    let mut sent = Vec::new();
    if ctx.pve.creates(vmid) > 0 {
        sent.push("create");
    }
    let guest = format!("/{vmid}");
    for (method, path) in ctx.pve.requests() {
        if method == "GET" || !(path.contains(&format!("{guest}/")) || path.ends_with(&guest)) {
            continue;
        }
        sent.push(match (method.as_str(), path.rsplit('/').next().unwrap()) {
            ("PUT", "config") => "set_config",
            ("POST", "start") => "start",
            ("POST", "stop") => "stop",
            ("DELETE", _) => "guest_destroy",
            other => panic!("{what}: an unexpected request {other:?} {path}"),
        });
    }
    for op in sent {
        assert!(
            intents.contains(op),
            "{what}: PVE received {op} for guest {vmid} before its intent was durable"
        );
    }
}

/// How the guest's transactions ended, oldest first.
fn ends(w: &World, vmid: u32) -> Vec<TxnEndKind> {
    w.records()
        .iter()
        .filter_map(|r| match r {
            Record::TxnEnd { vmid: v, end, .. } if *v == vmid => Some(*end),
            _ => None,
        })
        .collect()
}

/// Whether the transaction that rolled the guest back held provenance
/// (`txn_created`) in the journal.
fn rolled_back_with_provenance(w: &World, vmid: u32) -> bool {
    let records = w.records();
    let Some(txn) = records.iter().rev().find_map(|r| match r {
        Record::TxnEnd {
            txn,
            vmid: v,
            end: TxnEndKind::RolledBack,
            ..
        } if *v == vmid => Some(txn.clone()),
        _ => None,
    }) else {
        return false;
    };
    records
        .iter()
        .any(|r| matches!(r, Record::TxnCreated { txn: t, .. } if *t == txn))
}

/// No transaction open, nothing in flight.
fn assert_settled(w: &World, what: &str) {
    let ix = journal::open_read_only(&w.live("state")).unwrap();
    assert!(
        ix.transactions.open.is_empty(),
        "{what}: a transaction left open: {:?}",
        ix.transactions.open
    );
    assert!(
        ix.in_flight.is_empty(),
        "{what}: an op left in flight: {:?}",
        ix.in_flight
    );
}

fn reported_unresolved(run: &Run) -> bool {
    run.json()["errors"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e.as_str().unwrap().contains("unresolved"))
}

/// The guest exists to spec: running, 2 cores, the description, unlocked.
fn assert_to_spec(ctx: &Ctx, vmid: u32, what: &str) {
    let g = ctx.pve.guest(vmid);
    assert_eq!(g["exists"], json!(true), "{what}: guest {vmid} gone: {g}");
    assert_eq!(g["status"], json!("running"), "{what}: {g}");
    assert_eq!(g["config"]["hostname"], json!(NAME), "{what}: {g}");
    assert_eq!(g["config"]["cores"], json!(2), "{what}: {g}");
    let description = g["config"]["description"].as_str().unwrap_or_default();
    assert_eq!(description.trim_end(), DESCRIPTION, "{what}: {g}");
    assert!(g["lock"].is_null(), "{what}: {g}");
}

/// Every cut point of a creation's (or rollback's) pass, at every journal
/// sync: before it with sectors kept at random (a torn or reordered tail);
/// before it with nothing unsynced kept (whatever the agent did between
/// the write and the sync, a PVE request included, must not have needed
/// it); after it (the exact record boundary). And once PVE ran the `n`-th
/// request of `requests` and its answer was lost, with each policy once.
fn txn_cuts(c: &BTreeMap<String, u64>, requests: &[u64]) -> Vec<Cut> {
    let mut cuts: Vec<Cut> = (1..=count(c, "fsync:journal"))
        .flat_map(|n| {
            let before = Trigger::before("fsync", n).named("journal");
            [
                cut(CutAt::Fs(before.clone()), Policy::Sectors),
                cut(CutAt::Fs(before), Policy::Drop),
                cut(
                    CutAt::Fs(Trigger::after("fsync", n).named("journal")),
                    Policy::Drop,
                ),
            ]
        })
        .collect();
    for (i, n) in requests.iter().enumerate() {
        let policy = Policy::CUTS[i % Policy::CUTS.len()];
        cuts.push(cut(CutAt::PveAnswerLost(*n), policy));
    }
    cuts
}

/// How the trials of a scenario ended (by a label), so a scenario can
/// show that its cuts reached every kind of end it claims to check.
static ENDS_SEEN: Mutex<BTreeMap<String, usize>> = Mutex::new(BTreeMap::new());

fn seen(scenario: &str, label: &str) {
    *ENDS_SEEN
        .lock()
        .unwrap()
        .entry(format!("{scenario}: {label}"))
        .or_default() += 1;
}

fn assert_seen(scenario: &str, labels: &[&str]) {
    let seen = ENDS_SEEN.lock().unwrap().clone();
    eprintln!("{scenario}: trials ended {seen:?}");
    for label in labels {
        assert!(
            seen.contains_key(&format!("{scenario}: {label}")),
            "{scenario}: no trial ended {label}; the cut points miss a case: {seen:?}"
        );
    }
}

// -- a creation: create → config → start → commit ------------------------

fn creation_setup(ctx: &Ctx) -> World {
    provisioning_world(ctx, "pc-create")
}

fn creation_cuts(c: &BTreeMap<String, u64>) -> Vec<Cut> {
    // PVE requests naming the guest: 1 the create POST, 2 the config PUT,
    // 3 the start POST.
    txn_cuts(c, &[1, 2, 3])
}

fn creation_restart(w: &World, ctx: &Ctx, i: &Interrupted) {
    let what = what(w, i);
    let v = w.vmids[0];
    let cut = at_cut(w, ctx);
    let what = format!("{what} {cut:?}");
    assert_written_ahead(ctx, v, &w.records(), &what);
    assert_eq!(cut.deletes, 0, "{what}: nothing is ever destroyed here");
    let first = restart_pass(w, &what);
    assert_converged(w, &what, 0);
    assert_settled(w, &what);
    assert_eq!(ctx.pve.creates(v), 1, "{what}: created exactly once");
    assert_eq!(ctx.pve.deletes(v), 0, "{what}: never destroyed");
    assert_to_spec(ctx, v, &what);
    let ends = ends(w, v);
    let unprovable = cut.posts == 1 && !cut.create_task;
    let last = *ends.last().unwrap_or_else(|| panic!("{what}: no end"));
    seen(
        "creation",
        if unprovable {
            "unresolved"
        } else if cut.ended.is_some() {
            "committed before the cut"
        } else if cut.create_task {
            "resumed after the restart"
        } else {
            "created after the restart"
        },
    );
    if unprovable {
        // The create went out, its task id was lost: the guest is not
        // provably the agent's. Left alone (converged as an ordinary
        // guest), reported for the operator.
        assert_eq!(last, TxnEndKind::Unresolved, "{what}: ends {ends:?}");
        assert!(
            reported_unresolved(&first),
            "{what}: unresolved not reported: {}",
            first.stdout
        );
    } else {
        // The journal proves the create (or none went out): the
        // transaction is completed and committed.
        assert_eq!(
            last,
            TxnEndKind::Committed,
            "{what}: a creation the journal can prove (or never sent) must be completed: ends \
             {ends:?}"
        );
    }
}

const CREATION: Scenario = Scenario {
    name: "creation",
    setup: creation_setup,
    action: pass,
    done: one_shot_done,
    cuts: creation_cuts,
    kept: nothing_kept,
    restart: creation_restart,
};

#[test]
fn power_cuts_during_a_creation_never_create_twice_and_end_committed_or_unresolved_only_when_unprovable()
 {
    run(&CREATION);
    assert_seen(
        "creation",
        &[
            "unresolved",
            "committed before the cut",
            "resumed after the restart",
            "created after the restart",
        ],
    );
}

// -- a compensating rollback: the start fails once the guest is up ---------

fn rollback_setup(ctx: &Ctx) -> World {
    let w = provisioning_world(ctx, "pc-rollback");
    let v = w.vmids[0];
    // The start runs (the container comes up) and its answer is an error:
    // a step after the create failed with the guest running, so the
    // rollback stops it hard and destroys it.
    ctx.pve.fail_after(
        "POST",
        &format!("/lxc/{v}/status/start"),
        500,
        "start hook failed",
        1,
    );
    w
}

fn rollback_cuts(c: &BTreeMap<String, u64>) -> Vec<Cut> {
    // 1 create, 2 config, 3 start (fails), 4 the rollback's hard stop,
    // 5 its DELETE.
    txn_cuts(c, &[1, 3, 4, 5])
}

fn rollback_restart(w: &World, ctx: &Ctx, i: &Interrupted) {
    let what = what(w, i);
    let v = w.vmids[0];
    let cut = at_cut(w, ctx);
    let what = format!("{what} {cut:?}");
    assert_written_ahead(ctx, v, &w.records(), &what);
    if cut.deletes > 0 {
        assert!(
            cut.provenance,
            "{what}: a DELETE went out before provenance was durable"
        );
    }
    let first = restart_pass(w, &what);
    // A rolled-back creation is held (same generation, within the hour):
    // the pass after it executes nothing and succeeds.
    assert_converged(w, &what, 0);
    assert_settled(w, &what);
    assert_eq!(ctx.pve.creates(v), 1, "{what}: created exactly once");
    let ends = ends(w, v);
    let last = *ends.last().unwrap_or_else(|| panic!("{what}: no end"));
    let unprovable = cut.posts == 1 && !cut.create_task;
    let g = ctx.pve.guest(v);
    seen(
        "rollback",
        match (last, cut.ended) {
            (TxnEndKind::Unresolved, _) => "unresolved",
            (TxnEndKind::Committed, _) => "committed",
            (TxnEndKind::RolledBack, Some(_)) => "rolled back before the cut",
            (TxnEndKind::RolledBack, None) if cut.aborting => "rollback resumed after the restart",
            (TxnEndKind::RolledBack, None) => "rolled back after the restart",
            (TxnEndKind::Failed, _) => "failed",
        },
    );
    match last {
        TxnEndKind::RolledBack => {
            assert_eq!(g["exists"], json!(false), "{what}: rolled back: {g}");
            assert_eq!(ctx.pve.deletes(v), 1, "{what}: destroyed once");
            assert!(
                rolled_back_with_provenance(w, v),
                "{what}: rolled back without provenance in the journal"
            );
        }
        TxnEndKind::Committed => {
            // Cut before the failed start's outcome was durable: recovery
            // found the guest running as planned and committed it.
            assert_to_spec(ctx, v, &what);
            assert_eq!(ctx.pve.deletes(v), 0, "{what}");
        }
        TxnEndKind::Unresolved => {
            assert!(unprovable, "{what}: unresolved though provable: {ends:?}");
            assert_eq!(ctx.pve.deletes(v), 0, "{what}: unresolved, never destroyed");
            assert!(reported_unresolved(&first), "{what}: {}", first.stdout);
        }
        TxnEndKind::Failed => panic!("{what}: the create went out, yet ends {ends:?}"),
    }
    if unprovable {
        assert_eq!(last, TxnEndKind::Unresolved, "{what}: ends {ends:?}");
    }
}

const ROLLBACK: Scenario = Scenario {
    name: "compensating rollback",
    setup: rollback_setup,
    action: pass,
    done: one_shot_done,
    cuts: rollback_cuts,
    kept: nothing_kept,
    restart: rollback_restart,
};

#[test]
fn power_cuts_during_a_compensating_rollback_end_rolled_back_or_committed_and_destroy_only_with_durable_provenance()
 {
    run(&ROLLBACK);
    assert_seen(
        "rollback",
        &[
            "unresolved",
            "committed",
            "rolled back before the cut",
            "rollback resumed after the restart",
            "rolled back after the restart",
        ],
    );
}
