//! Test helper: the real `felhom-agent` binary against a real fakepve, with
//! real `ssh-keygen` keys, a desired-state file and a state dir in a temp
//! directory.
//!
//! Include it beside its two siblings, under these names, at the test
//! crate's root:
//!
//! ```ignore
//! #[path = "support/fakepve.rs"] mod fakepve;
//! #[path = "support/sshkeys.rs"] mod sshkeys;
//! #[path = "support/agent.rs"] mod agent;
//! let pve = fakepve::FakePve::start();
//! let a = agent::Agent::new(&pve, "tag");
//! a.write_desired(1, json!([{"vmid": 100, "state": "running"}]));
//! let run = a.run(&["--reconcile-now", "--json"]);
//! assert_eq!(run.code, 0, "{}", run.stderr);
//! ```
//!
//! Layout of the temp dir: `agent.json`, `desired-state.json`,
//! `operational.allowed_signers` (principal `alice`, key `alice`),
//! `recovery.allowed_signers` (principal `rescue`, key `rescue`),
//! `state/` (mode 0700, the journal), `keys/`, `ops/` (blobs and `.sig`s).
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use crate::fakepve::FakePve;
use crate::sshkeys::{self, Key, TempDir};
use felhom_agent::journal::{self, Record};
use serde_json::{Value, json};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

/// The agent's `host_id` in every helper config.
pub const HOST_ID: &str = "felhom-test-host";
/// The SSHSIG namespace of signed ops.
pub const NAMESPACE: &str = "felhom-op-v1";

/// One agent installation (config, keys, state dir) pointed at one fakepve.
pub struct Agent {
    pub dir: TempDir,
    pub config_path: PathBuf,
    pub state_dir: PathBuf,
    pub desired_path: PathBuf,
    pub operational: PathBuf,
    pub recovery: PathBuf,
    /// In `operational.allowed_signers` as principal `alice`.
    pub alice: Key,
    /// In `recovery.allowed_signers` as principal `rescue`.
    pub rescue: Key,
    /// In no signer file.
    pub mallory: Key,
    /// The config as written (tests may change it and call `write_config`).
    pub config: Value,
}

/// What one run of the binary gave.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// stdout as the one `--json` document.
    pub fn json(&self) -> Value {
        serde_json::from_str(self.stdout.trim()).unwrap_or_else(|e| {
            panic!(
                "stdout is not one JSON document ({e}):\n{}\nstderr:\n{}",
                self.stdout, self.stderr
            )
        })
    }

    /// The `actions` of a pass document.
    pub fn actions(&self) -> Vec<Value> {
        self.json()["actions"].as_array().unwrap().clone()
    }

    /// The `errors` of a pass document, joined.
    pub fn errors(&self) -> String {
        self.json()["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e.as_str().unwrap().to_string())
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl From<Output> for Run {
    fn from(o: Output) -> Run {
        Run {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

/// The binary with a clean environment (no inherited config or state).
pub fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_felhom-agent"));
    for var in [
        "FELHOM_AGENT_CONFIG",
        "STATE_DIRECTORY",
        "CREDENTIALS_DIRECTORY",
        "NOTIFY_SOCKET",
        "JOURNAL_STREAM",
        "WATCHDOG_USEC",
    ] {
        c.env_remove(var);
    }
    c.env("FELHOM_AGENT_LOG", "info");
    c
}

fn signer_line(principal: &str, key: &Key) -> String {
    format!("{principal} namespaces=\"{NAMESPACE}\" {}", key.public())
}

impl Agent {
    pub fn new(pve: &FakePve, tag: &str) -> Agent {
        let dir = TempDir::new(tag);
        let keys = dir.path().join("keys");
        std::fs::create_dir_all(&keys).unwrap();
        std::fs::create_dir_all(dir.path().join("ops")).unwrap();
        let state_dir = dir.path().join("state");
        std::fs::create_dir_all(&state_dir).unwrap();
        std::fs::set_permissions(&state_dir, std::fs::Permissions::from_mode(0o700)).unwrap();
        let alice = sshkeys::keygen(&dir, "keys/alice");
        let rescue = sshkeys::keygen(&dir, "keys/rescue");
        let mallory = sshkeys::keygen(&dir, "keys/mallory");
        let operational = sshkeys::write_allowed_signers(
            &dir,
            "operational.allowed_signers",
            &[signer_line("alice", &alice)],
        );
        let recovery = sshkeys::write_allowed_signers(
            &dir,
            "recovery.allowed_signers",
            &[signer_line("rescue", &rescue)],
        );
        let desired_path = dir.path().join("desired-state.json");
        let config = json!({
            "host_id": HOST_ID,
            "log_level": "info",
            "state_dir": state_dir,
            "reconcile_interval_seconds": 60,
            "proxmox": pve.agent_json_proxmox(),
            "authz": {
                "operational_signers": operational,
                "recovery_signers": recovery,
                "clock_skew_seconds": 120,
                "max_validity_seconds": 86400,
                "require_user_presence": true
            },
            "desired_state_file": desired_path,
            "hub": null
        });
        let a = Agent {
            config_path: dir.path().join("agent.json"),
            state_dir,
            desired_path,
            operational,
            recovery,
            alice,
            rescue,
            mallory,
            config,
            dir,
        };
        a.write_config();
        // An empty document: no guest managed until a test says otherwise.
        a.write_desired(0, json!([]));
        a
    }

    /// Switches to the provisioning token and sets config `provision`.
    pub fn provision(&mut self, pve: &FakePve, provision: Value) {
        self.config["proxmox"]["token_file"] = json!(pve.provision_token_file);
        self.config["provision"] = provision;
        self.write_config();
    }

    pub fn write_config(&self) {
        std::fs::write(
            &self.config_path,
            serde_json::to_vec_pretty(&self.config).unwrap(),
        )
        .unwrap();
    }

    /// Writes the CONTRACT §5 document `{"generation", "desired_state": {"guests"}}`.
    pub fn write_desired(&self, generation: u64, guests: Value) {
        let doc = json!({"generation": generation, "desired_state": {"guests": guests}});
        self.write_desired_raw(&serde_json::to_vec_pretty(&doc).unwrap());
    }

    pub fn write_desired_raw(&self, bytes: &[u8]) {
        std::fs::write(&self.desired_path, bytes).unwrap();
    }

    /// The command for `args`, with `--config` set.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = bin();
        c.arg("--config").arg(&self.config_path).args(args);
        c
    }

    /// Runs the binary to completion.
    pub fn run(&self, args: &[&str]) -> Run {
        self.command(args)
            .stdin(Stdio::null())
            .output()
            .unwrap()
            .into()
    }

    /// Starts the binary without waiting (crash tests).
    pub fn spawn(&self, args: &[&str]) -> Child {
        self.command(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }

    pub fn journal_path(&self) -> PathBuf {
        self.state_dir.join(journal::JOURNAL_FILE)
    }

    /// Every record of the journal (empty if there is none yet).
    pub fn records(&self) -> Vec<Record> {
        if !self.journal_path().exists() {
            return Vec::new();
        }
        journal::read_records(&self.journal_path())
            .unwrap()
            .into_iter()
            .map(|(_, r)| r)
            .collect()
    }

    /// The raw journal bytes (empty if there is none yet).
    pub fn journal_bytes(&self) -> Vec<u8> {
        std::fs::read(self.journal_path()).unwrap_or_default()
    }

    /// A canonical blob for this host, valid from now for an hour.
    pub fn blob(&self, op: &str, params: Value, guest: Option<u32>) -> String {
        let now = felhom_agent::time::now_unix();
        BlobSpec::new(op, params, guest).build(now)
    }

    /// Writes `blob` and its `ssh-keygen -Y sign` signature (namespace
    /// `namespace`) into `ops/`; returns (blob path, sig path).
    pub fn sign_ns(&self, key: &Key, blob: &str, namespace: &str) -> (PathBuf, PathBuf) {
        static N: AtomicU32 = AtomicU32::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let sig = sshkeys::sign(&self.dir, key, blob.as_bytes(), namespace, None);
        let blob_path = self.dir.write(&format!("ops/op-{n}.json"), blob.as_bytes());
        let sig_path = self.dir.write(&format!("ops/op-{n}.json.sig"), &sig);
        (blob_path, sig_path)
    }

    pub fn sign(&self, key: &Key, blob: &str) -> (PathBuf, PathBuf) {
        self.sign_ns(key, blob, NAMESPACE)
    }

    /// `--json MODE BLOB SIG` for `--submit` / `--check-op`.
    pub fn with_op(&self, mode: &str, files: &(PathBuf, PathBuf)) -> Run {
        let (b, s) = files;
        self.run(&["--json", mode, b.to_str().unwrap(), s.to_str().unwrap()])
    }

    pub fn submit(&self, files: &(PathBuf, PathBuf)) -> Run {
        self.with_op("--submit", files)
    }

    pub fn check_op(&self, files: &(PathBuf, PathBuf)) -> Run {
        self.with_op("--check-op", files)
    }

    /// `--reconcile-now --json`.
    pub fn pass(&self) -> Run {
        self.run(&["--reconcile-now", "--json"])
    }
}

/// Every field of a blob, for building wrong ones on purpose.
#[derive(Debug, Clone)]
pub struct BlobSpec {
    pub op: String,
    pub params: Value,
    pub host_id: String,
    pub guest: Option<u32>,
    pub nonce: String,
    /// Relative to `now`.
    pub issued_offset: i64,
    pub validity: i64,
    pub key_id: String,
}

impl BlobSpec {
    pub fn new(op: &str, params: Value, guest: Option<u32>) -> BlobSpec {
        BlobSpec {
            op: op.into(),
            params,
            host_id: HOST_ID.into(),
            guest,
            nonce: fresh_nonce(),
            issued_offset: 0,
            validity: 3600,
            key_id: String::new(),
        }
    }

    pub fn build(&self, now: i64) -> String {
        let issued = now + self.issued_offset;
        felhom_agent::authz::canonical_blob(
            &self.op,
            &self.params,
            &self.host_id,
            self.guest,
            &self.nonce,
            issued,
            issued + self.validity,
            &self.key_id,
        )
    }

    pub fn build_now(&self) -> String {
        self.build(felhom_agent::time::now_unix())
    }
}

/// 32 lowercase hex characters, unique within and across test processes.
pub fn fresh_nonce() -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "{:08x}{:08x}{:08x}{:08x}",
        std::process::id(),
        n,
        nanos,
        n ^ 0x5a5a_5a5a
    )
}

/// Mutating requests (`POST`/`PUT`/`DELETE`) of `requests`.
pub fn mutating(requests: &[(String, String)]) -> Vec<(String, String)> {
    requests
        .iter()
        .filter(|(m, _)| m != "GET")
        .cloned()
        .collect()
}

/// Whether `path` names guest `vmid` as a path segment.
pub fn names_guest(path: &str, vmid: u32) -> bool {
    let seg = format!("/{vmid}");
    path.contains(&format!("{seg}/")) || path.ends_with(&seg)
}

/// The action on `vmid` with op `op` in a pass's `actions`; panics naming
/// what was there when there is none.
pub fn action<'a>(actions: &'a [Value], vmid: u32, op: &str) -> &'a Value {
    actions
        .iter()
        .find(|a| a["vmid"] == json!(vmid) && a["op"] == json!(op))
        .unwrap_or_else(|| panic!("no {op} on {vmid} in {actions:?}"))
}

/// `DELETE` requests that name `vmid`.
pub fn deletes_of(pve: &FakePve, vmid: u32) -> usize {
    pve.requests()
        .iter()
        .filter(|(m, p)| m == "DELETE" && names_guest(p, vmid))
        .count()
}

/// The Decision records of a journal.
pub fn decisions(records: &[Record]) -> Vec<felhom_agent::journal::DecisionRecord> {
    records
        .iter()
        .filter_map(|r| match r {
            Record::Decision(d) => Some(d.clone()),
            _ => None,
        })
        .collect()
}

/// Whether the journal holds a `NonceConsumed` for `nonce`.
pub fn nonce_consumed(records: &[Record], nonce: &str) -> bool {
    records
        .iter()
        .any(|r| matches!(r, Record::NonceConsumed { nonce: n, .. } if n == nonce))
}

/// Reads a file as a path for CLI args.
pub fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}
