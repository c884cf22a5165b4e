//! `journal::format`: the byte layout of `<state_dir>/journal`, and the one
//! rule that tells a torn tail from damage.
//!
//! Owns: encoding and validating the file header and batches, the hash
//! chain, and the sequential scan (files of format version 1 are read by
//! [`super::format_v1`]). Trusts: nothing it reads; every byte is checked.
//! Pure functions over byte slices (no I/O), so the same code runs on the
//! real file, in `--journal-verify` and in the simulated-disk tests.
//!
//! # File layout (format version 2; all integers little-endian)
//!
//! ```text
//! header (80 bytes)
//!   0..8    magic       "FHJRNL\0\x02" (the last byte is the format version)
//!   8..24   salt        16 bytes, fresh for every file (creation, compaction)
//!   24..32  first_seq   u64, sequence number of the file's first record
//!   32..64  prev_head   32 bytes, chain head of the file this one compacted
//!                       (zeros for a journal created empty)
//!   64..80  check       SHA-256(bytes 0..64)[..16]
//! batch (32 + len bytes), repeated: what one `write` put in the file and
//! one `fdatasync` made durable
//!   0..4    len         u32, body length, 5 ..= MAX_BATCH_BYTES
//!   4..12   seq         u64, seq of the batch's first record
//!   12..16  count       u32, records in the body, >= 1
//!   16..32  check       SHA-256(salt || seq || count || len || body)[..16]
//!   32..    body        `count` records back to back, filling it exactly:
//!             0..4  rlen     u32, 1 ..= MAX_RECORD_BYTES
//!             4..   payload  one record, UTF-8 JSON (see `record.rs`)
//! ```
//!
//! Records are numbered from `first_seq` on, +1 each, across batches. The
//! batch check covers the lengths and binds the batch to its file's salt:
//! bytes left over from an older file never validate in a newer one.
//!
//! Hash chain, one link per batch: `c0 = SHA-256("felhom-journal-chain-v1"
//! || header[0..64])`, `c_b = SHA-256(c_{b-1} || SHA-256(salt || seq ||
//! count || len || body))`. The final value is the chain head
//! `--journal-verify` prints; through `prev_head` a compacted file commits
//! to the history it replaced.
//!
//! # Torn tail versus damage (the rule, stated once)
//!
//! A batch *validates* at an offset when its length, count and record
//! lengths lay out exactly inside the file and its check matches. Batches
//! are read in order from the header; let `P` be the offset where the first
//! one does not validate or does not carry the next seq.
//! - `P` is end of file: the file is clean.
//! - No offset in `P..EOF` starts a batch that validates (any seq): the
//!   bytes from `P` are a **torn tail**. A mutating open truncates them and
//!   logs it; no record in them was ever acknowledged.
//! - Some offset in `P..EOF` starts a batch that validates: **damage**.
//!   Refused (exit 65), the file left untouched.
//! - A header that does not validate (including a file shorter than it) is
//!   damage: a journal file only ever appears, by rename, with its header
//!   already durable.
//!
//! Why this holds at a power cut, where the disk may have written any
//! subset of the unsynced sectors, in any order. The writer keeps one
//! invariant: **at most one batch is unsynced at any instant, and it is the
//! last one in the file.**
//! - Group commit writes a batch with one `write` and `fdatasync`s it
//!   before it writes the next (`group`).
//! - A mutating open `fdatasync`s the file before its first append
//!   (`handle`): a process killed between its write and its sync leaves
//!   that batch in the page cache, where the next process reads it as
//!   valid; it is made durable before anything is written after it.
//! - A new file (creation, compaction, the version 1 conversion) is
//!   written and synced under a temporary name and only then renamed into
//!   place (`compact`); a torn-tail truncation is synced before the first
//!   append.
//!
//! So after a cut the file holds its synced batches, intact, then the bytes
//! of at most that one unsynced batch, each sector new or old (zeros, or a
//! stale block). If every sector arrived, the batch validates and is kept:
//! it is the next one in write order (never acknowledged, harmless). If any
//! did not, the check (over the whole batch) fails, so none of its records
//! is read, whichever of its sectors the disk kept. Nothing else in that
//! region validates at any offset: a check is bound to this file's salt,
//! which never leaves the state dir, so neither stale blocks of other files
//! nor text from outside copied into a record can pass for a batch, and a
//! torn tail that a repair cut off held no valid batch by this very rule.
//! Hence damage confined to the last batch is always the tail, and a valid
//! batch after an invalid one means the invalid bytes were followed by a
//! later write that became durable after them, so they had been durable
//! themselves: real damage, refused.
//!
//! What the disk must give, as every journal assumes: a completed
//! `fdatasync` means durable, and a sector's write is atomic (old or new
//! content, never a mix).
//!
//! Consequence, accepted knowingly: damage inside the *last* batch reads as
//! a torn tail (indistinguishable from an interrupted write), so it can
//! drop the records of that one group commit without a refusal.

use super::error::{DamageReason, JournalError};
use super::format_v1;
use sha2::{Digest, Sha256};

/// File magic before the version byte.
const MAGIC_PREFIX: &[u8; 7] = b"FHJRNL\x00";
/// File magic written by this build (format version 2).
pub const MAGIC: [u8; 8] = *b"FHJRNL\x00\x02";
/// Bytes of the per-file salt.
pub const SALT_LEN: usize = 16;
/// Bytes of the file header.
pub const HEADER_LEN: usize = 80;
/// Bytes of a batch before its body.
pub const BATCH_HEAD: usize = 32;
/// Bytes before each record's payload inside a batch body.
pub const RECORD_HEAD: usize = 4;
/// Bytes of the truncated SHA-256 in headers and batches: 128 bits makes an
/// accidental match impossible in practice.
pub(super) const CHECK_LEN: usize = 16;
/// Largest payload. Records are small (a signer file of a few hundred lines
/// is the largest); the bound keeps a corrupt length from reading far.
pub const MAX_RECORD_BYTES: usize = 1 << 20;
/// Largest batch body: room for the largest record, and a bound on one
/// write. Group commit splits what is pending at record boundaries to stay
/// within it; compaction writes as many batches as it needs.
pub const MAX_BATCH_BYTES: usize = 4 << 20;
const CHAIN_DOMAIN: &[u8] = b"felhom-journal-chain-v1";

/// A 32-byte SHA-256 value.
pub type Hash = [u8; 32];

/// The format versions this build reads; it writes only the newest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// One frame per record, each with its own check (read for upgrades).
    V1,
    /// Batches (this layout).
    V2,
}

impl Version {
    fn byte(self) -> u8 {
        match self {
            Version::V1 => 1,
            Version::V2 => 2,
        }
    }
}

/// The decoded file header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub version: Version,
    pub salt: [u8; SALT_LEN],
    pub first_seq: u64,
    pub prev_head: Hash,
}

impl Header {
    /// A header of the format this build writes.
    pub fn new(salt: [u8; SALT_LEN], first_seq: u64, prev_head: Hash) -> Header {
        Header {
            version: Version::V2,
            salt,
            first_seq,
            prev_head,
        }
    }

    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut out = [0u8; HEADER_LEN];
        let mut body = Vec::with_capacity(HEADER_LEN);
        body.extend_from_slice(MAGIC_PREFIX);
        body.push(self.version.byte());
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
        if body.get(..7) != Some(&MAGIC_PREFIX[..]) {
            return Err(DamageReason::BadMagic);
        }
        let version = match body.get(7) {
            Some(1) => Version::V1,
            Some(2) => Version::V2,
            other => {
                return Err(DamageReason::UnknownVersion {
                    version: other.copied().unwrap_or_default(),
                });
            }
        };
        if Sha256::digest(body).get(..CHECK_LEN) != Some(check) {
            return Err(DamageReason::BadHeaderCheck);
        }
        Ok(Header {
            version,
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
pub(super) fn array<const N: usize>(slice: Option<&[u8]>) -> [u8; N] {
    let mut out = [0u8; N];
    if let Some(s) = slice.filter(|s| s.len() == N) {
        out.copy_from_slice(s);
    }
    out
}

fn u32_at(bytes: &[u8], at: usize) -> Option<usize> {
    let raw = bytes.get(at..at.checked_add(4)?)?;
    usize::try_from(u32::from_le_bytes(array(Some(raw)))).ok()
}

/// The next chain value after a batch (or, in version 1, a frame) with
/// this digest.
pub fn chain_next(prev: &Hash, digest: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update(prev);
    h.update(digest);
    h.finalize().into()
}

/// SHA-256 over what a batch check covers.
fn batch_digest(salt: &[u8; SALT_LEN], seq: u64, count: u32, body: &[u8]) -> Hash {
    let len = u32::try_from(body.len()).unwrap_or(u32::MAX);
    let mut h = Sha256::new();
    h.update(salt);
    h.update(seq.to_le_bytes());
    h.update(count.to_le_bytes());
    h.update(len.to_le_bytes());
    h.update(body);
    h.finalize().into()
}

/// The leading records of a run (these payload lengths, in order) that go
/// in one batch: as many as fit in [`MAX_BATCH_BYTES`], at least one (every
/// record fits alone). Returns `(records, body bytes)`. The one splitting
/// rule of group commit and compaction.
pub fn first_batch(lens: impl IntoIterator<Item = usize>) -> (usize, usize) {
    let (mut records, mut body) = (0usize, 0usize);
    for len in lens {
        let framed = RECORD_HEAD.saturating_add(len);
        if records > 0 && body.saturating_add(framed) > MAX_BATCH_BYTES {
            break;
        }
        records += 1;
        body = body.saturating_add(framed);
    }
    (records, body)
}

/// Appends one record (its length, then its payload) to a batch being
/// built. The caller has bounded `payload` to `1..=MAX_RECORD_BYTES`.
pub fn push_record(batch: &mut Vec<u8>, payload: &[u8]) {
    let len = u32::try_from(payload.len()).unwrap_or(u32::MAX);
    batch.extend_from_slice(&len.to_le_bytes());
    batch.extend_from_slice(payload);
}

/// Fills in the head of `batch`: [`BATCH_HEAD`] reserved bytes followed by
/// a body of `count` records pushed with [`push_record`], first seq `seq`.
/// Returns the batch digest for the chain. The caller has bounded the body
/// to [`MAX_BATCH_BYTES`].
pub fn seal_batch(batch: &mut [u8], salt: &[u8; SALT_LEN], seq: u64, count: u32) -> Hash {
    let Some((head, body)) = batch.split_first_chunk_mut::<BATCH_HEAD>() else {
        return [0u8; 32];
    };
    let digest = batch_digest(salt, seq, count, body);
    let len = u32::try_from(body.len()).unwrap_or(u32::MAX);
    let mut filled = Vec::with_capacity(BATCH_HEAD);
    filled.extend_from_slice(&len.to_le_bytes());
    filled.extend_from_slice(&seq.to_le_bytes());
    filled.extend_from_slice(&count.to_le_bytes());
    filled.extend_from_slice(digest.get(..CHECK_LEN).unwrap_or_default());
    head.copy_from_slice(&filled);
    digest
}

/// Appends a whole batch of `payloads` (first seq `seq`) to `out`; returns
/// its digest. The caller has bounded the payloads and their sum.
pub fn encode_batch<'a>(
    out: &mut Vec<u8>,
    salt: &[u8; SALT_LEN],
    seq: u64,
    payloads: impl IntoIterator<Item = &'a [u8]>,
) -> Hash {
    let start = out.len();
    out.resize(start.saturating_add(BATCH_HEAD), 0);
    let mut count = 0u32;
    for payload in payloads {
        push_record(out, payload);
        count = count.saturating_add(1);
    }
    match out.get_mut(start..) {
        Some(batch) => seal_batch(batch, salt, seq, count),
        None => [0u8; 32],
    }
}

/// The records of a batch body, `(offset in the body, payload)`, in order,
/// until one does not lay out.
pub(super) fn records_in(body: &[u8]) -> impl Iterator<Item = (usize, &[u8])> {
    let mut off = 0usize;
    std::iter::from_fn(move || {
        let len = u32_at(body, off).filter(|&l| (1..=MAX_RECORD_BYTES).contains(&l))?;
        let start = off.checked_add(RECORD_HEAD)?;
        let end = start.checked_add(len)?;
        let payload = body.get(start..end)?;
        let at = off;
        off = end;
        Some((at, payload))
    })
}

/// A batch laid out by its fields (not yet checked).
struct Layout<'a> {
    seq: u64,
    count: u32,
    check: &'a [u8],
    body: &'a [u8],
    end: usize,
}

/// The batch at `off` laid out by its length, count and record lengths
/// alone: `Some` if they fill its body exactly and it fits in `bytes`.
fn batch_layout(bytes: &[u8], off: usize) -> Option<Layout<'_>> {
    let start = off.checked_add(BATCH_HEAD)?;
    let head = bytes.get(off..start)?;
    let len = u32_at(head, 0).filter(|&l| (RECORD_HEAD + 1..=MAX_BATCH_BYTES).contains(&l))?;
    let count = u32::from_le_bytes(array(head.get(12..16)));
    let end = start.checked_add(len)?;
    let body = bytes.get(start..end)?;
    let mut laid = 0usize;
    let mut records = 0u64;
    for (at, payload) in records_in(body) {
        laid = at + RECORD_HEAD + payload.len();
        records += 1;
        if records > u64::from(count) {
            return None;
        }
    }
    (count > 0 && records == u64::from(count) && laid == body.len()).then_some(Layout {
        seq: u64::from_le_bytes(array(head.get(4..12))),
        count,
        check: head.get(16..32)?,
        body,
        end,
    })
}

/// A batch that validated at some offset.
struct Batch<'a> {
    layout: Layout<'a>,
    digest: Hash,
}

/// The batch starting at `off`, if one validates there (any seq).
fn batch_at<'a>(bytes: &'a [u8], off: usize, salt: &[u8; SALT_LEN]) -> Option<Batch<'a>> {
    let layout = batch_layout(bytes, off)?;
    let digest = batch_digest(salt, layout.seq, layout.count, layout.body);
    (digest.get(..CHECK_LEN) == Some(layout.check)).then_some(Batch { layout, digest })
}

/// Walks the batches laid out from the header by their fields alone
/// ([`batch_layout`]), checking nothing else: hands each record's
/// `(offset, payload)` to `on_record` until a batch does not lay out or
/// `on_record` returns `false`. Returns the offset just past the last batch
/// walked whole (0 for a file that is not format version 2). Only for work
/// that a [`scan`] of the same image then confirms (`journal::replay`):
/// from the same start, the same fields give the same batches, so a walk
/// that ends where the scan's valid batches end visited exactly those.
pub fn walk_unchecked(bytes: &[u8], mut on_record: impl FnMut(u64, &[u8]) -> bool) -> u64 {
    if bytes.get(..8) != Some(&MAGIC[..]) {
        return 0;
    }
    let mut off = HEADER_LEN;
    while let Some(layout) = batch_layout(bytes, off) {
        let body_at = off + BATCH_HEAD;
        for (at, payload) in records_in(layout.body) {
            if !on_record(to_u64(body_at + at), payload) {
                return to_u64(off);
            }
        }
        off = layout.end;
    }
    to_u64(off)
}

/// What a scan found; everything up to `valid_len` validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanSummary {
    pub header: Header,
    /// Records in the batches (or version 1 frames) that validated.
    pub records: u64,
    /// Offset just past the last valid batch.
    pub valid_len: u64,
    /// Sequence number the next appended record gets.
    pub next_seq: u64,
    pub chain_head: Hash,
    /// `(offset, bytes)` of a torn tail, if any.
    pub torn_tail: Option<(u64, u64)>,
}

/// Scans a whole journal image, handing each valid record's `(offset, seq,
/// payload)` to `on_record` in order; applies the torn-tail rule above.
pub fn scan(
    bytes: &[u8],
    mut on_record: impl FnMut(u64, u64, &[u8]) -> Result<(), JournalError>,
) -> Result<ScanSummary, JournalError> {
    let header =
        Header::decode(bytes).map_err(|reason| JournalError::Damaged { offset: 0, reason })?;
    if header.version == Version::V1 {
        return format_v1::scan(bytes, header, on_record);
    }
    let mut chain = header.chain_start();
    let mut seq = header.first_seq;
    let mut off = HEADER_LEN;
    let mut records = 0u64;
    while let Some(batch) = batch_at(bytes, off, &header.salt).filter(|b| b.layout.seq == seq) {
        let body_at = off + BATCH_HEAD;
        for (at, payload) in records_in(batch.layout.body) {
            on_record(to_u64(body_at + at), seq, payload)?;
            seq = seq.checked_add(1).ok_or(JournalError::Damaged {
                offset: to_u64(off),
                reason: DamageReason::SeqOverflow,
            })?;
        }
        chain = chain_next(&chain, &batch.digest);
        records += u64::from(batch.layout.count);
        off = batch.layout.end;
    }
    let torn_tail = classify_rest(bytes, off, |o| batch_at(bytes, o, &header.salt).is_some())?;
    Ok(ScanSummary {
        header,
        records,
        valid_len: to_u64(off),
        next_seq: seq,
        chain_head: chain,
        torn_tail,
    })
}

/// Applies the torn-tail rule to the bytes from `from` to the end;
/// `validates_at` says whether a batch (or frame) validates at an offset.
pub(super) fn classify_rest(
    bytes: &[u8],
    from: usize,
    validates_at: impl Fn(usize) -> bool,
) -> Result<Option<(u64, u64)>, JournalError> {
    let rest = bytes.len().saturating_sub(from);
    if rest == 0 {
        return Ok(None);
    }
    if let Some(valid_at) = (from..bytes.len()).find(|&o| validates_at(o)) {
        return Err(JournalError::Damaged {
            offset: to_u64(from),
            reason: DamageReason::InvalidBeforeValid {
                valid_at: to_u64(valid_at),
            },
        });
    }
    Ok(Some((to_u64(from), to_u64(rest))))
}

pub(super) fn to_u64(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}
