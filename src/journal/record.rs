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
//! tagged form instead. [`Record::encode`] serializes that form,
//! `{"<tag>":{<fields>}}`, and moves the tag in front of the fields; the
//! splice only touches the first member, so any attempt to smuggle a second
//! member to the outer level yields a two-key object that fails to decode.
//! [`Record::decode`] reads the `"type"` member first and hands the rest of
//! the same object to the variant's derived decoder, in one pass with no
//! copy ([`TypeFirst`]): a later `"type"` key is an unknown field, refused
//! like any other.

use super::error::JournalError;
use super::format::MAX_RECORD_BYTES;
use serde::de::value::{BorrowedStrDeserializer, MapAccessDeserializer};
use serde::de::{self, DeserializeSeed, MapAccess, Visitor};
use serde::{Deserialize, Serialize};

/// How an op ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutcomeKind {
    Succeeded,
    Failed,
}

/// The kind of a legacy `provenance` record (decoded for compatibility,
/// never written, and ignored by replay: see [`Record::Provenance`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProvenanceKind {
    /// Created by the agent in the named transaction.
    Created,
    /// Tagged scratch by the agent.
    Scratch,
}

/// How a provisioning transaction ended (DESIGN §5a).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TxnEndKind {
    /// Created, configured, started as planned: an ordinary guest now.
    Committed,
    /// The guest this transaction created was destroyed (or is gone).
    RolledBack,
    /// Nothing was created (the create call or task failed, or was never
    /// confirmed and no guest has the vmid).
    Failed,
    /// The create's outcome is unknown and a guest with the vmid exists:
    /// not provably ours, left to the operator.
    Unresolved,
}

/// The gate's decision on one action: the audit record of CONTRACT §8.
/// Ordered and hashable so the index can key standing decisions by it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
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
        /// When the intent was written (Unix seconds), for `--status`.
        /// Absent in records written before it existed.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        at: Option<i64>,
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
    /// A gate decision (audit). One that is not `allowed` *stands* from
    /// this record on: a later pass making the same decision (every field
    /// but `at` equal) journals nothing new until it lapses.
    Decision(DecisionRecord),
    /// A standing decision that a pass no longer made (`at`: that pass).
    DecisionLapsed(DecisionRecord),
    /// Legacy, vmid-keyed provenance. No release ever wrote one (nothing
    /// created guests before transactions existed); it still decodes so an
    /// old journal opens, and replay ignores it: it can never make a destroy
    /// benign. Provenance is [`Record::TxnCreated`].
    Provenance {
        vmid: u32,
        kind: ProvenanceKind,
        transaction: String,
    },
    /// A provisioning transaction begins (before its create intent), with
    /// its whole plan: the `create` object, the `set_config` params to
    /// write afterwards (if any), and whether to start the guest.
    TxnBegin {
        txn: String,
        vmid: u32,
        create: serde_json::Value,
        config: Option<serde_json::Value>,
        start: bool,
        generation: u64,
        /// Unix seconds.
        at: i64,
    },
    /// The transaction's own create task `upid` was seen ending `OK`: the
    /// provenance that makes its compensating destroy benign while it is open.
    TxnCreated { txn: String, upid: String },
    /// The transaction is being rolled back (its compensating destroy follows).
    TxnAbort { txn: String, reason: String },
    /// A transaction closes. `RolledBack` holds the vmid back from another
    /// creation until the generation changes or an hour has passed.
    TxnEnd {
        txn: String,
        vmid: u32,
        end: TxnEndKind,
        generation: u64,
        /// Unix seconds.
        at: i64,
        detail: String,
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
    /// A further signature over the blob of the queued op `nonce`: another
    /// signer's approval (CONTRACT §11), durable before `--submit` returns.
    ApprovalAdded {
        nonce: String,
        sig: String,
        source: String,
    },
    /// A queued op leaving the queue (executed, rejected, expired).
    OpDequeued { nonce: String, reason: String },
    /// The operational signer file was rewritten by a signed `key_rotation`.
    SignersRotated { lines: Vec<String>, nonce: String },
    /// Compaction's summary of an intent that succeeded: keeps its
    /// idempotency key applied without the intent's full history.
    KeyApplied { idempotency_key: String },
    /// Compaction forgot consumed nonces: every one it forgot expires
    /// before `expiring_before` (Unix seconds), so a blob that does may be
    /// a replay and is refused as one, whatever the clock says later.
    NoncesPruned { expiring_before: i64 },
}

/// The wire form's first bytes, before the tag.
const TAG_PREFIX: &[u8] = b"{\"type\":\"";

/// Why a payload is not a record.
#[derive(Debug)]
pub enum RecordDecodeError {
    /// The payload does not start with `{"type":"`.
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
        if !payload.starts_with(TAG_PREFIX) {
            return Err(RecordDecodeError::NotTypeFirst);
        }
        let mut de = serde_json::Deserializer::from_slice(payload);
        let record = de::Deserializer::deserialize_map(&mut de, TypeFirst)
            .map_err(RecordDecodeError::Json)?;
        de.end().map_err(RecordDecodeError::Json)?;
        Ok(record)
    }
}

/// Decodes `{"type":"<tag>",<fields>}`: the first member must be `"type"`
/// (a string without escapes); its value names the variant, and the rest
/// of the object is that variant's fields.
struct TypeFirst;

impl<'de> Visitor<'de> for TypeFirst {
    type Value = Record;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a record object whose first member is \"type\"")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Record, A::Error> {
        if map.next_key::<&'de str>()? != Some("type") {
            return Err(de::Error::custom("the first member is not \"type\""));
        }
        let tag: &'de str = map.next_value()?;
        Record::deserialize(Tagged { tag, fields: map })
    }
}

/// The variant named by `tag`, with the object's remaining members as its
/// fields; shaped like serde's externally tagged enum so the derived
/// decoder of [`Record`] (with `deny_unknown_fields`) does the checking.
struct Tagged<'de, A> {
    tag: &'de str,
    fields: A,
}

impl<'de, A: MapAccess<'de>> de::Deserializer<'de> for Tagged<'de, A> {
    type Error = A::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, A::Error> {
        visitor.visit_enum(self)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map struct enum identifier ignored_any
    }
}

impl<'de, A: MapAccess<'de>> de::EnumAccess<'de> for Tagged<'de, A> {
    type Error = A::Error;
    type Variant = Self;

    fn variant_seed<V: DeserializeSeed<'de>>(self, seed: V) -> Result<(V::Value, Self), A::Error> {
        let variant = seed.deserialize(BorrowedStrDeserializer::new(self.tag))?;
        Ok((variant, self))
    }
}

impl<'de, A: MapAccess<'de>> de::VariantAccess<'de> for Tagged<'de, A> {
    type Error = A::Error;

    fn unit_variant(self) -> Result<(), A::Error> {
        Err(de::Error::custom("no record is a unit variant"))
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, A::Error> {
        seed.deserialize(MapAccessDeserializer::new(self.fields))
    }

    fn tuple_variant<V: Visitor<'de>>(
        self,
        _len: usize,
        _visitor: V,
    ) -> Result<V::Value, A::Error> {
        Err(de::Error::custom("no record is a tuple variant"))
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, A::Error> {
        visitor.visit_map(self.fields)
    }
}

fn is_tag_byte(b: u8) -> bool {
    b.is_ascii_lowercase() || b == b'_'
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
