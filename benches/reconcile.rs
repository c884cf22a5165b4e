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
//! - (section `reconcile-tasks`, [`tasks`]) the same comparison with tasks
//!   of realistic duration (fakepve at time scale 1, every start taking
//!   2 s), where the lanes overlap the tasks: budget 8 lanes >= 6x one
//!   lane, and the pass's wall time against the ideal (total task time / 8);
//! - the binary's peak RSS (`/usr/bin/time -v`, else `VmHWM` polled from
//!   `/proc`) on a converged pass and on a pass writing all 500 guests:
//!   budget ≤ 20 MiB;
//! - the daemon on the converged 500-guest host, run as the unit runs it
//!   (`Environment=`, `NOTIFY_SOCKET`, `WATCHDOG_USEC` of `WatchdogSec=`)
//!   with the default `reconcile_interval_seconds` (60): its CPU share
//!   between passes (budget ~0 %), its average CPU share over one whole
//!   interval (one pass included), and its peak RSS after two passes
//!   (budget ≤ 20 MiB).
//!
//! Needs fakepve in `target/test-venv` (`bash tests/run.sh` installs it).
//! A benchmark whose setup fails has nothing to measure: it stops with the
//! reason (as the test harness it shares does).
#![allow(clippy::panic)]

#[path = "../tests/support/fakepve.rs"]
#[allow(clippy::indexing_slicing)]
pub(crate) mod fakepve;
pub mod tasks;

use fakepve::FakePve;
use felhom_agent::config::{Config, Env};
use felhom_agent::journal::Journal;
use felhom_agent::proxmox::Client;
use felhom_agent::reconcile::engine::{self, JournalView, MAX_PARALLEL_GUESTS, PassInputs};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixDatagram;
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
    host_on(pve, tag, &desired(1, "bench"))
}

/// An agent installation (config, state dir, desired state) on `pve`.
fn host_on(pve: FakePve, tag: &str, desired_state: &Value) -> Host {
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
    write_json(&dir.join("desired-state.json"), desired_state);
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
        blocked: &|| false,
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
    let mut peak = 0;
    loop {
        peak = peak.max(vm_hwm_kib(child.id()));
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
    daemon_idle(&lanes);
}

/// Seconds the daemon is watched between passes.
const IDLE_WINDOW: Duration = Duration::from_secs(20);
/// `USER_HZ`: the unit of `utime`/`stime` in `/proc/<pid>/stat` (fixed at
/// 100 in the Linux user ABI).
const USER_HZ: f64 = 100.0;

/// CPU nanoseconds of each live thread of `pid` (`/proc/<pid>/task/*/schedstat`).
fn thread_cpu_ns(pid: u32) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return out;
    };
    for task in tasks.flatten() {
        let ns = std::fs::read_to_string(task.path().join("schedstat"))
            .ok()
            .and_then(|s| s.split_whitespace().next().and_then(|v| v.parse().ok()));
        if let Some(ns) = ns {
            out.insert(task.file_name().to_string_lossy().into_owned(), ns);
        }
    }
    out
}

/// The process's whole CPU time so far in seconds, exited threads included
/// (`utime + stime` of `/proc/<pid>/stat`).
fn process_cpu_s(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name, which ends at the last ')'.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after ')'.
    (ticks(11) + ticks(12)) as f64 / USER_HZ
}

fn vm_hwm_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Waits for the daemon's next `STATUS=last pass ...` notification.
fn next_pass(sock: &UnixDatagram, deadline: Instant) -> bool {
    let mut buf = [0u8; 4096];
    while Instant::now() < deadline {
        if let Ok(n) = sock.recv(&mut buf) {
            let msg = String::from_utf8_lossy(buf.get(..n).unwrap_or_default());
            if msg.lines().any(|l| l.starts_with("STATUS=last pass")) {
                return true;
            }
        }
    }
    false
}

/// The idle daemon on the converged host `h`.
fn daemon_idle(h: &Host) {
    let sock_path = h.dir.join("notify.sock");
    let sock = UnixDatagram::bind(&sock_path).unwrap_or_else(|e| panic!("notify socket: {e}"));
    let _ = sock.set_read_timeout(Some(Duration::from_millis(200)));
    let mut child = Command::new(env!("CARGO_BIN_EXE_felhom-agent"))
        .arg("--config")
        .arg(&h.config_path)
        .envs(unit_environment())
        .env("FELHOM_AGENT_LOG", "warn")
        .env("NOTIFY_SOCKET", &sock_path)
        .env("WATCHDOG_USEC", "120000000")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("daemon: {e}"));
    let pid = child.id();
    let first = next_pass(&sock, Instant::now() + Duration::from_secs(120));
    let (t0, all0, threads0) = (Instant::now(), process_cpu_s(pid), thread_cpu_ns(pid));
    std::thread::sleep(IDLE_WINDOW);
    let (t1, threads1) = (Instant::now(), thread_cpu_ns(pid));
    let idle_ns: u64 = threads1
        .iter()
        .filter_map(|(tid, ns)| threads0.get(tid).map(|before| ns.saturating_sub(*before)))
        .sum();
    let idle_share = idle_ns as f64 / 1e9 / (t1 - t0).as_secs_f64();
    let second = next_pass(&sock, Instant::now() + Duration::from_secs(120));
    let (t2, all2) = (Instant::now(), process_cpu_s(pid));
    let interval_share = (all2 - all0) / (t2 - t0).as_secs_f64();
    let hwm = vm_hwm_kib(pid);
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(pid.to_string())
        .status();
    let stop_by = Instant::now() + Duration::from_secs(30);
    while Instant::now() < stop_by && matches!(child.try_wait(), Ok(None)) {
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    if !(first && second) {
        println!("idle daemon: no pass reported on NOTIFY_SOCKET (first {first}, second {second})");
        return;
    }
    println!(
        "idle daemon, between passes ({:.0} s, {} threads): {idle_ns} ns of CPU, {:.4} % (budget ~0 %) {}",
        (t1 - t0).as_secs_f64(),
        threads1.len(),
        idle_share * 100.0,
        if idle_share < 0.001 {
            "OK"
        } else {
            "OVER BUDGET"
        }
    );
    println!(
        "daemon over one {:.0} s interval, one converged pass included: {:.2} % CPU",
        (t2 - t0).as_secs_f64(),
        interval_share * 100.0
    );
    println!(
        "daemon peak RSS after two passes: {:.1} MiB (budget {} MiB) {}",
        hwm as f64 / 1024.0,
        RSS_BUDGET_KIB / 1024,
        if hwm <= RSS_BUDGET_KIB {
            "OK"
        } else {
            "OVER BUDGET"
        }
    );
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
