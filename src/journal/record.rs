//! `journal::record`: what the agent remembers, one JSON object per frame.
//!
//! Owns: the record types and their JSON form. Trusts: nothing; decoding is
//! strict (`deny_unknown_fields`, every field typed), and a checksummed frame
//! whose payload does not decode is damage, never skipped.
//!
//! Format: internally tagged JSON, e.g.
//! `{"type":"task_started","op_id":"op-1","upid":"UPID:..."}`. Field names
//! are the Rust field names; optional fields may be absent or `null`.

use super::error::JournalError;
use super::format::MAX_RECORD_BYTES;
use serde::{Deserialize, Serialize};

/// How an op ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutcomeKind {
    Succeeded,
    Failed,
}

/// Why the agent may treat a guest as its own (CONTRACT §5: provenance
/// comes only from this journal).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProvenanceKind {
    /// Created by the agent in the named transaction.
    Created,
    /// Tagged scratch by the agent.
    Scratch,
}

/// The gate's decision on one action: the audit record of CONTRACT §8.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecisionRecord {
    pub decision: String,
    pub op: String,
    pub class: String,
    pub vmid: Option<u32>,
    pub source: String,
    pub signer: Option<String>,
    pub role: Option<String>,
    pub reason: String,
    pub nonce: Option<String>,
    /// Unix seconds.
    pub at: i64,
}

/// One journal record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Record {
    /// Written (and durable) before the PVE call it describes.
    Intent {
        op_id: String,
        vmid: u32,
        op: String,
        params: serde_json::Value,
        /// `desired_state`, `job` or `agent`.
        source: String,
        idempotency_key: String,
        nonce: Option<String>,
    },
    /// The PVE task id of an in-flight op.
    TaskStarted { op_id: String, upid: String },
    /// How an op ended; closes its intent.
    Outcome {
        op_id: String,
        outcome: OutcomeKind,
        detail: String,
    },
    /// A signed op's nonce, consumed before execution; remembered at least
    /// until `expires_at` (Unix seconds).
    NonceConsumed {
        nonce: String,
        expires_at: i64,
        op_id: String,
    },
    /// A gate decision (audit).
    Decision(DecisionRecord),
    /// A guest the agent may destroy as a compensating or scratch action.
    Provenance {
        vmid: u32,
        kind: ProvenanceKind,
        transaction: String,
    },
    /// The desired-state generation last applied.
    GenerationApplied { generation: u64 },
    /// A verified signed op waiting for the next pass (`--submit`, hub jobs).
    OpQueued {
        nonce: String,
        blob: String,
        sig: String,
        source: String,
        expires_at: i64,
    },
    /// A queued op leaving the queue (executed, rejected, expired).
    OpDequeued { nonce: String, reason: String },
    /// The operational signer file was rewritten by a signed `key_rotation`.
    SignersRotated { lines: Vec<String>, nonce: String },
    /// Compaction's summary of an intent that succeeded: keeps its
    /// idempotency key applied without the intent's full history.
    KeyApplied { idempotency_key: String },
}

impl Record {
    /// The JSON payload of a frame; bounded by [`MAX_RECORD_BYTES`].
    pub fn encode(&self) -> Result<Vec<u8>, JournalError> {
        let bytes = serde_json::to_vec(self).map_err(|e| JournalError::Encode {
            detail: e.to_string(),
        })?;
        if bytes.len() > MAX_RECORD_BYTES {
            return Err(JournalError::RecordTooLarge {
                bytes: bytes.len(),
                limit: MAX_RECORD_BYTES,
            });
        }
        Ok(bytes)
    }

    /// Strict decode of a frame payload.
    pub fn decode(payload: &[u8]) -> Result<Record, serde_json::Error> {
        serde_json::from_slice(payload)
    }
}
