//! Typed errors of the PVE client, one variant per cause an operator or the
//! reconcile engine acts on differently.
//!
//! Trusts: nothing. Every message taken from a PVE answer is bounded
//! ([`MAX_MESSAGE_CHARS`]) and has already been scrubbed of the API token by
//! the transport, so `Display` never carries a secret.
//!
//! Classification of PVE's answers (`classify`), in this order:
//! - 401 → `Unauthorized`; 403 → `PermissionDenied` with the
//!   `(path, privilege)` pair of PVE's "Permission check failed (...)";
//! - "can't lock file ... got timeout" → `LockTimeout` (transient);
//! - "VM is locked (backup)" / "CT is locked (backup)" → `Locked`;
//! - "checksum mismatch" / "detected modified configuration" → `DigestMismatch`;
//! - 404, or "Configuration file ... does not exist" → `NotFound`;
//! - 595 / 596 (pveproxy cannot reach the node) → `NodeUnreachable`;
//! - anything else → `Http` with the per-field `errors`.

use std::collections::BTreeMap;
use std::fmt;

/// PVE's messages are one line in practice; anything longer is cut so a
/// hostile or broken server cannot make our logs and reports unbounded.
pub const MAX_MESSAGE_CHARS: usize = 1024;
/// Per-field parameter errors kept from one answer.
pub const MAX_FIELD_ERRORS: usize = 32;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PveError {
    /// A PVE error answer not covered by a more specific variant.
    Http {
        status: u16,
        message: String,
        errors: BTreeMap<String, String>,
    },
    /// 401: the token is wrong, expired or revoked.
    Unauthorized,
    /// 403: the token lacks a privilege (parsed when PVE names it).
    PermissionDenied {
        privilege: Option<String>,
        path: Option<String>,
        message: String,
    },
    /// The guest carries a PVE lock (backup, snapshot, migrate, ...).
    Locked { lock: String },
    /// PVE could not take the guest's config lock in time (transient).
    LockTimeout { message: String },
    /// The config changed since it was read (the `digest` no longer matches).
    DigestMismatch,
    /// The guest (or the path) does not exist.
    NotFound { message: String },
    /// pveproxy could not reach the guest's node (595/596).
    NodeUnreachable { status: u16, message: String },
    /// A task ended with something other than `OK` or `WARNINGS: n`.
    TaskFailed {
        upid: String,
        exitstatus: String,
        log_tail: Vec<String>,
    },
    /// A task was still running at the caller's deadline (it may still finish).
    TaskTimeout { upid: String },
    /// PVE stopped recognizing a task it handed out.
    TaskUnknown { upid: String },
    /// The TLS handshake failed: untrusted certificate, wrong pin, ...
    Tls(String),
    /// The request did not finish within the configured timeout.
    Timeout,
    /// Connection refused or reset, DNS, protocol error, ...
    Transport(String),
    /// The answer is not the JSON shape PVE documents.
    Decode(String),
    /// The answer body exceeds the size cap.
    ResponseTooLarge,
    /// The TLS trust settings could not be loaded.
    Config(super::tls::TlsError),
    /// The caller asked for something this client refuses to send.
    InvalidRequest(&'static str),
}

impl PveError {
    /// Whether PVE may have received and executed a mutation that failed
    /// this way: the answer was lost (pveproxy's 595/596, a timeout, a broken
    /// connection) or arrived unreadable (not the documented shape, over the
    /// size cap). Its outcome is known only by reading the guest again.
    pub fn outcome_unknown(&self) -> bool {
        matches!(
            self,
            PveError::NodeUnreachable { .. }
                | PveError::Timeout
                | PveError::Transport(_)
                | PveError::Decode(_)
                | PveError::ResponseTooLarge
        )
    }

    /// Whether retrying the same read later may succeed. Mutations are never
    /// retried by this client, whatever this says.
    pub fn is_transient(&self) -> bool {
        match self {
            PveError::LockTimeout { .. }
            | PveError::NodeUnreachable { .. }
            | PveError::Timeout
            | PveError::Transport(_) => true,
            PveError::Http { status, .. } => *status >= 500,
            _ => false,
        }
    }

    /// A digest mismatch, answered directly (sync write) or as the task
    /// failure of qemu's asynchronous config write.
    pub fn is_digest_mismatch(&self) -> bool {
        match self {
            PveError::DigestMismatch => true,
            PveError::TaskFailed { exitstatus, .. } => {
                matches!(
                    classify(500, exitstatus, BTreeMap::new()),
                    PveError::DigestMismatch
                )
            }
            _ => false,
        }
    }

    /// A config lock timeout, answered directly or as a task failure.
    pub fn is_lock_timeout(&self) -> bool {
        match self {
            PveError::LockTimeout { .. } => true,
            PveError::TaskFailed { exitstatus, .. } => {
                matches!(
                    classify(500, exitstatus, BTreeMap::new()),
                    PveError::LockTimeout { .. }
                )
            }
            _ => false,
        }
    }

    /// The lock named by a `Locked` error or a task that failed on a lock.
    pub fn lock(&self) -> Option<&str> {
        match self {
            PveError::Locked { lock } => Some(lock),
            PveError::TaskFailed { exitstatus, .. } => locked_by(exitstatus),
            _ => None,
        }
    }
}

impl fmt::Display for PveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PveError::Http {
                status,
                message,
                errors,
            } => {
                write!(f, "PVE answered {status}: {message}")?;
                for (field, why) in errors {
                    write!(f, "; {field}: {why}")?;
                }
                Ok(())
            }
            PveError::Unauthorized => write!(
                f,
                "PVE rejected the API token (401): check proxmox.token_file and that the token \
                 exists and has not expired (pveum user token list)"
            ),
            PveError::PermissionDenied {
                privilege,
                path,
                message,
            } => match (privilege, path) {
                (Some(p), Some(path)) => write!(
                    f,
                    "PVE permission denied: the token needs {p} on {path} (see README, pveum acl modify)"
                ),
                _ => write!(f, "PVE permission denied: {message}"),
            },
            PveError::Locked { lock } => write!(f, "guest is locked in PVE ({lock})"),
            PveError::LockTimeout { message } => {
                write!(f, "PVE config lock timeout (retry later): {message}")
            }
            PveError::DigestMismatch => write!(
                f,
                "guest config changed since it was read (digest mismatch); re-read and re-plan"
            ),
            PveError::NotFound { message } => write!(f, "not found in PVE: {message}"),
            PveError::NodeUnreachable { status, message } => {
                write!(f, "PVE node unreachable ({status}): {message}")
            }
            PveError::TaskFailed {
                upid,
                exitstatus,
                log_tail,
            } => {
                write!(f, "PVE task {upid} failed: {exitstatus}")?;
                if !log_tail.is_empty() {
                    write!(f, " (log tail: {})", log_tail.join(" | "))?;
                }
                Ok(())
            }
            PveError::TaskTimeout { upid } => {
                write!(f, "PVE task {upid} still running at the deadline")
            }
            PveError::TaskUnknown { upid } => write!(f, "PVE does not know task {upid}"),
            PveError::Tls(why) => write!(f, "TLS verification of the PVE endpoint failed: {why}"),
            PveError::Timeout => write!(f, "PVE request timed out"),
            PveError::Transport(why) => write!(f, "cannot reach PVE: {why}"),
            PveError::Decode(why) => write!(f, "unexpected PVE answer: {why}"),
            PveError::ResponseTooLarge => write!(f, "PVE answer exceeds the size limit"),
            PveError::Config(e) => write!(f, "{e}"),
            PveError::InvalidRequest(why) => write!(f, "refused to send PVE request: {why}"),
        }
    }
}

impl std::error::Error for PveError {}

impl From<super::tls::TlsError> for PveError {
    fn from(e: super::tls::TlsError) -> Self {
        PveError::Config(e)
    }
}

/// Cuts `text` to [`MAX_MESSAGE_CHARS`] and trims PVE's trailing newline.
pub(crate) fn bounded(text: &str) -> String {
    text.trim_end().chars().take(MAX_MESSAGE_CHARS).collect()
}

/// Maps a PVE error answer (status, message, per-field errors) to its variant.
pub(crate) fn classify(status: u16, message: &str, errors: BTreeMap<String, String>) -> PveError {
    let message = bounded(message);
    if status == 401 {
        return PveError::Unauthorized;
    }
    if status == 403 {
        let (path, privilege) = permission_pair(&message);
        return PveError::PermissionDenied {
            privilege,
            path,
            message,
        };
    }
    if message.contains("can't lock file") && message.contains("got timeout") {
        return PveError::LockTimeout { message };
    }
    if let Some(lock) = locked_by(&message) {
        return PveError::Locked {
            lock: lock.to_string(),
        };
    }
    if message.contains("checksum mismatch") || message.contains("detected modified configuration")
    {
        return PveError::DigestMismatch;
    }
    if status == 404
        || (message.starts_with("Configuration file '") && message.ends_with("does not exist"))
    {
        return PveError::NotFound { message };
    }
    if status == 595 || status == 596 {
        return PveError::NodeUnreachable { status, message };
    }
    PveError::Http {
        status,
        message,
        errors,
    }
}

/// `(path, privilege)` from "Permission check failed (/vms/100, VM.PowerMgmt)".
fn permission_pair(message: &str) -> (Option<String>, Option<String>) {
    let Some(inner) = message
        .split_once("Permission check failed (")
        .and_then(|(_, rest)| rest.split_once(')'))
        .map(|(inner, _)| inner)
    else {
        return (None, None);
    };
    let Some((path, privilege)) = inner.split_once(", ") else {
        return (None, None);
    };
    let privilege = privilege.trim();
    let valid_priv = !privilege.is_empty()
        && privilege
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '|');
    let path = path.trim();
    (
        (path.starts_with('/')).then(|| path.to_string()),
        valid_priv.then(|| privilege.to_string()),
    )
}

/// The lock in "VM is locked (backup)" or "CT is locked (backup)".
pub(crate) fn locked_by(message: &str) -> Option<&str> {
    let (_, rest) = message.split_once(" is locked (")?;
    let (lock, _) = rest.split_once(')')?;
    let ok = !lock.is_empty()
        && lock.len() <= 32
        && lock
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    ok.then_some(lock)
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

    #[test]
    fn permission_denied_names_path_and_privilege() {
        let e = classify(
            403,
            "Permission check failed (/vms/100, VM.PowerMgmt)\n",
            BTreeMap::new(),
        );
        match e {
            PveError::PermissionDenied {
                privilege, path, ..
            } => {
                assert_eq!(privilege.as_deref(), Some("VM.PowerMgmt"));
                assert_eq!(path.as_deref(), Some("/vms/100"));
            }
            other => panic!("{other:?}"),
        }
        let e = classify(403, "Permission check failed", BTreeMap::new());
        assert!(matches!(
            e,
            PveError::PermissionDenied {
                privilege: None,
                path: None,
                ..
            }
        ));
    }

    #[test]
    fn classification_of_pve_messages() {
        let c = |s, m: &str| classify(s, m, BTreeMap::new());
        assert_eq!(c(401, "authentication failure"), PveError::Unauthorized);
        assert!(matches!(
            c(
                500,
                "can't lock file '/var/lock/qemu-server/lock-100.conf' - got timeout"
            ),
            PveError::LockTimeout { .. }
        ));
        assert_eq!(
            c(500, "VM is locked (backup)"),
            PveError::Locked {
                lock: "backup".into()
            }
        );
        assert_eq!(
            c(500, "CT is locked (snapshot)"),
            PveError::Locked {
                lock: "snapshot".into()
            }
        );
        assert_eq!(
            c(500, "checksum mismatch (file change by other user?)"),
            PveError::DigestMismatch
        );
        assert!(matches!(
            c(
                500,
                "Configuration file 'nodes/pve1/qemu-server/9.conf' does not exist"
            ),
            PveError::NotFound { .. }
        ));
        assert!(matches!(
            c(595, "No route to host"),
            PveError::NodeUnreachable { status: 595, .. }
        ));
        assert!(c(595, "x").is_transient());
        assert!(c(500, "can't lock file 'x' - got timeout").is_transient());
        assert!(!c(500, "VM is locked (backup)").is_transient());
        assert!(!c(400, "Parameter verification failed.").is_transient());
    }

    #[test]
    fn messages_are_bounded() {
        let long = "x".repeat(MAX_MESSAGE_CHARS * 3);
        match classify(500, &long, BTreeMap::new()) {
            PveError::Http { message, .. } => assert_eq!(message.len(), MAX_MESSAGE_CHARS),
            other => panic!("{other:?}"),
        }
    }
}
