//! Power cuts under the real binary (CONTRACT §8), daemon scenarios: the
//! last good desired state it saves from the hub, and the hub's blocked
//! flag it remembers. Beyond the shared invariants: what the daemon logged
//! as accepted or acted on was durable first.
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
    Cut, CutAt, Interrupted, Kept, Scenario, assert_converged, count, ctx, cut, restart_pass,
    run_scenario, spread, text, what,
};
use powercut_world::{Agent, Ctx, World};
use serde_json::json;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use stub_hub::Reply;

// -- the daemon: the last good desired state from the hub, the blocked flag -

const REPORT: &str = "/api/v1/host-report";
const DESIRED: &str = "/api/v1/hosts/pc-host/desired-state";

fn envelope(blocked: bool, generation: Option<u64>) -> Reply {
    Reply::json_value(
        200,
        &json!({"poll_interval_seconds": 3600, "blocked": blocked,
                "desired_generation": generation, "has_signed_ops": false}),
    )
}

fn daemon(w: &World) -> Agent {
    w.spawn(&[], "daemon")
}

fn hub_doc(generation: u64) -> Vec<u8> {
    json!({"generation": generation, "desired_state": {"guests": []}})
        .to_string()
        .into_bytes()
}

fn desired_setup(ctx: &Ctx) -> World {
    let mut w = World::new(ctx, "pc-desired");
    w.use_hub(ctx);
    let old = hub_doc(1);
    std::fs::write(w.image("state/desired-state.json"), &old).unwrap();
    w.data.insert("old", old);
    w.data.insert("new", hub_doc(2));
    w
}

fn desired_done(_: &World, _: &Ctx, a: &Agent) -> bool {
    a.log()
        .contains("desired state generation 2 from the hub accepted")
}

fn desired_kept(w: &World) -> Vec<Kept> {
    vec![Kept::exactly(
        "state/desired-state.json",
        vec![Some(w.data["old"].clone()), Some(w.data["new"].clone())],
    )]
}

fn desired_cuts(c: &BTreeMap<String, u64>) -> Vec<Cut> {
    let onto = "desired-state.json";
    let mut cuts = spread("fsync", None, count(c, "fsync"), 4);
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
        Some("state"),
        count(c, "fsyncdir:state"),
        3,
    ));
    cuts
}

/// Starts the daemon on the restarted host, waits until it has reported to
/// the hub, `ready` holds and it has gone idle after a pass (its log quiet),
/// and kills it: a kill in the middle of its own writes would leave temp
/// files the one-shot checks after it do not remove.
fn daemon_until(w: &World, ctx: &Ctx, what: &str, ready: impl Fn(&World) -> bool) {
    let reports = ctx.hub.requests_to("POST", REPORT).len();
    let mut d = w.spawn_logging(&[], "restart-daemon", "debug");
    let start = Instant::now();
    let mut quiet_since = (0, Instant::now());
    loop {
        assert!(
            !d.exited(),
            "{what}: the restarted daemon exited: {}",
            d.log()
        );
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{what}: the restarted daemon never got there: {}",
            d.log()
        );
        let log = d.log();
        let there = ctx.hub.requests_to("POST", REPORT).len() > reports
            && ready(w)
            && log.contains("last pass");
        if log.len() != quiet_since.0 {
            quiet_since = (log.len(), Instant::now());
        } else if there && quiet_since.1.elapsed() > Duration::from_millis(300) {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    d.kill();
}

fn desired_restart(w: &World, ctx: &Ctx, i: &Interrupted) {
    let what = what(w, i);
    let now = std::fs::read(w.live("state/desired-state.json")).unwrap();
    if i.log.contains("generation 2 from the hub accepted") {
        assert_eq!(
            text(&now),
            text(&w.data["new"]),
            "{what}: accepted before it was durable"
        );
    }
    daemon_until(w, ctx, &what, |w| {
        std::fs::read(w.live("state/desired-state.json"))
            .ok()
            .as_ref()
            == Some(&w.data["new"])
    });
    restart_pass(w, &what);
    assert_converged(w, &what, 0);
}

const DAEMON_DESIRED_STATE: Scenario = Scenario {
    name: "daemon desired state",
    setup: desired_setup,
    action: daemon,
    done: desired_done,
    cuts: desired_cuts,
    kept: desired_kept,
    restart: desired_restart,
};

#[test]
fn power_cuts_while_the_daemon_saves_the_hubs_desired_state() {
    let ctx = ctx();
    ctx.hub.on("POST", REPORT, envelope(false, Some(2)));
    ctx.hub.on("GET", DESIRED, Reply::bytes(200, hub_doc(2)));
    run_scenario(&DAEMON_DESIRED_STATE, &ctx);
}

fn blocked_setup(ctx: &Ctx) -> World {
    let mut w = World::new(ctx, "pc-blocked");
    w.use_hub(ctx);
    w
}

fn blocked_done(_: &World, _: &Ctx, a: &Agent) -> bool {
    a.log().contains("hub blocked mutations")
}

fn blocked_kept(_: &World) -> Vec<Kept> {
    vec![Kept::exactly(
        "state/hub-blocked",
        vec![None, Some(Vec::new())],
    )]
}

fn blocked_cuts(c: &BTreeMap<String, u64>) -> Vec<Cut> {
    let mut cuts = vec![
        cut(
            CutAt::Fs(Trigger::before("create", 1).named("hub-blocked")),
            Policy::All,
        ),
        cut(
            CutAt::Fs(Trigger::before("fsync", 1).named("hub-blocked")),
            Policy::Sectors,
        ),
        cut(
            CutAt::Fs(Trigger::after("fsync", 1).named("hub-blocked")),
            Policy::Prefix,
        ),
        cut(CutAt::End, Policy::Drop),
    ];
    cuts.extend(spread(
        "fsyncdir",
        Some("state"),
        count(c, "fsyncdir:state"),
        3,
    ));
    cuts
}

fn blocked_restart(w: &World, ctx: &Ctx, i: &Interrupted) {
    let what = what(w, i);
    let marked = w.live("state/hub-blocked").exists();
    if i.log.contains("hub blocked mutations") {
        assert!(
            marked,
            "{what}: acted on blocked before the flag was durable"
        );
    }
    let run = restart_pass(w, &what);
    assert_eq!(
        run.stderr.contains("the hub has blocked this host"),
        marked,
        "{what}: {}",
        run.stderr
    );
    daemon_until(w, ctx, &what, |w| w.live("state/hub-blocked").exists());
}

const DAEMON_HUB_BLOCKED: Scenario = Scenario {
    name: "daemon hub-blocked flag",
    setup: blocked_setup,
    action: daemon,
    done: blocked_done,
    cuts: blocked_cuts,
    kept: blocked_kept,
    restart: blocked_restart,
};

#[test]
fn power_cuts_while_the_daemon_records_the_hubs_block() {
    let ctx = ctx();
    ctx.hub.on("POST", REPORT, envelope(true, None));
    run_scenario(&DAEMON_HUB_BLOCKED, &ctx);
}
