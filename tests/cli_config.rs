//! The command-line surface and `--check-config`, run as a user would: the
//! real binary, real files, exit codes of CONTRACT §6.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const SECRET: &str = "9d2c7f00-aaaa-4bbb-8ccc-SECRETPART123";
const HUB_KEY: &str = "hubkey-SECRETHUB-0001";

fn bin() -> Command {
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

struct Fixture {
    dir: PathBuf,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn manifest_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

impl Fixture {
    fn new(tag: &str) -> Fixture {
        let dir = std::env::temp_dir().join(format!("felhom-cli-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("state")).unwrap();
        let f = Fixture { dir };
        f.write_secret("pve-token", &format!("agent@pve!felhom={SECRET}\n"), 0o600);
        f.write_secret("hub-key", HUB_KEY, 0o600);
        for name in ["operational.allowed_signers", "recovery.allowed_signers"] {
            std::fs::copy(manifest_dir().join("dist").join(name), f.dir.join(name)).unwrap();
        }
        f
    }

    fn write_secret(&self, name: &str, content: &str, mode: u32) {
        let p = self.dir.join(name);
        std::fs::write(&p, content).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    /// The shipped example config, pointed at this fixture's files.
    fn example(&self) -> serde_json::Value {
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

    fn run(&self, config: &serde_json::Value, args: &[&str]) -> Output {
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

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn help_and_version_exit_zero() {
    let o = bin().arg("--help").output().unwrap();
    assert_eq!(o.status.code(), Some(0));
    for mode in [
        "--reconcile-now",
        "--plan",
        "--check-config",
        "--pending",
        "--check-op",
        "--submit",
        "--journal-verify",
    ] {
        assert!(text(&o).contains(mode), "help lacks {mode}");
    }
    let o = bin().arg("--version").output().unwrap();
    assert_eq!(o.status.code(), Some(0));
    assert!(text(&o).starts_with("felhom-agent "));
}

#[test]
fn usage_errors_exit_2() {
    for args in [
        &["--bogus"][..],
        &["--plan", "--pending"],
        &["--check-op", "only-one"],
        &["--json"],
    ] {
        let o = bin().args(args).output().unwrap();
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", text(&o));
    }
}

#[test]
fn example_config_checks_clean() {
    let f = Fixture::new("example");
    let o = f.run(&f.example(), &["--check-config", "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(doc["valid"], true);
    assert_eq!(doc["config"]["host_id"], "demo-felhom");
    assert_eq!(doc["config"]["proxmox"]["token"], "[redacted]");
}

#[test]
fn config_from_env_variable_is_used() {
    let f = Fixture::new("envcfg");
    let path = f.dir.join("agent.json");
    std::fs::write(&path, f.example().to_string()).unwrap();
    let o = bin()
        .env("FELHOM_AGENT_CONFIG", &path)
        .arg("--check-config")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
}

#[test]
fn each_kind_of_bad_config_exits_78_naming_the_path() {
    let f = Fixture::new("bad");
    type Mutation = Box<dyn Fn(&mut serde_json::Value)>;
    let cases: Vec<(&str, Mutation)> = vec![
        (
            "proxmox.tls.verify",
            Box::new(|v| v["proxmox"]["tls"]["verify"] = false.into()),
        ),
        (
            "proxmox.timeout_seconds",
            Box::new(|v| v["proxmox"]["timeout_seconds"] = "30".into()),
        ),
        (
            "proxmox.endpoint",
            Box::new(|v| v["proxmox"]["endpoint"] = "http://127.0.0.1:8006".into()),
        ),
        (
            "host_id",
            Box::new(|v| {
                v.as_object_mut().unwrap().remove("host_id");
            }),
        ),
        (
            "proxmox.tls",
            Box::new(|v| v["proxmox"]["tls"] = serde_json::json!({})),
        ),
        (
            "authz.max_validity_seconds",
            Box::new(|v| v["authz"]["max_validity_seconds"] = 0.into()),
        ),
        (
            "hub",
            Box::new(|v| {
                v["hub"] = serde_json::json!({"url": "https://hub.example", "api_key_file": "/nonexistent"})
            }),
        ),
        ("extra", Box::new(|v| v["extra"] = 1.into())),
    ];
    for (path, mutate) in cases {
        let mut v = f.example();
        mutate(&mut v);
        let o = f.run(&v, &["--check-config"]);
        assert_eq!(o.status.code(), Some(78), "{path}: {}", text(&o));
        assert!(text(&o).contains(path), "{path} not named: {}", text(&o));
    }
}

#[test]
fn every_mode_refuses_an_invalid_config_with_78() {
    let f = Fixture::new("allmodes");
    let mut v = f.example();
    v["surprise"] = true.into();
    for mode in [
        &["--plan"][..],
        &["--reconcile-now"],
        &["--pending"],
        &["--journal-verify"],
        &["--check-op", "a", "b"],
    ] {
        let o = f.run(&v, mode);
        assert_eq!(o.status.code(), Some(78), "{mode:?}: {}", text(&o));
    }
}

#[test]
fn group_readable_token_is_refused() {
    let f = Fixture::new("perm");
    f.write_secret("pve-token", &format!("agent@pve!felhom={SECRET}"), 0o640);
    let o = f.run(&f.example(), &["--check-config"]);
    assert_eq!(o.status.code(), Some(78));
    assert!(text(&o).contains("proxmox.token_file"), "{}", text(&o));
}

#[test]
fn secrets_never_appear_in_any_output_even_at_trace_level() {
    let f = Fixture::new("leak");
    let mut with_hub = f.example();
    with_hub["desired_state_file"] = serde_json::Value::Null;
    with_hub["hub"] = serde_json::json!({
        "url": "http://127.0.0.1:9", "api_key_file": f.dir.join("hub-key").display().to_string()
    });
    let mut broken = with_hub.clone();
    broken["proxmox"]["tls"]["bogus"] = 1.into();
    for config in [&f.example(), &with_hub, &broken] {
        for args in [&["--check-config"][..], &["--check-config", "--json"]] {
            let path = f.dir.join("agent.json");
            std::fs::write(&path, config.to_string()).unwrap();
            let o = bin()
                .env("FELHOM_AGENT_LOG", "trace")
                .arg("--config")
                .arg(&path)
                .args(args)
                .output()
                .unwrap();
            let all = text(&o);
            assert!(!all.contains("SECRETPART123"), "token leaked: {all}");
            assert!(!all.contains("SECRETHUB"), "hub key leaked: {all}");
        }
    }
}

#[test]
fn journald_lines_carry_syslog_priority() {
    let f = Fixture::new("journald");
    let mut v = f.example();
    v["bad_key"] = 1.into();
    let path = f.dir.join("agent.json");
    std::fs::write(&path, v.to_string()).unwrap();
    let o = bin()
        .env("JOURNAL_STREAM", "8:1234")
        .arg("--config")
        .arg(&path)
        .arg("--check-config")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.lines().any(|l| l.starts_with("<3>")), "{stderr}");
}

#[test]
fn missing_or_garbage_pve_ca_file_exits_78() {
    let f = Fixture::new("badca");
    std::fs::write(f.dir.join("garbage.pem"), "not a certificate\n").unwrap();
    for ca in [f.dir.join("absent.pem"), f.dir.join("garbage.pem")] {
        let mut v = f.example();
        v["proxmox"]["tls"]["ca_file"] = ca.display().to_string().into();
        let o = f.run(&v, &["--check-config"]);
        assert_eq!(o.status.code(), Some(78), "{}", text(&o));
        assert!(text(&o).contains("proxmox.tls"), "{}", text(&o));
    }
}
