//! An agent installation whose state lives on a power-cut disk
//! ([`World`]), for the power-cut scenarios (`powercut_trial.rs`).
//!
//! Layout: the temp dir holds `agent.json`, the keys, the recovery signer
//! file, signed blobs and the desired-state file (none of them written by
//! the agent); the disk holds `state/` (the state dir) and
//! `signers/operational.allowed_signers` (outside the state dir, as a
//! config may put it). Include beside `fakepve`, `powercut`, `sshkeys` and
//! `stub_hub` (as those module names).
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use crate::fakepve::FakePve;
use crate::powercut::Disk;
use crate::sshkeys::{self, Key, TempDir};
use crate::stub_hub::StubHub;
use felhom_agent::journal::{self, Record};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub const HOST_ID: &str = "pc-host";
pub const NAMESPACE: &str = "felhom-op-v1";

/// What the trials of one scenario share.
pub struct Ctx {
    pub pve: FakePve,
    pub hub: StubHub,
}

/// One agent installation on its own disk.
pub struct World {
    pub root: TempDir,
    pub disk: Disk,
    pub config_path: PathBuf,
    pub config: Value,
    pub alice: Key,
    pub rescue: Key,
    /// Guests this world's actions touch.
    pub vmids: Vec<u32>,
    /// Signed ops prepared by the setup: (nonce, blob file, sig file).
    pub signed: Vec<(String, PathBuf, PathBuf)>,
    /// Scenario data (bytes of file versions and the like).
    pub data: BTreeMap<&'static str, Vec<u8>>,
}

/// One run of the binary.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn json(&self) -> Value {
        serde_json::from_str(self.stdout.trim())
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}\n{}", self.stdout, self.stderr))
    }
}

pub fn signer_line(principal: &str, key: &Key) -> String {
    format!("{principal} namespaces=\"{NAMESPACE}\" {}", key.public())
}

fn mkdir_mode(path: &Path, mode: u32) {
    std::fs::create_dir_all(path).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

impl World {
    /// Keys, signer files, an empty state dir on the disk, a config using
    /// the desired-state file (empty document).
    pub fn new(ctx: &Ctx, tag: &str) -> World {
        let root = TempDir::new(tag);
        let disk = Disk::new(root.path());
        let alice = sshkeys::keygen(&root, "alice");
        let rescue = sshkeys::keygen(&root, "rescue");
        mkdir_mode(&disk.backing.join("state"), 0o700);
        mkdir_mode(&disk.backing.join("signers"), 0o700);
        let operational = disk.backing.join("signers/operational.allowed_signers");
        std::fs::write(&operational, signer_line("alice", &alice) + "\n").unwrap();
        std::fs::set_permissions(&operational, std::fs::Permissions::from_mode(0o600)).unwrap();
        let recovery = sshkeys::write_allowed_signers(
            &root,
            "recovery.allowed_signers",
            &[signer_line("rescue", &rescue)],
        );
        let config = json!({
            "host_id": HOST_ID,
            "log_level": "info",
            "state_dir": disk.mount.join("state"),
            "reconcile_interval_seconds": 60,
            "proxmox": ctx.pve.agent_json_proxmox(),
            "authz": {
                "operational_signers": disk.mount.join("signers/operational.allowed_signers"),
                "recovery_signers": recovery,
            },
            "desired_state_file": root.path().join("desired.json"),
            "hub": null,
        });
        let w = World {
            config_path: root.path().join("agent.json"),
            root,
            disk,
            config,
            alice,
            rescue,
            vmids: Vec::new(),
            signed: Vec::new(),
            data: BTreeMap::new(),
        };
        w.write_config();
        w.write_desired(1, json!([]));
        w
    }

    pub fn write_config(&self) {
        std::fs::write(&self.config_path, self.config.to_string()).unwrap();
    }

    /// Switches the world to the hub (`ctx.hub`) as its desired-state source.
    pub fn use_hub(&mut self, ctx: &Ctx) {
        let key = self.root.path().join("hub-key");
        std::fs::write(&key, "power-cut-hub-key\n").unwrap();
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
        self.config["desired_state_file"] = Value::Null;
        self.config["hub"] = json!({"url": ctx.hub.url(), "api_key_file": key,
                                    "poll_seconds": 60, "timeout_seconds": 5});
        self.write_config();
    }

    /// The desired-state file (`desired_state_file`), CONTRACT §5.
    pub fn write_desired(&self, generation: u64, guests: Value) -> Vec<u8> {
        let doc = json!({"generation": generation, "desired_state": {"guests": guests}});
        let bytes = doc.to_string().into_bytes();
        std::fs::write(self.root.path().join("desired.json"), &bytes).unwrap();
        bytes
    }

    /// A path in the durable image (what survived the last cut).
    pub fn image(&self, rel: &str) -> PathBuf {
        self.disk.backing.join(rel)
    }

    /// A path as the agent sees it now: on the mounted disk while it is
    /// mounted, else in the durable image.
    pub fn live(&self, rel: &str) -> PathBuf {
        if self.disk.mount.join("state").exists() {
            self.disk.mount.join(rel)
        } else {
            self.image(rel)
        }
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_felhom-agent"));
        Self::clean_env(&mut c);
        c.arg("--config").arg(&self.config_path).args(args);
        c.stdin(Stdio::null());
        c
    }

    fn clean_env(c: &mut Command) {
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
    }

    /// Runs the binary to its end (the disk must be mounted).
    pub fn run(&self, args: &[&str]) -> Run {
        let o = self.command(args).output().unwrap();
        Run {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }

    /// Starts the binary, its output into `name.out` / `name.err`.
    pub fn spawn(&self, args: &[&str], name: &str) -> Agent {
        self.spawn_logging(args, name, "info")
    }

    /// [`World::spawn`] with `FELHOM_AGENT_LOG` set to `filter`.
    pub fn spawn_logging(&self, args: &[&str], name: &str, filter: &str) -> Agent {
        let out = std::fs::File::create(self.root.path().join(format!("{name}.out"))).unwrap();
        let err_path = self.root.path().join(format!("{name}.err"));
        let err = std::fs::File::create(&err_path).unwrap();
        let child = self
            .command(args)
            .env("FELHOM_AGENT_LOG", filter)
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap();
        Agent {
            child,
            err_path,
            group: false,
        }
    }

    /// Spawns `--json --submit` of signed op `i` (its answer in `action.out`).
    pub fn spawn_submit(&self, i: usize) -> Agent {
        let (_, b, s) = &self.signed[i];
        self.spawn(
            &[
                "--json",
                "--submit",
                b.to_str().unwrap(),
                s.to_str().unwrap(),
            ],
            "action",
        )
    }

    /// Runs the binary once per step, in a row, each next step only if the
    /// last exited 0 (`sh -c 'A && B && ...'`): step `(args, name)` writes
    /// its stdout to `name.out` ([`World::output`]); every step's stderr
    /// goes to `action.err`. The steps run in their own process group, so
    /// a cut's SIGKILL reaches the one running.
    pub fn spawn_chain(&self, steps: &[(&[&str], &str)]) -> Agent {
        fn quote(s: &str) -> String {
            format!("'{}'", s.replace('\'', r"'\''"))
        }
        let err_path = self.root.path().join("action.err");
        let script: Vec<String> = steps
            .iter()
            .map(|(args, name)| {
                let mut words = vec![
                    quote(env!("CARGO_BIN_EXE_felhom-agent")),
                    "--config".to_string(),
                    quote(self.config_path.to_str().unwrap()),
                ];
                words.extend(args.iter().map(|a| quote(a)));
                let out = self.root.path().join(format!("{name}.out"));
                format!(
                    "{} >{} 2>>{}",
                    words.join(" "),
                    quote(out.to_str().unwrap()),
                    quote(err_path.to_str().unwrap())
                )
            })
            .collect();
        std::fs::write(&err_path, b"").unwrap();
        let mut c = Command::new("sh");
        Self::clean_env(&mut c);
        c.arg("-c").arg(script.join(" && ")).stdin(Stdio::null());
        std::os::unix::process::CommandExt::process_group(&mut c, 0);
        let child = c.spawn().unwrap();
        Agent {
            child,
            err_path,
            group: true,
        }
    }

    /// What step `name` of a chain (or a spawned `name`) printed on stdout.
    pub fn output(&self, name: &str) -> String {
        std::fs::read_to_string(self.root.path().join(format!("{name}.out"))).unwrap_or_default()
    }

    /// Boots the disk, runs `f`, shuts the disk down cleanly.
    pub fn mounted<R>(&self, f: impl FnOnce(&World) -> R) -> R {
        let m = self.disk.mount();
        let r = f(self);
        m.shutdown();
        r
    }

    /// A canonical blob signed with `key`, valid for an hour; recorded in
    /// `signed`. Returns its nonce.
    pub fn sign(&mut self, key: &Key, op: &str, params: Value, guest: Option<u32>) -> String {
        let nonce = felhom_agent::reconcile::pending::fresh_nonce();
        self.sign_with_nonce(key, op, params, guest, &nonce);
        nonce
    }

    /// As [`World::sign`], with a given nonce.
    pub fn sign_with_nonce(
        &mut self,
        key: &Key,
        op: &str,
        params: Value,
        guest: Option<u32>,
        nonce: &str,
    ) {
        let nonce = nonce.to_string();
        let now = felhom_agent::time::now_unix();
        let blob = felhom_agent::authz::canonical_blob(
            op,
            &params,
            HOST_ID,
            guest,
            &nonce,
            now - 60,
            now + 3600,
            "",
        );
        let sig = sshkeys::sign(&self.root, key, blob.as_bytes(), NAMESPACE, None);
        let n = self.signed.len();
        let b = self.root.write(&format!("op-{n}.json"), blob.as_bytes());
        let s = self.root.write(&format!("op-{n}.json.sig"), &sig);
        self.signed.push((nonce, b, s));
    }

    /// `--json MODE BLOB SIG` for the `i`-th signed op.
    pub fn with_op(&self, mode: &str, i: usize) -> Run {
        let (_, b, s) = &self.signed[i];
        self.run(&["--json", mode, b.to_str().unwrap(), s.to_str().unwrap()])
    }

    /// The journal's records as the agent sees them now (empty if there is
    /// no journal).
    pub fn records(&self) -> Vec<Record> {
        let path = self.live("state/journal");
        if !path.exists() {
            return Vec::new();
        }
        journal::read_records(&path)
            .unwrap_or_else(|e| panic!("journal unreadable: {e}"))
            .into_iter()
            .map(|(_, r)| r)
            .collect()
    }

    pub fn nonce_consumed(&self, nonce: &str) -> bool {
        self.records()
            .iter()
            .any(|r| matches!(r, Record::NonceConsumed { nonce: n, .. } if n == nonce))
    }
}

/// A running binary, SIGKILLed on drop.
pub struct Agent {
    pub child: Child,
    pub err_path: PathBuf,
    /// The child leads its own process group (a chain): signals go to it.
    pub group: bool,
}

impl Agent {
    /// Sends SIGKILL without waiting. A process blocked in a file-system
    /// call the disk holds (a frozen disk) dies only once the call returns,
    /// so the power cut must come between this and [`Agent::kill`].
    pub fn signal_kill(&mut self) {
        if self.group {
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{}", self.child.id())])
                .stderr(Stdio::null())
                .status();
        }
        let _ = self.child.kill();
    }

    pub fn kill(&mut self) {
        self.signal_kill();
        let _ = self.child.wait();
    }

    pub fn exited(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.err_path).unwrap_or_default()
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        // Never waits long: on a failed trial the disk may still be frozen.
        self.signal_kill();
        for _ in 0..100 {
            if self.exited() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}
