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

fn run_mode(cfg: &Path, args: &[&Path]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_felhom-agent"))
        .arg("--config")
        .arg(cfg)
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// Every mode that loads the signer files (the daemon included) refuses
/// with 78 and names `needle` in its output.
fn assert_every_mode_refuses(cfg: &Path, blob: &Path, sig: &Path, needle: &str, case: &str) {
    for mode in [
        &[Path::new("--check-config")][..],
        &[Path::new("--check-op"), blob, sig],
        &[Path::new("--submit"), blob, sig],
        &[Path::new("--plan")],
        &[Path::new("--reconcile-now")],
        &[Path::new("--pending")],
    ] {
        let (code, out) = run_mode(cfg, mode);
        assert_eq!(code, 78, "{case} {mode:?}: {out}");
        assert!(
            out.contains(needle),
            "{case} {mode:?}: {needle} not named: {out}"
        );
    }
    let mut daemon = Command::new(env!("CARGO_BIN_EXE_felhom-agent"))
        .arg("--config")
        .arg(cfg)
        .env_remove("NOTIFY_SOCKET")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let status = loop {
        if let Some(status) = daemon.try_wait().unwrap() {
            break Some(status);
        }
        if std::time::Instant::now() > deadline {
            let _ = daemon.kill();
            let _ = daemon.wait();
            break None;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    assert_eq!(
        status.and_then(|s| s.code()),
        Some(78),
        "{case}: the daemon started"
    );
}

#[test]
fn a_negated_principal_fails_every_mode_that_loads_signers_with_78() {
    let (dir, key, _) = setup();
    let (blob, sig) = signed_blob(&dir, &key, "demo-felhom");
    for list in ["!alice@example.com", "alice@example.com,!alice@example.com"] {
        let signers = dir.write(
            "neg",
            format!("# ok\n{list} {}\n", key.public_line).as_bytes(),
        );
        let cfg = config(&dir, &signers);
        let needle = format!("{}:2: ", signers.display());
        assert_every_mode_refuses(&cfg, &blob, &sig, &needle, list);
    }
}

#[test]
fn signer_files_or_their_directory_writable_by_group_or_others_exit_78_naming_the_file() {
    let (dir, key, _) = setup();
    let (blob, sig) = signed_blob(&dir, &key, "demo-felhom");
    let holder = dir.path().join("signers");
    std::fs::create_dir_all(&holder).unwrap();
    let ops = holder.join("operational.allowed_signers");
    std::fs::write(&ops, format!("alice@example.com {}\n", key.public_line)).unwrap();
    let cfg = config(&dir, &ops);
    let chmod = |p: &Path, mode: u32| {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
    };
    // Accepted: what the README's installation steps produce, and tighter.
    for (file_mode, dir_mode) in [
        (0o644, 0o755),
        (0o600, 0o700),
        (0o444, 0o755),
        (0o640, 0o750),
    ] {
        chmod(&ops, file_mode);
        chmod(&holder, dir_mode);
        let (code, out) = run_mode(&cfg, &[Path::new("--check-config")]);
        assert_eq!(code, 0, "{file_mode:o} in {dir_mode:o}: {out}");
    }
    let needle = ops.display().to_string();
    for file_mode in [0o664, 0o646, 0o666, 0o620, 0o602] {
        chmod(&ops, file_mode);
        chmod(&holder, 0o755);
        assert_every_mode_refuses(&cfg, &blob, &sig, &needle, &format!("file {file_mode:o}"));
    }
    chmod(&ops, 0o644);
    for dir_mode in [0o775, 0o757, 0o777, 0o1777, 0o770] {
        chmod(&holder, dir_mode);
        assert_every_mode_refuses(&cfg, &blob, &sig, &needle, &format!("dir {dir_mode:o}"));
    }
    chmod(&holder, 0o755);
    // The recovery file is held to the same rule.
    let rec_key = keygen(&dir, "rescue");
    let rec = holder.join("recovery.allowed_signers");
    std::fs::write(
        &rec,
        format!("rescue@example.com {}\n", rec_key.public_line),
    )
    .unwrap();
    chmod(&rec, 0o664);
    let text = std::fs::read_to_string(&cfg).unwrap();
    let mut doc: Value = serde_json::from_str(&text).unwrap();
    doc["authz"]["recovery_signers"] = rec.display().to_string().into();
    std::fs::write(&cfg, doc.to_string()).unwrap();
    assert_every_mode_refuses(
        &cfg,
        &blob,
        &sig,
        &rec.display().to_string(),
        "recovery 664",
    );
    chmod(&rec, 0o644);
    let (code, out) = run_mode(&cfg, &[Path::new("--check-config")]);
    assert_eq!(code, 0, "{out}");
}

/// Stage 5 accepts exactly what execution accepts: values that the
/// executor would drop as `unsupported_op` are `malformed` at `--check-op`,
/// and the values at the edge of each range are valid.
#[test]
fn check_op_refuses_params_that_execution_would_drop_and_accepts_the_edges() {
    let (dir, key, cfg) = setup();
    let bob = keygen(&dir, "bob");
    let rotation_line = |len: usize| {
        let base = format!("bob@example.com {} ", bob.public());
        format!("{base}{}", "c".repeat(len - base.len()))
    };
    let now = felhom_agent::time::now_unix();
    let cases = [
        (
            "restore_overwrite",
            json!({"snapshot": "a"}),
            Some(9001),
            false,
        ),
        (
            "restore_overwrite",
            json!({"snapshot": "ab"}),
            Some(9001),
            true,
        ),
        ("set_config", json!({"cores": 8193}), Some(9001), false),
        ("set_config", json!({"cores": 8192}), Some(9001), true),
        (
            "set_config",
            json!({"description": "d".repeat(8193)}),
            Some(9001),
            false,
        ),
        (
            "set_config",
            json!({"description": "d".repeat(8192)}),
            Some(9001),
            true,
        ),
        (
            "key_rotation",
            json!({"operational_signers": [rotation_line(4097)]}),
            None,
            false,
        ),
        (
            "key_rotation",
            json!({"operational_signers": [rotation_line(4096)]}),
            None,
            true,
        ),
    ];
    for (i, (op, params, guest, valid)) in cases.into_iter().enumerate() {
        let blob = canonical_blob(
            op,
            &params,
            "demo-felhom",
            guest,
            &format!("{i:032x}"),
            now - 10,
            now + 600,
            "",
        );
        let sig = sign(&dir, &key, blob.as_bytes(), NAMESPACE, None);
        let b = dir.write(&format!("edge-{i}.json"), blob.as_bytes());
        let s = dir.write(&format!("edge-{i}.json.sig"), &sig);
        let (code, out) = agent(
            &cfg,
            &[Path::new("--check-op"), &b, &s, Path::new("--json")],
        );
        let doc: Value = serde_json::from_str(&out).unwrap();
        let label = format!("{op} case {i}");
        if valid {
            assert_eq!((code, &doc["error"]), (0, &Value::Null), "{label}: {out}");
        } else {
            assert_eq!(
                (code, doc["error"].as_str()),
                (65, Some("malformed")),
                "{label}: {out}"
            );
        }
    }
}

/// `--check-op --json` with `TZ` set to `tz`: (exit code, stdout, stderr).
fn check_op_in_zone(cfg: &Path, blob: &Path, sig: &Path, tz: &str) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_felhom-agent"))
        .env("TZ", tz)
        .arg("--config")
        .arg(cfg)
        .arg("--check-op")
        .args([blob, sig])
        .arg("--json")
        .output()
        .unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

/// `ssh-keygen -Y verify` with `TZ` set to `tz`.
fn ssh_keygen_in_zone(signers: &Path, blob: &Path, sig: &Path, tz: &str) -> bool {
    Command::new("ssh-keygen")
        .env("TZ", tz)
        .args(["-Y", "verify", "-f"])
        .arg(signers)
        .args(["-I", "alice@example.com", "-n", NAMESPACE, "-s"])
        .arg(sig)
        .stdin(std::fs::File::open(blob).unwrap())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap()
        .success()
}

/// `YYYYMMDDHHMMSS` of a Unix time, as an allowed_signers value without `Z`.
fn local_notation(t: i64) -> String {
    felhom_agent::time::format_rfc3339(t)
        .chars()
        .filter(char::is_ascii_digit)
        .collect()
}

#[test]
fn validity_times_without_z_are_read_as_ssh_keygen_reads_them_where_the_zone_is_utc() {
    // CONTRACT §3 supports valid-after=/valid-before= as OpenSSH writes
    // them; without `Z` OpenSSH reads the local zone. Where that zone is UTC
    // the agent reads the value as UTC and agrees with ssh-keygen; in any
    // other zone it refuses the file (78), since the meaning would depend
    // on the zone.
    let dir = TempDir::new("local-time");
    let key = keygen(&dir, "alice");
    let now = felhom_agent::time::now_unix();
    let windows = [
        (now - 86_400, now + 86_400, true),
        (now - 86_400, now - 3600, false),
        (now + 3600, now + 86_400, false),
    ];
    for (i, (after, before, valid)) in windows.into_iter().enumerate() {
        let signers = dir.write(
            &format!("ops-{i}"),
            format!(
                "alice@example.com valid-after=\"{}\",valid-before=\"{}\" {}\n",
                &local_notation(after)[..12],
                local_notation(before),
                key.public_line
            )
            .as_bytes(),
        );
        let cfg = config(&dir, &signers);
        let (blob, sig) = signed_blob(&dir, &key, "demo-felhom");
        for tz in ["UTC", ":Etc/UTC", "UTC0"] {
            let (code, out, err) = check_op_in_zone(&cfg, &blob, &sig, tz);
            let doc: Value = serde_json::from_str(&out).unwrap_or_else(|_| panic!("{tz}: {err}"));
            let error = if valid {
                json!(null)
            } else {
                json!("unknown_signer")
            };
            assert_eq!(doc["error"], error, "window {i}, TZ={tz}: {out}");
            assert_eq!(code, if valid { 0 } else { 65 }, "window {i}, TZ={tz}");
            assert_eq!(
                ssh_keygen_in_zone(&signers, &blob, &sig, tz),
                valid,
                "window {i}, TZ={tz}: ssh-keygen disagrees"
            );
        }
        for tz in ["CET-1CEST,M3.5.0,M10.5.0/3", "EST5", "NOSUCHZONE1"] {
            let (code, out, err) = check_op_in_zone(&cfg, &blob, &sig, tz);
            assert_eq!(code, 78, "window {i}, TZ={tz}: {out}");
            assert!(
                err.contains("local time") && err.contains("Z suffix"),
                "{err}"
            );
        }
    }
}
