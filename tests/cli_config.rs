//! The command-line surface and `--check-config`, run as a user would: the
//! real binary, real files, exit codes of CONTRACT §6.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "support/fixture.rs"]
mod fixture;
use fixture::{Fixture, bin, text};

const SECRET: &str = fixture::TOKEN_SECRET;

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
            "authz.approvals.guest_destroy",
            Box::new(|v| v["authz"]["approvals"] = serde_json::json!({"guest_destroy": 6})),
        ),
        (
            "authz.approvals.destroy_everything",
            Box::new(|v| v["authz"]["approvals"] = serde_json::json!({"destroy_everything": 2})),
        ),
        (
            "hub",
            Box::new(|v| {
                v["hub"] = serde_json::json!({"url": "https://hub.example", "api_key_file": "/nonexistent"})
            }),
        ),
        ("extra", Box::new(|v| v["extra"] = 1.into())),
        (
            "provision.storages[1]",
            Box::new(|v| {
                v["provision"] = serde_json::json!({"storages": ["local-lvm", "no/such"]})
            }),
        ),
        (
            "provision.min_free_percent",
            Box::new(|v| {
                v["provision"] =
                    serde_json::json!({"storages": ["local-lvm"], "min_free_percent": 100})
            }),
        ),
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
