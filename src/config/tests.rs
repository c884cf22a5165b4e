#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use super::*;
use std::os::unix::fs::PermissionsExt;

struct Dir(PathBuf);

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn dir(tag: &str) -> Dir {
    let d = std::env::temp_dir().join(format!("felhom-config-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    Dir(d)
}

fn secret(d: &Dir, name: &str, content: &str, mode: u32) -> String {
    let p = d.0.join(name);
    std::fs::write(&p, content).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
    p.display().to_string()
}

const TOKEN: &str = "agent@pve!felhom=0b3f0c6e-1f4e-4f0e-9d1e-5f3f1c2b7a9d";

fn base(token_path: &str) -> serde_json::Value {
    serde_json::json!({
        "host_id": "demo-felhom",
        "proxmox": {
            "endpoint": "https://127.0.0.1:8006",
            "node": "demo-felhom",
            "token_file": token_path,
            "tls": {"ca_file": "/etc/pve/pve-root-ca.pem"}
        }
    })
}

fn parse(v: &serde_json::Value) -> Result<Config, ConfigError> {
    Config::parse(v.to_string().as_bytes(), &Env::default())
}

fn error_path(v: &serde_json::Value) -> String {
    match parse(v) {
        Err(ConfigError::Invalid(e)) => e.path,
        other => panic!("expected a path error, got {other:?}"),
    }
}

#[test]
fn minimal_config_gets_contract_defaults() {
    let d = dir("min");
    let c = parse(&base(&secret(&d, "tok", TOKEN, 0o600))).unwrap();
    assert_eq!(c.host_id, "demo-felhom");
    assert_eq!(c.log_level, "info");
    assert_eq!(c.state_dir, PathBuf::from("/var/lib/felhom-agent"));
    assert_eq!(c.reconcile_interval, Duration::from_secs(60));
    assert_eq!(c.proxmox.timeout, Duration::from_secs(30));
    assert_eq!(c.proxmox.task_timeout, Duration::from_secs(600));
    assert_eq!(c.authz, AuthzConfig::default());
    assert!(c.authz.require_user_presence);
    assert_eq!(c.desired_state, DesiredSource::None);
    assert_eq!(c.proxmox.token.expose(), TOKEN);
}

#[test]
fn state_directory_env_applies_unless_config_says_otherwise() {
    let d = dir("statedir");
    let v = base(&secret(&d, "tok", TOKEN, 0o600));
    let env = Env {
        state_directory: Some("/run/sd-state".into()),
        ..Env::default()
    };
    let c = Config::parse(v.to_string().as_bytes(), &env).unwrap();
    assert_eq!(c.state_dir, PathBuf::from("/run/sd-state"));
    let mut v2 = v.clone();
    v2["state_dir"] = "/srv/felhom".into();
    let c = Config::parse(v2.to_string().as_bytes(), &env).unwrap();
    assert_eq!(c.state_dir, PathBuf::from("/srv/felhom"));
}

#[test]
fn unknown_keys_are_named_by_path() {
    let d = dir("unknown");
    let mut v = base(&secret(&d, "tok", TOKEN, 0o600));
    v["proxmox"]["tls"]["insecure"] = true.into();
    assert_eq!(error_path(&v), "proxmox.tls.insecure");
    let mut v = base(&secret(&d, "tok", TOKEN, 0o600));
    v["colour"] = "blue".into();
    assert_eq!(error_path(&v), "colour");
}

#[test]
fn wrong_types_and_missing_keys_are_named_by_path() {
    let d = dir("types");
    let tok = secret(&d, "tok", TOKEN, 0o600);
    let mut v = base(&tok);
    v["reconcile_interval_seconds"] = "60".into();
    assert_eq!(error_path(&v), "reconcile_interval_seconds");
    let mut v = base(&tok);
    v["proxmox"].as_object_mut().unwrap().remove("node");
    assert_eq!(error_path(&v), "proxmox.node");
    let mut v = base(&tok);
    v.as_object_mut().unwrap().remove("host_id");
    assert_eq!(error_path(&v), "host_id");
    let mut v = base(&tok);
    v["authz"] = serde_json::json!({"clock_skew_seconds": -1});
    assert_eq!(error_path(&v), "authz.clock_skew_seconds");
    let mut v = base(&tok);
    v["authz"] = serde_json::json!({"require_user_presence": "yes"});
    assert_eq!(error_path(&v), "authz.require_user_presence");
}

#[test]
fn tls_needs_exactly_one_trust_anchor() {
    let d = dir("tls");
    let tok = secret(&d, "tok", TOKEN, 0o600);
    let mut v = base(&tok);
    v["proxmox"]["tls"] = serde_json::json!({});
    assert_eq!(error_path(&v), "proxmox.tls");
    let fp = ["AB"; 32].join(":");
    v["proxmox"]["tls"] = serde_json::json!({"ca_file": "/x.pem", "fingerprint": fp});
    assert_eq!(error_path(&v), "proxmox.tls");
    v["proxmox"]["tls"] = serde_json::json!({"fingerprint": fp});
    assert_eq!(
        parse(&v).unwrap().proxmox.tls,
        TlsTrust::Fingerprint([0xAB; 32])
    );
    v["proxmox"]["tls"] = serde_json::json!({"fingerprint": "AB:CD"});
    assert_eq!(error_path(&v), "proxmox.tls.fingerprint");
}

#[test]
fn endpoint_must_be_https() {
    let d = dir("https");
    let mut v = base(&secret(&d, "tok", TOKEN, 0o600));
    v["proxmox"]["endpoint"] = "http://127.0.0.1:8006".into();
    assert_eq!(error_path(&v), "proxmox.endpoint");
    v["proxmox"]["endpoint"] = "https://user:pw@pve:8006".into();
    assert_eq!(error_path(&v), "proxmox.endpoint");
}

#[test]
fn hub_url_may_be_http_only_on_loopback() {
    let d = dir("hub");
    let tok = secret(&d, "tok", TOKEN, 0o600);
    let key = secret(&d, "key", "hub-key-123", 0o600);
    let mut v = base(&tok);
    v["hub"] = serde_json::json!({"url": "http://10.0.0.5:8080", "api_key_file": key});
    assert_eq!(error_path(&v), "hub.url");
    v["hub"]["url"] = "http://127.0.0.1:8080".into();
    let c = parse(&v).unwrap();
    let hub = c.hub.unwrap();
    assert_eq!(hub.poll_seconds, 900);
    assert_eq!(hub.timeout, Duration::from_secs(30));
    assert_eq!(hub.ca_file, PathBuf::from(DEFAULT_HUB_CA));
    assert_eq!(c.desired_state, DesiredSource::Hub);
}

#[test]
fn two_desired_state_sources_are_refused() {
    let d = dir("twosrc");
    let tok = secret(&d, "tok", TOKEN, 0o600);
    let key = secret(&d, "key", "hub-key-123", 0o600);
    let mut v = base(&tok);
    v["desired_state_file"] = "/etc/felhom-agent/desired-state.json".into();
    v["hub"] = serde_json::json!({"url": "https://hub.example", "api_key_file": key});
    assert_eq!(error_path(&v), "hub");
}

#[test]
fn secret_readable_by_group_or_others_is_refused() {
    let d = dir("perm");
    for mode in [0o640, 0o604, 0o644] {
        let v = base(&secret(&d, "tok", TOKEN, mode));
        match parse(&v) {
            Err(ConfigError::Secret {
                key,
                error: SecretError::Permissions { .. },
            }) => {
                assert_eq!(key, "proxmox.token_file")
            }
            other => panic!("mode {mode:o}: {other:?}"),
        }
    }
}

#[test]
fn relative_secret_names_resolve_in_credentials_directory() {
    let d = dir("creds");
    secret(&d, "pve-token", TOKEN, 0o400);
    let v = base("pve-token");
    assert!(matches!(
        parse(&v),
        Err(ConfigError::Secret {
            error: SecretError::NoCredentialsDirectory { .. },
            ..
        })
    ));
    let env = Env {
        credentials_directory: Some(d.0.clone()),
        ..Env::default()
    };
    let c = Config::parse(v.to_string().as_bytes(), &env).unwrap();
    assert_eq!(c.proxmox.token.expose(), TOKEN);
}

#[test]
fn malformed_token_is_refused_without_echoing_it() {
    let d = dir("badtok");
    let v = base(&secret(&d, "tok", "not-a-token-SECRETVALUE", 0o600));
    let err = parse(&v).unwrap_err();
    let text = format!("{err} {err:?}");
    assert!(text.contains("proxmox.token_file"), "{text}");
    assert!(!text.contains("SECRETVALUE"), "{text}");
}

#[test]
fn secrets_never_appear_in_debug_or_redacted_output() {
    let d = dir("redact");
    let key = secret(&d, "key", "hub-key-SUPERSECRET", 0o600);
    let mut v = base(&secret(&d, "tok", TOKEN, 0o600));
    v["hub"] = serde_json::json!({"url": "https://hub.example", "api_key_file": key});
    let c = parse(&v).unwrap();
    let shown = format!("{c:?} {}", c.redacted_json());
    assert!(
        !shown.contains("0b3f0c6e-1f4e-4f0e-9d1e-5f3f1c2b7a9d"),
        "{shown}"
    );
    assert!(!shown.contains("SUPERSECRET"), "{shown}");
    assert!(
        shown.contains("agent@pve!felhom"),
        "token id is public: {shown}"
    );
}

#[test]
fn not_json_reports_line_and_column() {
    match Config::parse(b"{\n  \"host_id\": ,\n}", &Env::default()) {
        Err(ConfigError::Syntax { line, .. }) => assert_eq!(line, 2),
        other => panic!("{other:?}"),
    }
}

#[test]
fn null_authz_signers_mean_no_signer() {
    let d = dir("nullauthz");
    let mut v = base(&secret(&d, "tok", TOKEN, 0o600));
    v["authz"] = serde_json::json!({"operational_signers": null, "recovery_signers": null});
    let c = parse(&v).unwrap();
    assert_eq!(c.authz.operational_signers, None);
    assert_eq!(c.authz.recovery_signers, None);
}

#[test]
fn endpoint_forms_normalize() {
    let e = Endpoint::parse("https://[::1]:8006/").unwrap();
    assert_eq!(e.as_str(), "https://[::1]:8006");
    assert!(e.is_loopback());
    let e = Endpoint::parse("https://hub.example/base/").unwrap();
    assert_eq!(e.as_str(), "https://hub.example:443/base");
    assert!(!e.is_loopback());
    assert_eq!(Endpoint::parse("ftp://x"), Err(UrlError::Scheme));
    assert_eq!(Endpoint::parse("https://h:0"), Err(UrlError::Port));
    assert!(Endpoint::parse("https://h/x?y").is_err());
}

#[test]
fn log_env_overrides_a_configured_log_level() {
    let d = dir("logenv");
    let mut v = base(&secret(&d, "tok", TOKEN, 0o600));
    v["log_level"] = "warn".into();
    assert_eq!(parse(&v).unwrap().log_level, "warn");
    let env = Env {
        log_override: Some("debug".into()),
        ..Env::default()
    };
    let c = Config::parse(v.to_string().as_bytes(), &env).unwrap();
    assert_eq!(c.log_level, "debug");
}

#[test]
fn provision_is_off_unless_configured_and_gets_contract_defaults() {
    let d = dir("prov");
    let mut v = base(&secret(&d, "tok", TOKEN, 0o600));
    assert_eq!(parse(&v).unwrap().provision, None);
    v["provision"] = serde_json::json!({"storages": ["local-lvm"]});
    let p = parse(&v).unwrap().provision.unwrap();
    assert_eq!(p.storages, vec!["local-lvm".to_string()]);
    assert_eq!((p.max_creates_per_pass, p.min_free_percent), (4, 10));
    assert!(p.enabled() && p.allows_storage("local-lvm") && !p.allows_storage("local"));
    v["provision"] = serde_json::json!({"storages": []});
    assert!(!parse(&v).unwrap().provision.unwrap().enabled());
    v["provision"] = serde_json::Value::Null;
    assert_eq!(parse(&v).unwrap().provision, None);
}

#[test]
fn provision_problems_name_their_json_path() {
    let d = dir("prov-bad");
    let tok = secret(&d, "tok", TOKEN, 0o600);
    let cases = [
        (serde_json::json!({}), "provision.storages"),
        (
            serde_json::json!({"storages": "local"}),
            "provision.storages",
        ),
        (
            serde_json::json!({"storages": ["local", 7]}),
            "provision.storages[1]",
        ),
        (
            serde_json::json!({"storages": ["local", "bad/id"]}),
            "provision.storages[1]",
        ),
        (
            serde_json::json!({"storages": ["a1", "a1"]}),
            "provision.storages[1]",
        ),
        (
            serde_json::json!({"storages": ["a1"], "max_creates_per_pass": 0}),
            "provision.max_creates_per_pass",
        ),
        (
            serde_json::json!({"storages": ["a1"], "max_creates_per_pass": 65}),
            "provision.max_creates_per_pass",
        ),
        (
            serde_json::json!({"storages": ["a1"], "min_free_percent": 100}),
            "provision.min_free_percent",
        ),
        (
            serde_json::json!({"storages": ["a1"], "min_free_percent": -1}),
            "provision.min_free_percent",
        ),
        (
            serde_json::json!({"storages": ["a1"], "quota": 1}),
            "provision.quota",
        ),
        (serde_json::json!(["a1"]), "provision"),
    ];
    for (section, path) in cases {
        let mut v = base(&tok);
        v["provision"] = section.clone();
        assert_eq!(error_path(&v), path, "{section}");
    }
}

#[test]
fn approvals_name_destructive_ops_with_one_to_five_signers_and_others_need_one() {
    let d = dir("approvals");
    let mut v = base(&secret(&d, "tok", TOKEN, 0o600));
    v["authz"] = serde_json::json!({"approvals": {
        "guest_destroy": 2, "restore_overwrite": 5, "key_rotation": 1
    }});
    let c = parse(&v).unwrap();
    assert_eq!(c.authz.approvals.required("guest_destroy"), 2);
    assert_eq!(c.authz.approvals.required("restore_overwrite"), 5);
    assert_eq!(c.authz.approvals.required("key_rotation"), 1);
    assert_eq!(c.authz.approvals.required("start"), 1);
    assert_eq!(c.authz.approvals.required("no_such_op"), 1);
    assert_eq!(
        c.redacted_json()["authz"]["approvals"],
        serde_json::json!({"guest_destroy": 2, "key_rotation": 1, "restore_overwrite": 5})
    );
    assert_eq!(
        AuthzConfig::default().approvals.required("guest_destroy"),
        1
    );
    v["authz"] = serde_json::json!({"approvals": {}});
    assert_eq!(
        parse(&v).unwrap().authz.approvals,
        RequiredApprovals::default()
    );
}

#[test]
fn a_bad_approval_count_or_an_unknown_op_is_named_by_its_path() {
    let d = dir("approvals-bad");
    let tok = secret(&d, "tok", TOKEN, 0o600);
    let cases = [
        (
            serde_json::json!({"guest_destroy": 0}),
            "authz.approvals.guest_destroy",
        ),
        (
            serde_json::json!({"guest_destroy": 6}),
            "authz.approvals.guest_destroy",
        ),
        (
            serde_json::json!({"guest_destroy": -1}),
            "authz.approvals.guest_destroy",
        ),
        (
            serde_json::json!({"guest_destroy": 2.0}),
            "authz.approvals.guest_destroy",
        ),
        (
            serde_json::json!({"guest_destroy": "2"}),
            "authz.approvals.guest_destroy",
        ),
        (
            serde_json::json!({"guest_destroy": null}),
            "authz.approvals.guest_destroy",
        ),
        (
            serde_json::json!({"guest_destroy": true}),
            "authz.approvals.guest_destroy",
        ),
        (
            serde_json::json!({"guest_destroy": 2, "wipe_all": 2}),
            "authz.approvals.wipe_all",
        ),
        (
            serde_json::json!({"Guest_Destroy": 2}),
            "authz.approvals.Guest_Destroy",
        ),
        (serde_json::json!({"": 2}), "authz.approvals"),
        // Benign ops run without a signature: naming one is a mistake.
        (serde_json::json!({"start": 2}), "authz.approvals.start"),
        (serde_json::json!({"create": 1}), "authz.approvals.create"),
        // Not executed on this host (`unsupported_op`).
        (
            serde_json::json!({"storage_wipe": 2}),
            "authz.approvals.storage_wipe",
        ),
        (serde_json::json!([2]), "authz.approvals"),
        (serde_json::json!(2), "authz.approvals"),
    ];
    for (approvals, path) in cases {
        let mut v = base(&tok);
        v["authz"] = serde_json::json!({ "approvals": approvals });
        match parse(&v) {
            Err(ConfigError::Invalid(e)) => assert!(
                e.path == path || (path == "authz.approvals" && e.path.starts_with(path)),
                "{approvals}: error at {:?} ({}), expected {path}",
                e.path,
                e.message
            ),
            other => panic!("{approvals}: expected a path error, got {other:?}"),
        }
    }
}

#[test]
fn metrics_file_is_off_by_default_and_an_absolute_file_path_when_set() {
    let d = dir("metrics");
    let mut v = base(&secret(&d, "tok", TOKEN, 0o600));
    assert_eq!(parse(&v).unwrap().metrics_file, None);
    v["metrics_file"] = serde_json::Value::Null;
    assert_eq!(parse(&v).unwrap().metrics_file, None);
    v["metrics_file"] = "/var/lib/prometheus/node-exporter/felhom-agent.prom".into();
    let c = parse(&v).unwrap();
    assert_eq!(
        c.metrics_file.as_deref(),
        Some(Path::new(
            "/var/lib/prometheus/node-exporter/felhom-agent.prom"
        ))
    );
    assert_eq!(
        c.redacted_json()["metrics_file"],
        "/var/lib/prometheus/node-exporter/felhom-agent.prom"
    );
    // A file of another name in the state directory is fine.
    v["metrics_file"] = "/var/lib/felhom-agent/metrics.prom".into();
    assert!(parse(&v).is_ok());
}

#[test]
fn a_bad_metrics_file_is_refused_at_its_json_path() {
    let d = dir("badmetrics");
    let mut v = base(&secret(&d, "tok", TOKEN, 0o600));
    v["authz"] = serde_json::json!({"operational_signers": "/var/lib/felhom-agent/ops.signers"});
    for bad in [
        serde_json::json!("metrics.prom"),
        serde_json::json!("/var/lib/prometheus/"),
        serde_json::json!("/var/lib/prometheus/../x.prom"),
        serde_json::json!("/var/lib/./x.prom"),
        serde_json::json!("/var//lib/x.prom"),
        serde_json::json!("/"),
        serde_json::json!(17),
        serde_json::json!("/var/lib/felhom-agent/journal"),
        serde_json::json!("/var/lib/felhom-agent/journal.lock"),
        serde_json::json!("/var/lib/felhom-agent/status.json"),
        serde_json::json!("/var/lib/felhom-agent/ops.signers"),
    ] {
        v["metrics_file"] = bad.clone();
        assert_eq!(error_path(&v), "metrics_file", "{bad}");
    }
}
