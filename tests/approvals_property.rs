//! Property test of the two-person rule (CONTRACT §11): for random
//! interleavings of submissions (signers, the same signer again, a second
//! key of one principal (alice, bob and rescue have two), recovery and
//! unknown keys), signer-set rotations,
//! validity windows closing, blobs expiring and restarts, an op runs iff,
//! at the moment it would run, k distinct currently-valid signers approve
//! it, and it runs at most once.
//!
//! The implementation under test is the real one, in process: real
//! `ssh-keygen` signatures, `reconcile::queue::enqueue_at` on a real
//! journal (re-opened on "restart"), and at each run attempt the pass's
//! own steps: `signed::verify_queue_at` (which counts approvals with
//! `signed::verify_approvals`, the function the moment of running uses
//! too) then `gate::decide`; an allowed op consumes its nonce in the
//! journal. The clock is simulated (each step passes `now`).
//! The model beside it is a few lines of set arithmetic and knows nothing
//! of the implementation.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "support/rng.rs"]
mod rng;
#[path = "support/sshkeys.rs"]
mod sshkeys;

use felhom_agent::authz::{Signers, canonical_blob};
use felhom_agent::config::{Config, Env};
use felhom_agent::journal::{Journal, Record};
use felhom_agent::reconcile::classify::{AgentContext, GuestFacts};
use felhom_agent::reconcile::gate::{self, Decision, GateContext};
use felhom_agent::reconcile::queue::{self, Enqueued};
use felhom_agent::reconcile::signed;
use rng::Rng;
use serde_json::json;
use sshkeys::{Key, TempDir};
use std::collections::BTreeSet;
use std::time::Duration;

const HOST: &str = "demo-felhom";
/// 2026-06-15T12:00:00Z: every blob is issued then.
const T0: i64 = 1_781_524_800;
const SCENARIOS: usize = 40;
const STEPS: usize = 40;

/// One key of the team: its principal, its file (`None`: in no file).
struct Member {
    principal: &'static str,
    recovery: Option<bool>,
    key: Key,
}

/// The signer files' state in the model.
#[derive(Clone)]
struct Lines {
    present: Vec<bool>,
    valid_before: Vec<Option<i64>>,
}

fn team(dir: &TempDir) -> Vec<Member> {
    [
        ("alice", Some(false)),
        ("alice", Some(false)),
        ("bob", Some(false)),
        ("carol", Some(false)),
        ("rescue", Some(true)),
        ("rescue2", Some(true)),
        ("mallory", None),
        ("bob", Some(false)),
        ("rescue", Some(true)),
    ]
    .into_iter()
    .enumerate()
    .map(|(i, (principal, recovery))| Member {
        principal,
        recovery,
        key: sshkeys::keygen(dir, &format!("k{i}")),
    })
    .collect()
}

fn vb_option(t: i64) -> String {
    let digits: String = felhom_agent::time::format_rfc3339(t)
        .chars()
        .filter(char::is_ascii_digit)
        .collect();
    format!(",valid-before=\"{digits}Z\"")
}

fn signers(team: &[Member], lines: &Lines) -> Signers {
    let mut files = [String::new(), String::new()];
    for (i, m) in team.iter().enumerate() {
        let (Some(recovery), true) = (m.recovery, lines.present[i]) else {
            continue;
        };
        // Second keys: other lines whose first principal is the same.
        let principals = match i {
            1 => "alice,alice@laptop",
            7 => "bob,bob@phone",
            8 => "rescue,rescue@safe",
            _ => m.principal,
        };
        let vb = lines.valid_before[i].map(vb_option).unwrap_or_default();
        files[usize::from(recovery)].push_str(&format!(
            "{principals} namespaces=\"felhom-op-v1\"{vb} {}\n",
            m.key.public()
        ));
    }
    Signers::from_texts(Some(("op", &files[0])), Some(("rec", &files[1]))).unwrap()
}

fn config(dir: &TempDir, op: &str, k: u32) -> Config {
    let token = dir.write(
        "token",
        b"agent@pve!felhom=0b3f0c6e-1f4e-4f0e-9d1e-5f3f1c2b7a9d",
    );
    std::fs::set_permissions(&token, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let doc = json!({
        "host_id": HOST,
        "state_dir": dir.path().join("state"),
        "proxmox": {"endpoint": "https://127.0.0.1:8006", "node": "pve1",
                    "token_file": token, "tls": {"ca_file": "/etc/pve/pve-root-ca.pem"}},
        "authz": {"approvals": {op: k}, "max_validity_seconds": 86_400}
    });
    Config::parse(doc.to_string().as_bytes(), &Env::default()).unwrap()
}

/// The model of one queued op.
#[derive(Default)]
struct Model {
    queued: bool,
    consumed: bool,
    dequeued: bool,
    /// Indexes of the members whose signature is held.
    held: Vec<usize>,
}

struct World<'a> {
    team: &'a [Member],
    lines: Lines,
    op: &'static str,
    expires_at: i64,
    k: usize,
}

impl World<'_> {
    /// Stage 3 and the role rule for member `i` at `now`.
    fn admits(&self, i: usize, now: i64) -> bool {
        let m = &self.team[i];
        let in_file = m.recovery.is_some() && self.lines.present[i];
        let open = self.lines.valid_before[i].is_none_or(|vb| now <= vb);
        let role_ok = m.recovery != Some(true) || self.op == "key_rotation";
        in_file && open && role_ok
    }

    /// Distinct principals among `held` that count at `now`.
    fn counted(&self, held: &[usize], now: i64) -> BTreeSet<&'static str> {
        if now > self.expires_at {
            return BTreeSet::new();
        }
        held.iter()
            .filter(|i| self.admits(**i, now))
            .map(|i| self.team[*i].principal)
            .collect()
    }

    /// What `--submit` of member `i`'s signature must answer at `now`.
    fn expect_submit(&self, m: &Model, i: usize, now: i64) -> (String, usize) {
        let member = &self.team[i];
        let in_file = member.recovery.is_some() && self.lines.present[i];
        if !in_file || self.lines.valid_before[i].is_some_and(|vb| now > vb) {
            return ("unknown_signer".into(), 0);
        }
        if now > self.expires_at {
            return ("expired".into(), 0);
        }
        if !self.admits(i, now) {
            return ("role_denied".into(), 0);
        }
        if m.consumed {
            return ("replay".into(), 0);
        }
        if !m.queued {
            return ("queued".into(), 1);
        }
        let counted = self.counted(&m.held, now);
        if counted.contains(member.principal) {
            ("already".into(), counted.len())
        } else {
            ("approval".into(), counted.len() + 1)
        }
    }
}

fn outcome(e: &Enqueued) -> (String, usize) {
    let n = |s: &queue::Submitted| usize::try_from(s.approvals).unwrap();
    match e {
        Enqueued::Queued(s) => ("queued".into(), n(s)),
        Enqueued::ApprovalAdded(s) => ("approval".into(), n(s)),
        Enqueued::AlreadyApproved(s) => ("already".into(), n(s)),
        Enqueued::Full(s) => ("full".into(), n(s)),
        Enqueued::Rejected(r) => (r.code().to_string(), 0),
    }
}

/// One run attempt of the implementation at `now`: the pass's steps.
/// Returns whether the op ran.
fn attempt(journal: &Journal, config: &Config, signers: &Signers, now: i64) -> bool {
    let index = journal.index();
    let (jobs, rejections) = signed::verify_queue_at(signers, config, &index, &index.queued, now);
    for r in rejections.iter().filter(|r| r.is_terminal()) {
        journal
            .append(Record::OpDequeued {
                nonce: r.nonce.clone(),
                reason: r.rejected.code().into(),
            })
            .unwrap();
    }
    let ctx = GateContext {
        host_id: HOST,
        blocked: false,
        approvals: &config.authz.approvals,
    };
    let mut ran = false;
    for job in jobs {
        let d = gate::decide(
            job.action,
            Some(job.approvals),
            AgentContext { transaction: None },
            None,
            GuestFacts::default(),
            &ctx,
        );
        if let Decision::Allowed(a) = d {
            let op = a.authorization().unwrap();
            journal
                .append(Record::NonceConsumed {
                    nonce: op.nonce().into(),
                    expires_at: op.expires_at(),
                    op_id: "prop".into(),
                })
                .unwrap();
            ran = true;
        }
    }
    ran
}

/// A member index, half the time one of a principal's two keys (the
/// interleavings where one signer holds two approvals are the rare ones).
fn pick(rng: &mut Rng, n: usize) -> usize {
    const TWINS: [usize; 6] = [0, 1, 2, 7, 4, 8];
    if rng.below(2) == 0 {
        TWINS[rng.below(TWINS.len())]
    } else {
        rng.below(n)
    }
}

/// What the scenarios exercised (so the property is never vacuous).
#[derive(Default)]
struct Seen {
    outcomes: std::collections::BTreeMap<String, usize>,
    runs: usize,
    held_back: usize,
    restarts: usize,
}

fn scenario(seed: u64, team: &[Member], dir: &TempDir, seen: &mut Seen) {
    let mut rng = Rng(seed);
    let op = if rng.below(3) == 0 {
        "key_rotation"
    } else {
        "guest_destroy"
    };
    let k = 1 + rng.below(3);
    let config = config(dir, op, u32::try_from(k).unwrap());
    let mut lines = Lines {
        present: vec![true; team.len()],
        valid_before: vec![None; team.len()],
    };
    for vb in &mut lines.valid_before {
        if rng.below(3) == 0 {
            *vb = Some(T0 + i64::try_from(rng.below(240)).unwrap());
        }
    }
    let expires_at = T0 + 60 + i64::try_from(rng.below(240)).unwrap();
    let nonce = format!("{:032x}", rng.next() as u128 | (1 << 100));
    let (params, guest) = if op == "key_rotation" {
        let line = format!("bob namespaces=\"felhom-op-v1\" {}", team[2].key.public());
        (json!({"operational_signers": [line]}), None)
    } else {
        (json!({"purge": true}), Some(9001))
    };
    let blob = canonical_blob(op, &params, HOST, guest, &nonce, T0, expires_at, "");
    let sigs: Vec<Vec<u8>> = team
        .iter()
        .map(|m| sshkeys::sign(dir, &m.key, blob.as_bytes(), "felhom-op-v1", None))
        .collect();
    let mut world = World {
        team,
        lines,
        op,
        expires_at,
        k,
    };
    let state = dir.path().join("state");
    let _ = std::fs::remove_dir_all(&state);
    let mut journal = Journal::open(&state, Duration::from_secs(1)).unwrap();
    let mut model = Model::default();
    let mut runs = 0;
    let mut now = T0;
    for step in 0..STEPS {
        let at = format!("seed {seed} step {step} ({op}, k={k}, now=T0+{})", now - T0);
        match rng.below(11) {
            0..=4 => {
                let i = pick(&mut rng, team.len());
                let expected = world.expect_submit(&model, i, now);
                let signers = signers(team, &world.lines);
                let got = queue::enqueue_at(
                    &journal,
                    &config,
                    &signers,
                    blob.as_bytes(),
                    &sigs[i],
                    "submit",
                    now,
                )
                .unwrap();
                assert_eq!(outcome(&got), expected, "{at}: submit by key {i}");
                *seen.outcomes.entry(expected.0.clone()).or_default() += 1;
                match expected.0.as_str() {
                    "queued" => {
                        model.queued = true;
                        model.held.push(i);
                    }
                    "approval" => model.held.push(i),
                    _ => {}
                }
            }
            5 | 6 => {
                let i = pick(&mut rng, team.len());
                world.lines.present[i] = !world.lines.present[i];
            }
            7 => now += i64::try_from(rng.below(60)).unwrap(),
            8 => {
                seen.restarts += 1;
                drop(journal);
                journal = Journal::open(&state, Duration::from_secs(1)).unwrap();
            }
            _ => {
                let signers = signers(team, &world.lines);
                let ran = attempt(&journal, &config, &signers, now);
                let live = model.queued && !model.consumed && !model.dequeued;
                let expect = live && world.counted(&model.held, now).len() >= world.k;
                assert_eq!(ran, expect, "{at}: run attempt (held {:?})", model.held);
                if ran {
                    runs += 1;
                    model.consumed = true;
                } else if live && !model.held.is_empty() {
                    seen.held_back += 1;
                }
                if live && now > world.expires_at {
                    model.dequeued = true;
                }
            }
        }
        assert!(runs <= 1, "{at}: ran {runs} times");
    }
    seen.runs += runs;
}

#[test]
fn an_op_runs_iff_k_distinct_currently_valid_signers_approve_and_at_most_once() {
    let dir = TempDir::new("approvals-prop");
    let team = team(&dir);
    let mut seen = Seen::default();
    for seed in 0..SCENARIOS as u64 {
        scenario(0x5eed_0000 + seed, &team, &dir, &mut seen);
    }
    for what in [
        "queued",
        "approval",
        "already",
        "unknown_signer",
        "expired",
        "role_denied",
        "replay",
    ] {
        assert!(
            seen.outcomes.get(what).copied().unwrap_or(0) > 0,
            "no submission ended {what}: {:?}",
            seen.outcomes
        );
    }
    assert!(seen.runs >= 3 && seen.held_back >= 3 && seen.restarts >= 3);
    eprintln!(
        "{SCENARIOS} scenarios: {:?}, {} runs, {} held back, {} restarts",
        seen.outcomes, seen.runs, seen.held_back, seen.restarts
    );
}

#[test]
fn a_queued_op_holds_at_most_sixteen_signatures_and_a_further_signer_writes_nothing() {
    let dir = TempDir::new("approvals-full");
    let config = config(&dir, "guest_destroy", 5);
    let keys: Vec<Key> = (0..=felhom_agent::authz::MAX_HELD_SIGNATURES)
        .map(|i| sshkeys::keygen(&dir, &format!("s{i}")))
        .collect();
    let text: String = keys
        .iter()
        .enumerate()
        .map(|(i, k)| format!("signer{i} namespaces=\"felhom-op-v1\" {}\n", k.public()))
        .collect();
    let signers = Signers::from_texts(Some(("op", &text)), None).unwrap();
    let blob = canonical_blob(
        "guest_destroy",
        &json!({"purge": true}),
        HOST,
        Some(9001),
        "0123456789abcdef0123456789abcdef",
        T0,
        T0 + 3600,
        "",
    );
    let journal = Journal::open(&dir.path().join("state"), Duration::from_secs(1)).unwrap();
    for (i, k) in keys.iter().enumerate() {
        let sig = sshkeys::sign(&dir, k, blob.as_bytes(), "felhom-op-v1", None);
        let before = journal.file_len();
        let got = queue::enqueue_at(
            &journal,
            &config,
            &signers,
            blob.as_bytes(),
            &sig,
            "submit",
            T0,
        )
        .unwrap();
        let (what, n) = outcome(&got);
        if i < felhom_agent::authz::MAX_HELD_SIGNATURES {
            assert_eq!(n, i + 1, "signer {i}");
            assert_eq!(what, if i == 0 { "queued" } else { "approval" });
        } else {
            assert_eq!((what.as_str(), n), ("full", i), "signer {i}");
            assert_eq!(journal.file_len(), before, "nothing written");
        }
    }
    let index = journal.index();
    assert_eq!(
        index.queued[0].held(),
        felhom_agent::authz::MAX_HELD_SIGNATURES
    );
}
