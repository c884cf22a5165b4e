//! `journal::format`: the byte layout of `<state_dir>/journal`, and the one
//! rule that tells a torn tail from damage.
//!
//! Owns: encoding and validating the file header and record frames, the hash
//! chain, and the sequential scan. Trusts: nothing it reads; every byte is
//! checked. Pure functions over byte slices (no I/O), so the same code runs on
//! the real file, in `--journal-verify` and in the simulated-disk tests.
//!
//! # File layout (all integers little-endian)
//!
//! ```text
//! header (80 bytes)
//!   0..8    magic       "FHJRNL\0\x01" (format version 1)
//!   8..24   salt        16 bytes, fresh for every file (creation, compaction)
//!   24..32  first_seq   u64, sequence number of the first frame
//!   32..64  prev_head   32 bytes, chain head of the file this one compacted
//!                       (zeros for a journal created empty)
//!   64..80  check       SHA-256(bytes 0..64)[..16]
//! frame (28 + len bytes), repeated
//!   0..4    len         u32, payload length, 1 ..= MAX_RECORD_BYTES
//!   4..12   seq         u64, first_seq for the first frame, then +1 each
//!   12..28  check       SHA-256(salt || seq || len || payload)[..16]
//!   28..    payload     one record, UTF-8 JSON (see `record.rs`)
//! ```
//!
//! The frame check covers the length and binds the frame to its file's salt:
//! bytes left over from an older file (before a compaction, or a reused
//! block) never validate in a newer one.
//!
//! Hash chain: `c0 = SHA-256("felhom-journal-chain-v1" || header[0..64])`,
//! `c_n = SHA-256(c_{n-1} || SHA-256(salt || seq || len || payload))`. The
//! final value is the chain head `--journal-verify` prints; through
//! `prev_head` a compacted file commits to the history it replaced.
//!
//! # Torn tail versus damage (the rule, stated once)
//!
//! Frames are read in order from the header. Let `P` be the offset where the
//! first frame fails (bad length, does not fit, bad check, or wrong seq).
//! - `P` is end of file: the file is clean.
//! - No offset in `P..EOF` starts a frame that validates (any seq): the bytes
//!   from `P` are a **torn tail**, an append that never completed (a partial
//!   frame, or a size extended before its data, filled with zeros or garbage).
//!   A mutating open truncates them; nothing there was ever acknowledged.
//! - Some offset in `P..EOF` starts a valid frame: **damage**. Later data was
//!   durable, so the gap is not an interrupted append. Refused, untouched.
//! - A header that does not validate (including a file shorter than it) is
//!   damage: a journal file only ever appears, by rename, with its header
//!   already durable.
//!
//! Consequence, accepted knowingly: a flipped byte inside the *last* frame
//! reads as a torn tail (indistinguishable from an interrupted write).

use super::error::{DamageReason, JournalError};
use sha2::{Digest, Sha256};

/// File magic, including the format version in its last byte.
pub const MAGIC: [u8; 8] = *b"FHJRNL\x00\x01";
/// Bytes of the per-file salt.
pub const SALT_LEN: usize = 16;
/// Bytes of the file header.
pub const HEADER_LEN: usize = 80;
/// Bytes of a frame before its payload.
pub const FRAME_OVERHEAD: usize = 28;
/// Bytes of the truncated SHA-256 in headers and frames: 128 bits makes an
/// accidental match impossible in practice.
const CHECK_LEN: usize = 16;
/// Largest payload. Records are small (a signer file of a few hundred lines
/// is the largest); the bound keeps a corrupt length from reading far.
pub const MAX_RECORD_BYTES: usize = 1 << 20;
const CHAIN_DOMAIN: &[u8] = b"felhom-journal-chain-v1";

/// A 32-byte SHA-256 value.
pub type Hash = [u8; 32];

/// The decoded file header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub salt: [u8; SALT_LEN],
    pub first_seq: u64,
    pub prev_head: Hash,
}

impl Header {
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut out = [0u8; HEADER_LEN];
        let mut body = Vec::with_capacity(64);
        body.extend_from_slice(&MAGIC);
        body.extend_from_slice(&self.salt);
        body.extend_from_slice(&self.first_seq.to_le_bytes());
        body.extend_from_slice(&self.prev_head);
        let check = Sha256::digest(&body);
        body.extend_from_slice(check.get(..CHECK_LEN).unwrap_or_default());
        out.copy_from_slice(&body);
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<Header, DamageReason> {
        let raw = bytes.get(..HEADER_LEN).ok_or(DamageReason::ShortHeader)?;
        let (body, check) = raw.split_at(64);
        if body.get(..8) != Some(&MAGIC[..]) {
            return Err(DamageReason::BadMagic);
        }
        if Sha256::digest(body).get(..CHECK_LEN) != Some(check) {
            return Err(DamageReason::BadHeaderCheck);
        }
        Ok(Header {
            salt: array(body.get(8..24)),
            first_seq: u64::from_le_bytes(array(body.get(24..32))),
            prev_head: array(body.get(32..64)),
        })
    }

    /// `c0` of the hash chain.
    pub fn chain_start(&self) -> Hash {
        let encoded = self.encode();
        let mut h = Sha256::new();
        h.update(CHAIN_DOMAIN);
        h.update(encoded.get(..64).unwrap_or_default());
        h.finalize().into()
    }
}

/// Copies a slice of known length into an array (zeros if the length is off,
/// which callers rule out by construction).
fn array<const N: usize>(slice: Option<&[u8]>) -> [u8; N] {
    let mut out = [0u8; N];
    if let Some(s) = slice.filter(|s| s.len() == N) {
        out.copy_from_slice(s);
    }
    out
}

/// SHA-256 over what a frame check covers.
fn frame_digest(salt: &[u8; SALT_LEN], seq: u64, payload: &[u8]) -> Hash {
    let len = u32::try_from(payload.len()).unwrap_or(u32::MAX);
    let mut h = Sha256::new();
    h.update(salt);
    h.update(seq.to_le_bytes());
    h.update(len.to_le_bytes());
    h.update(payload);
    h.finalize().into()
}

/// The next chain value after a frame with this digest.
pub fn chain_next(prev: &Hash, frame_digest: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update(prev);
    h.update(frame_digest);
    h.finalize().into()
}

/// Appends one frame to `out`; returns the frame digest for the chain.
/// The caller has bounded `payload` to `1..=MAX_RECORD_BYTES`.
pub fn encode_frame(out: &mut Vec<u8>, salt: &[u8; SALT_LEN], seq: u64, payload: &[u8]) -> Hash {
    let digest = frame_digest(salt, seq, payload);
    let len = u32::try_from(payload.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&seq.to_le_bytes());
    out.extend_from_slice(digest.get(..CHECK_LEN).unwrap_or_default());
    out.extend_from_slice(payload);
    digest
}

/// A frame that validated at some offset.
struct Frame<'a> {
    seq: u64,
    payload: &'a [u8],
    digest: Hash,
    end: usize,
}

/// The frame laid out at `off` by its length field alone: `(head, payload,
/// end)` if the length is in range and the frame fits. Nothing else is
/// checked.
fn frame_layout(bytes: &[u8], off: usize) -> Option<(&[u8], &[u8], usize)> {
    let start = off.checked_add(FRAME_OVERHEAD)?;
    let head = bytes.get(off..start)?;
    let len = usize::try_from(u32::from_le_bytes(array(head.get(0..4)))).ok()?;
    if len == 0 || len > MAX_RECORD_BYTES {
        return None;
    }
    let end = start.checked_add(len)?;
    Some((head, bytes.get(start..end)?, end))
}

/// The frame starting at `off`, if one validates there (any seq).
fn frame_at<'a>(bytes: &'a [u8], off: usize, salt: &[u8; SALT_LEN]) -> Option<Frame<'a>> {
    let (head, payload, end) = frame_layout(bytes, off)?;
    let seq = u64::from_le_bytes(array(head.get(4..12)));
    let digest = frame_digest(salt, seq, payload);
    if digest.get(..CHECK_LEN) != head.get(12..28) {
        return None;
    }
    Some(Frame {
        seq,
        payload,
        digest,
        end,
    })
}

/// Walks the frames laid out from the header by their length fields alone
/// ([`frame_layout`]), checking nothing else: hands each `(offset, payload)`
/// to `on_frame` until a frame does not lay out or `on_frame` returns
/// `false`. Returns the offset where the walk stopped. Only for work that a
/// [`scan`] of the same image then confirms (`journal::replay`): from the
/// same start, the same length fields give the same frames, so a walk that
/// ends where the scan's valid frames end visited exactly those frames.
pub fn walk_unchecked(bytes: &[u8], mut on_frame: impl FnMut(u64, &[u8]) -> bool) -> u64 {
    let mut off = HEADER_LEN;
    while let Some((_, payload, end)) = frame_layout(bytes, off) {
        if !on_frame(to_u64(off), payload) {
            break;
        }
        off = end;
    }
    to_u64(off)
}

/// What a scan found; everything up to `valid_len` validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanSummary {
    pub header: Header,
    /// Frames that validated.
    pub records: u64,
    /// Offset just past the last valid frame.
    pub valid_len: u64,
    /// Sequence number the next appended frame gets.
    pub next_seq: u64,
    pub chain_head: Hash,
    /// `(offset, bytes)` of a torn tail, if any.
    pub torn_tail: Option<(u64, u64)>,
}

/// Scans a whole journal image, handing each valid frame's `(offset, seq,
/// payload)` to `on_frame` in order; applies the torn-tail rule above.
pub fn scan(
    bytes: &[u8],
    mut on_frame: impl FnMut(u64, u64, &[u8]) -> Result<(), JournalError>,
) -> Result<ScanSummary, JournalError> {
    let header =
        Header::decode(bytes).map_err(|reason| JournalError::Damaged { offset: 0, reason })?;
    let mut chain = header.chain_start();
    let mut next_seq = header.first_seq;
    let mut off = HEADER_LEN;
    let mut records = 0u64;
    while let Some(frame) = frame_at(bytes, off, &header.salt).filter(|f| f.seq == next_seq) {
        on_frame(to_u64(off), frame.seq, frame.payload)?;
        chain = chain_next(&chain, &frame.digest);
        next_seq = next_seq.checked_add(1).ok_or(JournalError::Damaged {
            offset: to_u64(off),
            reason: DamageReason::SeqOverflow,
        })?;
        records += 1;
        off = frame.end;
    }
    let torn_tail = classify_rest(bytes, off, &header.salt)?;
    Ok(ScanSummary {
        header,
        records,
        valid_len: to_u64(off),
        next_seq,
        chain_head: chain,
        torn_tail,
    })
}

/// Applies the torn-tail rule to the bytes from `from` to the end.
fn classify_rest(
    bytes: &[u8],
    from: usize,
    salt: &[u8; SALT_LEN],
) -> Result<Option<(u64, u64)>, JournalError> {
    let rest = bytes.len().saturating_sub(from);
    if rest == 0 {
        return Ok(None);
    }
    if let Some(valid_at) = (from..bytes.len()).find(|&o| frame_at(bytes, o, salt).is_some()) {
        return Err(JournalError::Damaged {
            offset: to_u64(from),
            reason: DamageReason::InvalidBeforeValid {
                valid_at: to_u64(valid_at),
            },
        });
    }
    Ok(Some((to_u64(from), to_u64(rest))))
}

fn to_u64(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}
