//! Signature verification throughput (DESIGN §9): the in-process pipeline
//! (stages 1-9) against `ssh-keygen -Y verify` run once per op, on the same
//! key, allowed_signers file, blob and signature, measured in the same run.
//! Budget: in-process >= 100x the reference rate.
//!
//! Two-person rule (CONTRACT §11): the cost of counting a k-approval op
//! (`authz::approvals::verify`: k signatures by k distinct signers over one
//! blob, each through stages 1-9) at k = 1, 2 and 5, in ops/s (one op = all
//! its k signatures), next to the same `ssh-keygen` reference. It must stay
//! far above the rate at which the agent can call PVE (a few per second).

use felhom_agent::authz::{self, NAMESPACE, Signers, VerifyPolicy, canonical_blob};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BUDGET: f64 = 100.0;
const IN_PROCESS_TIME: Duration = Duration::from_secs(2);
const REFERENCE_RUNS: u32 = 100;
/// The quorums measured (5 is `config::MAX_REQUIRED_APPROVALS`).
const QUORUMS: [usize; 3] = [1, 2, 5];

fn run_ok(cmd: &mut Command) -> bool {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn setup(dir: &Path) -> Option<(String, Vec<u8>, PathBuf, PathBuf, PathBuf)> {
    let key = dir.join("key");
    run_ok(
        Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-f"])
            .arg(&key),
    )
    .then_some(())?;
    let public = std::fs::read_to_string(key.with_extension("pub")).ok()?;
    let signers_path = dir.join("allowed_signers");
    std::fs::write(&signers_path, format!("bench@example.com {public}")).ok()?;
    let now = felhom_agent::time::now_unix();
    let blob = canonical_blob(
        "guest_destroy",
        &serde_json::json!({"purge": true}),
        "bench-host",
        Some(9001),
        "00112233445566778899aabbccddeeff",
        now,
        now + 3600,
        "bench@example.com",
    );
    let blob_path = dir.join("op.json");
    std::fs::write(&blob_path, &blob).ok()?;
    run_ok(
        Command::new("ssh-keygen")
            .args(["-q", "-Y", "sign", "-n", NAMESPACE, "-f"])
            .arg(&key)
            .arg(&blob_path),
    )
    .then_some(())?;
    let sig_path = dir.join("op.json.sig");
    let sig = std::fs::read(&sig_path).ok()?;
    Some((public, sig, signers_path, blob_path, sig_path))
}

pub fn run() {
    let dir = std::env::temp_dir().join(format!("felhom-bench-authz-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let Some((public, sig, signers_path, blob_path, sig_path)) = setup(&dir) else {
        println!("authz: ssh-keygen unavailable (install openssh-client); nothing measured");
        let _ = std::fs::remove_dir_all(&dir);
        return;
    };
    let blob = std::fs::read(&blob_path).unwrap_or_default();
    let text = format!("bench@example.com {public}");
    let Ok(signers) = Signers::from_texts(Some(("bench", &text)), None) else {
        println!("authz: bench signer file rejected");
        return;
    };
    let policy = VerifyPolicy {
        host_id: "bench-host".into(),
        now: felhom_agent::time::now_unix(),
        clock_skew_seconds: 120,
        max_validity_seconds: 86_400,
        require_user_presence: true,
    };

    let start = Instant::now();
    let mut n: u64 = 0;
    while start.elapsed() < IN_PROCESS_TIME {
        let ok = authz::verify(&signers, &policy, &blob, &sig, &|_| false).is_ok();
        assert!(ok, "bench op must verify");
        n += 1;
    }
    let in_process = n as f64 / start.elapsed().as_secs_f64();

    let start = Instant::now();
    for _ in 0..REFERENCE_RUNS {
        let ok = Command::new("ssh-keygen")
            .args(["-Y", "verify", "-f"])
            .arg(&signers_path)
            .args(["-I", "bench@example.com", "-n", NAMESPACE, "-s"])
            .arg(&sig_path)
            .stdin(
                std::fs::File::open(&blob_path)
                    .map(Stdio::from)
                    .unwrap_or(Stdio::null()),
            )
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "ssh-keygen must accept the bench op");
    }
    let reference = f64::from(REFERENCE_RUNS) / start.elapsed().as_secs_f64();
    let ratio = in_process / reference;
    println!("authz verify (stages 1-9, in-process): {in_process:>10.0} ops/s");
    println!("ssh-keygen -Y verify (one process/op): {reference:>10.0} ops/s");
    println!(
        "ratio {ratio:.0}x (budget >= {BUDGET:.0}x): {}",
        if ratio >= BUDGET { "PASS" } else { "FAIL" }
    );
    approvals(&dir, &blob, &policy, reference);
    let _ = std::fs::remove_dir_all(&dir);
}

/// k-approval ops per second at each of [`QUORUMS`], with `reference`
/// (ssh-keygen, one signature per process) beside them.
fn approvals(dir: &Path, blob: &[u8], policy: &VerifyPolicy, reference: f64) {
    let max = QUORUMS.iter().copied().max().unwrap_or(1);
    let mut text = String::new();
    let mut sigs = Vec::new();
    for i in 0..max {
        let key = dir.join(format!("approver{i}"));
        let blob_path = dir.join(format!("approval{i}.json"));
        let made = run_ok(
            Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", "", "-f"])
                .arg(&key),
        ) && std::fs::write(&blob_path, blob).is_ok()
            && run_ok(
                Command::new("ssh-keygen")
                    .args(["-q", "-Y", "sign", "-n", NAMESPACE, "-f"])
                    .arg(&key)
                    .arg(&blob_path),
            );
        let public = std::fs::read_to_string(key.with_extension("pub")).unwrap_or_default();
        let sig = std::fs::read(dir.join(format!("approval{i}.json.sig"))).unwrap_or_default();
        if !made || public.is_empty() || sig.is_empty() {
            println!("approvals: ssh-keygen failed; nothing measured");
            return;
        }
        let _ = writeln!(text, "approver{i}@example.com {}", public.trim());
        sigs.push(sig);
    }
    let Ok(signers) = Signers::from_texts(Some(("bench", &text)), None) else {
        println!("approvals: bench signer file rejected");
        return;
    };
    for k in QUORUMS {
        let held: Vec<&[u8]> = sigs.iter().take(k).map(Vec::as_slice).collect();
        let start = Instant::now();
        let mut n: u64 = 0;
        while start.elapsed() < IN_PROCESS_TIME {
            let counted = authz::approvals::verify(&signers, policy, blob, &held, &|_| false)
                .map(|a| a.count());
            assert_eq!(
                counted.ok(),
                u32::try_from(k).ok(),
                "bench approvals must count"
            );
            n += 1;
        }
        let rate = n as f64 / start.elapsed().as_secs_f64();
        println!(
            "approvals k={k} (k signatures, stages 1-9 each): {rate:>10.0} ops/s, {:.0}x ssh-keygen",
            rate / reference
        );
    }
}
