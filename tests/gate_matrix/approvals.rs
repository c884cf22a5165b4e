//! The matrix's approval cases (CONTRACT §11): one blob, k = 2 for
//! `guest_destroy`, real `ssh-keygen` signatures counted by
//! `authz::approvals` and decided by `gate::decide`. Every case but the last
//! is held or refused on its own; the last (two distinct, currently valid
//! operational signers) is allowed.

use crate::sshkeys::{self, Key, TempDir};
use felhom_agent::authz::{self, Approvals, Rejected, Signers, VerifyPolicy, canonical_blob};
use felhom_agent::config::{Config, Env};
use felhom_agent::reconcile::action::{Action, ActionOp, Source};
use felhom_agent::reconcile::classify::{AgentContext, GuestFacts};
use felhom_agent::reconcile::gate::{self, Decision, GateContext, RefusalReason};
use serde_json::json;

const HOST: &str = "demo-felhom";
/// 2026-06-15T12:00:00Z
const NOW: i64 = 1_781_524_800;
const NONCE: &str = "0123456789abcdef0123456789abcdef";

struct Keys {
    dir: TempDir,
    alice: Key,
    alice2: Key,
    bob: Key,
    rescue: Key,
    mallory: Key,
}

fn line(principals: &str, key: &Key, options: &str) -> String {
    format!(
        "{principals} namespaces=\"felhom-op-v1\"{options} {}\n",
        key.public()
    )
}

/// alice (two keys), bob (`bob_options` on his line, `None`: not in the
/// file) operational; rescue recovery.
fn signers(k: &Keys, bob_options: Option<&str>) -> Signers {
    let mut op = line("alice", &k.alice, "") + &line("alice,alice@laptop", &k.alice2, "");
    if let Some(options) = bob_options {
        op.push_str(&line("bob", &k.bob, options));
    }
    let rec = line("rescue", &k.rescue, "");
    Signers::from_texts(Some(("op", &op)), Some(("rec", &rec))).unwrap()
}

fn policy(now: i64) -> VerifyPolicy {
    VerifyPolicy {
        host_id: HOST.into(),
        now,
        clock_skew_seconds: 120,
        max_validity_seconds: 86_400,
        require_user_presence: true,
    }
}

fn blob(purge: bool) -> String {
    canonical_blob(
        "guest_destroy",
        &json!({"purge": purge}),
        HOST,
        Some(9001),
        NONCE,
        NOW - 60,
        NOW + 3600,
        "",
    )
}

fn sign(k: &Keys, key: &Key, bytes: &str, namespace: &str) -> Vec<u8> {
    sshkeys::sign(&k.dir, key, bytes.as_bytes(), namespace, None)
}

fn config(required: u32) -> Config {
    let dir = TempDir::new("gm-approvals-cfg");
    let token = dir.write(
        "token",
        b"agent@pve!felhom=0b3f0c6e-1f4e-4f0e-9d1e-5f3f1c2b7a9d",
    );
    std::fs::set_permissions(&token, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let doc = json!({
        "host_id": HOST,
        "proxmox": {"endpoint": "https://127.0.0.1:8006", "node": "pve1",
                    "token_file": token, "tls": {"ca_file": "/etc/pve/pve-root-ca.pem"}},
        "authz": {"approvals": {"guest_destroy": required}}
    });
    Config::parse(doc.to_string().as_bytes(), &Env::default()).unwrap()
}

fn destroy(vmid: u32) -> Action {
    Action {
        vmid,
        op: ActionOp::GuestDestroy { purge: true },
        source: Source::DesiredState,
    }
}

/// Counts `sigs` over the blob with `signers` at `now`.
fn count(signers: &Signers, now: i64, sigs: &[&Vec<u8>]) -> Result<Approvals, Rejected> {
    let sigs: Vec<&[u8]> = sigs.iter().map(|s| s.as_slice()).collect();
    authz::approvals::verify(signers, &policy(now), blob(true).as_bytes(), &sigs, &|_| {
        false
    })
}

fn decide(approvals: Approvals, action: Action, blocked: bool, required: u32) -> Decision {
    let config = config(required);
    let ctx = GateContext {
        host_id: HOST,
        blocked,
        approvals: &config.authz.approvals,
    };
    gate::decide(
        action,
        Some(approvals),
        AgentContext { transaction: None },
        None,
        GuestFacts::default(),
        &ctx,
    )
}

#[test]
fn approval_cases_are_each_held_or_refused_and_two_distinct_valid_signers_are_allowed() {
    let dir = TempDir::new("gm-approvals");
    let k = Keys {
        alice: sshkeys::keygen(&dir, "alice"),
        alice2: sshkeys::keygen(&dir, "alice2"),
        bob: sshkeys::keygen(&dir, "bob"),
        rescue: sshkeys::keygen(&dir, "rescue"),
        mallory: sshkeys::keygen(&dir, "mallory"),
        dir,
    };
    let b = blob(true);
    let (sa, sa2, sb) = (
        sign(&k, &k.alice, &b, "felhom-op-v1"),
        sign(&k, &k.alice2, &b, "felhom-op-v1"),
        sign(&k, &k.bob, &b, "felhom-op-v1"),
    );
    let (sr, sm) = (
        sign(&k, &k.rescue, &b, "felhom-op-v1"),
        sign(&k, &k.mallory, &b, "felhom-op-v1"),
    );
    let sb_other_bytes = sign(&k, &k.bob, &blob(false), "felhom-op-v1");
    let sb_file_ns = sign(&k, &k.bob, &b, "file");
    let all = signers(&k, Some(""));
    let closed = format!(",valid-before=\"{}Z\"", "20260615115959");
    let held = |name: &str, signers: &Signers, sigs: &[&Vec<u8>]| {
        let a = count(signers, NOW, sigs).unwrap_or_else(|r| panic!("{name}: {r:?}"));
        match decide(a, destroy(9001), false, 2) {
            Decision::PendingSignature { held, required, .. } => {
                assert_eq!(held.map(|h| h.count()), Some(1), "{name}");
                assert_eq!(required, 2, "{name}");
            }
            other => panic!("{name}: {other:?}"),
        }
    };
    held("one signer", &all, &[&sa]);
    held("the same signature twice", &all, &[&sa, &sa]);
    held("two keys of one principal", &all, &[&sa, &sa2]);
    held("a recovery signature on a destroy", &all, &[&sa, &sr]);
    held("an unknown key", &all, &[&sa, &sm]);
    held(
        "bob's signature over other bytes",
        &all,
        &[&sa, &sb_other_bytes],
    );
    held(
        "bob's signature in another namespace",
        &all,
        &[&sa, &sb_file_ns],
    );
    held("bob rotated out", &signers(&k, None), &[&sa, &sb]);
    held(
        "bob's window closed",
        &signers(&k, Some(&closed)),
        &[&sa, &sb],
    );

    let expired = count(&all, NOW + 3601, &[&sa, &sb]).unwrap_err();
    assert_eq!(
        expired.code(),
        "expired",
        "an expired blob, whatever its approvals"
    );
    let none = count(&all, NOW, &[&sm, &sr]).unwrap_err();
    assert_eq!(none.code(), "unknown_signer", "no approval counts");

    let refused = |name: &str, d: Decision, why: RefusalReason| match d {
        Decision::Refused { reason, .. } => assert_eq!(reason, why, "{name}"),
        other => panic!("{name}: {other:?}"),
    };
    let two = || count(&all, NOW, &[&sa, &sb]).unwrap();
    refused(
        "two approvals offered for another guest",
        decide(two(), destroy(9002), false, 2),
        RefusalReason::BindingMismatch,
    );
    refused(
        "two approvals while the hub blocks",
        decide(two(), destroy(9001), true, 2),
        RefusalReason::Blocked,
    );
    match decide(two(), destroy(9001), false, 3) {
        Decision::PendingSignature { held, .. } => {
            assert_eq!(held.map(|h| h.count()), Some(2), "2 of 3")
        }
        other => panic!("2 of 3: {other:?}"),
    }

    let allowed = decide(two(), destroy(9001), false, 2);
    let Decision::Allowed(a) = &allowed else {
        panic!("two distinct valid signers: {allowed:?}");
    };
    let names: Vec<&str> = a
        .approvals()
        .unwrap()
        .approvers()
        .iter()
        .map(|s| s.signer.as_str())
        .collect();
    assert_eq!(names, ["alice", "bob"]);
    assert_eq!(
        allowed.reason(),
        "signed by alice (operational), bob (operational): 2 of 2 approvals"
    );
    // Without `authz.approvals` one signature is enough, as always.
    let one = count(&all, NOW, &[&sa]).unwrap();
    assert!(matches!(
        decide(one, destroy(9001), false, 1),
        Decision::Allowed(_)
    ));
}
