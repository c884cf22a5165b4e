//! Test harness: a real fakepve (PyPI `fakepve[crypto]==0.5.0`) on a free
//! loopback port, with its own CA, API tokens and sample guests.
//!
//! Use from a test file:
//!
//! ```ignore
//! #[path = "support/fakepve.rs"]
//! mod fakepve;
//! let pve = fakepve::FakePve::start();                 // 2 qemu + 2 lxc sample guests
//! let cfg = pve.proxmox_config();                       // CA-file trust, minimal-privilege token
//! let vmid = pve.add_qemu("stopped", json!({"cores": 1, "memory": 512}));
//! pve.call("fail", json!(["POST", "/status/start"]), json!({"status": 500, "message": "boom"}));
//! assert_eq!(pve.mutating_requests(), 0);
//! ```
//!
//! Python is `$FELHOM_TEST_PYTHON`, else `target/test-venv/bin/python3`
//! (what `bash tests/run.sh` installs). The server is
//! `tests/support/fakepve_launch.py`, driven over its stdin/stdout; it
//! stops when this handle is dropped (its stdin closes).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use felhom_agent::config::{Endpoint, ProxmoxConfig, Secret, TlsTrust, read_secret_file};
use serde_json::{Value, json};

const HINT: &str =
    "run `bash tests/run.sh` (it installs fakepve[crypto]==0.5.0 into target/test-venv)";

/// Options for [`FakePve::start_with`].
#[derive(Debug, Clone)]
pub struct Options {
    pub node: String,
    pub qemu: u32,
    pub lxc: u32,
    /// Real seconds per PVE second (tasks run asynchronously when > 0).
    pub time_scale: f64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            node: "pve1".into(),
            qemu: 2,
            lxc: 2,
            time_scale: 0.01,
        }
    }
}

pub struct FakePve {
    child: Child,
    io: Mutex<Option<(ChildStdin, BufReader<ChildStdout>)>>,
    dir: PathBuf,
    /// `https://127.0.0.1:PORT`
    pub endpoint: String,
    /// The CA that signed the server certificate.
    pub ca_file: PathBuf,
    /// A CA unrelated to the server (must never verify it).
    pub other_ca_file: PathBuf,
    /// SHA-256 of the server's leaf certificate (DER).
    pub fingerprint: [u8; 32],
    /// `felhom@pve!agent=…` with the README's minimal privileges, mode 0600.
    pub token_file: PathBuf,
    /// `felhom@pve!provision=…`: the minimal set plus the README's
    /// provisioning privileges, mode 0600.
    pub provision_token_file: PathBuf,
    /// `limited@pve!audit=…` holding VM.Audit only, mode 0600.
    pub limited_token_file: PathBuf,
    pub node: String,
    next_vmid: AtomicU32,
}

static INSTANCE: AtomicU32 = AtomicU32::new(0);

fn python() -> PathBuf {
    let py = std::env::var_os("FELHOM_TEST_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-venv/bin/python3")
        });
    let ok = Command::new(&py)
        .args(["-c", "import fakepve, cryptography"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !ok {
        panic!("fakepve is not available to {}: {HINT}", py.display());
    }
    py
}

fn write_secret(path: &Path, value: &str) {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .unwrap();
    writeln!(f, "{value}").unwrap();
}

fn unhex(s: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    assert_eq!(s.len(), 64, "fingerprint {s}");
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap();
    }
    out
}

impl FakePve {
    /// 2 qemu + 2 lxc sample guests on node `pve1`, time scale 0.01.
    pub fn start() -> FakePve {
        Self::start_with(Options::default())
    }

    pub fn start_with(opts: Options) -> FakePve {
        let py = python();
        let n = INSTANCE.fetch_add(1, Ordering::SeqCst);
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("fakepve-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/fakepve_launch.py");
        let mut child = Command::new(py)
            .arg(script)
            .args(["--dir", dir.to_str().unwrap(), "--node", &opts.node])
            .args([
                "--qemu",
                &opts.qemu.to_string(),
                "--lxc",
                &opts.lxc.to_string(),
            ])
            .args(["--time-scale", &opts.time_scale.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start fakepve: {e}; {HINT}"));
        let stdin = child.stdin.take().unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        let ready: Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("fakepve did not start ({e}): {line:?}; {HINT}"));
        let token_file = dir.join("pve-token");
        write_secret(&token_file, ready["token"].as_str().unwrap());
        let provision_token_file = dir.join("pve-token-provision");
        write_secret(
            &provision_token_file,
            ready["provision_token"].as_str().unwrap(),
        );
        let limited_token_file = dir.join("pve-token-limited");
        write_secret(
            &limited_token_file,
            ready["limited_token"].as_str().unwrap(),
        );
        FakePve {
            child,
            io: Mutex::new(Some((stdin, stdout))),
            endpoint: format!("https://127.0.0.1:{}", ready["port"]),
            ca_file: PathBuf::from(ready["ca"].as_str().unwrap()),
            other_ca_file: PathBuf::from(ready["other_ca"].as_str().unwrap()),
            fingerprint: unhex(ready["fingerprint"].as_str().unwrap()),
            token_file,
            provision_token_file,
            limited_token_file,
            node: opts.node,
            dir,
            next_vmid: AtomicU32::new(1000),
        }
    }

    /// A config for the agent's token, trusting the CA file.
    pub fn proxmox_config(&self) -> ProxmoxConfig {
        self.config_with(TlsTrust::CaFile(self.ca_file.clone()), &self.token_file)
    }

    /// A config with the given trust and token file.
    pub fn config_with(&self, tls: TlsTrust, token_file: &Path) -> ProxmoxConfig {
        let token = read_secret_file(token_file.to_str().unwrap(), None).unwrap();
        self.config_with_token(tls, token)
    }

    pub fn config_with_token(&self, tls: TlsTrust, token: Secret) -> ProxmoxConfig {
        ProxmoxConfig {
            endpoint: Endpoint::parse(&self.endpoint).unwrap(),
            node: self.node.clone(),
            token,
            tls,
            timeout: Duration::from_secs(5),
            task_timeout: Duration::from_secs(60),
        }
    }

    /// The `proxmox` block of an `agent.json` pointing here.
    pub fn agent_json_proxmox(&self) -> Value {
        json!({
            "endpoint": self.endpoint,
            "node": self.node,
            "token_file": self.token_file,
            "tls": {"ca_file": self.ca_file},
            "timeout_seconds": 5,
            "task_timeout_seconds": 60,
        })
    }

    /// A vmid no other test of this process uses.
    pub fn next_vmid(&self) -> u32 {
        self.next_vmid.fetch_add(1, Ordering::SeqCst)
    }

    /// Sends one command; panics with fakepve's error if it failed.
    pub fn command(&self, cmd: Value) -> Value {
        let mut io = self.io.lock().unwrap();
        let (stdin, stdout) = io.as_mut().expect("fakepve is stopped");
        writeln!(stdin, "{cmd}").unwrap();
        stdin.flush().unwrap();
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        let reply: Value = serde_json::from_str(&line).unwrap();
        if reply["ok"] != json!(true) {
            panic!("fakepve command {cmd} failed: {}", reply["error"]);
        }
        reply["result"].clone()
    }

    /// Adds a qemu guest on this node with a fresh vmid; returns the vmid.
    pub fn add_qemu(&self, status: &str, config: Value) -> u32 {
        self.add_guest("add_qemu", &self.node.clone(), status, config)
    }

    /// Adds an lxc guest on this node with a fresh vmid; returns the vmid.
    pub fn add_lxc(&self, status: &str, config: Value) -> u32 {
        self.add_guest("add_lxc", &self.node.clone(), status, config)
    }

    /// Adds a qemu guest on another node (created in the cluster if new).
    pub fn add_qemu_on(&self, node: &str, status: &str, config: Value) -> u32 {
        self.add_guest("add_qemu", node, status, config)
    }

    /// Adds an lxc guest on another node (created in the cluster if new).
    pub fn add_lxc_on(&self, node: &str, status: &str, config: Value) -> u32 {
        self.add_guest("add_lxc", node, status, config)
    }

    fn add_guest(&self, op: &str, node: &str, status: &str, config: Value) -> u32 {
        let vmid = self.next_vmid();
        self.command(json!({"op": op, "vmid": vmid, "status": status,
                            "config": config, "node": node}));
        vmid
    }

    /// Sets an attribute of a guest (`shutdown_secs`, `start_error`, `ha_state`, `lock`, ...).
    pub fn set_guest(&self, vmid: u32, attr: &str, value: Value) {
        self.command(json!({"op": "set", "vmid": vmid, "attr": attr, "value": value}));
    }

    /// Calls a FakePve scenario method (`fail`, `flaky_network`, `slow_network`,
    /// `set_node_offline`, `hold_config_lock`, `backup`, `snapshot_lock`, ...).
    pub fn call(&self, method: &str, args: Value, kwargs: Value) -> Value {
        self.command(json!({"op": "call", "method": method, "args": args, "kwargs": kwargs}))
    }

    /// Answers requests whose path ends with `suffix` with `status`/`message`.
    pub fn fail(&self, method: &str, suffix: &str, status: u16, message: &str) {
        self.call(
            "fail",
            json!([method, suffix]),
            json!({"status": status, "message": message}),
        );
    }

    /// Adds qemu template `vmid` (from [`FakePve::next_vmid`]) on `node`
    /// with `config` (its disks, e.g. `scsi0`).
    pub fn add_template(&self, vmid: u32, node: &str, config: Value) {
        self.command(json!({"op": "add_template", "vmid": vmid, "node": node, "config": config}));
    }

    /// Updates a storage's fake state (`avail`, `total`, `active`, ...).
    pub fn set_storage(&self, name: &str, set: Value) {
        self.command(json!({"op": "storage", "name": name, "set": set}));
    }

    /// PVE seconds container tasks of `kind` take (`create`, `destroy`, ...).
    pub fn ct_task_secs(&self, kind: &str, secs: f64) {
        self.command(json!({"op": "task_secs", "kind": kind, "secs": secs}));
    }

    /// PVE seconds every answer waits after its request ran (0: none): a
    /// client that dies meanwhile never learns the outcome.
    pub fn answer_delay(&self, secs: f64) {
        self.command(json!({"op": "answer_delay", "secs": secs}));
    }

    /// Stores an OS template `name` (`content` vztmpl) on storage `local`.
    pub fn store_template(&self, name: &str) {
        self.call(
            "store_file",
            json!(["local", name, 1 << 20]),
            json!({"content": "vztmpl"}),
        );
    }

    /// Sets an attribute of the server (the launcher's `RealPve`): `message_in_body`
    /// (false: PVE 8.0-8.3), `percent_bug` (PVE < 8.2.2), `status_cache_secs`
    /// (a stale `/cluster/resources`), `ha_delay`, ...
    pub fn set_pve(&self, attr: &str, value: Value) {
        self.command(json!({"op": "set_pve", "attr": attr, "value": value}));
    }

    /// Adds a replication job `{id}` (e.g. `"100-0"`) for `guest`.
    pub fn add_replication(&self, id: &str, guest: u32) {
        self.command(json!({"op": "add_replication", "id": id, "guest": guest}));
    }

    /// Runs the next `times` requests whose path ends with `suffix`, then
    /// answers them `status` (e.g. 596) with `reason` and an empty body.
    pub fn fail_after(&self, method: &str, suffix: &str, status: u16, reason: &str, times: u32) {
        self.call(
            "fail_after",
            json!([method, suffix]),
            json!({"status": status, "reason": reason, "times": times}),
        );
    }

    /// As [`FakePve::fail_after`], but the answer is a 200 whose body is
    /// `body` (unreadable: PVE ran the request, its answer is lost).
    pub fn garble_after(&self, method: &str, suffix: &str, body: &str, times: u32) {
        self.call(
            "fail_after",
            json!([method, suffix]),
            json!({"times": times, "body": body}),
        );
    }

    pub fn add_snapshot(&self, vmid: u32, name: &str) {
        self.command(json!({"op": "add_snapshot", "vmid": vmid, "name": name}));
    }

    /// `{exists, status, lock, node, config, snapshots}` of a guest.
    pub fn guest(&self, vmid: u32) -> Value {
        self.command(json!({"op": "guest", "vmid": vmid}))
    }

    /// Every request seen, `(method, path)`, oldest first.
    pub fn requests(&self) -> Vec<(String, String)> {
        let list = self.command(json!({"op": "requests"}));
        list.as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r[0].as_str().unwrap().to_string(),
                    r[1].as_str().unwrap().to_string(),
                )
            })
            .collect()
    }

    /// `DELETE` requests of the guest `vmid` itself (its destroy), seen so far.
    pub fn deletes(&self, vmid: u32) -> usize {
        let tail = format!("/{vmid}");
        self.requests()
            .iter()
            .filter(|(m, p)| m == "DELETE" && p.ends_with(&tail))
            .count()
    }

    /// Create and clone requests whose body names the new guest `vmid`
    /// (their paths name no guest of their own).
    pub fn creates(&self, vmid: u32) -> u64 {
        self.command(json!({"op": "creates", "vmid": vmid}))
            .as_u64()
            .unwrap()
    }

    pub fn request_total(&self) -> usize {
        self.requests().len()
    }

    /// POST, PUT and DELETE requests seen.
    pub fn mutating_requests(&self) -> usize {
        self.requests().iter().filter(|(m, _)| m != "GET").count()
    }

    /// Mutating requests whose path mentions `/{vmid}` as a path segment.
    pub fn mutating_requests_for(&self, vmid: u32) -> usize {
        let seg = format!("/{vmid}");
        self.requests()
            .iter()
            .filter(|(m, p)| m != "GET" && (p.contains(&format!("{seg}/")) || p.ends_with(&seg)))
            .count()
    }
}

impl Drop for FakePve {
    fn drop(&mut self) {
        // Closing stdin asks the launcher to stop; kill it if it lingers.
        if let Ok(mut io) = self.io.lock() {
            io.take();
        }
        for _ in 0..100 {
            if let Ok(Some(_)) = self.child.try_wait() {
                let _ = std::fs::remove_dir_all(&self.dir);
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
