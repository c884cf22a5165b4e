//! Why a desired-state document was rejected: one variant per cause, each
//! naming the JSON path or file, so the operator knows what to fix. The
//! document is not secret; messages quote at most a truncated key.

use std::fmt;
use std::path::PathBuf;

/// Why a desired-state document was rejected. The last good one stays in force.
#[derive(Debug)]
pub enum DesiredError {
    TooLarge {
        size: usize,
        limit: usize,
    },
    /// Not JSON, a duplicate object key, or too many JSON values.
    Syntax {
        line: usize,
        column: usize,
        detail: String,
    },
    UnknownKey {
        path: String,
    },
    MissingKey {
        path: String,
    },
    WrongType {
        path: String,
        expected: &'static str,
        found: &'static str,
    },
    OutOfRange {
        path: String,
        allowed: &'static str,
    },
    InvalidState {
        path: String,
    },
    /// A string that is not in the format its key needs.
    Invalid {
        path: String,
        expected: &'static str,
    },
    /// `create` on a guest whose `state` is `absent`.
    CreateWithAbsent {
        path: String,
    },
    TooManyGuests {
        count: usize,
        limit: usize,
    },
    DuplicateVmid {
        path: String,
        vmid: u32,
    },
    PurgeWithoutAbsent {
        path: String,
    },
    GenerationWentBack {
        generation: u64,
        last_applied: u64,
    },
    /// The configured desired-state file does not exist.
    FileMissing {
        path: PathBuf,
    },
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    /// Persisting the last good document failed.
    Write {
        path: PathBuf,
        error: std::io::Error,
    },
}

impl fmt::Display for DesiredError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use DesiredError as E;
        match self {
            E::TooLarge { size, limit } => {
                write!(f, "desired state is {size} bytes; the limit is {limit}")
            }
            E::Syntax {
                line,
                column,
                detail,
            } => {
                write!(
                    f,
                    "desired state is not valid JSON at line {line} column {column}: {detail}"
                )
            }
            E::UnknownKey { path } => write!(f, "desired state: {path}: unknown key"),
            E::MissingKey { path } => write!(f, "desired state: {path}: required key is missing"),
            E::WrongType {
                path,
                expected,
                found,
            } => {
                write!(
                    f,
                    "desired state: {path}: expected {expected}, found {found}"
                )
            }
            E::OutOfRange { path, allowed } => {
                write!(
                    f,
                    "desired state: {path}: out of range (allowed: {allowed})"
                )
            }
            E::InvalidState { path } => write!(
                f,
                "desired state: {path}: must be \"running\", \"stopped\" or \"absent\""
            ),
            E::Invalid { path, expected } => {
                write!(f, "desired state: {path}: invalid (expected {expected})")
            }
            E::CreateWithAbsent { path } => write!(
                f,
                "desired state: {path}: \"create\" is not allowed with \"state\": \"absent\""
            ),
            E::TooManyGuests { count, limit } => {
                write!(
                    f,
                    "desired state lists {count} guests; the limit is {limit}"
                )
            }
            E::DuplicateVmid { path, vmid } => {
                write!(f, "desired state: {path}: vmid {vmid} is listed twice")
            }
            E::PurgeWithoutAbsent { path } => write!(
                f,
                "desired state: {path}: \"purge\": true is only allowed with \"state\": \"absent\""
            ),
            E::GenerationWentBack {
                generation,
                last_applied,
            } => write!(
                f,
                "desired state generation {generation} is lower than the last applied {last_applied}"
            ),
            E::FileMissing { path } => {
                write!(f, "desired state file {} does not exist", path.display())
            }
            E::Read { path, error } => {
                write!(f, "cannot read desired state {}: {error}", path.display())
            }
            E::Write { path, error } => {
                write!(f, "cannot save desired state {}: {error}", path.display())
            }
        }
    }
}

impl std::error::Error for DesiredError {}
