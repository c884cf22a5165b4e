//! A temporary agent installation for tests that run the real binary: the
//! shipped example config pointed at temp files (token, signer files, state
//! dir, a fixture CA), and helpers to run the binary with it.
#![allow(dead_code)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The secret half of the fixture's PVE token (never to appear in output).
pub const TOKEN_SECRET: &str = "9d2c7f00-aaaa-4bbb-8ccc-SECRETPART123";
/// The fixture's hub key (never to appear in output).
pub const HUB_KEY: &str = "hubkey-SECRETHUB-0001";

/// The agent binary with a clean environment.
pub fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_felhom-agent"));
    for var in [
        "FELHOM_AGENT_CONFIG",
        "FELHOM_AGENT_LOG",
        "STATE_DIRECTORY",
        "CREDENTIALS_DIRECTORY",
        "NOTIFY_SOCKET",
        "JOURNAL_STREAM",
    ] {
        c.env_remove(var);
    }
    c
}

pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

pub fn manifest_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

pub struct Fixture {
    pub dir: PathBuf,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Fixture {
    pub fn new(tag: &str) -> Fixture {
        let dir = std::env::temp_dir().join(format!("felhom-cli-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("state")).unwrap();
        let f = Fixture { dir };
        f.write_secret(
            "pve-token",
            &format!("agent@pve!felhom={TOKEN_SECRET}\n"),
            0o600,
        );
        f.write_secret("hub-key", HUB_KEY, 0o600);
        // As the README installs them: mode 0644 in a 0755 directory.
        std::fs::set_permissions(&f.dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        for name in ["operational.allowed_signers", "recovery.allowed_signers"] {
            std::fs::copy(manifest_dir().join("dist").join(name), f.dir.join(name)).unwrap();
            std::fs::set_permissions(f.dir.join(name), std::fs::Permissions::from_mode(0o644))
                .unwrap();
        }
        f
    }

    pub fn state_dir(&self) -> PathBuf {
        self.dir.join("state")
    }

    pub fn write_secret(&self, name: &str, content: &str, mode: u32) {
        let p = self.dir.join(name);
        std::fs::write(&p, content).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    /// The shipped example config, pointed at this fixture's files.
    pub fn example(&self) -> serde_json::Value {
        let text = std::fs::read_to_string(manifest_dir().join("dist/agent.json")).unwrap();
        let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
        let p = |n: &str| self.dir.join(n).display().to_string();
        v["state_dir"] = p("state").into();
        v["proxmox"]["token_file"] = p("pve-token").into();
        v["proxmox"]["tls"]["ca_file"] = manifest_dir()
            .join("tests/fixtures/test-ca.pem")
            .display()
            .to_string()
            .into();
        v["authz"]["operational_signers"] = p("operational.allowed_signers").into();
        v["authz"]["recovery_signers"] = p("recovery.allowed_signers").into();
        v["desired_state_file"] = p("desired-state.json").into();
        v
    }

    /// Writes `config` as agent.json and runs the binary with it.
    pub fn run(&self, config: &serde_json::Value, args: &[&str]) -> Output {
        let path = self.dir.join("agent.json");
        std::fs::write(&path, serde_json::to_vec_pretty(config).unwrap()).unwrap();
        bin()
            .arg("--config")
            .arg(&path)
            .args(args)
            .output()
            .unwrap()
    }
}
