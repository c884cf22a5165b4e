//! TLS trust for the PVE endpoint, and the ureq connector that applies it.
//!
//! Owns: turning [`TlsTrust`] into a rustls `ClientConfig`, and the TLS
//! layer of the HTTP connection. Trusts: exactly one of
//! - the CA certificates in a PEM file (`/etc/pve/pve-root-ca.pem`), checked
//!   by rustls' WebPKI verifier (chain, validity, server name); or
//! - a SHA-256 pin of the server's leaf certificate (DER), compared in
//!   constant time. Like `pvecm`/`pvesh` fingerprints, a pin identifies the
//!   certificate itself: chain, name and validity period are not consulted.
//!   The handshake signature is still verified with the leaf's key, using
//!   ring's algorithms, so the peer must hold that certificate's private key.
//!
//! Invariants: there is no code path without verification; an empty,
//! missing or unparsable CA file is a [`TlsError`], never a fallback to other
//! roots; no platform or WebPKI root store is ever loaded; the connector
//! refuses plain `http` outright (the config only accepts `https`).
//!
//! ureq's connector interface is `ureq::unversioned::transport`, which is
//! exempt from semver: `Cargo.toml` pins ureq to exactly 3.5.1 for it.

use std::fmt;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, ClientConnection, DigitallySignedStruct, RootCertStore, StreamOwned};
use sha2::{Digest, Sha256};
use ureq::unversioned::transport::{
    Buffers, ConnectionDetails, Connector, LazyBuffers, NextTimeout, Transport, TransportAdapter,
};

use crate::config::{TlsTrust, fingerprint_hex};

/// A CA bundle larger than this is not a PVE cluster CA file.
pub const MAX_CA_FILE_BYTES: u64 = 1024 * 1024;
/// ureq's default buffer sizes.
const BUFFER_BYTES: usize = 128 * 1024;

/// Why the TLS trust settings cannot be used (exit 78 at `--check-config`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsError {
    CaFileRead { path: PathBuf, error: String },
    CaFileTooLarge { path: PathBuf },
    CaFilePem { path: PathBuf, error: String },
    CaFileEmpty { path: PathBuf },
    CaCertificate { path: PathBuf, error: String },
    Setup(String),
}

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TlsError::CaFileRead { path, error } => {
                write!(f, "proxmox.tls.ca_file {}: {error}", path.display())
            }
            TlsError::CaFileTooLarge { path } => write!(
                f,
                "proxmox.tls.ca_file {} is larger than {MAX_CA_FILE_BYTES} bytes",
                path.display()
            ),
            TlsError::CaFilePem { path, error } => write!(
                f,
                "proxmox.tls.ca_file {} is not valid PEM: {error}",
                path.display()
            ),
            TlsError::CaFileEmpty { path } => write!(
                f,
                "proxmox.tls.ca_file {} holds no certificate (expected /etc/pve/pve-root-ca.pem)",
                path.display()
            ),
            TlsError::CaCertificate { path, error } => write!(
                f,
                "proxmox.tls.ca_file {} holds an unusable certificate: {error}",
                path.display()
            ),
            TlsError::Setup(why) => write!(f, "TLS setup failed: {why}"),
        }
    }
}

impl std::error::Error for TlsError {}

/// Validates the trust settings (reads and parses the CA file) without any
/// network access. `--check-config` calls this.
pub fn check(trust: &TlsTrust) -> Result<(), TlsError> {
    client_config(trust).map(|_| ())
}

/// SHA-256 of a DER certificate, the form `proxmox.tls.fingerprint` pins.
pub fn fingerprint(der: &[u8]) -> [u8; 32] {
    Sha256::digest(der).into()
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The rustls client configuration for `trust`.
pub(crate) fn client_config(trust: &TlsTrust) -> Result<Arc<ClientConfig>, TlsError> {
    let provider = provider();
    let algorithms = provider.signature_verification_algorithms;
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Setup(e.to_string()))?;
    let config = match trust {
        TlsTrust::CaFile(path) => builder
            .with_root_certificates(load_ca_file(path)?)
            .with_no_client_auth(),
        TlsTrust::Fingerprint(pin) => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(PinVerifier {
                pin: *pin,
                algorithms,
            }))
            .with_no_client_auth(),
    };
    Ok(Arc::new(config))
}

fn load_ca_file(path: &Path) -> Result<RootCertStore, TlsError> {
    let read_err = |e: std::io::Error| TlsError::CaFileRead {
        path: path.to_path_buf(),
        error: e.to_string(),
    };
    let file = std::fs::File::open(path).map_err(read_err)?;
    let mut bytes = Vec::new();
    file.take(MAX_CA_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(read_err)?;
    if bytes.len() as u64 > MAX_CA_FILE_BYTES {
        return Err(TlsError::CaFileTooLarge {
            path: path.to_path_buf(),
        });
    }
    let mut store = RootCertStore::empty();
    for item in CertificateDer::pem_slice_iter(&bytes) {
        let der = item.map_err(|e| TlsError::CaFilePem {
            path: path.to_path_buf(),
            error: e.to_string(),
        })?;
        store.add(der).map_err(|e| TlsError::CaCertificate {
            path: path.to_path_buf(),
            error: e.to_string(),
        })?;
    }
    if store.is_empty() {
        return Err(TlsError::CaFileEmpty {
            path: path.to_path_buf(),
        });
    }
    Ok(store)
}

/// Accepts exactly the leaf certificate whose SHA-256 is `pin`.
#[derive(Debug)]
struct PinVerifier {
    pin: [u8; 32],
    algorithms: WebPkiSupportedAlgorithms,
}

/// The pin failure an operator can act on: both fingerprints, and why a
/// pin that worked stops working (PVE certificates renew).
fn pin_mismatch(found: &[u8; 32], pinned: &[u8; 32]) -> String {
    format!(
        "the server certificate's SHA-256 fingerprint {} does not match the pinned {} \
         (proxmox.tls.fingerprint); \
         PVE certificates renew (ACME renews pveproxy-ssl.pem about every 60 days, PVE re-issues \
         pve-ssl.pem before it expires): if the new certificate is the host's own, pin its \
         fingerprint, or trust the cluster CA instead (proxmox.tls.ca_file \
         /etc/pve/pve-root-ca.pem), which survives pve-ssl.pem renewals",
        fingerprint_hex(found),
        fingerprint_hex(pinned)
    )
}

/// Compares without an early exit, so timing reveals nothing about the pin.
fn constant_time_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter()
        .zip(b.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}

impl ServerCertVerifier for PinVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let found = fingerprint(end_entity.as_ref());
        if constant_time_eq(&found, &self.pin) {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::General(pin_mismatch(&found, &self.pin)))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// The TLS step of the connector chain (after `TcpConnector`).
#[derive(Debug)]
pub(crate) struct PveTlsConnector {
    config: Arc<ClientConfig>,
}

impl PveTlsConnector {
    pub(crate) fn new(config: Arc<ClientConfig>) -> PveTlsConnector {
        PveTlsConnector { config }
    }
}

impl<In: Transport> Connector<In> for PveTlsConnector {
    type Out = PveTlsTransport<In>;

    fn connect(
        &self,
        details: &ConnectionDetails,
        chained: Option<In>,
    ) -> Result<Option<Self::Out>, ureq::Error> {
        let Some(transport) = chained else {
            return Err(ureq::Error::ConnectionFailed);
        };
        if !details.needs_tls() {
            return Err(ureq::Error::TlsRequired);
        }
        let host = details
            .uri
            .host()
            .ok_or(ureq::Error::Tls("no host in URL"))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let name =
            ServerName::try_from(host).map_err(|_| ureq::Error::Tls("invalid server name"))?;
        let mut conn = ClientConnection::new(self.config.clone(), name)?;
        let mut sock = TransportAdapter::new(transport, details.current_time.clone());
        sock.set_timeout(details.timeout);
        conn.complete_io(&mut sock).map_err(handshake_error)?;
        Ok(Some(PveTlsTransport {
            buffers: LazyBuffers::new(BUFFER_BYTES, BUFFER_BYTES),
            stream: StreamOwned { conn, sock },
        }))
    }
}

/// A rustls verdict stays a TLS error; timeouts and resets stay what they are.
fn handshake_error(e: std::io::Error) -> ureq::Error {
    if let Some(tls) = e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
        return ureq::Error::Rustls(tls.clone());
    }
    ureq::Error::from(e)
}

pub(crate) struct PveTlsTransport<In: Transport> {
    buffers: LazyBuffers,
    stream: StreamOwned<ClientConnection, TransportAdapter<In>>,
}

impl<In: Transport> fmt::Debug for PveTlsTransport<In> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PveTlsTransport").finish_non_exhaustive()
    }
}

impl<In: Transport> Transport for PveTlsTransport<In> {
    fn buffers(&mut self) -> &mut dyn Buffers {
        &mut self.buffers
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), ureq::Error> {
        self.stream.get_mut().set_timeout(timeout);
        let output = self
            .buffers
            .output()
            .get(..amount)
            .ok_or(ureq::Error::ConnectionFailed)?;
        self.stream.write_all(output)?;
        Ok(())
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        self.stream.get_mut().set_timeout(timeout);
        let input = self.buffers.input_append_buf();
        let amount = self.stream.read(input)?;
        self.buffers.input_appended(amount);
        Ok(amount > 0)
    }

    fn is_open(&mut self) -> bool {
        self.stream.get_mut().get_mut().is_open()
    }

    fn is_tls(&self) -> bool {
        true
    }
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
mod tests {
    use super::*;

    fn temp(name: &str, content: &[u8]) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("felhom-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join(name);
        std::fs::write(&p, content).unwrap();
        p
    }

    #[test]
    fn missing_empty_and_garbage_ca_files_are_config_errors() {
        let missing = TlsTrust::CaFile("/nonexistent/felhom/ca.pem".into());
        assert!(matches!(check(&missing), Err(TlsError::CaFileRead { .. })));
        let empty = TlsTrust::CaFile(temp("empty.pem", b""));
        assert!(matches!(check(&empty), Err(TlsError::CaFileEmpty { .. })));
        let text = TlsTrust::CaFile(temp("text.pem", b"hello, not a certificate\n"));
        assert!(matches!(check(&text), Err(TlsError::CaFileEmpty { .. })));
        let bad_b64 = b"-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n";
        let bad = TlsTrust::CaFile(temp("bad.pem", bad_b64));
        assert!(matches!(check(&bad), Err(TlsError::CaFilePem { .. })));
        let not_der = b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        let junk = TlsTrust::CaFile(temp("junk.pem", not_der));
        assert!(matches!(check(&junk), Err(TlsError::CaCertificate { .. })));
    }

    #[test]
    fn a_fingerprint_needs_no_file() {
        assert!(check(&TlsTrust::Fingerprint([7; 32])).is_ok());
    }

    #[test]
    fn constant_time_eq_compares_every_byte() {
        let a = [1u8; 32];
        let mut b = a;
        assert!(constant_time_eq(&a, &b));
        b[31] ^= 1;
        assert!(!constant_time_eq(&a, &b));
    }
}
