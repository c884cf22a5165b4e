//! Power cuts under the real binary (CONTRACT §8), journal scenarios: a
//! busy pass (eight lanes, group commit), crashes followed by a cut, and a
//! compaction (the conversion of a big format version 1 journal, then a
//! signed destroy appended to the compacted journal in the same pass). The state
//! dir lives on a FUSE disk that keeps unsynced data and directory entries
//! in memory and, at a cut, drops them, tears them or keeps a random subset
//! of sectors; cuts come at chosen file-system operations and at PVE
//! requests.
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

use felhom_agent::journal::format::{self, Header, Version};
use felhom_agent::journal::{DecisionRecord, Record, format_v1};
use powercut::{Policy, Trigger};
use powercut_trial::{
    Cut, CutAt, Interrupted, Kept, Scenario, assert_converged, count, cut, nothing_kept,
    one_shot_done, pass, restart_pass, run, spread, what,
};
use powercut_world::{Agent, Ctx, World};
use serde_json::{Value, json};
use std::collections::BTreeMap;

// -- a busy pass: eight lanes appending at once (group commit) ---------------

fn busy_setup(ctx: &Ctx) -> World {
    let mut w = World::new(ctx, "pc-busy");
    let mut guests = Vec::new();
    for _ in 0..4 {
        let q = ctx
            .pve
            .add_qemu("stopped", json!({"cores": 1, "memory": 512}));
        guests.push(json!({"vmid": q, "state": "running", "cores": 2}));
        let c = ctx
            .pve
            .add_lxc("running", json!({"cores": 1, "memory": 256}));
        guests.push(json!({"vmid": c, "state": "stopped", "memory_bytes": 512u64 << 20}));
        w.vmids.extend([q, c]);
    }
    let bytes = w.write_desired(1, Value::Array(guests));
    w.data.insert("desired", bytes);
    w
}

fn busy_kept(w: &World) -> Vec<Kept> {
    vec![Kept::exactly(
        "state/desired-state.json",
        vec![None, Some(w.data["desired"].clone())],
    )]
}

fn busy_cuts(c: &BTreeMap<String, u64>) -> Vec<Cut> {
    let syncs = count(c, "fsync:journal");
    // Before every journal sync, with sectors kept at random: the group
    // commits of eight lanes, each write unsynced at its cut.
    let mut cuts: Vec<Cut> = (1..=syncs.min(48))
        .map(|n| {
            let t = Trigger::before("fsync", n).named("journal");
            cut(CutAt::Fs(t), Policy::Sectors)
        })
        .collect();
    cuts.extend(spread("fsync", Some("journal"), syncs, 6));
    // A crash (SIGKILL) between a write and its sync, then a power cut
    // early in the next run: the dead process's unsynced write must be
    // made durable before the next one goes out.
    for k in (2..syncs * 2 / 3).step_by(4) {
        for n in [1, 2] {
            let crash = Trigger::before("fsync", k).named("journal");
            let then = Trigger::before("fsync", n).named("journal");
            cuts.push(cut(CutAt::CrashThenCut(crash, then), Policy::Sectors));
        }
    }
    for n in [1, 5, 12] {
        cuts.push(cut(CutAt::PveRequest(n), Policy::Sectors));
    }
    cuts.push(cut(CutAt::End, Policy::Sectors));
    cuts
}

fn busy_restart(w: &World, ctx: &Ctx, i: &Interrupted) {
    let what = what(w, i);
    restart_pass(w, &what);
    assert_converged(w, &what, 0);
    for (n, v) in w.vmids.iter().enumerate() {
        let want = if n % 2 == 0 { "running" } else { "stopped" };
        assert_eq!(
            ctx.pve.guest(*v)["status"],
            json!(want),
            "{what}: guest {v}"
        );
    }
}

const BUSY_PASS: Scenario = Scenario {
    name: "busy pass",
    setup: busy_setup,
    action: pass,
    done: one_shot_done,
    cuts: busy_cuts,
    kept: busy_kept,
    restart: busy_restart,
};

#[test]
fn power_cuts_during_a_busy_pass() {
    run(&BUSY_PASS);
}

// -- compaction: a big format version 1 journal, converted at the open ------

fn compaction_setup(ctx: &Ctx) -> World {
    let mut w = World::new(ctx, "pc-compact");
    let v = ctx
        .pve
        .add_qemu("stopped", json!({"cores": 1, "memory": 512}));
    w.vmids.push(v);
    let nonce = felhom_agent::reconcile::pending::fresh_nonce();
    w.sign_with_nonce(
        &w.alice.clone(),
        "guest_destroy",
        json!({"purge": true}),
        Some(v),
        &nonce,
    );
    // A second guest with a signed destroy queued in the old journal: the
    // pass runs it after the conversion, so its nonce lands in the compacted
    // file; a rename that was never made durable would lose it.
    let v2 = ctx
        .pve
        .add_qemu("stopped", json!({"cores": 1, "memory": 512}));
    w.vmids.push(v2);
    let queued = w.sign(
        &w.alice.clone(),
        "guest_destroy",
        json!({"purge": true}),
        Some(v2),
    );
    let blob = std::fs::read_to_string(&w.signed[1].1).unwrap();
    let sig = std::fs::read_to_string(&w.signed[1].2).unwrap();
    let header = Header {
        version: Version::V1,
        salt: [0x33; 16],
        first_seq: 1,
        prev_head: [0u8; 32],
    };
    let mut bytes = header.encode().to_vec();
    let mut seq = 1;
    let mut push = |bytes: &mut Vec<u8>, r: Record| {
        format_v1::encode_frame(bytes, &header.salt, seq, &r.encode().unwrap());
        seq += 1;
    };
    push(
        &mut bytes,
        Record::NonceConsumed {
            nonce,
            expires_at: felhom_agent::time::now_unix() + 3600,
            op_id: "old-op".into(),
        },
    );
    push(&mut bytes, Record::GenerationApplied { generation: 1 });
    push(
        &mut bytes,
        Record::OpQueued {
            nonce: queued,
            blob,
            sig,
            source: "submit".into(),
            expires_at: felhom_agent::time::now_unix() + 3600,
        },
    );
    while bytes.len() < 4_500_000 {
        push(
            &mut bytes,
            Record::Decision(DecisionRecord {
                decision: "pending_signature".into(),
                op: "guest_destroy".into(),
                class: "destructive".into(),
                vmid: Some(v),
                source: "desired_state".into(),
                signer: None,
                role: None,
                reason: "no signature yet; history the compaction drops".into(),
                nonce: None,
                at: 1_760_000_000,
            }),
        );
    }
    std::fs::write(w.image("state/journal"), bytes).unwrap();
    w.write_desired(2, json!([]));
    w
}

fn compaction_cuts(c: &BTreeMap<String, u64>) -> Vec<Cut> {
    let tmp = felhom_agent::journal::TEMP_FILE.to_string();
    let mut cuts = spread("write", Some(&tmp), count(c, &format!("write:{tmp}")), 3);
    cuts.extend(spread("fsync", Some(&tmp), 1, 1));
    cuts.push(cut(
        CutAt::Fs(Trigger::after("fsync", 1).named(&tmp)),
        Policy::Drop,
    ));
    cuts.push(cut(
        CutAt::Fs(Trigger::before("rename_onto", 1).named("journal")),
        Policy::Sectors,
    ));
    cuts.push(cut(
        CutAt::Fs(Trigger::after("rename_onto", 1).named("journal")),
        Policy::Drop,
    ));
    cuts.extend(spread(
        "fsyncdir",
        Some("state"),
        count(c, "fsyncdir:state"),
        2,
    ));
    cuts.extend(spread(
        "fsync",
        Some("journal"),
        count(c, "fsync:journal"),
        2,
    ));
    for policy in Policy::CUTS {
        cuts.push(cut(CutAt::PveRequest(1), policy));
    }
    cuts
}

fn compaction_restart(w: &World, ctx: &Ctx, i: &Interrupted) {
    let what = what(w, i);
    let (v2, queued) = (w.vmids[1], &w.signed[1].0);
    if ctx.pve.deletes(v2) > 0 {
        assert!(
            w.nonce_consumed(queued),
            "{what}: DELETE sent after the compaction, nonce not durable"
        );
    }
    restart_pass(w, &what);
    assert!(w.nonce_consumed(queued), "{what}: consumed nonce lost");
    assert_eq!(
        ctx.pve.guest(v2)["exists"] == json!(false),
        ctx.pve.deletes(v2) == 1,
        "{what}: guest state vs DELETE"
    );
    let check = w.with_op("--check-op", 0);
    assert_eq!(
        check.code, 65,
        "{what}: a consumed nonce was forgotten: {check:?}"
    );
    assert_eq!(check.json()["error"], json!("replay"));
    let journal = std::fs::read(w.live("state/journal")).unwrap();
    assert_eq!(journal[..8], format::MAGIC, "{what}: not converted");
    assert!(journal.len() < 1 << 20, "{what}: not compacted");
    assert_converged(w, &what, 0);
}

const COMPACTION: Scenario = Scenario {
    name: "compaction",
    setup: compaction_setup,
    action: pass,
    done: one_shot_done,
    cuts: compaction_cuts,
    kept: nothing_kept,
    restart: compaction_restart,
};

#[test]
fn power_cuts_during_a_compaction() {
    run(&COMPACTION);
}

// -- a compaction at `--submit`: the acknowledged op lands in the new file ---
//
// `--submit` writes no other file in the state dir, so nothing but the
// compaction's own directory sync makes the renamed journal durable before
// the op queued in it is acknowledged.

fn submit_compaction_setup(ctx: &Ctx) -> World {
    let mut w = compaction_setup(ctx);
    let v3 = ctx
        .pve
        .add_qemu("stopped", json!({"cores": 1, "memory": 512}));
    w.vmids.push(v3);
    w.sign(
        &w.alice.clone(),
        "guest_destroy",
        json!({"purge": true}),
        Some(v3),
    );
    w
}

fn submit_compaction_action(w: &World) -> Agent {
    w.spawn_submit(2)
}

fn submit_compaction_cuts(c: &BTreeMap<String, u64>) -> Vec<Cut> {
    let tmp = felhom_agent::journal::TEMP_FILE.to_string();
    let mut cuts = vec![
        cut(
            CutAt::Fs(Trigger::after("fsync", 1).named(&tmp)),
            Policy::Drop,
        ),
        cut(
            CutAt::Fs(Trigger::after("rename_onto", 1).named("journal")),
            Policy::Drop,
        ),
        cut(
            CutAt::Fs(Trigger::after("rename_onto", 1).named("journal")),
            Policy::Sectors,
        ),
    ];
    cuts.extend(spread(
        "fsyncdir",
        Some("state"),
        count(c, "fsyncdir:state"),
        2,
    ));
    cuts.extend(spread(
        "fsync",
        Some("journal"),
        count(c, "fsync:journal"),
        3,
    ));
    cuts
}

fn submit_compaction_restart(w: &World, ctx: &Ctx, i: &Interrupted) {
    let what = what(w, i);
    let (v3, nonce) = (w.vmids[2], &w.signed[2].0);
    let answer = serde_json::from_str::<Value>(w.output("action").trim()).ok();
    let acknowledged =
        answer.is_some_and(|a| a["valid"] == json!(true) && a["queued"] == json!(true));
    let queued = w
        .records()
        .iter()
        .any(|r| matches!(r, Record::OpQueued { nonce: n, .. } if n == nonce));
    if acknowledged {
        assert!(
            queued,
            "{what}: --submit answered queued, the op is not in the journal"
        );
    } else {
        let again = w.with_op("--submit", 2);
        assert_eq!(again.code, 0, "{what}: submitting again: {again:?}");
    }
    restart_pass(w, &what);
    assert_eq!(ctx.pve.deletes(v3), 1, "{what}: the submitted op ran once");
    let journal = std::fs::read(w.live("state/journal")).unwrap();
    assert_eq!(journal[..8], format::MAGIC, "{what}: not converted");
    assert_converged(w, &what, 0);
}

const SUBMIT_COMPACTION: Scenario = Scenario {
    name: "compaction at --submit",
    setup: submit_compaction_setup,
    action: submit_compaction_action,
    done: one_shot_done,
    cuts: submit_compaction_cuts,
    kept: nothing_kept,
    restart: submit_compaction_restart,
};

#[test]
fn power_cuts_during_a_compaction_at_submit_keep_the_acknowledged_op() {
    run(&SUBMIT_COMPACTION);
}
