//! TLS trust against a real fakepve: the right CA or the right leaf pin
//! works; a wrong CA or a wrong pin fails the handshake before any HTTP
//! request reaches the server; a bad CA file is a config error.
//!
//! This file has its own fakepve, so counting the requests it saw is exact.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "support/fakepve.rs"]
mod fakepve;

use std::sync::OnceLock;

use felhom_agent::config::TlsTrust;
use felhom_agent::proxmox::tls::{TlsError, check};
use felhom_agent::proxmox::{Client, PveError};

fn pve() -> &'static fakepve::FakePve {
    static PVE: OnceLock<fakepve::FakePve> = OnceLock::new();
    PVE.get_or_init(fakepve::FakePve::start)
}

/// Serializes tests that compare the server's request count.
fn counting() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

fn client(tls: TlsTrust) -> Client {
    Client::new(&pve().config_with(tls, &pve().token_file)).unwrap()
}

fn refused_before_any_request(tls: TlsTrust) -> PveError {
    let _guard = counting();
    let before = pve().request_total();
    let e = client(tls).resources().unwrap_err();
    assert_eq!(pve().request_total(), before, "a request got through: {e}");
    e
}

#[test]
fn the_cluster_ca_file_is_trusted() {
    let _guard = counting();
    assert_eq!(
        client(TlsTrust::CaFile(pve().ca_file.clone()))
            .resources()
            .unwrap()
            .len(),
        4
    );
}

#[test]
fn an_unrelated_ca_fails_tls_before_any_request() {
    let e = refused_before_any_request(TlsTrust::CaFile(pve().other_ca_file.clone()));
    assert!(matches!(e, PveError::Tls(_)), "{e:?}");
    assert!(!e.is_transient());
}

#[test]
fn the_right_leaf_fingerprint_works() {
    let _guard = counting();
    let c = client(TlsTrust::Fingerprint(pve().fingerprint));
    assert_eq!(c.resources().unwrap().len(), 4);
}

#[test]
fn a_wrong_fingerprint_is_refused_before_any_request() {
    for flip in [0usize, 31] {
        let mut pin = pve().fingerprint;
        pin[flip] ^= 0x01;
        let e = refused_before_any_request(TlsTrust::Fingerprint(pin));
        match &e {
            PveError::Tls(why) => assert!(why.contains("pinned"), "{why}"),
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn the_ca_fingerprint_is_not_the_leaf_pin() {
    // Pinning the CA certificate instead of the server's own must not work.
    let pem = std::fs::read_to_string(&pve().ca_file).unwrap();
    let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let der = felhom_agent::base64::decode(b64.as_bytes()).unwrap();
    let pin = felhom_agent::proxmox::tls::fingerprint(&der);
    let e = refused_before_any_request(TlsTrust::Fingerprint(pin));
    assert!(matches!(e, PveError::Tls(_)), "{e:?}");
}

#[test]
fn a_missing_or_unparsable_ca_file_is_a_config_error_not_a_fallback() {
    let missing = TlsTrust::CaFile("/nonexistent/pve-root-ca.pem".into());
    assert!(matches!(check(&missing), Err(TlsError::CaFileRead { .. })));
    let cfg = pve().config_with(missing, &pve().token_file);
    assert!(matches!(
        Client::new(&cfg),
        Err(PveError::Config(TlsError::CaFileRead { .. }))
    ));
    // A file that exists but holds no certificate (the token file).
    let not_ca = pve().token_file.clone();
    assert!(matches!(
        check(&TlsTrust::CaFile(not_ca)),
        Err(TlsError::CaFileEmpty { .. })
    ));
}
