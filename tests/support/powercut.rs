//! Test harness: a simulated disk that loses power on command. The disk is
//! `tests/support/powercut_fs.py` (FUSE through PyPI `mfusepy`, Debian
//! `fuse3`), driven over its stdin/stdout; read its header for the model
//! (unsynced data and directory entries held in memory; at a cut, dropped,
//! torn or kept sector by sector).
//!
//! ```ignore
//! #[path = "support/powercut.rs"] mod powercut;
//! let disk = powercut::Disk::new(dir);            // durable image in dir/disk, mounted at dir/mnt
//! std::fs::create_dir(disk.backing.join("state")); // the image before the first boot
//! let mut m = disk.mount();                       // boot
//! m.arm(&Trigger::before("fsync", 3).named("journal"));
//! // ... run the agent on disk.mount paths; when m.triggered() says so, SIGKILL it ...
//! m.cut(Policy::Sectors, 7);                      // power loss; dir/disk holds what survived
//! ```
//!
//! Python is `$FELHOM_TEST_PYTHON`, else `target/test-venv/bin/python3`. A
//! missing tool fails the test with [`HINT`]; nothing is skipped.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::Duration;

pub const HINT: &str = "the power-cut tests need FUSE: Debian `fuse3` (fusermount3), PyPI \
     `mfusepy` in the test venv and /dev/fuse; `bash tests/run.sh` installs both (apt-get \
     install fuse3 as root, pip install mfusepy into target/test-venv)";

fn python() -> PathBuf {
    std::env::var_os("FELHOM_TEST_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-venv/bin/python3")
        })
}

/// Fails loudly, with [`HINT`], unless FUSE can be used here.
pub fn check_tools() {
    let fusermount = Command::new("fusermount3")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    assert!(fusermount, "fusermount3 not found: {HINT}");
    assert!(Path::new("/dev/fuse").exists(), "/dev/fuse missing: {HINT}");
    let py = python();
    let ok = Command::new(&py)
        .args(["-c", "import mfusepy"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(ok, "{} cannot import mfusepy: {HINT}", py.display());
}

/// What survives a cut of the unsynced changes (see `powercut_fs.py`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    Drop,
    Prefix,
    Sectors,
    All,
}

impl Policy {
    pub const CUTS: [Policy; 3] = [Policy::Sectors, Policy::Prefix, Policy::Drop];

    fn name(self) -> &'static str {
        match self {
            Policy::Drop => "drop",
            Policy::Prefix => "prefix",
            Policy::Sectors => "sectors",
            Policy::All => "all",
        }
    }
}

/// A cut at the `n`-th file-system operation of `kind` (`fsync`,
/// `fsyncdir`, `rename`, `rename_onto`, `write`, `create`, `unlink`, ...),
/// counted for one file name or for all, before or after it takes effect
/// (either way the caller never sees it return).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trigger {
    pub kind: String,
    pub n: u64,
    pub after: bool,
    pub name: Option<String>,
}

impl Trigger {
    pub fn before(kind: &str, n: u64) -> Trigger {
        Trigger {
            kind: kind.into(),
            n,
            after: false,
            name: None,
        }
    }

    pub fn after(kind: &str, n: u64) -> Trigger {
        Trigger {
            after: true,
            ..Trigger::before(kind, n)
        }
    }

    pub fn named(mut self, name: &str) -> Trigger {
        self.name = Some(name.into());
        self
    }

    /// The count key this trigger fires on (as `Mounted::counts` names it).
    pub fn key(&self) -> String {
        match &self.name {
            Some(n) => format!("{}:{n}", self.kind),
            None => self.kind.clone(),
        }
    }
}

/// A disk: its durable image (`backing`, plain files) and where it mounts.
pub struct Disk {
    pub backing: PathBuf,
    pub mount: PathBuf,
    log: PathBuf,
}

impl Disk {
    /// `dir/disk` (created empty, mode 0755) mounted at `dir/mnt`.
    pub fn new(dir: &Path) -> Disk {
        let backing = dir.join("disk");
        let mount = dir.join("mnt");
        std::fs::create_dir_all(&backing).unwrap();
        std::fs::create_dir_all(&mount).unwrap();
        Disk {
            backing,
            mount,
            log: dir.join("powercut-fs.log"),
        }
    }

    /// Boots the disk: mounts the durable image.
    pub fn mount(&self) -> Mounted {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/powercut_fs.py");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let mut child = Command::new(python())
            .arg(script)
            .arg("--backing")
            .arg(&self.backing)
            .arg("--mount")
            .arg(&self.mount)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start powercut_fs.py: {e}; {HINT}"));
        let stdin = child.stdin.take().unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        if line.trim() != r#"{"ready": true}"# {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "the power-cut file system did not mount ({line:?}); its log {}:\n{}\n{HINT}",
                self.log.display(),
                std::fs::read_to_string(&self.log).unwrap_or_default()
            );
        }
        Mounted {
            child,
            io: Some((stdin, stdout)),
            mount: self.mount.clone(),
        }
    }
}

/// A mounted disk; unmounted by [`Mounted::cut`] or [`Mounted::shutdown`]
/// (or, if a test panics, on drop).
pub struct Mounted {
    child: Child,
    io: Option<(ChildStdin, BufReader<ChildStdout>)>,
    mount: PathBuf,
}

impl Mounted {
    fn command(&mut self, cmd: Value) -> Value {
        let (stdin, stdout) = self.io.as_mut().expect("the disk is unmounted");
        writeln!(stdin, "{cmd}").unwrap();
        stdin.flush().unwrap();
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        let reply: Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("power-cut fs answered {line:?} to {cmd} ({e})"));
        assert_eq!(
            reply["ok"],
            json!(true),
            "power-cut fs command {cmd}: {reply}"
        );
        reply["result"].clone()
    }

    /// Arms a cut (operations are counted from now).
    pub fn arm(&mut self, t: &Trigger) {
        self.command(json!({"op": "arm", "kind": t.kind, "n": t.n,
                            "when": if t.after { "after" } else { "before" }, "name": t.name}));
    }

    /// Operations seen so far, by kind and by `kind:file-name`.
    pub fn counts(&mut self) -> BTreeMap<String, u64> {
        serde_json::from_value(self.command(json!({"op": "counts"}))).unwrap()
    }

    /// Where the armed trigger fired, waiting up to `wait` for it.
    pub fn triggered(&mut self, wait: Duration) -> Option<String> {
        let r = self.command(json!({"op": "wait_cut", "timeout": wait.as_secs_f64()}));
        (r["cut"] == json!(true)).then(|| r["at"].as_str().unwrap_or_default().to_string())
    }

    /// After a trigger fired and the process was killed: a crash, not a
    /// power cut. Its blocked calls fail; unsynced data stays (page cache).
    pub fn resume(&mut self) {
        self.command(json!({"op": "resume"}));
    }

    /// Blocks every later mutating operation (the power is going).
    pub fn freeze(&mut self) {
        self.command(json!({"op": "freeze"}));
    }

    /// The power cut: what survives goes to the backing image; unmounts.
    /// Returns where the trigger fired (if it did) and what was unsynced
    /// then (bytes written per file, entry changes per directory).
    pub fn cut(mut self, policy: Policy, seed: u64) -> (Option<String>, BTreeMap<String, u64>) {
        let r = self.command(json!({"op": "cut", "policy": policy.name(), "seed": seed}));
        self.finish();
        let unsynced = serde_json::from_value(r["unsynced"].clone()).unwrap_or_default();
        (r["at"].as_str().map(str::to_string), unsynced)
    }

    /// A clean shutdown: everything written reaches the image; unmounts.
    pub fn shutdown(mut self) {
        self.command(json!({"op": "shutdown"}));
        self.finish();
    }

    fn finish(&mut self) {
        self.io.take();
        for _ in 0..500 {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        force_unmount(&self.mount);
    }
}

fn force_unmount(mount: &Path) {
    let _ = Command::new("fusermount3")
        .arg("-u")
        .arg("-z")
        .arg(mount)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

impl Drop for Mounted {
    fn drop(&mut self) {
        if self.io.is_some() {
            let _ = self.child.kill();
            let _ = self.child.wait();
            force_unmount(&self.mount);
        }
    }
}
