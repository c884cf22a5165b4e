//! A pass over 500 guests (250 qemu, 250 lxc) in fakepve with instant tasks
//! (time scale 0: a task has ended when its POST returns). Figures, each
//! with its reference from the same run and its budget (DESIGN §9):
//!
//! - requests of a converged pass (the real binary): budget 0 writes and at
//!   most 1 + N reads, N = managed guests;
//! - wall time of a first pass (500 config writes, 250 starts) with lanes
//!   (`MAX_PARALLEL_GUESTS`) against one lane, through
//!   `engine::run_pass_with_lanes` on identical fresh fakepve instances;
//!   the ratio is printed (fakepve is one Python process, so the gain shown
//!   is a floor: a real PVE host serves requests in parallel);
//! - the binary's peak RSS (`/usr/bin/time -v`, else `VmHWM` polled from
//!   `/proc`) on a converged pass and on a pass writing all 500 guests:
//!   budget ≤ 20 MiB.
//!
//! Needs fakepve in `target/test-venv` (`bash tests/run.sh` installs it).
//! A benchmark whose setup fails has nothing to measure: it stops with the
//! reason (as the test harness it shares does).
#![allow(clippy::panic)]

#[path = "../tests/support/fakepve.rs"]
#[allow(clippy::indexing_slicing)]
mod fakepve;

use fakepve::FakePve;
use felhom_agent::config::{Config, Env};
use felhom_agent::journal::Journal;
use felhom_agent::proxmox::Client;
use felhom_agent::reconcile::engine::{self, JournalView, MAX_PARALLEL_GUESTS, PassInputs};
use serde_json::{Value, json};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const QEMU: u32 = 250;
const LXC: u32 = 250;
const RSS_BUDGET_KIB: u64 = 20 * 1024;

struct Host {
    pve: FakePve,
    dir: PathBuf,
    config_path: PathBuf,
}

impl Drop for Host {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn guests() -> u32 {
    QEMU + LXC
}

/// Every sample guest managed: running, with a new description.
fn desired(generation: u64, description: &str) -> Value {
    let list: Vec<Value> = (100..100 + guests())
        .map(|v| json!({"vmid": v, "state": "running", "description": description}))
        .collect();
    json!({"generation": generation, "desired_state": {"guests": list}})
}

fn host(tag: &str) -> Host {
    let pve = FakePve::start_with(fakepve::Options {
        qemu: QEMU,
        lxc: LXC,
        time_scale: 0.0,
        ..Default::default()
    });
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("bench-reconcile-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("state")).unwrap_or_else(|e| panic!("{e}"));
    let _ = std::fs::set_permissions(dir.join("state"), std::fs::Permissions::from_mode(0o700));
    let config = json!({
        "host_id": "bench-host",
        "state_dir": dir.join("state"),
        "proxmox": pve.agent_json_proxmox(),
        "authz": {"operational_signers": null, "recovery_signers": null},
        "desired_state_file": dir.join("desired-state.json"),
        "hub": null
    });
    let config_path = dir.join("agent.json");
    write_json(&config_path, &config);
    write_json(&dir.join("desired-state.json"), &desired(1, "bench"));
    Host {
        pve,
        dir,
        config_path,
    }
}

fn write_json(path: &Path, v: &Value) {
    std::fs::write(path, v.to_string()).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}

/// One mutating pass through the library with `lanes`; returns its wall
/// time and the number of actions that succeeded.
fn library_pass(h: &Host, lanes: usize) -> (Duration, usize) {
    let env = Env {
        state_directory: None,
        credentials_directory: None,
        log_override: None,
    };
    let config = Config::load(&h.config_path, &env).unwrap_or_else(|e| panic!("config: {e}"));
    let client = Client::new(&config.proxmox).unwrap_or_else(|e| panic!("client: {e}"));
    let journal = Journal::open(&config.state_dir, Duration::from_secs(5))
        .unwrap_or_else(|e| panic!("journal: {e}"));
    let mut tick = || {};
    let inputs = PassInputs {
        config: &config,
        client: &client,
        blocked: false,
        tick: &mut tick,
    };
    let start = Instant::now();
    let out = engine::run_pass_with_lanes(inputs, JournalView::Write(&journal), lanes)
        .unwrap_or_else(|e| panic!("pass: {e}"));
    let took = start.elapsed();
    let ok = out
        .report
        .actions
        .iter()
        .filter(|a| a.outcome == felhom_agent::reconcile::report::Outcome::Succeeded)
        .count();
    assert!(out.report.errors.is_empty(), "{:?}", out.report.errors);
    (took, ok)
}

/// Runs `--reconcile-now` on `h`; returns (exit code, peak RSS KiB, how).
fn binary_pass(h: &Host) -> (i32, u64, &'static str) {
    let bin = env!("CARGO_BIN_EXE_felhom-agent");
    let time = Path::new("/usr/bin/time");
    if time.exists() {
        let out = Command::new(time)
            .arg("-v")
            .arg(bin)
            .arg("--config")
            .arg(&h.config_path)
            .arg("--reconcile-now")
            .envs(unit_environment())
            .env("FELHOM_AGENT_LOG", "warn")
            .stdout(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("{e}"));
        let text = String::from_utf8_lossy(&out.stderr);
        let rss = text
            .lines()
            .find_map(|l| l.trim().strip_prefix("Maximum resident set size (kbytes):"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        return (out.status.code().unwrap_or(-1), rss, "/usr/bin/time -v");
    }
    let mut child = Command::new(bin)
        .arg("--config")
        .arg(&h.config_path)
        .arg("--reconcile-now")
        .envs(unit_environment())
        .env("FELHOM_AGENT_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("{e}"));
    let status_path = format!("/proc/{}/status", child.id());
    let mut peak = 0;
    loop {
        if let Ok(s) = std::fs::read_to_string(&status_path) {
            let hwm = s
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
                .unwrap_or(0);
            peak = peak.max(hwm);
        }
        if let Ok(Some(st)) = child.try_wait() {
            return (st.code().unwrap_or(-1), peak, "VmHWM polled");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

pub fn run() {
    let n = guests();
    println!("{n} guests ({QEMU} qemu, {LXC} lxc), fakepve time scale 0 (instant tasks)");

    let one = host("one");
    let (t1, ok1) = library_pass(&one, 1);
    drop(one);
    let lanes = host("lanes");
    let (tl, okl) = library_pass(&lanes, MAX_PARALLEL_GUESTS);
    println!(
        "first pass ({ok1} actions): 1 lane {:.2} s, {MAX_PARALLEL_GUESTS} lanes {:.2} s, speed-up {:.2}x",
        t1.as_secs_f64(),
        tl.as_secs_f64(),
        t1.as_secs_f64() / tl.as_secs_f64().max(1e-9)
    );
    assert_eq!(ok1, okl, "both passes did the same work");

    let before = lanes.pve.requests().len();
    let (code, rss_idle, how) = binary_pass(&lanes);
    let reqs = lanes.pve.requests();
    let pass = reqs.get(before..).unwrap_or_default();
    let writes = pass.iter().filter(|(m, _)| m != "GET").count();
    println!(
        "converged pass (exit {code}): {writes} writes (budget 0), {} reads (budget <= 1 + N = {}) {}",
        pass.len() - writes,
        1 + n,
        if writes == 0 && pass.len() <= 1 + n as usize {
            "OK"
        } else {
            "OVER BUDGET"
        }
    );

    write_json(
        &lanes.dir.join("desired-state.json"),
        &desired(2, "bench two"),
    );
    let (code2, rss_busy, _) = binary_pass(&lanes);
    for (what, rss) in [
        ("converged pass", rss_idle),
        ("pass writing all guests", rss_busy),
    ] {
        println!(
            "peak RSS, {what}: {:.1} MiB (budget {} MiB, {how}) {}",
            rss as f64 / 1024.0,
            RSS_BUDGET_KIB / 1024,
            if rss <= RSS_BUDGET_KIB {
                "OK"
            } else {
                "OVER BUDGET"
            }
        );
    }
    println!("(writing pass exit {code2})");
}

/// The `Environment=` settings of the shipped unit, so memory is measured
/// as systemd runs the agent.
fn unit_environment() -> Vec<(String, String)> {
    let unit = concat!(env!("CARGO_MANIFEST_DIR"), "/dist/felhom-agent.service");
    std::fs::read_to_string(unit)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().strip_prefix("Environment="))
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}
