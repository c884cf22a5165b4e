//! The hub client against a loopback stub hub (and, for TLS, a real TLS
//! server built from an `openssl`-made CA), plus mutation fuzzing of the
//! envelope and jobs decoders.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "support/stub_hub.rs"]
mod stub_hub;

use felhom_agent::config::{Endpoint, HubConfig, Secret};
use felhom_agent::hub::{
    self, GuestKind, GuestReport, GuestSpec, GuestStatus, HostReport, HubClient, HubError,
    PassSummary, PendingApproval,
};
use std::path::PathBuf;
use std::time::Duration;
use stub_hub::{Reply, StubHub};

const KEY: &str = "hubkey-9f8e7d6c5b4a-SECRET";
const HOST: &str = "demo-felhom";
const ENVELOPE: &str = r#"{"poll_interval_seconds":900,"blocked":false,"desired_generation":12,"has_signed_ops":true}"#;
const REPORT_PATH: &str = "/api/v1/host-report";
const JOBS_PATH: &str = "/api/v1/hosts/demo-felhom/jobs";
const DESIRED_PATH: &str = "/api/v1/hosts/demo-felhom/desired-state";

fn config(url: &str, timeout: Duration) -> HubConfig {
    HubConfig {
        url: Endpoint::parse(url).unwrap(),
        api_key: Secret::new(KEY.to_string()),
        ca_file: PathBuf::from("/nonexistent/ca.pem"),
        poll_seconds: 900,
        timeout,
    }
}

fn client(hub: &StubHub) -> HubClient {
    HubClient::new(&config(&hub.url(), Duration::from_secs(10))).unwrap()
}

/// Asserts the key is in neither rendering of the error, and returns it.
fn no_key(err: HubError) -> HubError {
    let shown = format!("{err} / {err:?}");
    assert!(!shown.contains(KEY), "key leaked: {shown}");
    err
}

fn sample_report() -> HostReport {
    HostReport {
        host_id: HOST.to_string(),
        agent_version: "0.1.0".to_string(),
        reported_at: "2026-09-21T14:13:20Z".to_string(),
        guests: Some(vec![GuestReport {
            vmid: 9001,
            kind: GuestKind::Qemu,
            name: "web".to_string(),
            status: GuestStatus::Running,
            spec: GuestSpec {
                cores: Some(2),
                memory_bytes: Some(2_147_483_648),
                description: None,
            },
        }]),
        desired_generation_applied: Some(11),
        pending: vec![PendingApproval {
            vmid: 9003,
            op: "guest_destroy".to_string(),
            params: serde_json::json!({"purge": true}),
            blob: "{\"op\":\"guest_destroy\"}".to_string(),
            sign_command: "ssh-keygen -Y sign -n felhom-op-v1 -f KEY op.json".to_string(),
            approvals: 1,
            approvals_required: 2,
        }],
        last_pass: Some(PassSummary {
            at: "2026-09-21T14:13:20Z".to_string(),
            actions: 3,
            failed: 1,
            pending: 1,
        }),
    }
}

fn jobs_doc(jobs: &[(&str, &[u8], &str)]) -> String {
    let list: Vec<_> = jobs
        .iter()
        .map(|(id, blob, sig)| {
            serde_json::json!({"job_id": id, "op_blob_b64": felhom_agent::base64::encode(blob), "sig_armored": sig})
        })
        .collect();
    serde_json::json!({ "jobs": list }).to_string()
}

#[test]
fn report_posts_the_host_report_with_bearer_key_and_decodes_the_envelope() {
    let hub = StubHub::start();
    hub.on("POST", REPORT_PATH, Reply::json(200, ENVELOPE));
    let envelope = client(&hub).report(&sample_report()).unwrap();
    assert_eq!(envelope.poll_interval_seconds, 900);
    assert!(!envelope.blocked);
    assert_eq!(envelope.desired_generation, Some(12));
    assert!(envelope.has_signed_ops);

    let reqs = hub.requests();
    assert_eq!(reqs.len(), 1);
    let req = &reqs[0];
    assert_eq!(
        (req.method.as_str(), req.path.as_str()),
        ("POST", REPORT_PATH)
    );
    assert_eq!(
        req.header("authorization"),
        Some(format!("Bearer {KEY}").as_str())
    );
    assert_eq!(req.header("content-type"), Some("application/json"));
    let expected = serde_json::json!({
        "host_id": HOST, "agent_version": "0.1.0", "reported_at": "2026-09-21T14:13:20Z",
        "guests": [{"vmid": 9001, "kind": "qemu", "name": "web", "status": "running",
                    "spec": {"cores": 2, "memory_bytes": 2_147_483_648u64, "description": null}}],
        "desired_generation_applied": 11,
        "pending": [{"vmid": 9003, "op": "guest_destroy", "params": {"purge": true},
                     "blob": "{\"op\":\"guest_destroy\"}",
                     "sign_command": "ssh-keygen -Y sign -n felhom-op-v1 -f KEY op.json",
                     "approvals": 1, "approvals_required": 2}],
        "last_pass": {"at": "2026-09-21T14:13:20Z", "actions": 3, "failed": 1, "pending": 1},
    });
    assert_eq!(req.json(), expected);
}

#[test]
fn desired_state_is_fetched_from_the_host_path_as_raw_bytes() {
    let hub = StubHub::start();
    let doc = br#"{"generation": 12, "desired_state": {"guests": []}, "extra": "kept raw"}"#;
    hub.on("GET", DESIRED_PATH, Reply::bytes(200, doc.to_vec()));
    assert_eq!(client(&hub).desired_state(HOST).unwrap(), doc.to_vec());
    let req = &hub.requests()[0];
    assert_eq!(
        (req.method.as_str(), req.path.as_str()),
        ("GET", DESIRED_PATH)
    );
    assert_eq!(
        req.header("authorization"),
        Some(format!("Bearer {KEY}").as_str())
    );
}

#[test]
fn desired_state_accepts_3_mib_but_refuses_more_than_4_mib() {
    let hub = StubHub::start();
    let c = client(&hub);
    hub.once("GET", DESIRED_PATH, Reply::oversized(200, 3 << 20, true));
    assert_eq!(c.desired_state(HOST).unwrap().len(), 3 << 20);
    hub.once(
        "GET",
        DESIRED_PATH,
        Reply::oversized(200, (4 << 20) + 1, false),
    );
    let err = no_key(c.desired_state(HOST).unwrap_err());
    assert_eq!(
        err,
        HubError::TooLarge {
            limit: hub::MAX_DESIRED_STATE_BYTES
        }
    );
}

#[test]
fn jobs_are_fetched_and_their_blobs_base64_decoded() {
    let hub = StubHub::start();
    let blob = br#"{"op":"start"}"#;
    let doc = jobs_doc(&[
        (
            "job-1",
            blob,
            "-----BEGIN SSH SIGNATURE-----\nAA==\n-----END SSH SIGNATURE-----\n",
        ),
        ("job.2", b"x", "s"),
    ]);
    hub.on("GET", JOBS_PATH, Reply::json(200, &doc));
    let jobs = client(&hub).jobs(HOST).unwrap();
    assert_eq!(jobs.len(), 2);
    assert_eq!(jobs[0].job_id, "job-1");
    assert_eq!(jobs[0].blob, blob.to_vec());
    assert!(
        jobs[0]
            .sig_armored
            .starts_with("-----BEGIN SSH SIGNATURE-----")
    );
    assert_eq!(jobs[1].blob, b"x".to_vec());
    let req = &hub.requests()[0];
    assert_eq!((req.method.as_str(), req.path.as_str()), ("GET", JOBS_PATH));
    assert_eq!(
        req.header("authorization"),
        Some(format!("Bearer {KEY}").as_str())
    );
}

#[test]
fn delete_job_sends_delete_and_treats_404_as_already_gone() {
    let hub = StubHub::start();
    let c = client(&hub);
    hub.once(
        "DELETE",
        "/api/v1/hosts/demo-felhom/jobs/job-1",
        Reply::status(204),
    );
    hub.once(
        "DELETE",
        "/api/v1/hosts/demo-felhom/jobs/job-1",
        Reply::status(404),
    );
    c.delete_job(HOST, "job-1").unwrap();
    c.delete_job(HOST, "job-1").unwrap();
    let reqs = hub.requests();
    assert_eq!(reqs.len(), 2);
    for req in &reqs {
        assert_eq!(req.method, "DELETE");
        assert_eq!(
            req.header("authorization"),
            Some(format!("Bearer {KEY}").as_str())
        );
    }
    hub.once(
        "DELETE",
        "/api/v1/hosts/demo-felhom/jobs/job-1",
        Reply::status(500),
    );
    let err = no_key(c.delete_job(HOST, "job-1").unwrap_err());
    assert!(matches!(err, HubError::Status { status: 500, .. }) && err.is_transient());
}

#[test]
fn unsafe_host_or_job_ids_are_refused_before_any_request() {
    let hub = StubHub::start();
    let c = client(&hub);
    let bad_host = c.desired_state("../admin").unwrap_err();
    assert_eq!(bad_host, HubError::InvalidPathSegment { what: "host_id" });
    assert!(matches!(
        c.jobs("a/b"),
        Err(HubError::InvalidPathSegment { .. })
    ));
    let bad_job = c.delete_job(HOST, "..").unwrap_err();
    assert_eq!(bad_job, HubError::InvalidPathSegment { what: "job_id" });
    assert!(hub.requests().is_empty());
}

#[test]
fn poll_interval_is_clamped_to_60_through_3600() {
    let hub = StubHub::start();
    let c = client(&hub);
    for (asked, got) in [
        (0u64, 60u64),
        (59, 60),
        (61, 61),
        (900, 900),
        (3601, 3600),
        (99_999, 3600),
    ] {
        let env = format!(
            r#"{{"poll_interval_seconds":{asked},"blocked":true,"desired_generation":null,"has_signed_ops":false}}"#
        );
        hub.once("POST", REPORT_PATH, Reply::json(200, &env));
        let envelope = c.report(&sample_report()).unwrap();
        assert_eq!(
            envelope.clamped_poll_interval(),
            Duration::from_secs(got),
            "asked {asked}"
        );
        assert!(envelope.blocked);
    }
}

#[test]
fn unknown_fields_and_wrong_types_are_decode_errors() {
    let hub = StubHub::start();
    let c = client(&hub);
    let envelopes = [
        r#"{"poll_interval_seconds":900,"blocked":false,"desired_generation":1,"has_signed_ops":false,"scratch":true}"#,
        r#"{"poll_interval_seconds":-1,"blocked":false,"desired_generation":1,"has_signed_ops":false}"#,
        r#"{"poll_interval_seconds":900,"blocked":"no","desired_generation":1,"has_signed_ops":false}"#,
        r#"{"poll_interval_seconds":900,"desired_generation":1,"has_signed_ops":false}"#,
    ];
    for env in envelopes {
        hub.once("POST", REPORT_PATH, Reply::json(200, env));
        let err = no_key(c.report(&sample_report()).unwrap_err());
        assert!(
            matches!(
                err,
                HubError::Decode {
                    what: "control envelope",
                    ..
                }
            ),
            "{env}: {err}"
        );
        assert!(!err.is_transient());
    }
    let jobs = [
        r#"{"jobs":[],"more":1}"#,
        r#"{"jobs":[{"job_id":"a","op_blob_b64":"eA==","sig_armored":"s","scratch":true}]}"#,
        r#"{"jobs":[{"job_id":"a","op_blob_b64":"eA=="}]}"#,
        r#"{"jobs":{}}"#,
    ];
    for doc in jobs {
        hub.once("GET", JOBS_PATH, Reply::json(200, doc));
        let err = no_key(c.jobs(HOST).unwrap_err());
        assert!(matches!(err, HubError::Decode { .. }), "{doc}: {err}");
    }
}

#[test]
fn invalid_jobs_reject_the_whole_answer() {
    let hub = StubHub::start();
    let c = client(&hub);
    let many: Vec<(String, Vec<u8>, String)> = (0..=hub::MAX_JOBS)
        .map(|i| (format!("j{i}"), b"x".to_vec(), "s".to_string()))
        .collect();
    let many_refs: Vec<(&str, &[u8], &str)> = many
        .iter()
        .map(|(a, b, c)| (a.as_str(), b.as_slice(), c.as_str()))
        .collect();
    let cases = [
        (
            r#"{"jobs":[{"job_id":"a","op_blob_b64":"eA","sig_armored":"s"}]}"#.to_string(),
            "op_blob_b64",
        ),
        (
            r#"{"jobs":[{"job_id":"a","op_blob_b64":"eB==","sig_armored":"s"}]}"#.to_string(),
            "op_blob_b64",
        ),
        (
            r#"{"jobs":[{"job_id":"a","op_blob_b64":"","sig_armored":"s"}]}"#.to_string(),
            "op_blob_b64",
        ),
        (jobs_doc(&[("../x", b"x", "s")]), "job_id"),
        (jobs_doc(&[("a b", b"x", "s")]), "job_id"),
        (jobs_doc(&[(&"j".repeat(129), b"x", "s")]), "job_id"),
        (jobs_doc(&[("a", b"x", "s"), ("a", b"y", "s")]), "duplicate"),
        (jobs_doc(&[("a", b"x", "")]), "sig_armored"),
        (
            jobs_doc(&[("a", b"x", &"s".repeat(hub::MAX_JOB_SIG_BYTES + 1))]),
            "sig_armored",
        ),
        (
            jobs_doc(&[("a", &vec![7u8; hub::MAX_JOB_BLOB_BYTES + 1], "s")]),
            "op_blob_b64",
        ),
        (jobs_doc(&many_refs), "more than 256"),
    ];
    for (doc, why) in cases {
        hub.once("GET", JOBS_PATH, Reply::json(200, &doc));
        let err = no_key(c.jobs(HOST).unwrap_err());
        assert!(matches!(err, HubError::Decode { .. }), "{why}: {err}");
        assert!(err.to_string().contains(why), "{why}: {err}");
    }
    // The limits themselves are accepted.
    let edge = jobs_doc(&[(&"j".repeat(128), &vec![7u8; hub::MAX_JOB_BLOB_BYTES], "s")]);
    hub.once("GET", JOBS_PATH, Reply::json(200, &edge));
    assert_eq!(c.jobs(HOST).unwrap()[0].blob.len(), hub::MAX_JOB_BLOB_BYTES);
}

#[test]
fn the_key_never_appears_in_errors_even_when_the_hub_echoes_it() {
    let hub = StubHub::start();
    let c = client(&hub);
    let echo = |status: u16| {
        move |req: &stub_hub::Recorded| {
            let auth = req.header("authorization").unwrap_or_default().to_string();
            Reply::json(status, &format!(r#"{{"{auth}": "{auth}"}}"#))
        }
    };
    hub.on_fn("POST", REPORT_PATH, echo(500));
    let err = no_key(c.report(&sample_report()).unwrap_err());
    assert!(
        matches!(&err, HubError::Status { body_excerpt, .. } if body_excerpt.contains("[redacted]")),
        "{err}"
    );
    hub.on_fn("POST", REPORT_PATH, echo(200));
    let err = no_key(c.report(&sample_report()).unwrap_err());
    assert!(
        matches!(&err, HubError::Decode { detail, .. } if detail.contains("[redacted]")),
        "{err}"
    );
    hub.on_fn("GET", JOBS_PATH, echo(200));
    no_key(c.jobs(HOST).unwrap_err());
    assert!(!format!("{c:?}").contains(KEY));
}

#[test]
fn plain_http_to_a_non_loopback_host_and_unsendable_keys_are_refused() {
    let err = HubClient::new(&config("http://192.0.2.1:8080", Duration::from_secs(1))).unwrap_err();
    assert_eq!(err, HubError::InsecureUrl);
    for key in ["two words", "caf\u{e9}", "line\nbreak"] {
        let mut cfg = config("http://127.0.0.1:9", Duration::from_secs(1));
        cfg.api_key = Secret::new(key.to_string());
        let err = HubClient::new(&cfg).unwrap_err();
        assert_eq!(err, HubError::BadApiKey);
        assert!(!format!("{err} {err:?}").contains(key));
    }
}

#[path = "hub_client/failures.rs"]
mod failures;

#[path = "hub_client/tls.rs"]
mod tls;

#[path = "hub_client/fuzz.rs"]
mod fuzz;

#[path = "hub_client/proxy.rs"]
mod proxy;
