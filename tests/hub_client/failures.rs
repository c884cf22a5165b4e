//! Failure answers: garbage, truncation, closed connections, oversized
//! bodies, error statuses, redirects, slowness, refused connections. Each
//! must be one typed error, classified transient or not.

use super::stub_hub::{Reply, Shape, StubHub};
use super::{ENVELOPE, HOST, JOBS_PATH, REPORT_PATH, client, config, no_key, sample_report};
use felhom_agent::hub::{self, HubClient, HubError};
use std::time::Duration;

#[test]
fn garbage_truncated_and_closed_answers_are_typed_errors() {
    let hub = StubHub::start();
    let c = client(&hub);
    hub.once(
        "POST",
        REPORT_PATH,
        Reply::json(200, "<html>not json</html>"),
    );
    assert!(matches!(
        no_key(c.report(&sample_report()).unwrap_err()),
        HubError::Decode { .. }
    ));
    hub.once(
        "POST",
        REPORT_PATH,
        Reply::garbage(b"\x00\xffSSH-2.0-nope\r\n\r\n"),
    );
    let err = no_key(c.report(&sample_report()).unwrap_err());
    assert!(
        matches!(err, HubError::Transport(_)) && err.is_transient(),
        "{err}"
    );
    hub.once(
        "POST",
        REPORT_PATH,
        Reply::truncated(200, &ENVELOPE.as_bytes()[..20], 100),
    );
    let err = no_key(c.report(&sample_report()).unwrap_err());
    assert!(matches!(err, HubError::Transport(_)), "{err}");
    hub.once("POST", REPORT_PATH, Reply::close());
    let err = no_key(c.report(&sample_report()).unwrap_err());
    assert!(matches!(err, HubError::Transport(_)), "{err}");
}

#[test]
fn oversized_answers_are_refused_without_reading_them_whole() {
    let hub = StubHub::start();
    let c = client(&hub);
    let huge: u64 = 256 << 20;
    for declare_length in [true, false] {
        hub.once(
            "POST",
            REPORT_PATH,
            Reply::oversized(200, huge, declare_length),
        );
        let err = no_key(c.report(&sample_report()).unwrap_err());
        assert_eq!(
            err,
            HubError::TooLarge {
                limit: hub::MAX_RESPONSE_BYTES
            }
        );
    }
    assert!(hub.wait_until(Duration::from_secs(60), |r| {
        r.iter().all(|r| r.answer_bytes_written.is_some())
    }));
    for req in hub.requests() {
        // Socket buffers absorb a few MiB; reading all 256 MiB would write all of it.
        let written = req.answer_bytes_written.unwrap();
        assert!(written < 64 << 20, "stub wrote {written} bytes");
    }
}

#[test]
fn error_statuses_are_typed_and_classified() {
    let hub = StubHub::start();
    let c = client(&hub);
    hub.once("GET", JOBS_PATH, Reply::json(500, r#"{"error":"db down"}"#));
    let err = no_key(c.jobs(HOST).unwrap_err());
    assert_eq!(
        err,
        HubError::Status {
            status: 500,
            body_excerpt: r#"{"error":"db down"}"#.to_string()
        }
    );
    assert!(err.is_transient());
    for status in [401u16, 403] {
        hub.once("GET", JOBS_PATH, Reply::status(status));
        let err = no_key(c.jobs(HOST).unwrap_err());
        assert_eq!(err, HubError::Unauthorized { status });
        assert!(!err.is_transient());
    }
    hub.once("GET", JOBS_PATH, Reply::status(400));
    assert!(!c.jobs(HOST).unwrap_err().is_transient());
    hub.once("GET", JOBS_PATH, Reply::status(429));
    assert!(c.jobs(HOST).unwrap_err().is_transient());
    hub.once("GET", JOBS_PATH, Reply::oversized(503, 8 << 20, true));
    match c.jobs(HOST).unwrap_err() {
        HubError::Status {
            status: 503,
            body_excerpt,
        } => {
            assert!(body_excerpt.len() <= hub::MAX_ERROR_EXCERPT_BYTES as usize + 4);
        }
        other => panic!("{other}"),
    }
}

#[test]
fn redirects_are_not_followed() {
    let hub = StubHub::start();
    hub.on("GET", "/elsewhere", Reply::json(200, r#"{"jobs":[]}"#));
    hub.once(
        "GET",
        JOBS_PATH,
        Reply::status(302).header("Location", &format!("{}/elsewhere", hub.url())),
    );
    let err = no_key(client(&hub).jobs(HOST).unwrap_err());
    assert!(matches!(err, HubError::Status { status: 302, .. }), "{err}");
    assert_eq!(hub.requests().len(), 1);
}

#[test]
fn a_slow_hub_times_out() {
    let hub = StubHub::start();
    let c = HubClient::new(&config(&hub.url(), Duration::from_millis(300))).unwrap();
    hub.once(
        "POST",
        REPORT_PATH,
        Reply::json(200, ENVELOPE).delayed(Duration::from_secs(30)),
    );
    let err = no_key(c.report(&sample_report()).unwrap_err());
    assert_eq!(err, HubError::Timeout);
    assert!(err.is_transient());
    // A body that stalls halfway is bounded by the same timeout.
    let stall = Reply::json(200, ENVELOPE).shape(Shape::StallBody(Duration::from_secs(30)));
    hub.once("POST", REPORT_PATH, stall);
    assert_eq!(
        no_key(c.report(&sample_report()).unwrap_err()),
        HubError::Timeout
    );
}

#[test]
fn connection_refused_is_a_transient_transport_error() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let c = HubClient::new(&config(
        &format!("http://127.0.0.1:{port}"),
        Duration::from_secs(5),
    ))
    .unwrap();
    let err = no_key(c.report(&sample_report()).unwrap_err());
    assert!(
        matches!(err, HubError::Transport(_)) && err.is_transient(),
        "{err}"
    );
}
