//! The hub HTTP client: one `ureq` agent, four exchanges.
//!
//! Transport settings, all deliberate: the CA bundle in `hub.ca_file` is the
//! only set of trust roots (no built-in roots, no platform verifier); no
//! proxy is taken from the environment (a proxy would see the bearer key);
//! redirects are not followed (a 3xx is an error, so the key never travels
//! to a host it was not configured for); `hub.timeout_seconds` bounds each
//! whole exchange, body included; status codes are read, not turned into
//! bodiless errors; every body is read through a cap and a `Content-Length`
//! above the cap is refused before reading.

use super::model::{self, ControlEnvelope, HostReport, Job};
use super::{CaProblem, HubError};
use crate::config::{HubConfig, Secret};
use std::fmt;
use std::io::Read;
use std::path::Path;
use ureq::http::HeaderValue;
use ureq::tls::{Certificate, PemItem, RootCerts, TlsConfig, TlsProvider};

/// A desired-state document lists every managed guest; thousands of guests
/// fit comfortably.
pub const MAX_DESIRED_STATE_BYTES: u64 = 4 * 1024 * 1024;
/// Envelopes are tiny; a jobs answer holds a few signed ops. 1 MiB is
/// generous for both and bounds what a misbehaving hub can make us hold.
pub const MAX_RESPONSE_BYTES: u64 = 1024 * 1024;
/// Of an error answer, only this much is read and quoted.
pub const MAX_ERROR_EXCERPT_BYTES: u64 = 512;
/// The Debian/Ubuntu system bundle is about 200 KiB.
pub const MAX_CA_FILE_BYTES: u64 = 8 * 1024 * 1024;

const USER_AGENT: &str = concat!("felhom-agent/", env!("CARGO_PKG_VERSION"));

/// A client for one configured hub. Cheap to share by reference; holds a
/// small connection pool.
pub struct HubClient {
    agent: ureq::Agent,
    /// `scheme://host:port[/base]` without a trailing slash.
    base: String,
    api_key: Secret,
}

impl fmt::Debug for HubClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HubClient")
            .field("base", &self.base)
            .field("api_key", &self.api_key)
            .finish_non_exhaustive()
    }
}

enum Method<'a> {
    Get,
    Delete,
    Post(&'a [u8]),
}

impl HubClient {
    /// Builds the client. For an `https://` URL the CA bundle is read and
    /// checked here, so a bad `hub.ca_file` is reported at start.
    pub fn new(config: &HubConfig) -> Result<HubClient, HubError> {
        let https = config.url.is_https();
        if !https && !config.url.is_loopback() {
            return Err(HubError::InsecureUrl);
        }
        if bearer_value(&config.api_key).is_none() {
            return Err(HubError::BadApiKey);
        }
        // Plain http to loopback never needs roots; an empty set makes any
        // TLS attempt fail closed.
        let roots = if https {
            load_ca_file(&config.ca_file)?
        } else {
            Vec::new()
        };
        let tls = TlsConfig::builder()
            .provider(TlsProvider::Rustls)
            .root_certs(RootCerts::new_with_certs(&roots))
            .build();
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .https_only(https)
            .proxy(None)
            .max_redirects(0)
            .tls_config(tls)
            .timeout_global(Some(config.timeout))
            .user_agent(USER_AGENT)
            .accept("application/json")
            .max_idle_connections(2)
            .max_idle_connections_per_host(2)
            .build()
            .new_agent();
        Ok(HubClient {
            agent,
            base: config.url.as_str().to_string(),
            api_key: config.api_key.clone(),
        })
    }

    /// `POST /api/v1/host-report`: sends the report, returns the envelope.
    pub fn report(&self, report: &HostReport) -> Result<ControlEnvelope, HubError> {
        let body = serde_json::to_vec(report).map_err(|e| HubError::Encode(e.to_string()))?;
        let answer = self.exchange(
            Method::Post(&body),
            "/api/v1/host-report",
            MAX_RESPONSE_BYTES,
        );
        self.redact(answer.and_then(|bytes| model::decode_envelope(&bytes)))
    }

    /// `GET /api/v1/hosts/{host_id}/desired-state`: the raw §5 document.
    pub fn desired_state(&self, host_id: &str) -> Result<Vec<u8>, HubError> {
        let path = format!(
            "/api/v1/hosts/{}/desired-state",
            segment(host_id, "host_id")?
        );
        self.redact(self.exchange(Method::Get, &path, MAX_DESIRED_STATE_BYTES))
    }

    /// `GET /api/v1/hosts/{host_id}/jobs`: the queued signed ops, validated
    /// in shape only.
    pub fn jobs(&self, host_id: &str) -> Result<Vec<Job>, HubError> {
        let path = format!("/api/v1/hosts/{}/jobs", segment(host_id, "host_id")?);
        let answer = self.exchange(Method::Get, &path, MAX_RESPONSE_BYTES);
        self.redact(answer.and_then(|bytes| model::decode_jobs(&bytes)))
    }

    /// `DELETE /api/v1/hosts/{host_id}/jobs/{job_id}`. 404 means the job is
    /// already gone, which is the goal, so it is success too.
    pub fn delete_job(&self, host_id: &str, job_id: &str) -> Result<(), HubError> {
        let path = format!(
            "/api/v1/hosts/{}/jobs/{}",
            segment(host_id, "host_id")?,
            segment(job_id, "job_id")?
        );
        match self.exchange(Method::Delete, &path, MAX_RESPONSE_BYTES) {
            Ok(_) | Err(HubError::Status { status: 404, .. }) => Ok(()),
            Err(e) => self.redact(Err(e)),
        }
    }

    /// One request and its capped, successful (2xx) body.
    fn exchange(&self, method: Method<'_>, path: &str, cap: u64) -> Result<Vec<u8>, HubError> {
        let url = format!("{}{}", self.base, path);
        let auth = bearer_value(&self.api_key).ok_or(HubError::BadApiKey)?;
        let sent = match method {
            Method::Get => self.agent.get(&url).header("Authorization", auth).call(),
            Method::Delete => self.agent.delete(&url).header("Authorization", auth).call(),
            Method::Post(body) => self
                .agent
                .post(&url)
                .header("Authorization", auth)
                .content_type("application/json")
                .send(body),
        };
        let mut response = sent.map_err(transport_error)?;
        let status = response.status().as_u16();
        if status == 401 || status == 403 {
            return Err(HubError::Unauthorized { status });
        }
        if !(200..300).contains(&status) {
            let body_excerpt = model::excerpt(&read_excerpt(response.body_mut()));
            return Err(HubError::Status {
                status,
                body_excerpt,
            });
        }
        read_capped(response.body_mut(), cap)
    }

    /// Removes the API key from any text an error carries. The hub may echo
    /// request headers in its error bodies, and library messages are not
    /// ours to audit on every upgrade; this is the one place that decides.
    fn redact<T>(&self, result: Result<T, HubError>) -> Result<T, HubError> {
        let key = self.api_key.expose();
        let scrub = |s: String| {
            if key.is_empty() {
                s
            } else {
                s.replace(key, "[redacted]")
            }
        };
        result.map_err(|e| match e {
            HubError::Transport(d) => HubError::Transport(scrub(d)),
            HubError::Tls(d) => HubError::Tls(scrub(d)),
            HubError::Encode(d) => HubError::Encode(scrub(d)),
            HubError::Status {
                status,
                body_excerpt,
            } => HubError::Status {
                status,
                body_excerpt: scrub(body_excerpt),
            },
            HubError::Decode { what, detail } => HubError::Decode {
                what,
                detail: scrub(detail),
            },
            other => other,
        })
    }
}

/// `Bearer KEY` as a header value marked sensitive, or `None` when the key
/// has characters a header cannot carry.
fn bearer_value(key: &Secret) -> Option<HeaderValue> {
    let key = key.expose();
    if key.is_empty() || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return None;
    }
    let mut value = HeaderValue::from_str(&format!("Bearer {key}")).ok()?;
    value.set_sensitive(true);
    Some(value)
}

fn segment<'a>(value: &'a str, what: &'static str) -> Result<&'a str, HubError> {
    if model::is_safe_path_segment(value) {
        Ok(value)
    } else {
        Err(HubError::InvalidPathSegment { what })
    }
}

/// Reads a 2xx body of at most `cap` bytes. A declared length above the
/// cap is refused without reading; an undeclared one stops at `cap + 1`.
fn read_capped(body: &mut ureq::Body, cap: u64) -> Result<Vec<u8>, HubError> {
    if body.content_length().is_some_and(|len| len > cap) {
        return Err(HubError::TooLarge { limit: cap });
    }
    let limit = cap.saturating_add(1);
    match body.with_config().limit(limit).read_to_vec() {
        Ok(bytes) if u64::try_from(bytes.len()).map_or(true, |n| n > cap) => {
            Err(HubError::TooLarge { limit: cap })
        }
        Ok(bytes) => Ok(bytes),
        Err(ureq::Error::BodyExceedsLimit(_)) => Err(HubError::TooLarge { limit: cap }),
        Err(e) => Err(transport_error(e)),
    }
}

/// The start of an error body, for the message; read failures leave it short.
fn read_excerpt(body: &mut ureq::Body) -> Vec<u8> {
    let mut buf = Vec::new();
    let reader = body.with_config().limit(MAX_ERROR_EXCERPT_BYTES).reader();
    // An error answer is already a failure; a broken body only shortens the quote.
    let _ignored = reader.take(MAX_ERROR_EXCERPT_BYTES).read_to_end(&mut buf);
    buf
}

fn transport_error(e: ureq::Error) -> HubError {
    match e {
        ureq::Error::Timeout(_) => HubError::Timeout,
        ureq::Error::BodyExceedsLimit(limit) => HubError::TooLarge { limit },
        ureq::Error::Rustls(e) => HubError::Tls(e.to_string()),
        ureq::Error::Tls(what) => HubError::Tls(what.to_string()),
        ureq::Error::Pem(e) => HubError::Tls(e.to_string()),
        ureq::Error::Io(io) => io_error(&io),
        other => HubError::Transport(model::excerpt(other.to_string().as_bytes())),
    }
}

fn io_error(io: &std::io::Error) -> HubError {
    use std::io::ErrorKind;
    if matches!(io.kind(), ErrorKind::TimedOut | ErrorKind::WouldBlock) {
        return HubError::Timeout;
    }
    // rustls reports handshake failures through the socket's io::Error.
    if let Some(tls) = io.get_ref().and_then(|e| e.downcast_ref::<rustls::Error>()) {
        return HubError::Tls(tls.to_string());
    }
    HubError::Transport(model::excerpt(io.to_string().as_bytes()))
}

/// Reads the PEM bundle at `path`: every certificate in it becomes a trust
/// root. Fails unless at least one certificate parses as a trust anchor.
fn load_ca_file(path: &Path) -> Result<Vec<Certificate<'static>>, HubError> {
    let fail = |problem| HubError::CaFile {
        path: path.to_path_buf(),
        problem,
    };
    let file = std::fs::File::open(path).map_err(|e| fail(CaProblem::Read(e.kind())))?;
    let mut pem = Vec::new();
    file.take(MAX_CA_FILE_BYTES.saturating_add(1))
        .read_to_end(&mut pem)
        .map_err(|e| fail(CaProblem::Read(e.kind())))?;
    if u64::try_from(pem.len()).map_or(true, |n| n > MAX_CA_FILE_BYTES) {
        return Err(fail(CaProblem::TooLarge));
    }
    let mut certs = Vec::new();
    for item in ureq::tls::parse_pem(&pem) {
        match item {
            Ok(PemItem::Certificate(cert)) => certs.push(cert),
            Ok(_) => {} // keys and other sections are not roots
            Err(e) => {
                return Err(fail(CaProblem::Pem(model::excerpt(
                    e.to_string().as_bytes(),
                ))));
            }
        }
    }
    let mut store = rustls::RootCertStore::empty();
    let (added, _ignored) = store.add_parsable_certificates(
        certs
            .iter()
            .map(|c| rustls::pki_types::CertificateDer::from(c.der().to_vec())),
    );
    if added == 0 {
        return Err(fail(CaProblem::NoCertificates));
    }
    Ok(certs)
}
