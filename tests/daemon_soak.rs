//! Daemon soak: about a minute of real time with a one-second reconcile
//! interval against a hub that fails at random (5xx, garbage, dropped
//! connections, malformed and valid answers) and a Proxmox whose guests
//! drift. The process's resident memory and open file descriptors are
//! sampled every second; the second half of the run may not exceed the
//! first half's peak by more than a small tolerance (no growth trend).
//!
//! Contract intervals (poll ≥ 60 s) make 30 minutes of hub traffic
//! impossible to simulate faster; the reconcile side, where per-pass
//! leaks would show, runs ~60 passes here. See the daemon README section.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "daemon_support/mod.rs"]
mod daemon_support;
#[path = "support/fakepve.rs"]
mod fakepve;
#[path = "support/sshkeys.rs"]
mod sshkeys;
#[path = "support/stub_hub.rs"]
mod stub_hub;

use daemon_support::{Agent, DESIRED, HOST, JOBS, REPORT, Source, envelope, job};
use serde_json::json;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use stub_hub::{Reply, StubHub};
#[path = "support/rng.rs"]
mod rng;
use rng::Rng;

const RUN: Duration = Duration::from_secs(60);
/// Samples before this are start-up (allocator and TLS warm-up).
const WARM_UP: Duration = Duration::from_secs(6);
/// Allowed rise of the second half's peak over the first half's.
const RSS_TOLERANCE_KB: u64 = 2048;
const FD_TOLERANCE: usize = 3;

impl Rng {
    fn pick(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn random_failure(rng: &Mutex<Rng>, good: Reply) -> Reply {
    match rng.lock().unwrap().pick(6) {
        0 => Reply::status(500),
        1 => Reply::garbage(b"HTTP/1.1 200 OK\r\nContent-Length: 9999\r\n\r\n{"),
        2 => Reply::close(),
        3 => Reply::json(200, "{\"unexpected\": true}"),
        4 => Reply::status(503).delayed(Duration::from_millis(300)),
        _ => good,
    }
}

fn rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count()
}

fn halves<T: Copy + Ord>(samples: &[T]) -> (T, T) {
    let (a, b) = samples.split_at(samples.len() / 2);
    (*a.iter().max().unwrap(), *b.iter().max().unwrap())
}

#[test]
fn a_minute_of_passes_against_a_randomly_failing_hub_grows_neither_memory_nor_fds() {
    let hub = StubHub::start();
    let agent = Agent::new("soak", 0.0);
    let guests: Vec<u32> = (0..4)
        .map(|_| {
            agent
                .pve
                .add_qemu("stopped", json!({"cores": 1, "memory": 512}))
        })
        .collect();
    let wanted: Vec<_> = guests
        .iter()
        .map(|g| json!({"vmid": g, "state": "running", "description": "soak"}))
        .collect();
    let desired = json!({"generation": 1, "desired_state": {"guests": wanted}});
    let (blob, sig) = agent.signed("restart", json!({}), HOST, guests[0]);
    let jobs = json!({"jobs": [job("soak-1", &blob, &sig)]});
    let rng = Arc::new(Mutex::new(Rng(0x9E37_79B9_7F4A_7C15)));
    let r = Arc::clone(&rng);
    hub.on_fn("POST", REPORT, move |_| {
        random_failure(&r, Reply::json(200, &envelope(60, false, Some(1), true)))
    });
    let r = Arc::clone(&rng);
    hub.on_fn("GET", DESIRED, move |_| {
        random_failure(&r, Reply::json_value(200, &desired))
    });
    let r = Arc::clone(&rng);
    hub.on_fn("GET", JOBS, move |_| {
        random_failure(&r, Reply::json_value(200, &jobs))
    });
    let r = Arc::clone(&rng);
    hub.on_fn("DELETE", "/api/v1/hosts/pve1/jobs/*", move |_| {
        random_failure(&r, Reply::status(204))
    });
    agent.configure(Source::Hub(&hub.url()), 1);
    let mut daemon = agent.start(&[("FELHOM_AGENT_LOG", "info".to_string())]);
    let pid = daemon.pid();
    let start = Instant::now();
    let (mut rss, mut fds) = (Vec::new(), Vec::new());
    let mut tick = 0u64;
    while start.elapsed() < RUN {
        std::thread::sleep(Duration::from_secs(1));
        tick += 1;
        daemon.assert_alive();
        if tick.is_multiple_of(7) {
            // Drift: a guest stopped behind the agent's back.
            let g = guests[(tick / 7) as usize % guests.len()];
            agent.pve.set_guest(g, "status", json!("stopped"));
        }
        if start.elapsed() >= WARM_UP {
            rss.push(rss_kb(pid));
            fds.push(open_fds(pid));
        }
    }
    daemon.assert_alive();
    let hub_requests = hub.requests().len();
    assert!(hub_requests >= 5, "only {hub_requests} hub requests");
    let (rss_a, rss_b) = halves(&rss);
    let (fd_a, fd_b) = halves(&fds);
    eprintln!(
        "soak: {hub_requests} hub requests; RSS peak {rss_a} → {rss_b} kB; fds {fd_a} → {fd_b}"
    );
    assert!(rss_b <= rss_a + RSS_TOLERANCE_KB, "RSS grew: {rss:?}");
    assert!(fd_b <= fd_a + FD_TOLERANCE, "open fds grew: {fds:?}");
    let running = guests
        .iter()
        .filter(|g| agent.pve.guest(**g)["status"] == "running")
        .count();
    assert!(
        running >= 3,
        "reconcile stopped converging: {running} running"
    );
}
