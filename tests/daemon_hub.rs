//! The daemon against a scripted loopback hub (plain HTTP, allowed on
//! loopback) and fakepve: report pacing, `blocked`, generation bumps, signed
//! jobs from delivery to deletion, and hostile or broken hub answers.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "daemon_support/mod.rs"]
mod daemon_support;
#[path = "support/fakepve.rs"]
mod fakepve;
#[path = "support/sshkeys.rs"]
mod sshkeys;
#[path = "support/stub_hub.rs"]
mod stub_hub;

use daemon_support::{
    API_KEY, Agent, DESIRED, HOST, JOBS, REPORT, Source, envelope, job, wait_for,
};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use stub_hub::{Reply, StubHub};

const DELETE_ANY: &str = "/api/v1/hosts/pve1/jobs/*";

fn doc(generation: u64, guests: Value) -> String {
    json!({"generation": generation, "desired_state": {"guests": guests}}).to_string()
}

fn count(hub: &StubHub, method: &str, path: &str) -> usize {
    hub.requests_to(method, path).len()
}

fn deletes_of(hub: &StubHub, id: &str) -> usize {
    count(hub, "DELETE", &format!("{JOBS}/{id}"))
}

fn pve_status(agent: &Agent, vmid: u32) -> String {
    agent.pve.guest(vmid)["status"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn the_first_report_goes_out_at_start_and_a_zero_poll_interval_is_clamped() {
    let hub = StubHub::start();
    hub.on(
        "POST",
        REPORT,
        Reply::json(200, &envelope(0, false, None, false)),
    );
    hub.on("GET", DESIRED, Reply::status(404));
    let agent = Agent::new("hubfirst", 0.0);
    agent.configure(Source::Hub(&hub.url()), 1);
    let mut daemon = agent.start(&[]);
    assert!(hub.wait_until(Duration::from_secs(20), |r| {
        r.iter().any(|q| q.path == REPORT)
    }));
    let first = &hub.requests_to("POST", REPORT)[0];
    assert_eq!(first.index, 0, "the report is the first request at start");
    assert_eq!(
        first.header("authorization"),
        Some(format!("Bearer {API_KEY}").as_str())
    );
    let body = first.json();
    assert_eq!(body["host_id"], HOST);
    assert!(body["agent_version"].is_string());
    assert!(body["reported_at"].as_str().unwrap().ends_with('Z'));
    assert!(body["guests"].is_array() && body["pending"].is_array());
    assert!(!String::from_utf8_lossy(&first.body).contains(API_KEY));
    // At start the desired state is fetched once, whatever the envelope says.
    assert!(hub.wait_until(Duration::from_secs(10), |r| {
        r.iter().any(|q| q.path == DESIRED)
    }));
    // The hub asked for 0 s; clamped to 60 s, so no second report now.
    std::thread::sleep(Duration::from_secs(5));
    daemon.assert_alive();
    assert_eq!(count(&hub, "POST", REPORT), 1);
    assert_eq!(count(&hub, "GET", DESIRED), 1);
}

#[test]
fn blocked_stops_mutations_survives_a_restart_and_clearing_it_resumes() {
    let hub = StubHub::start();
    let agent = Agent::new("hubblocked", 0.0);
    let vmid = agent
        .pve
        .add_qemu("stopped", json!({"cores": 1, "memory": 512}));
    hub.on(
        "POST",
        REPORT,
        Reply::json(200, &envelope(60, true, Some(1), false)),
    );
    hub.on(
        "GET",
        DESIRED,
        Reply::json(200, &doc(1, json!([{"vmid": vmid, "state": "running"}]))),
    );
    agent.configure(Source::Hub(&hub.url()), 1);
    let mut daemon = agent.start(&[]);
    assert!(hub.wait_until(Duration::from_secs(20), |r| {
        r.iter().any(|q| q.path == DESIRED)
    }));
    let reads_before = agent.pve.request_total();
    std::thread::sleep(Duration::from_secs(4));
    daemon.assert_alive();
    assert!(
        agent.pve.request_total() > reads_before + 2,
        "passes should keep reading while blocked"
    );
    assert_eq!(agent.pve.mutating_requests(), 0, "mutation while blocked");
    daemon.kill();

    // Restart while the hub fails: the block is remembered.
    hub.once("POST", REPORT, Reply::status(500));
    hub.on(
        "POST",
        REPORT,
        Reply::json(200, &envelope(60, false, Some(1), false)),
    );
    let mut daemon = agent.start(&[]);
    assert!(hub.wait_until(Duration::from_secs(20), |r| {
        r.iter().filter(|q| q.path == REPORT).count() == 2
    }));
    std::thread::sleep(Duration::from_millis(1200));
    assert_eq!(
        agent.pve.mutating_requests(),
        0,
        "a restart with the hub unreachable lifted the block"
    );
    // The retried report clears the block; reconcile resumes.
    assert!(wait_for(Duration::from_secs(30), || pve_status(
        &agent, vmid
    ) == "running"));
    daemon.assert_alive();
    assert_eq!(count(&hub, "POST", REPORT), 3);
}

#[test]
fn a_generation_bump_delivers_a_new_desired_state_that_converges() {
    let hub = StubHub::start();
    let agent = Agent::new("hubbump", 0.0);
    let vmid = agent
        .pve
        .add_qemu("stopped", json!({"cores": 1, "memory": 512}));
    let gen1 = doc(1, json!([{"vmid": vmid, "state": "running"}]));
    let gen2 = doc(
        2,
        json!([{"vmid": vmid, "state": "running", "cores": 2, "description": "v2"}]),
    );
    let fetches = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&fetches);
    hub.on_fn("GET", DESIRED, move |_| {
        let body = if counter.fetch_add(1, Ordering::SeqCst) == 0 {
            &gen1
        } else {
            &gen2
        };
        Reply::json(200, body)
    });
    // The first report fails, so the retry (2 s later) brings the bump.
    hub.once("POST", REPORT, Reply::status(503));
    hub.on(
        "POST",
        REPORT,
        Reply::json(200, &envelope(60, false, Some(2), false)),
    );
    agent.configure(Source::Hub(&hub.url()), 1);
    let mut daemon = agent.start(&[]);
    let converged = wait_for(Duration::from_secs(40), || {
        let g = agent.pve.guest(vmid);
        g["status"] == "running"
            && g["config"]["description"].as_str().map(str::trim_end) == Some("v2")
    });
    assert!(converged, "generation 2 did not converge");
    daemon.assert_alive();
    assert_eq!(
        fetches.load(Ordering::SeqCst),
        2,
        "start fetch + bump fetch"
    );
    assert_eq!(agent.last_good().unwrap()["generation"], 2);
}

#[test]
fn a_signed_job_runs_exactly_once_and_is_deleted_even_when_the_first_delete_fails() {
    let hub = StubHub::start();
    let agent = Agent::new("hubjob", 0.0);
    let vmid = agent
        .pve
        .add_lxc("stopped", json!({"cores": 1, "memory": 256}));
    let (blob, sig) = agent.signed("guest_destroy", json!({"purge": true}), HOST, vmid);
    let jobs = json!({"jobs": [job("j1", &blob, &sig)]});
    hub.on(
        "POST",
        REPORT,
        Reply::json(200, &envelope(60, false, None, true)),
    );
    hub.on("GET", DESIRED, Reply::status(404));
    hub.on("GET", JOBS, Reply::json_value(200, &jobs));
    hub.once("DELETE", DELETE_ANY, Reply::status(500));
    hub.on("DELETE", DELETE_ANY, Reply::status(204));
    agent.configure(Source::Hub(&hub.url()), 1);
    let mut daemon = agent.start(&[]);
    assert!(wait_for(Duration::from_secs(30), || {
        agent.pve.guest(vmid)["exists"] == json!(false)
    }));
    // The failed DELETE is retried after the backoff.
    assert!(hub.wait_until(Duration::from_secs(20), |_| deletes_of(&hub, "j1") == 2));
    let mutations = agent.pve.mutating_requests_for(vmid);
    assert!(mutations >= 1);
    daemon.assert_alive();
    daemon.kill();

    // The hub still lists the job; after a restart it is re-verified,
    // refused as a replay, and deleted again without running.
    let mut daemon = agent.start(&[]);
    assert!(hub.wait_until(Duration::from_secs(20), |_| deletes_of(&hub, "j1") == 3));
    std::thread::sleep(Duration::from_secs(2));
    daemon.assert_alive();
    assert_eq!(agent.pve.mutating_requests_for(vmid), mutations);
    assert!(daemon.log_text().contains("hub job j1 rejected (replay)"));
}

#[test]
fn hostile_jobs_and_a_scratch_claiming_document_are_refused_without_harm() {
    let hub = StubHub::start();
    let agent = Agent::new("hubhostile", 0.0);
    let victim = agent
        .pve
        .add_qemu("running", json!({"cores": 1, "memory": 512}));
    let spare = agent
        .pve
        .add_lxc("running", json!({"cores": 1, "memory": 256}));
    agent.configure(Source::Hub(&hub.url()), 1);
    // A nonce consumed before the daemon starts (submitted and executed).
    let (used_blob, used_sig) =
        agent.signed("set_config", json!({"description": "once"}), HOST, spare);
    let b = agent.dir.write("used.json", &used_blob);
    let s = agent.dir.write("used.json.sig", &used_sig);
    let submit = agent.run(&["--submit", b.to_str().unwrap(), s.to_str().unwrap()]);
    assert_eq!(submit.status.code(), Some(0));
    let _ = agent.run(&["--reconcile-now"]);
    let baseline = agent.pve.mutating_requests();
    assert!(baseline >= 1, "the submitted op did not run");

    let destroy = json!({"purge": true});
    let (other_host, other_sig) =
        agent.signed("guest_destroy", destroy.clone(), "elsewhere", victim);
    let (signed_blob, bad_sig) = agent.signed("guest_destroy", destroy.clone(), HOST, victim);
    let (tampered, _) = agent.signed("guest_destroy", destroy.clone(), HOST, victim);
    assert_ne!(signed_blob, tampered);
    let stranger = sshkeys::keygen(&agent.dir, "stranger");
    let stranger_sig = sshkeys::sign(&agent.dir, &stranger, &tampered, "felhom-op-v1", None);
    let jobs = json!({"jobs": [
        job("other-host", &other_host, &other_sig),
        job("replayed", &used_blob, &used_sig),
        job("bad-sig", &tampered, &bad_sig),
        job("stranger", &tampered, &stranger_sig),
    ]});
    let scratch = json!({"generation": 3, "desired_state": {"guests": [
        {"vmid": victim, "state": "absent", "purge": true, "scratch": true}]}});
    hub.on(
        "POST",
        REPORT,
        Reply::json(200, &envelope(60, false, Some(3), true)),
    );
    hub.on("GET", DESIRED, Reply::json_value(200, &scratch));
    hub.on("GET", JOBS, Reply::json_value(200, &jobs));
    hub.on("DELETE", DELETE_ANY, Reply::status(204));
    let mut daemon = agent.start(&[]);
    let refused = hub.wait_until(Duration::from_secs(30), |_| {
        ["other-host", "replayed", "bad-sig"]
            .iter()
            .all(|id| deletes_of(&hub, id) == 1)
    });
    assert!(refused, "terminal rejections were not deleted on the hub");
    std::thread::sleep(Duration::from_secs(3));
    daemon.assert_alive();
    assert_eq!(
        agent.pve.mutating_requests(),
        baseline,
        "a hostile input mutated"
    );
    assert_eq!(pve_status(&agent, victim), "running");
    // unknown_signer may change (a key added): left on the hub.
    assert_eq!(deletes_of(&hub, "stranger"), 0);
    assert!(
        agent.last_good().is_none(),
        "the rejected document was kept"
    );
    let log = daemon.log_text();
    assert!(log.contains("desired state from the hub rejected"), "{log}");
    for code in [
        "(target)",
        "(replay)",
        "(bad_signature)",
        "(unknown_signer)",
    ] {
        assert!(log.contains(code), "no {code} rejection in:\n{log}");
    }
}

#[test]
fn garbage_slow_and_oversized_hub_answers_are_survived_while_reconcile_uses_last_good() {
    let hub = StubHub::start();
    let agent = Agent::new("hubgarbage", 0.0);
    let vmid = agent
        .pve
        .add_qemu("stopped", json!({"cores": 1, "memory": 512}));
    let good = doc(1, json!([{"vmid": vmid, "state": "running"}]));
    std::fs::write(agent.state_dir.join("desired-state.json"), &good).unwrap();
    hub.once(
        "POST",
        REPORT,
        Reply::garbage(b"\x00\xffnot http at all\r\n\r\n"),
    );
    hub.once(
        "POST",
        REPORT,
        Reply::json(200, &envelope(60, false, None, false)).delayed(Duration::from_secs(7)),
    );
    hub.once("POST", REPORT, Reply::oversized(200, 2 * 1024 * 1024, true));
    hub.on(
        "POST",
        REPORT,
        Reply::json(200, &envelope(60, false, Some(9), true)),
    );
    hub.once(
        "GET",
        DESIRED,
        Reply::oversized(200, 5 * 1024 * 1024, false),
    );
    hub.on(
        "GET",
        DESIRED,
        Reply::json(200, "{\"generation\": \"nine\"}"),
    );
    hub.on("GET", JOBS, Reply::json(200, "{\"jobs\": \"nope\"}"));
    agent.configure(Source::Hub(&hub.url()), 1);
    let mut daemon = agent.start(&[]);
    assert!(
        wait_for(Duration::from_secs(30), || pve_status(&agent, vmid)
            == "running"),
        "reconcile from the last good document did not run"
    );
    let answered = hub.wait_until(Duration::from_secs(60), |r| {
        r.iter().filter(|q| q.path == REPORT).count() >= 4
            && r.iter().filter(|q| q.path == JOBS).count() >= 2
    });
    assert!(answered, "the daemon stopped retrying the hub");
    daemon.assert_alive();
    assert_eq!(
        agent.pve.mutating_requests_for(vmid),
        agent.pve.mutating_requests()
    );
    assert_eq!(agent.last_good().unwrap()["generation"], 1);
    let log = daemon.log_text();
    assert!(log.contains("hub report failed"), "{log}");
    assert!(log.contains("desired state from the hub rejected"), "{log}");
    assert!(log.contains("hub jobs fetch failed"), "{log}");
}

#[test]
fn blocked_arriving_during_a_long_pass_stops_the_lanes_from_starting_more_mutations() {
    const GUESTS: usize = 12;
    let hub = StubHub::start();
    // 0.1 s per PVE second: each start takes 10 s. At most 8 lanes run at
    // once, so the last 4 guests' turn comes only after the first 8 ended.
    let agent = Agent::new("hubmidpass", 0.1);
    let guests: Vec<u32> = (0..GUESTS)
        .map(|_| {
            let v = agent
                .pve
                .add_qemu("stopped", json!({"cores": 1, "memory": 512}));
            agent.pve.set_guest(v, "start_secs", json!(100));
            v
        })
        .collect();
    let running: Vec<Value> = guests
        .iter()
        .map(|v| json!({"vmid": v, "state": "running"}))
        .collect();
    hub.on("GET", DESIRED, Reply::json(200, &doc(1, json!(running))));
    // The first two reports fail; the second retry (2 + 4 s after start,
    // while the first starts still run) says blocked.
    hub.once("POST", REPORT, Reply::status(503));
    hub.once("POST", REPORT, Reply::status(503));
    hub.on(
        "POST",
        REPORT,
        Reply::json(200, &envelope(60, true, Some(1), false)),
    );
    agent.configure(Source::Hub(&hub.url()), 3600);
    let mut daemon = agent.start(&[]);
    let starts = |agent: &Agent| {
        agent
            .pve
            .requests()
            .iter()
            .filter(|(m, p)| m == "POST" && p.ends_with("/status/start"))
            .count()
    };
    assert!(
        hub.wait_until(Duration::from_secs(30), |r| {
            r.iter().filter(|q| q.path == REPORT).count() == 3
        }),
        "the blocking report did not go out"
    );
    let before_block = starts(&agent);
    assert!(
        before_block > 0 && before_block < GUESTS,
        "the block must arrive mid-pass: {before_block} starts before it"
    );
    // The started guests finish; their lanes free up; the waiting guests'
    // turn comes, after the block.
    assert!(
        wait_for(Duration::from_secs(40), || {
            guests
                .iter()
                .filter(|v| pve_status(&agent, **v) == "running")
                .count()
                == before_block
        }),
        "the starts that began before the block did not finish"
    );
    std::thread::sleep(Duration::from_secs(3));
    daemon.assert_alive();
    assert_eq!(
        starts(&agent),
        before_block,
        "the lanes kept starting mutations after the hub blocked"
    );
    let stopped = guests
        .iter()
        .filter(|v| pve_status(&agent, **v) == "stopped")
        .count();
    assert_eq!(stopped, GUESTS - before_block);
    let log = daemon.log_text();
    assert!(
        log.contains("blocked_by_hub"),
        "the refusals are audited:\n{log}"
    );
}
