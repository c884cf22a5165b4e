//! Power cuts under the real binary (CONTRACT §8), status scenario: the
//! last pass's `status.json` in the state dir and the Prometheus metrics
//! file (outside it) that a mutating pass replaces. Each is its old or a
//! complete new version after any cut, and no temp file of either outlives
//! the next daemon start.
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
    Cut, CutAt, Interrupted, Kept, Scenario, assert_converged, count, cut, one_shot_done, pass,
    restart_pass, run, spread, what,
};
use powercut_world::{Ctx, World};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

const STATUS: &str = "state/status.json";
const METRICS: &str = "metrics/felhom_agent.prom";

/// A complete `status.json`: one JSON object of format version 1.
fn status_whole(bytes: &[u8]) -> bool {
    serde_json::from_slice::<Value>(bytes).is_ok_and(|v| v["version"] == json!(1))
}

/// A complete metrics file: from the first family to the last line's end.
fn metrics_whole(bytes: &[u8]) -> bool {
    let text = String::from_utf8_lossy(bytes);
    text.starts_with("# HELP felhom_agent_info")
        && text.ends_with('\n')
        && text.contains("\nfelhom_agent_hub_blocked ")
}

fn status_setup(ctx: &Ctx) -> World {
    let mut w = World::new(ctx, "pc-status");
    let metrics_dir = w.image("metrics");
    std::fs::create_dir(&metrics_dir).unwrap();
    std::fs::set_permissions(&metrics_dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    w.config["metrics_file"] = json!(w.disk.mount.join(METRICS));
    w.write_config();
    let v = ctx
        .pve
        .add_qemu("stopped", json!({"cores": 1, "memory": 512}));
    w.vmids.push(v);
    w.write_desired(1, json!([{"vmid": v, "state": "running"}]));
    w.mounted(|w| {
        let first = w.run(&["--reconcile-now", "--json"]);
        assert_eq!(first.code, 0, "{first:?}");
    });
    for (key, rel) in [("status", STATUS), ("metrics", METRICS)] {
        let old = std::fs::read(w.image(rel))
            .unwrap_or_else(|e| panic!("the first pass wrote no {rel}: {e}"));
        w.data.insert(key, old);
    }
    // The pass under the cut changes the guest again.
    w.write_desired(2, json!([{"vmid": v, "state": "running", "cores": 2}]));
    w
}

fn status_kept(w: &World) -> Vec<Kept> {
    vec![
        Kept {
            path: STATUS,
            versions: vec![Some(w.data["status"].clone())],
            whole: Some(status_whole),
        },
        Kept {
            path: METRICS,
            versions: vec![Some(w.data["metrics"].clone())],
            whole: Some(metrics_whole),
        },
    ]
}

fn status_cuts(c: &BTreeMap<String, u64>) -> Vec<Cut> {
    // Every sync, the temp files' included (their names carry the pid).
    let mut cuts = spread("fsync", None, count(c, "fsync"), 16);
    for (name, dir) in [("status.json", "state"), ("felhom_agent.prom", "metrics")] {
        cuts.push(cut(
            CutAt::Fs(Trigger::before("rename_onto", 1).named(name)),
            Policy::Sectors,
        ));
        cuts.push(cut(
            CutAt::Fs(Trigger::after("rename_onto", 1).named(name)),
            Policy::Drop,
        ));
        let key = format!("fsyncdir:{dir}");
        cuts.extend(spread("fsyncdir", Some(dir), count(c, &key), 2));
    }
    cuts
}

fn status_restart(w: &World, _ctx: &Ctx, i: &Interrupted) {
    let what = what(w, i);
    // The daemon's start removes the temp files a status write left; it is
    // stopped once its first pass has written its own (the line after it).
    let mut d = w.spawn_logging(&[], "restart-daemon", "debug");
    let start = Instant::now();
    while !d.log().contains("last pass") {
        assert!(!d.exited(), "{what}: the daemon exited: {}", d.log());
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{what}: {}",
            d.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    d.kill();
    restart_pass(w, &what);
    assert_converged(w, &what, 0);
    let status = std::fs::read(w.live(STATUS)).unwrap();
    assert!(
        status_whole(&status),
        "{what}: status.json after the restart"
    );
    let metrics = std::fs::read(w.live(METRICS)).unwrap();
    assert!(metrics_whole(&metrics), "{what}: metrics after the restart");
}

const STATUS_FILES: Scenario = Scenario {
    name: "status and metrics files",
    setup: status_setup,
    action: pass,
    done: one_shot_done,
    cuts: status_cuts,
    kept: status_kept,
    restart: status_restart,
};

#[test]
fn power_cuts_while_a_pass_replaces_the_status_and_metrics_files() {
    run(&STATUS_FILES);
}

/// Passes clean the temp files of the status file they write (a host that
/// runs only one-shot passes keeps none), under the name the status module
/// writes it by.
#[test]
fn passes_clean_the_temp_files_of_the_status_file_the_status_module_writes() {
    assert_eq!(
        felhom_agent::reconcile::leftovers::PASS_STATUS_FILE,
        felhom_agent::status::files::PASS_FILE
    );
}
