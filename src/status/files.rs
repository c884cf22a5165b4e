//! `status::files`: what the daemon and `--reconcile-now` know that no
//! other process could read back, kept small in the state directory.
//!
//! Owns: `<state_dir>/status.json` (the last mutating pass) and
//! `<state_dir>/hub-status.json` (the daemon's last hub contact and error).
//! Trusts: nothing it reads back: both are decoded strictly and bounded; a
//! file that does not decode is reported and treated as absent.
//!
//! Writers: `status.json` only under the state lock (the pass's journal is
//! still open), so two passes never race; `hub-status.json` only by the
//! daemon's hub loop. Both are replaced with
//! [`crate::state_file::write_atomically`] (mode 0600), so a crash or power
//! cut leaves the old or the new file.
//!
//! Format (JSON, `version` 1, unknown keys refused):
//!
//! ```json
//! {"version":1,"at":1764571500,"duration_ms":840,"actions":3,"failed":1,"pending":1,
//!  "errors":1,"error_messages":["..."],
//!  "outcomes":{"planned":1,"succeeded":1,"failed":1,"skipped":0},
//!  "pending_actions":[{"vmid":9001,"op":"guest_destroy","approvals":1}],
//!  "guests":{"managed":2,"unmanaged":5,"missing":0},"actual_read":true,
//!  "generation_applied":12,"queued":1,"in_flight":0}
//! {"version":1,"last_contact_at":1764571490,"last_error":null,"last_error_at":null}
//! ```
//!
//! `error_messages` keeps the first [`MAX_ERROR_MESSAGES`], each cut to
//! [`MAX_MESSAGE_CHARS`]; `pending_actions` the first [`MAX_PENDING`]
//! (the counts stay exact).

use crate::reconcile::engine::PassOutput;
use crate::reconcile::report::{Decision, Outcome};
use serde::{Deserialize, Serialize};
use std::io::Read;
use std::path::Path;
use std::time::Duration;

/// The last mutating pass.
pub const PASS_FILE: &str = "status.json";
/// The daemon's hub contact.
pub const HUB_FILE: &str = "hub-status.json";
/// The only format version written and read.
pub const FORMAT_VERSION: u32 = 1;
/// Error lines kept (the count is exact).
pub const MAX_ERROR_MESSAGES: usize = 32;
/// Characters kept of one error line.
pub const MAX_MESSAGE_CHARS: usize = 512;
/// Pending actions kept (the count is exact).
pub const MAX_PENDING: usize = 1024;
/// Larger files are not ours: about 20 KiB of error lines plus 1024
/// pending entries fit many times over.
const MAX_FILE_BYTES: u64 = 1024 * 1024;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutcomeCounts {
    pub planned: u64,
    pub succeeded: u64,
    pub failed: u64,
    pub skipped: u64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GuestCounts {
    pub managed: u64,
    pub unmanaged: u64,
    pub missing: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PendingAction {
    pub vmid: u32,
    pub op: String,
    /// Distinct signers approving it at that pass (CONTRACT §11); absent
    /// in files written before approvals were counted.
    #[serde(default)]
    pub approvals: u32,
}

/// The last mutating pass (`status.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PassStatus {
    pub version: u32,
    /// Unix seconds the pass started.
    pub at: i64,
    pub duration_ms: u64,
    pub actions: u64,
    pub failed: u64,
    pub pending: u64,
    pub errors: u64,
    pub error_messages: Vec<String>,
    pub outcomes: OutcomeCounts,
    pub pending_actions: Vec<PendingAction>,
    pub guests: GuestCounts,
    /// Whether PVE's guest list was read (false: the counts are not known).
    pub actual_read: bool,
    pub generation_applied: Option<u64>,
    /// Queued signed ops and in-flight ops in the journal after the pass.
    pub queued: u64,
    pub in_flight: u64,
}

/// The daemon's hub contact (`hub-status.json`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HubStatus {
    pub version: u32,
    /// Unix seconds of the last exchange the hub answered as expected.
    pub last_contact_at: Option<i64>,
    /// What is wrong with the hub now (a failing exchange, a rejected
    /// document); `None` once a report succeeds again.
    pub last_error: Option<String>,
    pub last_error_at: Option<i64>,
}

fn count(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

fn cut(text: &str) -> String {
    text.chars().take(MAX_MESSAGE_CHARS).collect()
}

impl PassStatus {
    /// The summary of `out`, a pass that started at `at` and took
    /// `duration`, with the journal's `queued` and `in_flight` after it.
    pub fn from_pass(
        out: &PassOutput,
        at: i64,
        duration: Duration,
        queued: usize,
        in_flight: usize,
    ) -> PassStatus {
        let actions = &out.report.actions;
        let by_outcome = |o: Outcome| count(actions.iter().filter(|a| a.outcome == o).count());
        let unmanaged = count(out.report.unmanaged.len());
        PassStatus {
            version: FORMAT_VERSION,
            at,
            duration_ms: u64::try_from(duration.as_millis()).unwrap_or(u64::MAX),
            actions: count(actions.len()),
            failed: by_outcome(Outcome::Failed),
            pending: count(
                actions
                    .iter()
                    .filter(|a| a.decision == Decision::PendingSignature)
                    .count(),
            ),
            errors: count(out.report.errors.len()),
            error_messages: out
                .report
                .errors
                .iter()
                .take(MAX_ERROR_MESSAGES)
                .map(|e| cut(e))
                .collect(),
            outcomes: OutcomeCounts {
                planned: by_outcome(Outcome::Planned),
                succeeded: by_outcome(Outcome::Succeeded),
                failed: by_outcome(Outcome::Failed),
                skipped: by_outcome(Outcome::Skipped),
            },
            pending_actions: out
                .pending
                .iter()
                .take(MAX_PENDING)
                .map(|p| PendingAction {
                    vmid: p.vmid,
                    op: p.op.clone(),
                    approvals: p.approvals,
                })
                .collect(),
            guests: GuestCounts {
                managed: count(out.guests.len()).saturating_sub(unmanaged),
                unmanaged,
                missing: count(out.report.missing.len()),
            },
            actual_read: out.actual_read,
            generation_applied: out.generation_applied,
            queued: count(queued),
            in_flight: count(in_flight),
        }
    }
}

/// Why a status file could not be read back.
#[derive(Debug)]
pub enum StatusFileError {
    Io(std::io::Error),
    TooLarge,
    Decode(serde_json::Error),
    Version(u32),
}

impl std::fmt::Display for StatusFileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StatusFileError::Io(e) => write!(f, "{e}"),
            StatusFileError::TooLarge => write!(f, "larger than {MAX_FILE_BYTES} bytes"),
            StatusFileError::Decode(e) => write!(f, "not a status file: {e}"),
            StatusFileError::Version(v) => write!(f, "unknown format version {v}"),
        }
    }
}

impl std::error::Error for StatusFileError {}

fn store<T: Serialize>(path: &Path, value: &T) -> std::io::Result<()> {
    let bytes = serde_json::to_vec(value).map_err(std::io::Error::other)?;
    crate::state_file::write_atomically(path, &bytes, 0o600)
}

fn load<T: for<'de> Deserialize<'de>>(
    path: &Path,
    version: impl Fn(&T) -> u32,
) -> Result<Option<T>, StatusFileError> {
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(StatusFileError::Io(e)),
    };
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(StatusFileError::Io)?;
    if count(bytes.len()) > MAX_FILE_BYTES {
        return Err(StatusFileError::TooLarge);
    }
    let value: T = serde_json::from_slice(&bytes).map_err(StatusFileError::Decode)?;
    match version(&value) {
        FORMAT_VERSION => Ok(Some(value)),
        other => Err(StatusFileError::Version(other)),
    }
}

pub fn store_pass(state_dir: &Path, status: &PassStatus) -> std::io::Result<()> {
    store(&state_dir.join(PASS_FILE), status)
}

pub fn load_pass(state_dir: &Path) -> Result<Option<PassStatus>, StatusFileError> {
    load(&state_dir.join(PASS_FILE), |s: &PassStatus| s.version)
}

pub fn store_hub(state_dir: &Path, status: &HubStatus) -> std::io::Result<()> {
    let status = HubStatus {
        version: FORMAT_VERSION,
        ..status.clone()
    };
    store(&state_dir.join(HUB_FILE), &status)
}

pub fn load_hub(state_dir: &Path) -> Result<Option<HubStatus>, StatusFileError> {
    load(&state_dir.join(HUB_FILE), |s: &HubStatus| s.version)
}
