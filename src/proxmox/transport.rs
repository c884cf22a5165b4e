//! HTTP transport to the PVE API: one ureq agent, the token header, size
//! caps, status handling, and the read-retry policy.
//!
//! Owns: the `Authorization: PVEAPIToken=USER@REALM!TOKENID=SECRET` header,
//! which is built once here and nowhere else. Trusts: only the TLS peer
//! verified by [`super::tls`]; every answer is parsed as untrusted input.
//!
//! Invariants:
//! - no proxy from the environment, no redirects (a 3xx is an error),
//!   `https` only, timeouts from config: connect ≤ [`MAX_CONNECT_TIMEOUT`]
//!   and the whole request (connect to last body byte) ≤ `timeout_seconds`;
//! - HTTP status codes are read, never turned into bodiless errors: PVE's
//!   `{"message", "errors"}` body is classified by [`super::error::classify`];
//!   when the body has no message (PVE 8.0–8.3, and every 595/596), the
//!   status line's reason phrase is the message ([`super::status_line`]);
//! - bodies are capped at [`MAX_BODY_BYTES`]; request bodies are
//!   `application/x-www-form-urlencoded` with a Content-Length;
//! - the token secret is scrubbed from every message that leaves this
//!   module, including library error texts;
//! - only `GET` is retried, only on transient errors, at most
//!   [`READ_ATTEMPTS`] times with doubling backoff. Mutations are sent once.
//!
//! Wire format of an answer: `{"data": <value>}` on 2xx, plus `"total"` for
//! paged lists (task logs); on error `{"data": null, "message": "...\n",
//! "errors": {"field": "why"}}` (both optional: PVE before 8.4 sends no
//! `message`; a proxy may answer HTML or nothing, which is ignored).

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde_json::Value;
use ureq::unversioned::resolver::DefaultResolver;
use ureq::unversioned::transport::{Connector, TcpConnector};

use super::error::{MAX_FIELD_ERRORS, PveError, bounded, classify};
use super::status_line::{self, StatusLineConnector};
use super::tls::{PveTlsConnector, client_config};
use crate::config::ProxmoxConfig;

/// `/cluster/resources` for 500 guests is ~250 KiB; task logs are paged.
/// 8 MiB leaves room for large clusters and bounds memory per request.
pub const MAX_BODY_BYTES: u64 = 8 * 1024 * 1024;
/// PVE sends a handful of headers.
const MAX_HEADER_BYTES: usize = 16 * 1024;
/// Per-connection read and write buffers. PVE answers and our form bodies
/// are small; ureq's default (128 KiB per direction per connection) only
/// costs memory.
const IO_BUFFER_BYTES: usize = 16 * 1024;
/// Idle connections kept: at least one per reconcile lane (8) plus the
/// pass's own reads, so lanes reuse connections instead of a new TLS
/// handshake for every request.
const MAX_IDLE_CONNECTIONS: usize = 10;
/// A LAN peer that has not accepted TCP in 10 s is down.
pub const MAX_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Reads are tried this often in total on transient errors.
pub const READ_ATTEMPTS: u32 = 3;
/// First pause between read attempts; doubles each time.
const READ_BACKOFF: Duration = Duration::from_millis(200);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Method {
    Get,
    Post,
    Put,
    Delete,
}

/// The header value; `Debug` never shows it.
struct AuthHeader(String);

impl fmt::Debug for AuthHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PVEAPIToken=[redacted]")
    }
}

#[derive(Debug)]
pub(crate) struct Transport {
    agent: ureq::Agent,
    api_base: String,
    auth: AuthHeader,
    /// The secret half of the token, for scrubbing.
    secret: AuthHeader,
    sent: AtomicU64,
    mutations: AtomicU64,
}

impl Transport {
    pub(crate) fn new(cfg: &ProxmoxConfig) -> Result<Transport, PveError> {
        let tls = client_config(&cfg.tls)?;
        let token = cfg.token.expose();
        let secret = token.split_once('=').map(|(_, s)| s).unwrap_or_default();
        if secret.is_empty() {
            return Err(PveError::InvalidRequest(
                "token has no secret (expected USER@REALM!TOKENID=SECRET)",
            ));
        }
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .https_only(true)
            .proxy(None)
            .max_redirects(0)
            .timeout_global(Some(cfg.timeout))
            .timeout_connect(Some(cfg.timeout.min(MAX_CONNECT_TIMEOUT)))
            .max_response_header_size(MAX_HEADER_BYTES)
            .input_buffer_size(IO_BUFFER_BYTES.max(MAX_HEADER_BYTES))
            .output_buffer_size(IO_BUFFER_BYTES)
            .max_idle_connections(MAX_IDLE_CONNECTIONS)
            .max_idle_connections_per_host(MAX_IDLE_CONNECTIONS)
            .user_agent(concat!("felhom-agent/", env!("CARGO_PKG_VERSION")))
            .accept("application/json")
            .build();
        let connector =
            ().chain(TcpConnector::default())
                .chain(PveTlsConnector::new(tls))
                .chain(StatusLineConnector);
        let agent = ureq::Agent::with_parts(config, connector, DefaultResolver::default());
        Ok(Transport {
            agent,
            api_base: format!("{}/api2/json", cfg.endpoint.as_str()),
            auth: AuthHeader(format!("PVEAPIToken={token}")),
            secret: AuthHeader(secret.to_string()),
            sent: AtomicU64::new(0),
            mutations: AtomicU64::new(0),
        })
    }

    /// HTTP requests sent (every attempt counts).
    pub(crate) fn sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }

    /// Mutating requests (POST, PUT, DELETE) sent.
    pub(crate) fn mutations(&self) -> u64 {
        self.mutations.load(Ordering::Relaxed)
    }

    /// A read, retried on transient errors. Returns the answer's `data`.
    pub(crate) fn get(&self, path: &str, query: &[(&str, String)]) -> Result<Value, PveError> {
        self.get_paged(path, query).map(|(data, _)| data)
    }

    /// A read of a paged list: `data` and PVE's `total` (if it sent one).
    pub(crate) fn get_paged(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<(Value, Option<u64>), PveError> {
        let mut pause = READ_BACKOFF;
        let mut attempt = 1;
        loop {
            match self.once(Method::Get, path, query) {
                Err(e) if e.is_transient() && attempt < READ_ATTEMPTS => {
                    log::debug!("PVE GET {path} failed ({e}); retrying in {pause:?}");
                    std::thread::sleep(pause);
                    pause = pause.saturating_mul(2);
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    /// A mutation, sent exactly once.
    pub(crate) fn mutate(
        &self,
        method: Method,
        path: &str,
        params: &[(&str, String)],
    ) -> Result<Value, PveError> {
        if method == Method::Get {
            return Err(PveError::InvalidRequest("mutate() called with GET"));
        }
        self.mutations.fetch_add(1, Ordering::Relaxed);
        self.once(method, path, params).map(|(data, _)| data)
    }

    fn once(
        &self,
        method: Method,
        path: &str,
        params: &[(&str, String)],
    ) -> Result<(Value, Option<u64>), PveError> {
        let url = format!("{}{path}", self.api_base);
        self.sent.fetch_add(1, Ordering::Relaxed);
        status_line::clear();
        let auth = self.auth.0.as_str();
        let result = match method {
            Method::Get | Method::Delete => {
                let mut req = if method == Method::Get {
                    self.agent.get(&url)
                } else {
                    self.agent.delete(&url)
                };
                req = req.header("Authorization", auth);
                for (k, v) in params {
                    req = req.query(*k, v);
                }
                req.call()
            }
            Method::Post | Method::Put => {
                let req = if method == Method::Post {
                    self.agent.post(&url)
                } else {
                    self.agent.put(&url)
                };
                let form: Vec<(&str, &str)> =
                    params.iter().map(|(k, v)| (*k, v.as_str())).collect();
                req.header("Authorization", auth).send_form(form)
            }
        };
        let mut response = result.map_err(|e| self.transport_error(e))?;
        let reason = status_line::take();
        let status = response.status().as_u16();
        let body = response
            .body_mut()
            .with_config()
            .limit(MAX_BODY_BYTES)
            .read_to_vec()
            .map_err(|e| self.transport_error(e))?;
        answer_with(status, reason.as_deref(), &body, &|t| self.scrub(t))
    }

    fn transport_error(&self, e: ureq::Error) -> PveError {
        match e {
            ureq::Error::Timeout(_) => PveError::Timeout,
            ureq::Error::BodyExceedsLimit(_) => PveError::ResponseTooLarge,
            ureq::Error::Rustls(t) => PveError::Tls(bounded(&self.scrub(&t.to_string()))),
            ureq::Error::Tls(t) => PveError::Tls(t.to_string()),
            ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::TimedOut => PveError::Timeout,
            other => PveError::Transport(bounded(&self.scrub(&other.to_string()))),
        }
    }

    /// Removes the token secret from a text that may echo it.
    pub(crate) fn scrub(&self, text: &str) -> String {
        text.replace(self.secret.0.as_str(), "[redacted]")
    }
}

/// Decodes one answer: its `data` on 2xx, else the classified error.
pub fn decode_answer(status: u16, body: &[u8]) -> Result<Value, PveError> {
    decode_answer_with_reason(status, None, body)
}

/// [`decode_answer`] with the status line's reason phrase, which is the
/// message when the body has none (PVE 8.0–8.3, 595/596).
pub fn decode_answer_with_reason(
    status: u16,
    reason: Option<&str>,
    body: &[u8],
) -> Result<Value, PveError> {
    answer_with(status, reason, body, &|t| t.to_string()).map(|(data, _)| data)
}

fn answer_with(
    status: u16,
    reason: Option<&str>,
    body: &[u8],
    scrub: &dyn Fn(&str) -> String,
) -> Result<(Value, Option<u64>), PveError> {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    if (200..300).contains(&status) {
        let mut v = parsed.ok_or_else(|| PveError::Decode("answer is not JSON".into()))?;
        let total = v.get("total").and_then(super::normalize::u64_value);
        return match v.get_mut("data") {
            Some(data) => Ok((data.take(), total)),
            None => Err(PveError::Decode("answer has no \"data\"".into())),
        };
    }
    let message = parsed
        .as_ref()
        .and_then(|v| v.get("message"))
        .and_then(Value::as_str)
        .filter(|m| !m.trim().is_empty())
        .or(reason.filter(|r| !r.trim().is_empty()))
        .map(scrub)
        .unwrap_or_else(|| format!("HTTP status {status}"));
    let errors = parsed
        .as_ref()
        .and_then(|v| v.get("errors"))
        .and_then(Value::as_object)
        .map(|o| {
            o.iter()
                .take(MAX_FIELD_ERRORS)
                .map(|(k, v)| {
                    let why = v
                        .as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| v.to_string());
                    (bounded(&scrub(k)), bounded(&scrub(&why)))
                })
                .collect()
        })
        .unwrap_or_default();
    Err(classify(status, &message, errors))
}
