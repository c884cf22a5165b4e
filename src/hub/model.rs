//! Hub wire models (CONTRACT §7) and the strict decoders for what the hub
//! sends.
//!
//! Received documents use `deny_unknown_fields` and are validated past what
//! serde checks (job ids, base64, sizes). Sent documents are plain
//! `Serialize` structs with public fields that the daemon fills.
//!
//! ControlEnvelope, exactly (all four keys required; unknown keys rejected):
//!
//! ```json
//! {"poll_interval_seconds": 900, "blocked": false, "desired_generation": 12, "has_signed_ops": true}
//! ```
//!
//! `desired_generation` may be `null` (the hub holds no desired state for
//! this host) but may not be omitted: a hub that forgets a key is a hub whose
//! answer we do not understand, and `blocked` in particular must never
//! default to "not blocked".
//!
//! Jobs, exactly: `{"jobs": [{"job_id": ID, "op_blob_b64": B64, "sig_armored": TEXT}]}`
//! with at most [`MAX_JOBS`] entries, `ID` matching `[A-Za-z0-9._-]{1,128}`
//! (not `.` or `..`) and unique, `B64` strict padded base64 of at most
//! [`MAX_JOB_BLOB_BYTES`] bytes, `TEXT` at most [`MAX_JOB_SIG_BYTES`] bytes.
//! One bad job rejects the whole answer.

use super::HubError;
use serde::{Deserialize, Deserializer, Serialize};
use std::collections::HashSet;
use std::time::Duration;

/// The poll interval the hub may ask for is clamped to this range, so a hub
/// can neither make the agent hammer it nor silence it for hours.
pub const MIN_POLL_SECONDS: u64 = 60;
pub const MAX_POLL_SECONDS: u64 = 3600;
/// Jobs per answer. Operators sign ops by hand; hundreds queued at once is
/// already a malfunction.
pub const MAX_JOBS: usize = 256;
/// A canonical op blob is a few hundred bytes; `key_rotation` with many
/// signer lines is the largest legitimate one.
pub const MAX_JOB_BLOB_BYTES: usize = 64 * 1024;
/// An armored SSHSIG is under 1 KiB; the cap leaves room for wrapping.
pub const MAX_JOB_SIG_BYTES: usize = 16 * 1024;
/// A job id goes into a URL path segment.
pub const MAX_JOB_ID_LEN: usize = 128;
/// What `HostReport::agent_version` carries.
pub const AGENT_VERSION: &str = env!("CARGO_PKG_VERSION");
/// Decoder messages quote at most this much of the offending input.
const MAX_DETAIL_CHARS: usize = 200;

/// The hub's answer to a report.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ControlEnvelope {
    /// As sent; use [`ControlEnvelope::clamped_poll_interval`].
    pub poll_interval_seconds: u64,
    /// While true, nothing is mutated (signed jobs included).
    pub blocked: bool,
    /// The newest desired-state generation on the hub, if it has one.
    #[serde(deserialize_with = "required_nullable")]
    pub desired_generation: Option<u64>,
    /// Jobs are waiting: fetch them.
    pub has_signed_ops: bool,
}

impl ControlEnvelope {
    /// The requested interval clamped to [`MIN_POLL_SECONDS`, `MAX_POLL_SECONDS`].
    pub fn clamped_poll_interval(&self) -> Duration {
        Duration::from_secs(
            self.poll_interval_seconds
                .clamp(MIN_POLL_SECONDS, MAX_POLL_SECONDS),
        )
    }
}

/// With `deserialize_with`, serde treats a missing key as an error instead
/// of `None`: `null` is accepted, absence is not.
fn required_nullable<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    Option::<u64>::deserialize(d)
}

/// A signed op delivered by the hub. Untrusted bytes until `authz` verifies them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    /// Safe to put in a URL path (see [`is_safe_path_segment`]).
    pub job_id: String,
    /// The op blob, base64-decoded.
    pub blob: Vec<u8>,
    /// The armored SSHSIG, as sent.
    pub sig_armored: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JobsWire {
    jobs: Vec<JobWire>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JobWire {
    job_id: String,
    op_blob_b64: String,
    sig_armored: String,
}

/// The report the agent sends; it is also its heartbeat.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HostReport {
    pub host_id: String,
    /// [`AGENT_VERSION`].
    pub agent_version: String,
    /// RFC 3339 UTC (`crate::time::format_rfc3339`).
    pub reported_at: String,
    /// `None` (sent as `null`) until the node's guests were read: an empty
    /// list means the node has none, never "not read yet".
    pub guests: Option<Vec<GuestReport>>,
    pub desired_generation_applied: Option<u64>,
    /// Actions awaiting a signature, as `--pending` lists them.
    pub pending: Vec<PendingApproval>,
    pub last_pass: Option<PassSummary>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GuestReport {
    pub vmid: u32,
    pub kind: GuestKind,
    pub name: String,
    pub status: GuestStatus,
    pub spec: GuestSpec,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum GuestKind {
    Qemu,
    Lxc,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum GuestStatus {
    Running,
    Stopped,
    Unknown,
}

/// `null` where the agent could not read the value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GuestSpec {
    pub cores: Option<u32>,
    pub memory_bytes: Option<u64>,
    pub description: Option<String>,
}

/// One entry of `--pending`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PendingApproval {
    pub vmid: u32,
    pub op: String,
    pub params: serde_json::Value,
    /// The canonical blob to sign, as text.
    pub blob: String,
    pub sign_command: String,
    /// Distinct signers approving it now (CONTRACT §11).
    pub approvals: u32,
    /// Distinct signers it needs (`authz.approvals`).
    pub approvals_required: u32,
}

/// Summary of the last reconcile pass.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PassSummary {
    /// RFC 3339 UTC.
    pub at: String,
    pub actions: u64,
    pub failed: u64,
    pub pending: u64,
}

/// Decodes a control envelope strictly.
pub fn decode_envelope(bytes: &[u8]) -> Result<ControlEnvelope, HubError> {
    serde_json::from_slice(bytes).map_err(|e| decode_error("control envelope", &e.to_string()))
}

/// Decodes and validates a jobs answer (see the module header).
pub fn decode_jobs(bytes: &[u8]) -> Result<Vec<Job>, HubError> {
    let wire: JobsWire =
        serde_json::from_slice(bytes).map_err(|e| decode_error("jobs list", &e.to_string()))?;
    if wire.jobs.len() > MAX_JOBS {
        return Err(decode_error(
            "jobs list",
            &format!("{} jobs, more than {MAX_JOBS}", wire.jobs.len()),
        ));
    }
    let mut seen = HashSet::new();
    let mut jobs = Vec::with_capacity(wire.jobs.len());
    for (index, job) in wire.jobs.into_iter().enumerate() {
        let job = validate_job(job)
            .map_err(|detail| decode_error("job", &format!("jobs[{index}]: {detail}")))?;
        if !seen.insert(job.job_id.clone()) {
            return Err(decode_error(
                "job",
                &format!("jobs[{index}]: duplicate job_id"),
            ));
        }
        jobs.push(job);
    }
    Ok(jobs)
}

fn validate_job(job: JobWire) -> Result<Job, String> {
    if !is_safe_path_segment(&job.job_id) {
        return Err(format!(
            "job_id {:?} is not [A-Za-z0-9._-]{{1,{MAX_JOB_ID_LEN}}}",
            excerpt(job.job_id.as_bytes())
        ));
    }
    // Check the encoded length first so an oversized blob is never decoded.
    if job.op_blob_b64.len() > MAX_JOB_BLOB_BYTES.div_ceil(3) * 4 {
        return Err(format!(
            "op_blob_b64 decodes to more than {MAX_JOB_BLOB_BYTES} bytes"
        ));
    }
    let blob = crate::base64::decode(job.op_blob_b64.as_bytes())
        .map_err(|e| format!("op_blob_b64: {e}"))?;
    if blob.is_empty() || blob.len() > MAX_JOB_BLOB_BYTES {
        return Err(format!(
            "op_blob_b64 must decode to 1 to {MAX_JOB_BLOB_BYTES} bytes"
        ));
    }
    if job.sig_armored.is_empty() || job.sig_armored.len() > MAX_JOB_SIG_BYTES {
        return Err(format!(
            "sig_armored must be 1 to {MAX_JOB_SIG_BYTES} bytes"
        ));
    }
    Ok(Job {
        job_id: job.job_id,
        blob,
        sig_armored: job.sig_armored,
    })
}

/// `[A-Za-z0-9._-]{1,128}` and not `.` or `..`: safe as one URL path segment
/// without encoding.
pub fn is_safe_path_segment(s: &str) -> bool {
    (1..=MAX_JOB_ID_LEN).contains(&s.len())
        && s != "."
        && s != ".."
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-')
}

fn decode_error(what: &'static str, detail: &str) -> HubError {
    HubError::Decode {
        what,
        detail: excerpt(detail.as_bytes()),
    }
}

/// Bounded, printable rendering of untrusted text for an error message:
/// at most [`MAX_DETAIL_CHARS`] characters, control characters replaced.
pub(crate) fn excerpt(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let mut out: String = text
        .chars()
        .take(MAX_DETAIL_CHARS)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    if text.chars().nth(MAX_DETAIL_CHARS).is_some() {
        out.push('…');
    }
    out
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
    fn envelope_missing_desired_generation_is_rejected_but_null_is_accepted() {
        let null = br#"{"poll_interval_seconds":60,"blocked":false,"desired_generation":null,"has_signed_ops":false}"#;
        assert_eq!(decode_envelope(null).unwrap().desired_generation, None);
        let missing = br#"{"poll_interval_seconds":60,"blocked":false,"has_signed_ops":false}"#;
        assert!(matches!(
            decode_envelope(missing),
            Err(HubError::Decode {
                what: "control envelope",
                ..
            })
        ));
    }

    #[test]
    fn envelope_missing_blocked_is_rejected_never_defaulted() {
        let doc = br#"{"poll_interval_seconds":60,"desired_generation":1,"has_signed_ops":false}"#;
        assert!(matches!(decode_envelope(doc), Err(HubError::Decode { .. })));
    }

    #[test]
    fn safe_path_segment_rejects_dots_slashes_and_encodings() {
        for bad in ["", ".", "..", "a/b", "a%2f", "a b", "é", &"x".repeat(129)] {
            assert!(!is_safe_path_segment(bad), "{bad:?}");
        }
        for good in ["a", "...", "job-1.2_3", &"x".repeat(128)] {
            assert!(is_safe_path_segment(good), "{good:?}");
        }
    }

    #[test]
    fn excerpt_is_bounded_and_printable() {
        let long = format!("a\nb{}", "z".repeat(10_000));
        let e = excerpt(long.as_bytes());
        assert!(e.chars().count() <= MAX_DETAIL_CHARS + 1);
        assert!(e.starts_with("a?b"));
        assert!(e.ends_with('…'));
    }

    #[test]
    fn oversized_blob_is_rejected_before_decoding() {
        let b64 = "A".repeat((MAX_JOB_BLOB_BYTES / 3 + 2) * 4);
        let doc =
            format!(r#"{{"jobs":[{{"job_id":"j","op_blob_b64":"{b64}","sig_armored":"s"}}]}}"#);
        let err = decode_jobs(doc.as_bytes()).unwrap_err();
        assert!(err.to_string().contains("more than 65536 bytes"), "{err}");
    }
}
