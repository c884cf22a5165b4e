//! Proxy variables in the environment are ignored: a proxy would see the
//! bearer key. Setting variables needs `unsafe` in this edition, so the test
//! re-runs itself as a child process with the variables set.

use super::stub_hub::{Reply, StubHub};
use super::{ENVELOPE, REPORT_PATH, config, sample_report};
use felhom_agent::hub::HubClient;
use std::time::Duration;

const CHILD_URL: &str = "FELHOM_TEST_HUB_CHILD_URL";
const NAME: &str = "proxy::proxy_variables_in_the_environment_are_ignored";

#[test]
fn proxy_variables_in_the_environment_are_ignored() {
    if let Ok(url) = std::env::var(CHILD_URL) {
        // Child: the report must reach the hub itself.
        let c = HubClient::new(&config(&url, Duration::from_secs(10))).unwrap();
        c.report(&sample_report()).unwrap();
        return;
    }
    let hub = StubHub::start();
    hub.on("POST", REPORT_PATH, Reply::json(200, ENVELOPE));
    let proxy = StubHub::start();
    let mut child = std::process::Command::new(std::env::current_exe().unwrap());
    child
        .args([NAME, "--exact", "--test-threads=1"])
        .env(CHILD_URL, hub.url());
    for var in [
        "ALL_PROXY",
        "all_proxy",
        "HTTPS_PROXY",
        "https_proxy",
        "HTTP_PROXY",
        "http_proxy",
    ] {
        child.env(var, proxy.url());
    }
    child.env_remove("NO_PROXY").env_remove("no_proxy");
    let out = child.output().unwrap();
    assert!(
        out.status.success(),
        "child: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("1 passed"));
    assert_eq!(hub.requests_to("POST", REPORT_PATH).len(), 1);
    assert!(
        proxy.requests().is_empty(),
        "the proxy saw {:?}",
        proxy.requests()
    );
}
