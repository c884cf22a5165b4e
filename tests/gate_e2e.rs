//! The operator workflow end to end, against fakepve: a destructive delta
//! is held (`pending_signature`, exit 4), `--pending` hands out the blob and
//! the command, the operator signs with `ssh-keygen` and submits, and the
//! next pass executes exactly that action. Also: a signed snapshot rollback,
//! and benign actions that never wait for anyone.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "support/agent.rs"]
mod agent;
#[path = "support/fakepve.rs"]
mod fakepve;
#[path = "support/sshkeys.rs"]
mod sshkeys;

use agent::{Agent, BlobSpec, deletes_of, nonce_consumed};
use fakepve::FakePve;
use serde_json::{Value, json};
use std::process::Command;

#[test]
fn absent_is_held_then_the_pending_sign_command_submits_it_and_the_next_pass_destroys() {
    let pve = FakePve::start();
    let v = pve.add_lxc("stopped", json!({"cores": 1, "memory": 256}));
    let a = Agent::new(&pve, "ge-workflow");
    a.write_desired(1, json!([{"vmid": v, "state": "absent", "purge": true}]));

    let held = a.pass();
    assert_eq!(held.code, 4, "{}\n{}", held.stdout, held.stderr);
    assert_eq!(held.actions()[0]["decision"], json!("pending_signature"));
    assert_eq!(pve.guest(v)["exists"], json!(true));

    let journal = a.journal_bytes();
    let pending = a.run(&["--pending", "--json"]);
    assert_eq!(pending.code, 0, "{}", pending.stderr);
    assert_eq!(a.journal_bytes(), journal, "--pending is read-only");
    let items = pending.json()["pending"].as_array().unwrap().clone();
    assert_eq!(items.len(), 1, "{items:?}");
    let item = &items[0];
    assert_eq!(item["vmid"], json!(v));
    assert_eq!(item["op"], json!("guest_destroy"));
    assert_eq!(item["params"], json!({"purge": true}));
    let blob: Value = serde_json::from_str(item["blob"].as_str().unwrap()).unwrap();
    assert_eq!(
        blob["target"],
        json!({"guest_id": v.to_string(), "host_id": agent::HOST_ID})
    );
    assert_eq!(blob["key_id"], json!(""));

    // The operator pastes the sign command: HOME holds their key as
    // ~/.ssh/id_ed25519, `felhom-agent` is on PATH, the config comes from
    // FELHOM_AGENT_CONFIG.
    let home = a.dir.path().join("home");
    std::fs::create_dir_all(home.join(".ssh")).unwrap();
    std::fs::copy(&a.alice.private, home.join(".ssh/id_ed25519")).unwrap();
    let bin_dir = a.dir.path().join("bin");
    std::fs::create_dir_all(&bin_dir).unwrap();
    std::os::unix::fs::symlink(
        env!("CARGO_BIN_EXE_felhom-agent"),
        bin_dir.join("felhom-agent"),
    )
    .unwrap();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let cmd = item["sign_command"].as_str().unwrap();
    assert!(
        cmd.contains("ssh-keygen -Y sign") && cmd.contains("-n felhom-op-v1"),
        "{cmd}"
    );
    let out = Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .current_dir(a.dir.path().join("ops"))
        .env("HOME", &home)
        .env("PATH", path)
        .env("FELHOM_AGENT_CONFIG", &a.config_path)
        .env("FELHOM_AGENT_LOG", "info")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "sign command failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(deletes_of(&pve, v), 0, "submitting only queues");

    let done = a.pass();
    assert_eq!(done.code, 0, "{}\n{}", done.stdout, done.stderr);
    let acts = done.actions();
    assert_eq!(acts.len(), 1, "{acts:?}");
    assert_eq!(acts[0]["source"], json!("job"));
    assert_eq!(acts[0]["decision"], json!("allowed"));
    assert_eq!(acts[0]["outcome"], json!("succeeded"));
    assert_eq!(pve.guest(v)["exists"], json!(false));
    assert_eq!(deletes_of(&pve, v), 1);
    assert!(nonce_consumed(
        &a.records(),
        blob["nonce"].as_str().unwrap()
    ));

    let after = a.pass();
    assert_eq!(
        after.code, 0,
        "absent and gone is converged: {}",
        after.stdout
    );
    assert!(after.actions().is_empty());
    let empty = a.run(&["--pending", "--json"]);
    assert_eq!(empty.json(), json!({"pending": []}));
}

#[test]
fn signed_restore_overwrite_rolls_the_guest_back_to_its_snapshot() {
    let pve = FakePve::start();
    let v = pve.add_qemu("stopped", json!({"cores": 1, "memory": 512}));
    pve.add_snapshot(v, "before");
    pve.set_guest(
        v,
        "config",
        json!({"cores": 4, "memory": 2048, "parent": "before"}),
    );
    let a = Agent::new(&pve, "ge-restore");
    let spec = BlobSpec::new("restore_overwrite", json!({"snapshot": "before"}), Some(v));
    let files = a.sign(&a.alice, &spec.build_now());
    let sub = a.submit(&files);
    assert_eq!(sub.code, 0, "{}", sub.stdout);
    let run = a.pass();
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let acts = run.actions();
    assert_eq!(acts[0]["op"], json!("restore_overwrite"));
    assert_eq!(acts[0]["class"], json!("destructive"));
    assert_eq!(acts[0]["outcome"], json!("succeeded"));
    let g = pve.guest(v);
    let cores = &g["config"]["cores"];
    assert!(cores == &json!(1) || cores == &json!("1"), "{g}");
    let rollbacks = pve
        .requests()
        .iter()
        .filter(|(m, p)| m == "POST" && p.ends_with(&format!("/{v}/snapshot/before/rollback")))
        .count();
    assert_eq!(rollbacks, 1);
    // Once only.
    assert_eq!(a.pass().code, 0);
    assert_eq!(a.submit(&files).code, 65);
}

#[test]
fn benign_actions_never_wait_for_a_signature_even_with_no_signer_files() {
    let pve = FakePve::start();
    let doomed = pve.add_qemu("stopped", json!({"cores": 1, "memory": 512}));
    let a = Agent::new(&pve, "ge-benign");
    let mut config = a.config.clone();
    config["authz"]["operational_signers"] = Value::Null;
    config["authz"]["recovery_signers"] = Value::Null;
    let a = Agent { config, ..a };
    a.write_config();
    a.write_desired(
        1,
        json!([
            {"vmid": 100, "state": "stopped", "description": "was running"},
            {"vmid": 101, "state": "running", "cores": 3},
            {"vmid": 102, "memory_bytes": 512u64 << 20},
            {"vmid": doomed, "state": "absent"}
        ]),
    );
    let run = a.pass();
    assert_eq!(run.code, 4, "only the destroy waits: {}", run.stdout);
    for x in run.actions() {
        if x["op"] == json!("guest_destroy") {
            assert_eq!(x["decision"], json!("pending_signature"));
        } else {
            assert_eq!(x["class"], json!("benign"), "{x}");
            assert_eq!(x["decision"], json!("allowed"), "{x}");
            assert_eq!(x["outcome"], json!("succeeded"), "{x}");
        }
    }
    assert_eq!(run.actions().len(), 6);
    assert_eq!(pve.guest(100)["status"], json!("stopped"));
    assert_eq!(pve.guest(101)["status"], json!("running"));
    assert_eq!(pve.guest(doomed)["exists"], json!(true));
    // With no signer files nothing can ever verify.
    let files = a.sign(
        &a.alice,
        &BlobSpec::new("guest_destroy", json!({"purge": false}), Some(doomed)).build_now(),
    );
    let sub = a.submit(&files);
    assert_eq!(sub.code, 65, "{}", sub.stdout);
    assert_eq!(sub.json()["error"], json!("unknown_signer"));
}
