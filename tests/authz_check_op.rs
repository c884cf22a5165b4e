//! `--check-op BLOB SIG [--json]` and the signer-file part of
//! `--check-config`, through the real binary: verdict document, exit codes
//! (0 valid, 65 rejected or unreadable, 78 bad signer file).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "support/sshkeys.rs"]
mod sshkeys;

use felhom_agent::authz::{NAMESPACE, canonical_blob};
use serde_json::{Value, json};
use sshkeys::{Key, TempDir, keygen, sign};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

fn config(dir: &TempDir, operational: &Path) -> PathBuf {
    let token = dir.write(
        "token",
        b"root@pam!agent=00000000-0000-0000-0000-000000000000",
    );
    std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o600)).unwrap();
    let fp = vec!["AB"; 32].join(":");
    let cfg = json!({
        "host_id": "demo-felhom",
        "state_dir": dir.path().join("state").display().to_string(),
        "proxmox": {
            "endpoint": "https://127.0.0.1:8006",
            "node": "demo-felhom",
            "token_file": token.display().to_string(),
            "tls": {"fingerprint": fp}
        },
        "authz": {"operational_signers": operational.display().to_string(), "recovery_signers": null}
    });
    dir.write("agent.json", cfg.to_string().as_bytes())
}

fn agent(cfg: &Path, args: &[&Path]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_felhom-agent"))
        .arg("--config")
        .arg(cfg)
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8(out.stdout).unwrap(),
    )
}

fn setup() -> (TempDir, Key, PathBuf) {
    let dir = TempDir::new("check-op");
    let key = keygen(&dir, "alice");
    let signers = dir.write(
        "ops",
        format!("alice@example.com {}\n", key.public_line).as_bytes(),
    );
    let cfg = config(&dir, &signers);
    (dir, key, cfg)
}

fn signed_blob(dir: &TempDir, key: &Key, host: &str) -> (PathBuf, PathBuf) {
    let now = felhom_agent::time::now_unix();
    let blob = canonical_blob(
        "guest_destroy",
        &json!({"purge": false}),
        host,
        Some(9001),
        &"ab".repeat(16),
        now - 10,
        now + 600,
        "alice@example.com",
    );
    let sig = sign(dir, key, blob.as_bytes(), NAMESPACE, None);
    (
        dir.write(&format!("{host}.json"), blob.as_bytes()),
        dir.write(&format!("{host}.json.sig"), &sig),
    )
}

#[test]
fn check_op_prints_the_verdict_and_exits_0_or_65() {
    let (dir, key, cfg) = setup();
    let (blob, sig) = signed_blob(&dir, &key, "demo-felhom");
    let (code, out) = agent(
        &cfg,
        &[Path::new("--check-op"), &blob, &sig, Path::new("--json")],
    );
    assert_eq!(code, 0, "{out}");
    let doc: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        doc,
        json!({"valid": true, "error": null, "op": "guest_destroy", "host_id": "demo-felhom",
               "guest_id": "9001", "signer": "alice@example.com", "role": "operational",
               "key_fingerprint": key.fingerprint()})
    );

    let (blob, sig) = signed_blob(&dir, &key, "other-host");
    let (code, out) = agent(
        &cfg,
        &[Path::new("--check-op"), &blob, &sig, Path::new("--json")],
    );
    assert_eq!(code, 65);
    let doc: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (doc["valid"].clone(), doc["error"].clone()),
        (json!(false), json!("target"))
    );
    assert_eq!(doc["host_id"], "other-host");
    assert_eq!(doc["signer"], "alice@example.com");

    let (code, out) = agent(
        &cfg,
        &[
            Path::new("--check-op"),
            &blob,
            &dir.path().join("absent.sig"),
            Path::new("--json"),
        ],
    );
    assert_eq!(code, 65);
    let doc: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["error"], "malformed");
    assert_eq!(doc["signer"], Value::Null);

    let (code, out) = agent(&cfg, &[Path::new("--check-op"), &blob, &sig]);
    assert_eq!(code, 65);
    assert!(out.starts_with("rejected: target "), "{out}");
}

#[test]
fn a_bad_signer_line_fails_check_config_and_check_op_with_78() {
    let dir = TempDir::new("check-config");
    let signers = dir.write(
        "ops",
        b"# ok\nalice@example.com cert-authority ssh-ed25519 AAAA\n",
    );
    let cfg = config(&dir, &signers);
    let out = Command::new(env!("CARGO_BIN_EXE_felhom-agent"))
        .arg("--config")
        .arg(&cfg)
        .arg("--check-config")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(78));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("{}:2: cert-authority", signers.display())),
        "{stderr}"
    );
    let (code, _) = agent(&cfg, &[Path::new("--check-op"), &signers, &signers]);
    assert_eq!(code, 78);
}
