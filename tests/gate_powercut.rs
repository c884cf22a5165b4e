//! Power cuts under the real binary (CONTRACT §8), signed-op scenarios: a
//! signed destroy, `--submit`, and a key rotation (whose signer file lives
//! outside the state dir). Invariants beyond the shared ones: a PVE call of
//! a signed op implies its consumed nonce was durable, a consumed nonce
//! stays consumed (resubmitting is `replay`), a consumed rotation is
//! applied, the op runs at most once.
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

use powercut::{Policy, Trigger};
use powercut_trial::{
    Cut, CutAt, Interrupted, Kept, Scenario, assert_converged, count, cut, nothing_kept,
    one_shot_done, pass, restart_pass, run, spread, text, what,
};
use powercut_world::{Agent, Ctx, World, signer_line};
use serde_json::json;
use std::collections::BTreeMap;

// -- a signed destroy, queued before the pass --------------------------------

fn destroy_setup(ctx: &Ctx) -> World {
    let mut w = World::new(ctx, "pc-destroy");
    let v = ctx
        .pve
        .add_qemu("stopped", json!({"cores": 1, "memory": 512}));
    w.vmids.push(v);
    w.sign(
        &w.alice.clone(),
        "guest_destroy",
        json!({"purge": true}),
        Some(v),
    );
    w.mounted(|w| {
        let sub = w.with_op("--submit", 0);
        assert_eq!(sub.code, 0, "{sub:?}");
    });
    w
}

fn destroy_cuts(c: &BTreeMap<String, u64>) -> Vec<Cut> {
    let mut cuts = every_sync("journal", count(c, "fsync:journal"));
    for policy in Policy::CUTS {
        cuts.push(cut(CutAt::PveRequest(1), policy));
    }
    cuts
}

/// Before every fsync of `name` (sectors kept at random) and after it
/// (nothing else unsynced survives).
fn every_sync(name: &str, total: u64) -> Vec<Cut> {
    (1..=total)
        .flat_map(|n| {
            [
                cut(
                    CutAt::Fs(Trigger::before("fsync", n).named(name)),
                    Policy::Sectors,
                ),
                cut(
                    CutAt::Fs(Trigger::after("fsync", n).named(name)),
                    Policy::Drop,
                ),
            ]
        })
        .collect()
}

fn destroy_restart(w: &World, ctx: &Ctx, i: &Interrupted) {
    let what = what(w, i);
    let (v, nonce) = (w.vmids[0], &w.signed[0].0);
    if ctx.pve.deletes(v) > 0 {
        assert!(
            w.nonce_consumed(nonce),
            "{what}: DELETE sent, nonce not durable"
        );
    }
    restart_pass(w, &what);
    assert!(w.nonce_consumed(nonce), "{what}: consumed nonce lost");
    assert_converged(w, &what, 0);
    let again = w.with_op("--submit", 0);
    assert_eq!(
        again.code, 65,
        "{what}: resubmit after consumption: {again:?}"
    );
    assert_eq!(again.json()["error"], json!("replay"));
    let gone = ctx.pve.guest(v)["exists"] == json!(false);
    assert_eq!(
        gone,
        ctx.pve.deletes(v) == 1,
        "{what}: guest state vs DELETE"
    );
}

const SIGNED_DESTROY: Scenario = Scenario {
    name: "signed destroy",
    setup: destroy_setup,
    action: pass,
    done: one_shot_done,
    cuts: destroy_cuts,
    kept: nothing_kept,
    restart: destroy_restart,
};

#[test]
fn power_cuts_during_a_signed_destroy() {
    run(&SIGNED_DESTROY);
}

// -- `--submit` ------------------------------------------------------------

fn submit_setup(ctx: &Ctx) -> World {
    let mut w = World::new(ctx, "pc-submit");
    let v = ctx
        .pve
        .add_qemu("stopped", json!({"cores": 1, "memory": 512}));
    w.vmids.push(v);
    w.sign(
        &w.alice.clone(),
        "guest_destroy",
        json!({"purge": true}),
        Some(v),
    );
    w
}

fn submit_action(w: &World) -> Agent {
    w.spawn_submit(0)
}

fn submit_cuts(c: &BTreeMap<String, u64>) -> Vec<Cut> {
    let total = count(c, "fsync:journal");
    let mut cuts = spread("fsync", Some("journal"), total, 6);
    cuts.extend(
        spread("fsync", Some("journal"), total, 6)
            .into_iter()
            .map(|mut c| {
                c.policy = Policy::Sectors;
                c
            }),
    );
    // The submit that creates the journal: its temp file, rename and
    // directory sync.
    cuts.extend(spread("fsync", None, count(c, "fsync"), 3));
    for t in [Trigger::before("rename", 1), Trigger::after("rename", 1)] {
        cuts.push(cut(CutAt::Fs(t.named("journal")), Policy::Sectors));
    }
    cuts.extend(spread(
        "fsyncdir",
        Some("state"),
        count(c, "fsyncdir:state"),
        2,
    ));
    cuts.push(cut(CutAt::End, Policy::Drop));
    cuts
}

fn submit_restart(w: &World, ctx: &Ctx, i: &Interrupted) {
    let what = what(w, i);
    let again = w.with_op("--submit", 0);
    assert_eq!(
        again.code, 0,
        "{what}: submitting again after the cut: {again:?}"
    );
    restart_pass(w, &what);
    assert_converged(w, &what, 0);
    assert_eq!(
        ctx.pve.deletes(w.vmids[0]),
        1,
        "{what}: the submitted op ran once"
    );
}

const SUBMIT: Scenario = Scenario {
    name: "--submit",
    setup: submit_setup,
    action: submit_action,
    done: one_shot_done,
    cuts: submit_cuts,
    kept: nothing_kept,
    restart: submit_restart,
};

#[test]
fn power_cuts_during_submit() {
    run(&SUBMIT);
}

// -- a key rotation (the signer file lives outside the state dir) ------------

const OPERATIONAL: &str = "signers/operational.allowed_signers";

fn rotation_setup(ctx: &Ctx) -> World {
    let mut w = World::new(ctx, "pc-rotate");
    let bob = sshkeys::keygen(&w.root, "bob");
    let line = signer_line("bob", &bob);
    w.sign(
        &w.rescue.clone(),
        "key_rotation",
        json!({"operational_signers": [line]}),
        None,
    );
    let old = std::fs::read(w.image(OPERATIONAL)).unwrap();
    let new = felhom_agent::authz::operational_file_text(std::slice::from_ref(&line));
    w.data.insert("old", old);
    w.data.insert("new", new.into_bytes());
    w.mounted(|w| {
        let sub = w.with_op("--submit", 0);
        assert_eq!(sub.code, 0, "{sub:?}");
    });
    w
}

fn rotation_kept(w: &World) -> Vec<Kept> {
    vec![Kept::exactly(
        OPERATIONAL,
        vec![Some(w.data["old"].clone()), Some(w.data["new"].clone())],
    )]
}

fn rotation_cuts(c: &BTreeMap<String, u64>) -> Vec<Cut> {
    let mut cuts = every_sync("journal", count(c, "fsync:journal"));
    // The temp file's own sync (its name carries the writer's pid).
    cuts.extend(spread("fsync", None, count(c, "fsync"), 12));
    let onto = "operational.allowed_signers";
    cuts.push(cut(
        CutAt::Fs(Trigger::before("rename_onto", 1).named(onto)),
        Policy::Sectors,
    ));
    cuts.push(cut(
        CutAt::Fs(Trigger::after("rename_onto", 1).named(onto)),
        Policy::Drop,
    ));
    cuts.extend(spread(
        "fsyncdir",
        Some("signers"),
        count(c, "fsyncdir:signers"),
        2,
    ));
    cuts
}

fn rotation_restart(w: &World, _ctx: &Ctx, i: &Interrupted) {
    let what = what(w, i);
    let nonce = w.signed[0].0.clone();
    if std::fs::read(w.live(OPERATIONAL)).unwrap() == w.data["new"] {
        assert!(
            w.nonce_consumed(&nonce),
            "{what}: rotated before the nonce was durable"
        );
    }
    restart_pass(w, &what);
    assert!(w.nonce_consumed(&nonce), "{what}: rotation never consumed");
    assert_eq!(
        text(&std::fs::read(w.live(OPERATIONAL)).unwrap()),
        text(&w.data["new"]),
        "{what}: a consumed rotation must be applied"
    );
    assert_converged(w, &what, 0);
}

const KEY_ROTATION: Scenario = Scenario {
    name: "key rotation",
    setup: rotation_setup,
    action: pass,
    done: one_shot_done,
    cuts: rotation_cuts,
    kept: rotation_kept,
    restart: rotation_restart,
};

#[test]
fn power_cuts_during_a_key_rotation() {
    run(&KEY_ROTATION);
}
