//! One pass, end to end: the real binary (`--reconcile-now`, `--plan`)
//! against a real fakepve. PVE state is asserted through the harness, the
//! number and kind of requests through fakepve's request log, and lanes
//! through the order of that log.
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

use agent::{Agent, action, mutating, names_guest};
use fakepve::FakePve;
use serde_json::{Value, json};

const GIB: u64 = 1024 * 1024 * 1024;

/// A PVE config number given as a number or a numeric string.
fn num(v: &Value) -> u64 {
    v.as_u64()
        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        .unwrap_or_else(|| panic!("not a number: {v}"))
}

/// Sample guests: qemu 100 (running, 1 core, 512 MiB), qemu 101 (stopped),
/// lxc 102 (running, description "sample lxc\n"), lxc 103 (stopped).
#[test]
fn mixed_host_converges_in_one_pass_then_sends_no_write_and_never_touches_unmanaged() {
    let pve = FakePve::start();
    // A qemu guest whose memory PVE reports as a numeric string, and an
    // lxc guest whose description carries PVE's trailing newline: both
    // already converged, so neither may ever be written.
    let qstr = pve.add_qemu(
        "stopped",
        json!({"cores": 2, "memory": "2048", "description": "db"}),
    );
    let ltrail = pve.add_lxc(
        "running",
        json!({"cores": 1, "memory": 512, "description": "cache\n"}),
    );
    let a = Agent::new(&pve, "e2e-mixed");
    a.write_desired(
        1,
        json!([
            {"vmid": 100, "state": "stopped", "description": "web"},
            {"vmid": 101, "state": "running", "cores": 3, "memory_bytes": 2 * GIB},
            {"vmid": 102, "cores": 2, "description": "sample lxc", "memory_bytes": 1_073_741_825u64},
            {"vmid": qstr, "state": "stopped", "memory_bytes": 2 * GIB, "description": "db"},
            {"vmid": ltrail, "state": "running", "description": "cache"},
            {"vmid": 4242, "state": "running"}
        ]),
    );
    let first = a.pass();
    assert_eq!(first.code, 0, "{}\n{}", first.stdout, first.stderr);
    let doc = first.json();
    assert_eq!(doc["generation"], json!(1));
    assert_eq!(doc["missing"], json!([4242]));
    assert_eq!(doc["unmanaged"], json!([103]));
    let acts = first.actions();
    for a in &acts {
        assert_eq!(a["outcome"], json!("succeeded"), "{a}");
        assert_eq!(a["decision"], json!("allowed"), "{a}");
        assert_eq!(a["class"], json!("benign"), "{a}");
    }
    assert_eq!(
        action(&acts, 100, "set_config")["params"],
        json!({"description": "web"})
    );
    action(&acts, 100, "stop");
    assert_eq!(
        action(&acts, 101, "set_config")["params"],
        json!({"cores": 3, "memory": 2048})
    );
    action(&acts, 101, "start");
    // 1 GiB + 1 byte is 1025 MiB (rounded up); the description matches.
    assert_eq!(
        action(&acts, 102, "set_config")["params"],
        json!({"cores": 2, "memory": 1025})
    );
    assert_eq!(acts.len(), 5, "only drifted guests act: {acts:?}");

    // (A running guest's cores/memory go to PVE's pending config, which the
    // harness view does not show; the stopped ones show them at once.)
    let g100 = pve.guest(100);
    assert_eq!(g100["status"], json!("stopped"));
    assert_eq!(g100["config"]["description"], json!("web"));
    let g101 = pve.guest(101);
    assert_eq!(g101["status"], json!("running"));
    assert_eq!(num(&g101["config"]["cores"]), 3);
    assert_eq!(num(&g101["config"]["memory"]), 2048);
    let g102 = pve.guest(102);
    assert_eq!(g102["status"], json!("running"));
    for v in [qstr, ltrail] {
        assert_eq!(
            pve.mutating_requests_for(v),
            0,
            "converged guest {v} was written"
        );
    }

    let before = pve.request_total();
    let second = a.pass();
    assert_eq!(second.code, 0, "{}\n{}", second.stdout, second.stderr);
    assert!(second.actions().is_empty(), "{:?}", second.actions());
    let reqs = pve.requests();
    let pass2 = &reqs[before..];
    assert_eq!(mutating(pass2), vec![], "a converged pass wrote to PVE");
    // One resource list plus one config read per managed guest present.
    let managed_present = 5;
    assert!(
        pass2.len() <= 1 + managed_present,
        "{} reads > 1 + N: {pass2:?}",
        pass2.len()
    );
    // The unmanaged guest appears in no request path, in either pass.
    let named: Vec<_> = reqs.iter().filter(|(_, p)| names_guest(p, 103)).collect();
    assert_eq!(named, Vec::<&(String, String)>::new());
}

#[test]
fn written_lxc_description_and_qemu_memory_read_back_as_converged() {
    let pve = FakePve::start();
    let q = pve.add_qemu("stopped", json!({"cores": 1, "memory": 512}));
    let l = pve.add_lxc(
        "stopped",
        json!({"cores": 1, "memory": 256, "description": "old\n"}),
    );
    let a = Agent::new(&pve, "e2e-quirks");
    a.write_desired(
        3,
        json!([
            {"vmid": q, "memory_bytes": 3 * GIB / 2 + 1, "description": "line one\nline two\n"},
            {"vmid": l, "memory_bytes": 768 * 1024 * 1024, "description": "new text"}
        ]),
    );
    let first = a.pass();
    assert_eq!(first.code, 0, "{}", first.stderr);
    assert_eq!(first.actions().len(), 2);
    for _ in 0..2 {
        let before = pve.mutating_requests();
        let again = a.pass();
        assert_eq!(again.code, 0, "{}", again.stderr);
        assert!(again.actions().is_empty(), "{:?}", again.actions());
        assert_eq!(
            pve.mutating_requests(),
            before,
            "a read-back value was drift"
        );
    }
}

#[test]
fn locked_guest_is_skipped_and_the_pass_fails_with_the_lock_named() {
    let pve = FakePve::start();
    let v = pve.add_qemu("stopped", json!({"cores": 1, "memory": 512}));
    pve.set_guest(v, "lock", json!("backup"));
    let a = Agent::new(&pve, "e2e-locked");
    a.write_desired(1, json!([{"vmid": v, "state": "running", "cores": 4}]));
    let run = a.pass();
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(run.actions().is_empty());
    let errors = run.errors();
    assert!(
        errors.contains(&format!("guest {v} is locked")) && errors.contains("backup"),
        "{errors}"
    );
    assert_eq!(pve.mutating_requests(), 0);
    assert_eq!(pve.guest(v)["status"], json!("stopped"));
}

#[test]
fn a_locked_guest_that_needs_nothing_is_converged_and_does_not_fail_the_pass() {
    // CONTRACT §6: exit 1 when the pass *skipped an action* because the
    // guest is locked; a converged guest under a backup lock skipped nothing.
    let pve = FakePve::start();
    let v = pve.add_qemu("running", json!({"cores": 2, "memory": 512}));
    pve.set_guest(v, "lock", json!("backup"));
    let a = Agent::new(&pve, "e2e-locked-converged");
    a.write_desired(1, json!([{"vmid": v, "state": "running", "cores": 2}]));
    for mode in ["--plan", "--reconcile-now"] {
        let run = a.run(&[mode, "--json"]);
        assert_eq!(run.code, 0, "{mode}: {}", run.stdout);
        assert!(run.actions().is_empty(), "{}", run.stdout);
        assert_eq!(run.errors(), "", "{mode}");
    }
    assert_eq!(pve.mutating_requests(), 0);
}

#[test]
fn failed_task_fails_the_pass_and_is_retried_successfully_next_pass() {
    let pve = FakePve::start();
    let v = pve.add_qemu("stopped", json!({"cores": 1, "memory": 512}));
    pve.set_guest(v, "start_error", json!("kvm: failed to allocate memory"));
    let a = Agent::new(&pve, "e2e-retry");
    a.write_desired(1, json!([{"vmid": v, "state": "running"}]));
    let run = a.pass();
    assert_eq!(run.code, 1, "{}", run.stdout);
    let start = action(&run.actions(), v, "start").clone();
    assert_eq!(start["outcome"], json!("failed"));
    assert!(
        start["reason"]
            .as_str()
            .unwrap()
            .contains("failed to allocate"),
        "{start}"
    );
    assert_eq!(pve.guest(v)["status"], json!("stopped"));

    pve.set_guest(v, "start_error", Value::Null);
    let retry = a.pass();
    assert_eq!(retry.code, 0, "{}", retry.stdout);
    assert_eq!(
        action(&retry.actions(), v, "start")["outcome"],
        json!("succeeded")
    );
    assert_eq!(pve.guest(v)["status"], json!("running"));
    let starts = pve
        .requests()
        .iter()
        .filter(|(m, p)| m == "POST" && names_guest(p, v) && p.ends_with("/status/start"))
        .count();
    assert_eq!(starts, 2, "one attempt per pass, no retry inside a pass");
}

#[test]
fn rejected_desired_documents_change_nothing_and_the_last_good_stays_in_force() {
    let pve = FakePve::start();
    let a = Agent::new(&pve, "e2e-reject");
    let good = json!([{"vmid": 100, "state": "running"}, {"vmid": 101, "state": "stopped"}]);
    a.write_desired(5, good);
    assert_eq!(a.pass().code, 0);
    let bad: [(&str, Vec<u8>, &str); 3] = [
        (
            "unknown field",
            br#"{"generation": 6, "desired_state": {"guests": [{"vmid": 100, "state": "stopped", "colour": "red"}]}}"#.to_vec(),
            "colour",
        ),
        (
            "duplicate vmid",
            br#"{"generation": 6, "desired_state": {"guests": [{"vmid": 101, "state": "running"}, {"vmid": 101, "state": "running"}]}}"#.to_vec(),
            "101",
        ),
        (
            "generation backwards",
            br#"{"generation": 4, "desired_state": {"guests": [{"vmid": 100, "state": "stopped"}]}}"#.to_vec(),
            "4",
        ),
    ];
    for (what, bytes, needle) in bad {
        a.write_desired_raw(&bytes);
        let before = pve.mutating_requests();
        let run = a.pass();
        assert_eq!(run.code, 1, "{what}: {}", run.stdout);
        let errors = run.errors();
        assert!(
            errors.contains("desired state rejected") && errors.contains(needle),
            "{what}: {errors}"
        );
        assert_eq!(run.json()["generation"], json!(5), "{what}");
        assert!(run.actions().is_empty(), "{what}: {:?}", run.actions());
        assert_eq!(pve.mutating_requests(), before, "{what} changed PVE");
        assert_eq!(pve.guest(100)["status"], json!("running"), "{what}");
        assert_eq!(pve.guest(101)["status"], json!("stopped"), "{what}");
    }
    // Still rejected, but the last good document (generation 5) is the
    // target: a guest drifting from it is brought back.
    pve.set_guest(100, "status", json!("stopped"));
    let run = a.pass();
    assert_eq!(run.code, 1, "the rejection is still reported");
    assert_eq!(
        action(&run.actions(), 100, "start")["outcome"],
        json!("succeeded")
    );
    assert_eq!(pve.guest(100)["status"], json!("running"));
}

#[test]
fn plan_changes_nothing_not_even_the_journal() {
    let pve = FakePve::start();
    let a = Agent::new(&pve, "e2e-plan");
    a.write_desired(1, json!([{"vmid": 101, "cores": 3}]));
    assert_eq!(a.pass().code, 0);
    a.write_desired(
        2,
        json!([
            {"vmid": 100, "state": "stopped"},
            {"vmid": 101, "state": "running", "cores": 4},
            {"vmid": 103, "state": "absent", "purge": true}
        ]),
    );
    let journal = a.journal_bytes();
    assert!(!journal.is_empty());
    let last_good = a.state_dir.join("desired-state.json");
    let last_good_before = std::fs::read(&last_good).unwrap();
    let before = pve.mutating_requests();
    for args in [&["--plan", "--json"][..], &["--plan"][..]] {
        let run = a.run(args);
        assert_eq!(run.code, 4, "{}\n{}", run.stdout, run.stderr);
    }
    let plan = a.run(&["--plan", "--json"]);
    let acts = plan.actions();
    assert_eq!(acts.len(), 4, "{acts:?}");
    for x in &acts {
        assert_eq!(x["outcome"], json!("planned"), "{x}");
    }
    assert_eq!(
        action(&acts, 103, "guest_destroy")["decision"],
        json!("pending_signature")
    );
    assert_eq!(pve.mutating_requests(), before, "--plan wrote to PVE");
    assert_eq!(a.journal_bytes(), journal, "--plan changed the journal");
    assert_eq!(
        std::fs::read(&last_good).unwrap(),
        last_good_before,
        "--plan replaced the last good desired state"
    );
    assert_eq!(num(&pve.guest(101)["config"]["cores"]), 3);
    assert_eq!(pve.guest(101)["status"], json!("stopped"));
}

/// Index in `log` of the last request at or after `from` that names the
/// task of `kind` on `vmid` (its status polls), or `from` if none.
fn last_task_poll(log: &[(String, String)], from: usize, kind: &str, vmid: u32) -> usize {
    let tag = format!(":{kind}:{vmid}:");
    log.iter()
        .enumerate()
        .skip(from)
        .filter(|(_, (_, p))| p.contains("/tasks/") && p.contains(&tag))
        .map(|(i, _)| i)
        .next_back()
        .unwrap_or(from)
}

/// Lanes from the request log's order (a total order of arrival): an
/// action's interval runs from its mutating request to the last poll of its
/// task. Two guests' intervals intersecting proves parallel lanes; within a
/// guest, the next mutation always arrives after the previous task's last
/// poll.
#[test]
fn lanes_overlap_across_guests_and_never_within_one_guest() {
    let pve = FakePve::start_with(fakepve::Options {
        qemu: 0,
        lxc: 0,
        ..Default::default()
    });
    let vmids: Vec<u32> = (0..4)
        .map(|_| pve.add_qemu("stopped", json!({"cores": 1, "memory": 512})))
        .collect();
    for v in &vmids {
        // 30 PVE seconds at time scale 0.01: each start task runs ~0.3 s.
        pve.set_guest(*v, "start_secs", json!(30));
    }
    let a = Agent::new(&pve, "e2e-lanes");
    let guests: Vec<Value> = vmids
        .iter()
        .map(|v| json!({"vmid": v, "state": "running", "cores": 2}))
        .collect();
    a.write_desired(1, Value::Array(guests));
    let run = a.pass();
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let log = pve.requests();
    let mut intervals = Vec::new();
    for v in &vmids {
        let muts: Vec<usize> = log
            .iter()
            .enumerate()
            .filter(|(_, (m, p))| m != "GET" && names_guest(p, *v))
            .map(|(i, _)| i)
            .collect();
        assert_eq!(muts.len(), 2, "config then start on {v}: {log:?}");
        let (config, start) = (muts[0], muts[1]);
        assert!(log[config].1.ends_with("/config"), "{:?}", log[config]);
        assert!(log[start].1.ends_with("/status/start"), "{:?}", log[start]);
        // Same guest: the start is sent only after everything of the config
        // write (a synchronous PUT, or its task's last poll) has happened.
        assert!(start > last_task_poll(&log, config, "qmconfig", *v));
        let end = last_task_poll(&log, start, "qmstart", *v);
        assert!(end > start, "no task poll after the start of {v}");
        intervals.push((*v, start, end));
    }
    let overlapping = intervals.iter().any(|(v1, s1, e1)| {
        intervals
            .iter()
            .any(|(v2, s2, _)| v1 != v2 && s1 < s2 && s2 < e1)
    });
    assert!(
        overlapping,
        "no guest's start was sent while another guest's start task was being waited on: {intervals:?}"
    );
}
