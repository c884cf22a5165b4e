//! `journal::error`: one variant per cause. Callers map [`JournalError::Locked`]
//! to exit 75 and [`JournalError::Damaged`] to exit 65 (CONTRACT §6).

use std::fmt;
use std::path::PathBuf;

/// Why bytes that should validate did not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DamageReason {
    /// The file is shorter than its header.
    ShortHeader,
    /// The file does not start with the journal magic.
    BadMagic,
    /// A journal of a format version this build does not read (a newer
    /// release wrote it).
    UnknownVersion { version: u8 },
    /// The header's checksum does not match.
    BadHeaderCheck,
    /// Bytes that do not validate are followed by a batch (or, in format
    /// version 1, a frame) that does, at `valid_at`.
    InvalidBeforeValid { valid_at: u64 },
    /// A frame validated but its payload is not a known record.
    BadRecord { detail: String },
    /// Sequence numbers ran out (a forged header).
    SeqOverflow,
}

impl fmt::Display for DamageReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DamageReason::ShortHeader => f.write_str("file shorter than the journal header"),
            DamageReason::BadMagic => f.write_str("not a felhom-agent journal file"),
            DamageReason::UnknownVersion { version } => write!(
                f,
                "journal format version {version} was written by a newer felhom-agent; this \
                 release reads versions 1 and 2 (downgrading is not supported)"
            ),
            DamageReason::BadHeaderCheck => f.write_str("header checksum mismatch"),
            DamageReason::InvalidBeforeValid { valid_at } => {
                write!(
                    f,
                    "bytes that do not validate are followed by valid records at offset \
                     {valid_at}, so they had been made durable"
                )
            }
            DamageReason::BadRecord { detail } => {
                write!(f, "checksummed record does not decode: {detail}")
            }
            DamageReason::SeqOverflow => f.write_str("sequence number overflow"),
        }
    }
}

/// Everything that can go wrong opening, reading or writing the journal.
#[derive(Debug)]
pub enum JournalError {
    /// Another process holds the state lock past the wait.
    Locked { lock_path: PathBuf },
    /// The journal does not validate and is not a torn tail; left untouched.
    Damaged { offset: u64, reason: DamageReason },
    /// An I/O call failed before anything was handed to the kernel.
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    /// A record encodes larger than the frame bound.
    RecordTooLarge { bytes: usize, limit: usize },
    /// The journal file is larger than this build will read into memory.
    FileTooLarge { bytes: u64, limit: u64 },
    /// A record failed to encode as JSON.
    Encode { detail: String },
}

impl JournalError {
    pub(crate) fn io(
        action: &'static str,
        path: &std::path::Path,
        source: std::io::Error,
    ) -> JournalError {
        JournalError::Io {
            action,
            path: path.to_path_buf(),
            source,
        }
    }
}

impl fmt::Display for JournalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JournalError::Locked { lock_path } => write!(
                f,
                "state lock {} is held by another felhom-agent process; retry when it finishes",
                lock_path.display()
            ),
            JournalError::Damaged { offset, reason } => write!(
                f,
                "journal damaged at byte offset {offset}: {reason}; the file was left untouched \
                 (inspect it with --journal-verify and restore it from backup)"
            ),
            JournalError::Io {
                action,
                path,
                source,
            } => {
                write!(
                    f,
                    "journal I/O error: {action} {}: {source}",
                    path.display()
                )
            }
            JournalError::RecordTooLarge { bytes, limit } => {
                write!(
                    f,
                    "journal record of {bytes} bytes exceeds the {limit}-byte limit"
                )
            }
            JournalError::FileTooLarge { bytes, limit } => write!(
                f,
                "journal file of {bytes} bytes exceeds the {limit}-byte limit this build reads"
            ),
            JournalError::Encode { detail } => {
                write!(f, "journal record does not encode: {detail}")
            }
        }
    }
}

impl std::error::Error for JournalError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            JournalError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}
