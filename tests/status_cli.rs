//! `--status [--json]` (CONTRACT §12) as the binary answers it: the exact
//! document on a fresh state dir, after passes that left work waiting for
//! a signature, queued and in flight, beside a running pass that holds the
//! state lock, and on a journal with a torn tail or damage. Read-only
//! throughout: the journal stays byte-identical, nothing is created, PVE is
//! never asked.
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
#[path = "support/prom_text.rs"]
mod prom_text;
#[path = "support/sshkeys.rs"]
mod sshkeys;

use agent::{Agent, BlobSpec};
use fakepve::{FakePve, Options};
use felhom_agent::journal::Record;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::process::Child;
use std::time::{Duration, Instant};

const DOC_KEYS: [&str; 9] = [
    "host_id",
    "agent_version",
    "desired_generation_applied",
    "last_pass",
    "pending",
    "queued",
    "in_flight",
    "journal",
    "hub",
];

fn keys(v: &Value) -> BTreeSet<&str> {
    v.as_object()
        .unwrap_or_else(|| panic!("not an object: {v}"))
        .keys()
        .map(String::as_str)
        .collect()
}

fn set(k: &[&'static str]) -> BTreeSet<&'static str> {
    k.iter().copied().collect()
}

fn empty_pve() -> FakePve {
    FakePve::start_with(Options {
        qemu: 0,
        lxc: 0,
        ..Options::default()
    })
}

fn status_json(a: &Agent) -> Value {
    let run = a.run(&["--status", "--json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let doc = run.json();
    assert_eq!(keys(&doc), set(&DOC_KEYS), "{doc}");
    doc
}

fn unix(rfc3339: &Value) -> i64 {
    felhom_agent::authz::rfc3339::parse(rfc3339.as_str().unwrap())
        .unwrap()
        .floor()
}

#[test]
fn on_a_fresh_state_dir_status_reports_nothing_held_and_creates_nothing() {
    let pve = empty_pve();
    let mut a = Agent::new(&pve, "st-fresh");
    let requests = pve.request_total();
    let doc = status_json(&a);
    assert_eq!(doc["host_id"], agent::HOST_ID);
    assert_eq!(doc["agent_version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(doc["desired_generation_applied"], Value::Null);
    assert_eq!(doc["last_pass"], Value::Null);
    for list in ["pending", "queued", "in_flight"] {
        assert_eq!(doc[list], json!([]), "{list}");
    }
    assert_eq!(
        doc["journal"],
        json!({"bytes": 0, "records": 0, "chain_head": null})
    );
    assert_eq!(
        doc["hub"],
        json!({"configured": false, "blocked": false, "last_contact_at": null,
               "last_error": null})
    );
    let human = a.run(&["--status"]);
    assert_eq!(human.code, 0, "{}", human.stderr);
    assert!(human.stdout.contains("last pass: none"), "{}", human.stdout);
    assert!(
        human.stdout.contains("hub: not configured"),
        "{}",
        human.stdout
    );
    assert_eq!(std::fs::read_dir(&a.state_dir).unwrap().count(), 0);
    assert_eq!(pve.request_total(), requests, "--status asked PVE");

    // A signer file that does not load stops the modes that verify
    // signatures (exit 78); --status still answers, to help find out why.
    let signers = std::fs::read(&a.operational).unwrap();
    std::fs::write(&a.operational, b"not a signer line\n").unwrap();
    assert_eq!(a.run(&["--plan"]).code, 78);
    assert_eq!(status_json(&a)["queued"], json!([]));
    std::fs::write(&a.operational, signers).unwrap();

    // A state dir that does not exist yet is not created either.
    let absent = a.dir.path().join("not-yet");
    a.config["state_dir"] = json!(absent);
    a.write_config();
    assert_eq!(status_json(&a)["journal"]["records"], 0);
    assert!(!absent.exists());
}

/// Guests for the work scenario.
struct Work {
    pve: FakePve,
    agent: Agent,
    /// Desired `absent`: waits for a signature.
    doomed: u32,
    /// Gets a signed op queued after the passes.
    later: u32,
    /// Its signed destroy's task cannot end while the test holds its lock.
    busy: u32,
}

/// A desired state with one `absent` guest, and a `--reconcile-now` whose
/// signed destroy of `busy` is journaled and running (its PVE task waits on
/// a config lock the test holds): the returned child holds the state lock.
fn start_work(tag: &str) -> (Work, Child, i64) {
    let pve = empty_pve();
    // A task waiting for a held config lock waits "forever" (PVE seconds).
    pve.call("__setattr__", json!(["lock_wait", 100_000]), json!({}));
    let doomed = pve.add_qemu("stopped", json!({"cores": 1, "memory": 512}));
    let later = pve.add_lxc("stopped", json!({"cores": 1, "memory": 256}));
    let busy = pve.add_qemu("stopped", json!({"cores": 1, "memory": 512}));
    let a = Agent::new(&pve, tag);
    a.write_desired(
        1,
        json!([{"vmid": doomed, "state": "absent", "purge": true}]),
    );
    let spec = BlobSpec::new("guest_destroy", json!({"purge": true}), Some(busy));
    let sub = a.submit(&a.sign(&a.alice, &spec.build_now()));
    assert_eq!(sub.code, 0, "{}", sub.stderr);
    pve.call("hold_config_lock", json!([busy, null]), json!({}));
    let started = felhom_agent::time::now_unix();
    let child = a.spawn(&["--reconcile-now", "--json"]);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !a
        .records()
        .iter()
        .any(|r| matches!(r, Record::TaskStarted { .. }))
    {
        assert!(Instant::now() < deadline, "the destroy task never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    let work = Work {
        pve,
        agent: a,
        doomed,
        later,
        busy,
    };
    (work, child, started)
}

#[test]
fn beside_a_running_pass_holding_the_lock_status_answers_at_once() {
    let (w, mut child, started) = start_work("st-beside");
    let before = w.agent.journal_bytes();
    let t = Instant::now();
    let doc = status_json(&w.agent);
    let took = t.elapsed();
    assert!(
        child.try_wait().unwrap().is_none(),
        "the pass ended: status was not beside a lock holder"
    );
    // The mutating modes wait up to 30 s for this lock; status must not.
    assert!(took < Duration::from_secs(10), "--status waited {took:?}");
    assert_eq!(doc["in_flight"].as_array().unwrap().len(), 1, "{doc}");
    assert_eq!(doc["in_flight"][0]["vmid"], w.busy);
    assert_eq!(doc["in_flight"][0]["op"], "guest_destroy");
    let since = unix(&doc["in_flight"][0]["since"]);
    assert!(since >= started && since <= felhom_agent::time::now_unix());
    assert_eq!(
        w.agent.journal_bytes(),
        before,
        "status changed the journal"
    );
    w.pve
        .call("release_config_lock", json!([w.busy]), json!({}));
    let out = child.wait_with_output().unwrap();
    assert!(out.status.code().is_some(), "the pass was killed");
    let after = status_json(&w.agent);
    assert_eq!(after["in_flight"], json!([]), "{after}");
    assert_eq!(after["last_pass"]["pending"], 1, "{after}");
}

#[test]
fn after_passes_status_shows_pending_queued_and_in_flight_work_exactly() {
    let (mut w, mut child, started) = start_work("st-work");
    // The pass dies with the destroy in flight; the next one finds its
    // task still running (left in flight) and the absent guest unsigned.
    child.kill().unwrap();
    child.wait().unwrap();
    let metrics = w.agent.dir.path().join("metrics/felhom-agent.prom");
    std::fs::create_dir_all(metrics.parent().unwrap()).unwrap();
    w.agent.config["metrics_file"] = json!(metrics);
    w.agent.write_config();
    let pass = w.agent.pass();
    assert_eq!(pass.code, 1, "{}", pass.stdout);
    let pass_doc = pass.json();
    let spec = BlobSpec::new("guest_destroy", json!({"purge": true}), Some(w.later));
    let blob = spec.build_now();
    let sub = w.agent.submit(&w.agent.sign(&w.agent.alice, &blob));
    assert_eq!(sub.code, 0, "{}", sub.stderr);

    let journal = w.agent.journal_bytes();
    let doc = status_json(&w.agent);
    let now = felhom_agent::time::now_unix();
    assert_eq!(
        w.agent.journal_bytes(),
        journal,
        "status changed the journal"
    );
    assert_eq!(doc["desired_generation_applied"], 1);
    let last = &doc["last_pass"];
    assert_eq!(
        keys(last),
        set(&["at", "actions", "failed", "pending", "errors"])
    );
    assert!(unix(&last["at"]) >= started && unix(&last["at"]) <= now);
    assert_eq!(
        last["actions"],
        pass_doc["actions"].as_array().unwrap().len()
    );
    assert_eq!(last["pending"], 1);
    assert_eq!(last["failed"], 0);
    assert_eq!(last["errors"], pass_doc["errors"].as_array().unwrap().len());
    assert_eq!(
        doc["pending"],
        json!([{"vmid": w.doomed, "op": "guest_destroy", "approvals": 0,
                "approvals_required": 1}])
    );
    let blob_doc: Value = serde_json::from_str(&blob).unwrap();
    assert_eq!(
        doc["queued"],
        json!([{"nonce": spec.nonce, "op": "guest_destroy",
                "guest_id": w.later.to_string(), "signers": ["alice"],
                "approvals": 1, "approvals_required": 1,
                "expires_at": blob_doc["expires_at"], "source": "submit"}])
    );
    let flight = &doc["in_flight"];
    assert_eq!(flight.as_array().unwrap().len(), 1, "{doc}");
    assert_eq!(keys(&flight[0]), set(&["vmid", "op", "since"]));
    assert_eq!(flight[0]["vmid"], w.busy);
    assert!(unix(&flight[0]["since"]) >= started);
    let verify = w.agent.run(&["--journal-verify", "--json"]).json();
    assert_eq!(doc["journal"]["bytes"], journal.len());
    assert_eq!(doc["journal"]["records"], verify["records"]);
    assert_eq!(doc["journal"]["chain_head"], verify["chain_head"]);
    assert_eq!(doc["hub"]["configured"], false);

    // For a person: the same facts, compactly, with the last pass's age and
    // how long the queued op stays valid.
    let human = w.agent.run(&["--status"]).stdout;
    for needle in [
        format!("last pass: {} (", last["at"].as_str().unwrap()),
        format!("expires {} (in ", blob_doc["expires_at"].as_str().unwrap()),
        format!("guest {} guest_destroy: 0 of 1 approvals", w.doomed),
        format!("guest_destroy guest {}, nonce {}", w.later, spec.nonce),
        "1 of 1 approvals (alice)".to_string(),
        format!("guest {} guest_destroy: since", w.busy),
        format!("journal: {} bytes", journal.len()),
        "awaiting signature: 1".to_string(),
        "queued signed ops: 1".to_string(),
        "in flight: 1".to_string(),
        "still running".to_string(),
    ] {
        assert!(human.contains(&needle), "no {needle:?} in:\n{human}");
    }
    let pass_line = human
        .lines()
        .find(|l| l.starts_with("last pass: "))
        .unwrap_or_else(|| panic!("no last pass line in:\n{human}"));
    assert!(pass_line.contains(" ago), took "), "{pass_line}");

    // The pass's metrics agree (queued was 0 when the pass ended).
    let text = std::fs::read_to_string(&metrics).unwrap();
    let m = prom_text::parse(&text).unwrap();
    assert_eq!(m.value("felhom_agent_in_flight_ops", &[]), 1.0);
    assert_eq!(m.value("felhom_agent_pending_signature", &[]), 1.0);
    assert_eq!(m.value("felhom_agent_queued_ops", &[]), 0.0);
    w.pve
        .call("release_config_lock", json!([w.busy]), json!({}));
}

mod damage {
    use super::*;
    use felhom_agent::journal::Journal;

    fn seeded(tag: &str) -> (FakePve, Agent, std::path::PathBuf) {
        let pve = empty_pve();
        let a = Agent::new(&pve, tag);
        let j = Journal::open(&a.state_dir, Duration::from_secs(1)).unwrap();
        for g in 1..=6 {
            j.append(Record::GenerationApplied { generation: g })
                .unwrap();
        }
        let path = j.path().to_path_buf();
        drop(j);
        (pve, a, path)
    }

    #[test]
    fn a_damaged_journal_exits_65_and_is_left_byte_identical() {
        let (_pve, a, path) = seeded("st-damage");
        let mut bytes = std::fs::read(&path).unwrap();
        let mid = bytes.len() / 2;
        bytes[mid] ^= 0x40;
        std::fs::write(&path, &bytes).unwrap();
        for args in [&["--status", "--json"][..], &["--status"]] {
            let run = a.run(args);
            assert_eq!(run.code, 65, "{args:?}: {}{}", run.stdout, run.stderr);
            assert_eq!(std::fs::read(&path).unwrap(), bytes, "the journal changed");
        }
    }

    #[test]
    fn a_torn_tail_is_ignored_not_truncated_and_a_held_lock_is_not_waited_for() {
        let (_pve, a, path) = seeded("st-torn");
        let mut bytes = std::fs::read(&path).unwrap();
        bytes.truncate(bytes.len() - 5);
        std::fs::write(&path, &bytes).unwrap();
        let doc = status_json(&a);
        assert_eq!(doc["journal"]["records"], 5);
        assert_eq!(doc["journal"]["bytes"], bytes.len());
        assert_eq!(doc["desired_generation_applied"], 5);
        assert_eq!(
            std::fs::read(&path).unwrap(),
            bytes,
            "the torn tail was cut"
        );
        // Holding the state lock (as a pass does) changes nothing.
        let held = Journal::open(&a.state_dir, Duration::from_secs(1)).unwrap();
        let t = Instant::now();
        let doc = status_json(&a);
        assert!(t.elapsed() < Duration::from_secs(10));
        assert_eq!(doc["journal"]["records"], 5);
        drop(held);
    }
}

#[test]
fn the_exposition_parser_refuses_what_it_must() {
    prom_text::self_check();
}
