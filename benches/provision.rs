//! Creating 16 containers with realistic task durations: fakepve at time
//! scale 1 (a PVE second is a real second), each container create task
//! taking [`CREATE_SECS`]. Figures, each next to its reference from the same
//! run:
//!
//! - wall time of one pass creating all 16 (create → config → start →
//!   commit each, one journaled transaction per guest) with
//!   `MAX_PARALLEL_GUESTS` lanes against the same pass with one lane, on
//!   identical fresh fakepve instances;
//! - per creation, what the agent adds next to the task time: journal
//!   records, PVE reads and writes, and the time the one-lane pass spends
//!   per creation beyond the create task itself (task polling, the other
//!   steps, fsyncs).
//!
//! Needs fakepve in `target/test-venv` (`bash tests/run.sh` installs it).
#![allow(clippy::panic)]

use crate::reconcile::fakepve::{self, FakePve};
use felhom_agent::config::{Config, Env};
use felhom_agent::journal::Journal;
use felhom_agent::proxmox::Client;
use felhom_agent::reconcile::engine::{self, JournalView, MAX_PARALLEL_GUESTS, PassInputs};
use felhom_agent::reconcile::report::Outcome;
use serde_json::{Value, json};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const CONTAINERS: u32 = 16;
/// PVE seconds a container create takes: a small template unpacked onto
/// thin storage (real ones take 5-60 s; smaller keeps the one-lane run short).
const CREATE_SECS: f64 = 2.0;
const FIRST_VMID: u32 = 5000;

struct Host {
    /// Kept for the pass's lifetime (dropping it stops fakepve).
    _pve: FakePve,
    dir: PathBuf,
    config_path: PathBuf,
}

impl Drop for Host {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn desired() -> Value {
    let guests: Vec<Value> = (FIRST_VMID..FIRST_VMID + CONTAINERS)
        .map(|v| {
            json!({"vmid": v, "state": "running", "cores": 2, "memory_bytes": 1u64 << 30,
                   "create": {"kind": "lxc", "name": format!("ct{v}"), "storage": "local-lvm",
                              "disk_gib": 4,
                              "ostemplate": "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst"}})
        })
        .collect();
    json!({"generation": 1, "desired_state": {"guests": guests}})
}

fn host(tag: &str) -> Host {
    let pve = FakePve::start_with(fakepve::Options {
        qemu: 0,
        lxc: 0,
        time_scale: 1.0,
        ..Default::default()
    });
    pve.ct_task_secs("create", CREATE_SECS);
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("bench-provision-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("state")).unwrap_or_else(|e| panic!("{e}"));
    let _ = std::fs::set_permissions(dir.join("state"), std::fs::Permissions::from_mode(0o700));
    let mut proxmox = pve.agent_json_proxmox();
    if let Some(p) = proxmox.as_object_mut() {
        p.insert("token_file".into(), json!(pve.provision_token_file));
    }
    let config = json!({
        "host_id": "bench-host",
        "state_dir": dir.join("state"),
        "proxmox": proxmox,
        "authz": {"operational_signers": null, "recovery_signers": null},
        "desired_state_file": dir.join("desired-state.json"),
        "hub": null,
        "provision": {"storages": ["local-lvm"], "max_creates_per_pass": CONTAINERS}
    });
    let config_path = dir.join("agent.json");
    std::fs::write(&config_path, config.to_string()).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(dir.join("desired-state.json"), desired().to_string())
        .unwrap_or_else(|e| panic!("{e}"));
    Host {
        _pve: pve,
        dir,
        config_path,
    }
}

/// What one creating pass cost.
struct Measured {
    wall: Duration,
    committed: usize,
    records: u64,
    reads: u64,
    writes: u64,
}

fn creating_pass(h: &Host, lanes: usize) -> Measured {
    let env = Env::default();
    let config = Config::load(&h.config_path, &env).unwrap_or_else(|e| panic!("config: {e}"));
    let client = Client::new(&config.proxmox).unwrap_or_else(|e| panic!("client: {e}"));
    let journal = Journal::open(&config.state_dir, Duration::from_secs(5))
        .unwrap_or_else(|e| panic!("journal: {e}"));
    let records_before = journal.with_index(|i| i.records);
    let mut tick = || {};
    let inputs = PassInputs {
        config: &config,
        client: &client,
        blocked: &|| false,
        tick: &mut tick,
    };
    let start = Instant::now();
    let out = engine::run_pass_with_lanes(inputs, JournalView::Write(&journal), lanes)
        .unwrap_or_else(|e| panic!("pass: {e}"));
    let wall = start.elapsed();
    assert!(out.report.errors.is_empty(), "{:?}", out.report.errors);
    let committed = out
        .report
        .actions
        .iter()
        .filter(|a| a.op == "start" && a.outcome == Outcome::Succeeded)
        .count();
    let writes = client.mutation_count();
    Measured {
        wall,
        committed,
        records: journal.with_index(|i| i.records) - records_before,
        reads: client.request_count() - writes,
        writes,
    }
}

pub fn run() {
    println!("{CONTAINERS} containers, fakepve time scale 1, create task {CREATE_SECS} s each");
    let one = creating_pass(&host("one"), 1);
    let many = creating_pass(&host("lanes"), MAX_PARALLEL_GUESTS);
    assert_eq!(
        one.committed, CONTAINERS as usize,
        "1 lane created them all"
    );
    assert_eq!(
        many.committed, CONTAINERS as usize,
        "lanes created them all"
    );
    println!(
        "wall time: 1 lane {:.2} s, {MAX_PARALLEL_GUESTS} lanes {:.2} s, speed-up {:.2}x",
        one.wall.as_secs_f64(),
        many.wall.as_secs_f64(),
        one.wall.as_secs_f64() / many.wall.as_secs_f64().max(1e-9)
    );
    let n = f64::from(CONTAINERS);
    for (what, m) in [("1 lane", &one), ("8 lanes", &many)] {
        println!(
            "per creation ({what}): {:.1} journal records, {:.1} PVE reads, {:.1} PVE writes",
            m.records as f64 / n,
            m.reads as f64 / n,
            m.writes as f64 / n
        );
    }
    let per = one.wall.as_secs_f64() / n;
    println!(
        "per creation, 1 lane: {per:.2} s wall next to a {CREATE_SECS} s create task: \
         {:.2} s added by the agent (task polling, config and start, journal syncs)",
        per - CREATE_SECS
    );
}
