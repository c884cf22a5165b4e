//! Harness for the daemon tests: an agent directory (config, keys, signer
//! files, state dir) around a fakepve, the real binary started as the
//! daemon, signed ops made with the real `ssh-keygen`, and hub job JSON.
//!
//! Include with `#[path = "daemon_support/mod.rs"] mod daemon_support;`
//! after the `support/` modules it uses (`fakepve`, `sshkeys`, `stub_hub`).
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use super::fakepve::{FakePve, Options};
use super::sshkeys::{self, Key, TempDir};
use serde_json::{Value, json};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const HOST: &str = "pve1";
pub const API_KEY: &str = "test-hub-key-0123456789";
pub const REPORT: &str = "/api/v1/host-report";
pub const DESIRED: &str = "/api/v1/hosts/pve1/desired-state";
pub const JOBS: &str = "/api/v1/hosts/pve1/jobs";

/// Where the desired state comes from in a test.
pub enum Source<'a> {
    /// `hub` block pointing at this URL (poll_seconds 60, timeout 5 s).
    Hub(&'a str),
    /// `desired_state_file` with this document.
    File(&'a Value),
}

/// An agent installation around its own fakepve.
pub struct Agent {
    pub dir: TempDir,
    pub pve: FakePve,
    pub operator: Key,
    pub config: PathBuf,
    pub state_dir: PathBuf,
}

impl Agent {
    /// A fakepve with one sample guest of each kind; `time_scale` as given.
    pub fn new(tag: &str, time_scale: f64) -> Agent {
        let pve = FakePve::start_with(Options {
            qemu: 1,
            lxc: 1,
            time_scale,
            ..Options::default()
        });
        let dir = TempDir::new(tag);
        let operator = sshkeys::keygen(&dir, "operator");
        let recovery = sshkeys::keygen(&dir, "recovery");
        let line = |k: &Key, who: &str| format!("{who} namespaces=\"felhom-op-v1\" {}", k.public());
        sshkeys::write_allowed_signers(&dir, "operational", &[line(&operator, "operator@test")]);
        sshkeys::write_allowed_signers(&dir, "recovery", &[line(&recovery, "recovery@test")]);
        let state_dir = dir.path().join("state");
        std::fs::create_dir_all(&state_dir).unwrap();
        let config = dir.path().join("agent.json");
        Agent {
            dir,
            pve,
            operator,
            config,
            state_dir,
        }
    }

    /// Writes `agent.json` (reconcile every `interval` seconds).
    pub fn configure(&self, source: Source<'_>, interval: u64) {
        let mut cfg = json!({
            "host_id": HOST,
            "log_level": "debug",
            "state_dir": self.state_dir,
            "reconcile_interval_seconds": interval,
            "proxmox": self.pve.agent_json_proxmox(),
            "authz": {
                "operational_signers": self.dir.path().join("operational"),
                "recovery_signers": self.dir.path().join("recovery"),
            },
            "desired_state_file": null,
            "hub": null,
        });
        match source {
            Source::Hub(url) => {
                let key = self.dir.path().join("hub-key");
                write_secret(&key, API_KEY);
                cfg["hub"] = json!({"url": url, "api_key_file": key, "poll_seconds": 60,
                                    "timeout_seconds": 5});
            }
            Source::File(doc) => {
                let file = self
                    .dir
                    .write("desired-state.json", doc.to_string().as_bytes());
                cfg["desired_state_file"] = json!(file);
            }
        }
        std::fs::write(&self.config, cfg.to_string()).unwrap();
    }

    /// Starts the daemon with extra environment variables.
    pub fn start(&self, env: &[(&str, String)]) -> Daemon {
        static COUNT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = COUNT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let log = self.dir.path().join(format!("daemon-{n}.log"));
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_felhom-agent"));
        cmd.arg("--config").arg(&self.config);
        cmd.env_remove("NOTIFY_SOCKET").env_remove("WATCHDOG_USEC");
        cmd.env_remove("WATCHDOG_PID").env_remove("JOURNAL_STREAM");
        cmd.env("FELHOM_AGENT_LOG", "debug");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        Daemon { child, log }
    }

    /// Runs a one-shot mode of the binary.
    pub fn run(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_felhom-agent"))
            .arg("--config")
            .arg(&self.config)
            .args(args)
            .env("FELHOM_AGENT_LOG", "info")
            .env_remove("NOTIFY_SOCKET")
            .output()
            .unwrap()
    }

    /// A canonical blob for `op` on `vmid` (host `host`), signed by the operator.
    pub fn signed(&self, op: &str, params: Value, host: &str, vmid: u32) -> (Vec<u8>, Vec<u8>) {
        let now = felhom_agent::time::now_unix();
        let nonce = felhom_agent::reconcile::pending::fresh_nonce();
        let blob = felhom_agent::authz::canonical_blob(
            op,
            &params,
            host,
            Some(vmid),
            &nonce,
            now - 60,
            now + 3600,
            "operator@test",
        );
        let sig = sshkeys::sign(
            &self.dir,
            &self.operator,
            blob.as_bytes(),
            "felhom-op-v1",
            None,
        );
        (blob.into_bytes(), sig)
    }

    /// The desired-state document the agent keeps as last good.
    pub fn last_good(&self) -> Option<Value> {
        std::fs::read(self.state_dir.join("desired-state.json"))
            .ok()
            .map(|b| serde_json::from_slice(&b).unwrap())
    }
}

/// One hub job entry.
pub fn job(id: &str, blob: &[u8], sig: &[u8]) -> Value {
    json!({
        "job_id": id,
        "op_blob_b64": felhom_agent::base64::encode(blob),
        "sig_armored": String::from_utf8(sig.to_vec()).unwrap(),
    })
}

/// A ControlEnvelope body.
pub fn envelope(poll: u64, blocked: bool, generation: Option<u64>, jobs: bool) -> String {
    json!({"poll_interval_seconds": poll, "blocked": blocked,
           "desired_generation": generation, "has_signed_ops": jobs})
    .to_string()
}

pub fn write_secret(path: &Path, value: &str) {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .unwrap();
    writeln!(f, "{value}").unwrap();
}

/// The daemon process; SIGKILLed on drop.
pub struct Daemon {
    pub child: Child,
    pub log: PathBuf,
}

impl Daemon {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Panics (with the daemon's log) unless the daemon is still running.
    pub fn assert_alive(&mut self) {
        if let Some(status) = self.child.try_wait().unwrap() {
            panic!("daemon exited with {status}; log:\n{}", self.log_text());
        }
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            eprintln!(
                "--- daemon log {} ---\n{}",
                self.log.display(),
                self.log_text()
            );
        }
    }
}

/// Polls `done` every 50 ms until it holds or `limit` passes.
pub fn wait_for(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    loop {
        if done() {
            return true;
        }
        if start.elapsed() > limit {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A bound datagram socket standing in for systemd's notify socket.
pub struct NotifySocket {
    pub path: PathBuf,
    socket: UnixDatagram,
}

impl NotifySocket {
    pub fn bind(dir: &Path) -> NotifySocket {
        let path = dir.join("notify.sock");
        let socket = UnixDatagram::bind(&path).unwrap();
        socket
            .set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        NotifySocket { path, socket }
    }

    /// Every message received until `limit` passes.
    pub fn collect(&self, limit: Duration) -> Vec<String> {
        let start = Instant::now();
        let mut out = Vec::new();
        let mut buf = [0u8; 1024];
        while start.elapsed() < limit {
            if let Ok(n) = self.socket.recv(&mut buf) {
                out.push(String::from_utf8_lossy(&buf[..n]).into_owned());
            }
        }
        out
    }
}
