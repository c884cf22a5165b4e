//! `hub`: the client side of the hub protocol (CONTRACT §7).
//!
//! Owns: the four HTTP exchanges with the hub (report → envelope,
//! desired-state fetch, jobs fetch, job deletion), the wire models, and the
//! mapping of every failure to one [`HubError`] variant.
//!
//! Trusts: nothing it receives. Every answer is size-capped before it is
//! read, and decoded strictly (unknown fields, wrong types, bad base64, bad
//! job ids are errors). The desired-state document is returned as raw bytes:
//! `reconcile` parses it against CONTRACT §5. A job is returned as bytes and
//! armor only: `authz` decides whether it means anything.
//!
//! Invariants:
//! - Every request carries `Authorization: Bearer KEY`; the key lives in a
//!   [`crate::config::Secret`] and is scrubbed from every error text (the
//!   hub's own error bodies included), so no `Display` or `Debug` of a
//!   [`HubError`] or [`HubClient`] contains it.
//! - `https://` with the configured CA bundle as the only trust roots, or
//!   `http://` to a loopback address; no proxy from the environment, no
//!   redirects, the configured timeout over each whole exchange.
//! - Path segments built from `host_id` and `job_id` are restricted to
//!   `[A-Za-z0-9._-]{1,128}` and never `.` or `..`, so they cannot change
//!   the shape of the URL.

pub mod blocked;
mod client;
pub mod model;

pub use client::{
    HubClient, MAX_CA_FILE_BYTES, MAX_DESIRED_STATE_BYTES, MAX_ERROR_EXCERPT_BYTES,
    MAX_RESPONSE_BYTES,
};
pub use model::{
    AGENT_VERSION, ControlEnvelope, GuestKind, GuestReport, GuestSpec, GuestStatus, HostReport,
    Job, MAX_JOB_BLOB_BYTES, MAX_JOB_ID_LEN, MAX_JOB_SIG_BYTES, MAX_JOBS, MAX_POLL_SECONDS,
    MIN_POLL_SECONDS, PassSummary, PendingApproval, decode_envelope, decode_jobs,
    is_safe_path_segment,
};

use std::fmt;
use std::path::PathBuf;

/// Why a hub exchange failed. `Display` is operator-facing and never holds
/// the API key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HubError {
    /// Connection refused or reset, DNS failure, malformed HTTP, truncated body.
    Transport(String),
    /// No complete answer within `hub.timeout_seconds`.
    Timeout,
    /// The TLS handshake failed (untrusted or invalid server certificate, …).
    Tls(String),
    /// The hub answered with a status other than the expected ones.
    Status { status: u16, body_excerpt: String },
    /// 401 or 403: the API key is wrong or revoked.
    Unauthorized { status: u16 },
    /// The answer is larger than its cap (bytes named).
    TooLarge { limit: u64 },
    /// The report could not be serialized.
    Encode(String),
    /// The answer is not the expected document.
    Decode { what: &'static str, detail: String },
    /// `hub.ca_file` cannot serve as the trust roots.
    CaFile { path: PathBuf, problem: CaProblem },
    /// An `http://` URL to a host that is not loopback.
    InsecureUrl,
    /// The API key cannot be sent as an HTTP header value.
    BadApiKey,
    /// A `host_id` or `job_id` passed in that is not a safe path segment.
    InvalidPathSegment { what: &'static str },
}

/// What is wrong with the CA bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CaProblem {
    Read(std::io::ErrorKind),
    TooLarge,
    /// A PEM section is malformed.
    Pem(String),
    /// No certificate usable as a trust anchor.
    NoCertificates,
}

impl HubError {
    /// Whether the same request may succeed if simply retried later
    /// (with backoff): network trouble, timeouts, 408, 429 and 5xx. Everything
    /// else needs the hub or the operator to change something first.
    pub fn is_transient(&self) -> bool {
        match self {
            HubError::Transport(_) | HubError::Timeout => true,
            HubError::Status { status, .. } => {
                *status == 408 || *status == 429 || (500..=599).contains(status)
            }
            HubError::Tls(_)
            | HubError::Unauthorized { .. }
            | HubError::TooLarge { .. }
            | HubError::Encode(_)
            | HubError::Decode { .. }
            | HubError::CaFile { .. }
            | HubError::InsecureUrl
            | HubError::BadApiKey
            | HubError::InvalidPathSegment { .. } => false,
        }
    }
}

impl fmt::Display for HubError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HubError::Transport(d) => write!(f, "hub unreachable: {d}"),
            HubError::Timeout => write!(f, "hub did not answer within hub.timeout_seconds"),
            HubError::Tls(d) => write!(
                f,
                "TLS with the hub failed ({d}); check that hub.ca_file holds the CA that \
                 signed the hub's certificate"
            ),
            HubError::Status {
                status,
                body_excerpt,
            } => write!(f, "hub answered HTTP {status}: {body_excerpt:?}"),
            HubError::Unauthorized { status } => write!(
                f,
                "hub refused the API key (HTTP {status}); check hub.api_key_file"
            ),
            HubError::TooLarge { limit } => {
                write!(f, "hub answer is larger than {limit} bytes; refused")
            }
            HubError::Encode(d) => write!(f, "cannot encode the host report: {d}"),
            HubError::Decode { what, detail } => {
                write!(f, "hub sent an invalid {what}: {detail}")
            }
            HubError::CaFile { path, problem } => {
                write!(f, "hub.ca_file {}: {problem}", path.display())
            }
            HubError::InsecureUrl => {
                write!(f, "hub.url must be https:// unless the host is loopback")
            }
            HubError::BadApiKey => write!(
                f,
                "the hub API key contains characters not allowed in an HTTP header \
                 (use printable ASCII)"
            ),
            HubError::InvalidPathSegment { what } => write!(
                f,
                "{what} is not a safe URL path segment ([A-Za-z0-9._-], 1 to 128 characters)"
            ),
        }
    }
}

impl fmt::Display for CaProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CaProblem::Read(kind) => write!(f, "cannot read: {kind}"),
            CaProblem::TooLarge => write!(f, "larger than {MAX_CA_FILE_BYTES} bytes"),
            CaProblem::Pem(d) => write!(f, "malformed PEM: {d}"),
            CaProblem::NoCertificates => {
                write!(f, "contains no usable CA certificate (expected PEM)")
            }
        }
    }
}

impl std::error::Error for HubError {}
