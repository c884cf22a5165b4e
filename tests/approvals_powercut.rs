//! Power cuts under the real binary (CONTRACT §8 with §11), the two-person
//! rule: a 2-of-2 `guest_destroy`, alice's `--submit`, then bob's, then the
//! pass that runs it, as one action cut at every journal sync, at the
//! journal's creation and at the DELETE. Beyond the shared invariants:
//! - an approval `--submit` acknowledged (exit 0, its answer printed)
//!   survives every cut;
//! - an approval not acknowledged may be lost, but never half-present: the
//!   agent's own view (`--status`, what a second `--submit` answers) holds
//!   exactly the whole approvals the journal holds;
//! - the DELETE goes out only once the nonce's consumption and both
//!   approvals are durable, at most once, and the nonce stays consumed
//!   (submitting either signature again is `replay`);
//! - the pass after the restart converges.
//!
//! The scenario runs uncut once to count its file-system operations, then
//! once per cut point; the invariants every trial checks are listed in
//! `support/powercut_trial.rs` (with how to add a scenario), the disk model
//! in `support/powercut_fs.py`. Needs `fuse3` and `mfusepy` (installed by
//! `bash tests/run.sh`); fails with an install hint without them.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "support/fakepve.rs"]
mod fakepve;
#[path = "support/powercut.rs"]
mod powercut;
#[path = "support/powercut_trial.rs"]
mod powercut_trial;
#[path = "support/powercut_world.rs"]
mod powercut_world;
#[path = "support/sshkeys.rs"]
mod sshkeys;
#[path = "support/stub_hub.rs"]
mod stub_hub;

use felhom_agent::journal::Record;
use powercut::{Policy, Trigger};
use powercut_trial::{
    Cut, CutAt, Interrupted, Scenario, assert_converged, count, cut, nothing_kept, one_shot_done,
    restart_pass, run, spread, what,
};
use powercut_world::{Agent, Ctx, HOST_ID, NAMESPACE, Run, World, signer_line};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::PermissionsExt;
use std::sync::Mutex;

const OPERATIONAL: &str = "signers/operational.allowed_signers";
const SIGNERS: [&str; 2] = ["alice", "bob"];

/// A stopped guest, alice and bob operational signers, `guest_destroy`
/// needing both; one blob, signed by each (`signed[0]` alice's,
/// `signed[1]` bob's, the same nonce and blob file).
fn setup(ctx: &Ctx) -> World {
    let mut w = World::new(ctx, "pc-approve");
    let bob = sshkeys::keygen(&w.root, "bob");
    let operational = w.image(OPERATIONAL);
    let lines = [signer_line("alice", &w.alice), signer_line("bob", &bob)];
    std::fs::write(&operational, lines.join("\n") + "\n").unwrap();
    std::fs::set_permissions(&operational, std::fs::Permissions::from_mode(0o600)).unwrap();
    w.config["authz"]["approvals"] = json!({"guest_destroy": 2});
    w.write_config();
    let v = ctx
        .pve
        .add_qemu("stopped", json!({"cores": 1, "memory": 512}));
    w.vmids.push(v);
    let nonce = felhom_agent::reconcile::pending::fresh_nonce();
    let now = felhom_agent::time::now_unix();
    let blob = felhom_agent::authz::canonical_blob(
        "guest_destroy",
        &json!({"purge": true}),
        HOST_ID,
        Some(v),
        &nonce,
        now - 60,
        now + 3600,
        "",
    );
    let blob_file = w.root.write("op.json", blob.as_bytes());
    for (name, key) in SIGNERS.iter().zip([w.alice.clone(), bob]) {
        let sig = sshkeys::sign(&w.root, &key, blob.as_bytes(), NAMESPACE, None);
        let sig_file = w.root.write(&format!("op.json.{name}.sig"), &sig);
        w.signed.push((nonce.clone(), blob_file.clone(), sig_file));
    }
    w
}

fn submit_args(w: &World, i: usize) -> Vec<String> {
    let (_, b, s) = &w.signed[i];
    vec![
        "--json".into(),
        "--submit".into(),
        b.to_str().unwrap().into(),
        s.to_str().unwrap().into(),
    ]
}

/// alice's `--submit`, bob's, then a pass: each only if the last exited 0.
fn action(w: &World) -> Agent {
    let (alice, bob) = (submit_args(w, 0), submit_args(w, 1));
    let alice: Vec<&str> = alice.iter().map(String::as_str).collect();
    let bob: Vec<&str> = bob.iter().map(String::as_str).collect();
    w.spawn_chain(&[
        (alice.as_slice(), "submit-alice"),
        (bob.as_slice(), "submit-bob"),
        (["--reconcile-now", "--json"].as_slice(), "pass"),
    ])
}

fn cuts(c: &BTreeMap<String, u64>) -> Vec<Cut> {
    // Before every journal sync (sectors kept at random, or nothing
    // unsynced kept) and after it: alice's queued op, bob's approval, and
    // every record of the pass (its decision, the consumed nonce, the
    // intent, the task id, the outcome).
    let mut cuts: Vec<Cut> = (1..=count(c, "fsync:journal"))
        .flat_map(|n| {
            let before = Trigger::before("fsync", n).named("journal");
            [
                cut(CutAt::Fs(before.clone()), Policy::Sectors),
                // Nothing unsynced kept: whatever was acknowledged (a
                // --submit's answer, a DELETE sent) before this sync must
                // not have needed it.
                cut(CutAt::Fs(before), Policy::Drop),
                cut(
                    CutAt::Fs(Trigger::after("fsync", n).named("journal")),
                    Policy::Drop,
                ),
            ]
        })
        .collect();
    // alice's submit creates the journal: its temp file's sync, the rename
    // and the directory's sync.
    let tmp = felhom_agent::journal::TEMP_FILE;
    cuts.extend(spread(
        "fsync",
        Some(tmp),
        count(c, &format!("fsync:{tmp}")),
        2,
    ));
    for t in [Trigger::before("rename", 1), Trigger::after("rename", 1)] {
        cuts.push(cut(CutAt::Fs(t.named("journal")), Policy::Sectors));
    }
    cuts.extend(spread("fsyncdir", Some("state"), 1, 1));
    // The DELETE: PVE ran it, the agent never heard back; and a cut soon
    // after PVE saw it.
    cuts.push(cut(CutAt::PveAnswerLost(1), Policy::Sectors));
    cuts.push(cut(CutAt::PveRequest(1), Policy::Drop));
    cuts
}

/// The signers whose approval of the nonce the records hold whole: the
/// queued op's signature and every added approval, by signature bytes.
fn held(w: &World, records: &[Record]) -> BTreeSet<&'static str> {
    let sigs: Vec<String> = w
        .signed
        .iter()
        .map(|(_, _, s)| std::fs::read_to_string(s).unwrap())
        .collect();
    let nonce = &w.signed[0].0;
    let mut out = BTreeSet::new();
    for r in records {
        let sig = match r {
            Record::OpQueued { nonce: n, sig, .. }
            | Record::ApprovalAdded { nonce: n, sig, .. }
                if n == nonce =>
            {
                sig
            }
            _ => continue,
        };
        let who = sigs
            .iter()
            .position(|s| s == sig)
            .unwrap_or_else(|| panic!("a signature the operators never made: {sig}"));
        out.insert(SIGNERS[who]);
    }
    out
}

/// Whether a step's `--submit` acknowledged its signature: it printed its
/// whole answer (exit 0 follows), with the op queued or approved.
fn acknowledged(w: &World, step: &str) -> bool {
    let Ok(doc) = serde_json::from_str::<Value>(w.output(step).trim()) else {
        return false;
    };
    doc["valid"] == json!(true)
        && [json!(true), json!("approval"), json!("already")].contains(&doc["queued"])
}

/// What the agent itself reports as held for the queued op (`--status`,
/// read-only): its approving signers, or `None` if nothing is queued.
fn status_signers(w: &World, what: &str) -> Option<BTreeSet<String>> {
    let status = w.run(&["--status", "--json"]);
    assert_eq!(status.code, 0, "{what}: --status: {status:?}");
    let doc = status.json();
    let queued = doc["queued"].as_array().unwrap();
    let op = queued.iter().find(|q| q["nonce"] == json!(w.signed[0].0))?;
    let signers: BTreeSet<String> = op["signers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        op["approvals"],
        json!(signers.len()),
        "{what}: --status approvals vs signers: {op}"
    );
    Some(signers)
}

fn submit(w: &World, i: usize) -> Run {
    w.with_op("--submit", i)
}

static ENDS_SEEN: Mutex<BTreeMap<String, usize>> = Mutex::new(BTreeMap::new());

fn restart(w: &World, ctx: &Ctx, i: &Interrupted) {
    let what = what(w, i);
    let v = w.vmids[0];
    let records = w.records();
    let held = held(w, &records);
    let nonce = w.signed[0].0.clone();
    let consumed = w.nonce_consumed(&nonce);
    let deleted = ctx.pve.deletes(v);
    let acked: Vec<&str> = ["submit-alice", "submit-bob"]
        .iter()
        .zip(SIGNERS)
        .filter(|(step, _)| acknowledged(w, step))
        .map(|(_, who)| who)
        .collect();
    let what = format!(
        "{what}: held {held:?}, acknowledged {acked:?}, consumed {consumed}, DELETEs {deleted}"
    );
    *ENDS_SEEN
        .lock()
        .unwrap()
        .entry(format!(
            "held {}, acknowledged {}, consumed {consumed}, DELETEs {deleted}",
            held.len(),
            acked.len()
        ))
        .or_default() += 1;

    // What survived the cut.
    for who in &acked {
        assert!(
            held.contains(who) || consumed,
            "{what}: {who}'s acknowledged approval was lost"
        );
    }
    if deleted > 0 {
        assert!(consumed, "{what}: DELETE sent before the nonce was durable");
        let intent = records.iter().any(
            |r| matches!(r, Record::Intent { vmid, op, .. } if *vmid == v && op == "guest_destroy"),
        );
        assert!(intent, "{what}: DELETE sent before its intent was durable");
        assert_eq!(
            held.len(),
            2,
            "{what}: the op ran without two durable approvals"
        );
    }
    // The agent's own view holds exactly the whole approvals.
    if !consumed {
        let view = status_signers(w, &what).unwrap_or_default();
        let expected: BTreeSet<String> = held.iter().map(|s| s.to_string()).collect();
        assert_eq!(
            view, expected,
            "{what}: --status disagrees with the journal"
        );
    }

    // The operators submit again whatever may have been lost; each answer
    // says what was held. A consumed nonce never runs again.
    if consumed {
        for i in 0..2 {
            let again = submit(w, i);
            assert_eq!(
                again.code, 65,
                "{what}: resubmit after consumption: {again:?}"
            );
            assert_eq!(again.json()["error"], json!("replay"), "{what}");
        }
        restart_pass(w, &what);
    } else {
        let mut approving = held.clone();
        for (i, who) in SIGNERS.iter().enumerate() {
            approving.insert(who);
            let again = submit(w, i);
            assert_eq!(again.code, 0, "{what}: {who} submits again: {again:?}");
            let doc = again.json();
            let want = if held.contains(who) {
                json!("already")
            } else if i == 0 {
                json!(true)
            } else {
                json!("approval")
            };
            assert_eq!(doc["queued"], want, "{what}: {who} submits again: {doc}");
            assert_eq!(doc["approvals"], json!(approving.len()), "{what}: {doc}");
            assert_eq!(doc["approvals_required"], json!(2), "{what}: {doc}");
        }
        // (It may exit 1: recovery reports an op interrupted before its
        // nonce was consumed in the pass's errors.)
        let run = restart_pass(w, &what);
        let ran = run.json()["actions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["op"] == json!("guest_destroy") && a["outcome"] == json!("succeeded"));
        assert!(ran, "{what}: the pass that runs it: {run:?}");
    }
    assert_converged(w, &what, 0);
    assert!(w.nonce_consumed(&nonce), "{what}: consumed nonce lost");
    for i in 0..2 {
        let again = submit(w, i);
        assert_eq!(again.code, 65, "{what}: resubmit at the end: {again:?}");
        assert_eq!(again.json()["error"], json!("replay"), "{what}");
    }
    let deleted_now = ctx.pve.deletes(v);
    assert!(deleted_now <= 1, "{what}: ran {deleted_now} times");
    if !consumed {
        assert_eq!(deleted_now, 1, "{what}: the approved op never ran");
    }
    let gone = ctx.pve.guest(v)["exists"] == json!(false);
    assert_eq!(gone, deleted_now == 1, "{what}: guest state vs DELETE");
    // Whenever it ran, it ran on both approvals (the decision names both).
    let allowed: Vec<String> = w
        .records()
        .iter()
        .filter_map(|r| match r {
            Record::Decision(d)
                if d.decision == "allowed" && d.nonce.as_deref() == Some(nonce.as_str()) =>
            {
                Some(d.signer.clone().unwrap_or_default())
            }
            _ => None,
        })
        .collect();
    for signer in &allowed {
        assert!(
            signer.contains("alice") && signer.contains("bob"),
            "{what}: allowed on {signer:?}"
        );
    }
}

const TWO_OF_TWO_DESTROY: Scenario = Scenario {
    name: "2-of-2 destroy",
    setup,
    action,
    done: one_shot_done,
    cuts,
    kept: nothing_kept,
    restart,
};

#[test]
fn power_cuts_while_two_approvals_accumulate_and_run_keep_acknowledged_approvals_and_run_the_op_once_on_both()
 {
    run(&TWO_OF_TWO_DESTROY);
    let seen = ENDS_SEEN.lock().unwrap().clone();
    eprintln!("2-of-2 destroy: trials ended {seen:?}");
    // The cut points reach each stage: nothing held, one approval, both,
    // consumed before the DELETE, and after it.
    for stage in [
        "held 0, acknowledged 0, consumed false, DELETEs 0",
        "held 1, acknowledged 1, consumed false, DELETEs 0",
        "held 2, acknowledged 2, consumed false, DELETEs 0",
        "held 2, acknowledged 2, consumed true, DELETEs 0",
        "held 2, acknowledged 2, consumed true, DELETEs 1",
    ] {
        assert!(
            seen.contains_key(stage),
            "no trial reached \"{stage}\": {seen:?}"
        );
    }
}
