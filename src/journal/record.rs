//! `journal::record`: what the agent remembers, one JSON object per frame.
//!
//! Owns: the record types and their JSON form. Trusts: nothing; decoding is
//! strict (`deny_unknown_fields`, every field typed), and a checksummed frame
//! whose payload does not decode is damage, never skipped.
//!
//! Format: internally tagged JSON with the tag first, exactly
//! `{"type":"<tag>",<fields>}`, e.g.
//! `{"type":"task_started","op_id":"op-1","upid":"UPID:..."}`. Field names
//! are the Rust field names; optional fields may be absent or `null`.
//!
//! Why the tag must come first: serde decodes an internally tagged enum by
//! buffering the whole object before it knows the variant, which made replay
//! of a large journal twice as slow. The type derives serde's externally
//! tagged form `{"<tag>":{<fields>}}` and [`Record::encode`] /
//! [`Record::decode`] convert between the two by moving the tag; the
//! conversion only splices at the first member, so any attempt to smuggle a
//! second member to the outer level yields a two-key object that serde
//! rejects.

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
#[serde(rename_all = "snake_case", deny_unknown_fields)]
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

/// The wire form's first bytes, before the tag.
const TAG_PREFIX: &[u8] = b"{\"type\":\"";

/// Why a payload is not a record.
#[derive(Debug)]
pub enum RecordDecodeError {
    /// The payload does not start with `{"type":"<tag>"` then `,` or `}`.
    NotTypeFirst,
    /// The fields do not match the tag's record.
    Json(serde_json::Error),
}

impl std::fmt::Display for RecordDecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RecordDecodeError::NotTypeFirst => {
                f.write_str("record does not start with its \"type\" member")
            }
            RecordDecodeError::Json(e) => write!(f, "record fields: {e}"),
        }
    }
}

impl std::error::Error for RecordDecodeError {}

impl Record {
    /// The JSON payload of a frame; bounded by [`MAX_RECORD_BYTES`].
    pub fn encode(&self) -> Result<Vec<u8>, JournalError> {
        let external = serde_json::to_vec(self).map_err(|e| JournalError::Encode {
            detail: e.to_string(),
        })?;
        let bytes = external_to_wire(&external).ok_or_else(|| JournalError::Encode {
            detail: "unexpected serializer output".to_string(),
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
    pub fn decode(payload: &[u8]) -> Result<Record, RecordDecodeError> {
        let external = wire_to_external(payload).ok_or(RecordDecodeError::NotTypeFirst)?;
        serde_json::from_slice(&external).map_err(RecordDecodeError::Json)
    }
}

fn is_tag_byte(b: u8) -> bool {
    b.is_ascii_lowercase() || b == b'_'
}

/// `{"type":"t",REST` -> `{"t":{REST}` and `{"type":"t"}` -> `{"t":{}}`.
fn wire_to_external(wire: &[u8]) -> Option<Vec<u8>> {
    let after = wire.strip_prefix(TAG_PREFIX)?;
    let tag_len = after.iter().position(|&b| !is_tag_byte(b))?;
    let (tag, rest) = after.split_at(tag_len);
    let rest = rest.strip_prefix(b"\"")?;
    let members = match rest.split_first()? {
        (b',', members) => members,
        (b'}', _) => rest,
        _ => return None,
    };
    let mut out = Vec::with_capacity(wire.len() + 2);
    out.extend_from_slice(b"{\"");
    out.extend_from_slice(tag);
    out.extend_from_slice(b"\":{");
    out.extend_from_slice(members);
    out.push(b'}');
    Some(out)
}

/// `{"t":{FIELDS}}` (serde's externally tagged output) -> `{"type":"t",FIELDS}`.
fn external_to_wire(external: &[u8]) -> Option<Vec<u8>> {
    let after = external.strip_prefix(b"{\"")?;
    let tag_len = after.iter().position(|&b| !is_tag_byte(b))?;
    let (tag, rest) = after.split_at(tag_len);
    let fields = rest.strip_prefix(b"\":{")?.strip_suffix(b"}}")?;
    let mut out = Vec::with_capacity(external.len() + 8);
    out.extend_from_slice(TAG_PREFIX);
    out.extend_from_slice(tag);
    out.push(b'"');
    if !fields.is_empty() {
        out.push(b',');
        out.extend_from_slice(fields);
    }
    out.push(b'}');
    Some(out)
}
