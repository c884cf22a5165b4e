//! `journal::format_v1`: reading journals of format version 1, which
//! earlier releases wrote, so an upgraded host starts on the journal it has.
//!
//! Owns: the version 1 frame layout and its scan. Trusts: nothing it reads.
//! Nothing writes version 1 any more: a mutating open converts such a file
//! to version 2 by a compaction before it appends (`handle`), and the
//! read-only modes read it as it is.
//!
//! ```text
//! header: as version 2 (`format`), magic "FHJRNL\0\x01"
//! frame (28 + len bytes), repeated
//!   0..4    len         u32, payload length, 1 ..= MAX_RECORD_BYTES
//!   4..12   seq         u64, first_seq for the first frame, then +1 each
//!   12..28  check       SHA-256(salt || seq || len || payload)[..16]
//!   28..    payload     one record
//! chain: c_n = SHA-256(c_{n-1} || SHA-256(salt || seq || len || payload))
//! ```
//!
//! The torn-tail rule is the one of `format`, with a frame in place of a
//! batch. Version 1 wrote several frames per `write` under group commit, so
//! a power cut could leave a later frame of an unsynced write without the
//! earlier ones: such a file reads as damage, as it did for the release
//! that wrote it. A version 1 file cannot tell that case from real damage
//! (it does not record which frames shared a sync), so it keeps the strict
//! reading rather than guess; the conversion ends the exposure.

use super::error::{DamageReason, JournalError};
use super::format::{
    CHECK_LEN, HEADER_LEN, Hash, Header, MAX_RECORD_BYTES, SALT_LEN, ScanSummary, array,
    chain_next, classify_rest, to_u64,
};
use sha2::{Digest, Sha256};

/// Bytes of a frame before its payload.
const FRAME_OVERHEAD: usize = 28;

/// A frame that validated at some offset.
struct Frame<'a> {
    seq: u64,
    payload: &'a [u8],
    digest: Hash,
    end: usize,
}

fn frame_digest(salt: &[u8; SALT_LEN], seq: u64, payload: &[u8]) -> Hash {
    let len = u32::try_from(payload.len()).unwrap_or(u32::MAX);
    let mut h = Sha256::new();
    h.update(salt);
    h.update(seq.to_le_bytes());
    h.update(len.to_le_bytes());
    h.update(payload);
    h.finalize().into()
}

/// The frame starting at `off`, if one validates there (any seq).
fn frame_at<'a>(bytes: &'a [u8], off: usize, salt: &[u8; SALT_LEN]) -> Option<Frame<'a>> {
    let start = off.checked_add(FRAME_OVERHEAD)?;
    let head = bytes.get(off..start)?;
    let len = usize::try_from(u32::from_le_bytes(array(head.get(0..4)))).ok()?;
    if len == 0 || len > MAX_RECORD_BYTES {
        return None;
    }
    let end = start.checked_add(len)?;
    let payload = bytes.get(start..end)?;
    let seq = u64::from_le_bytes(array(head.get(4..12)));
    let digest = frame_digest(salt, seq, payload);
    (digest.get(..CHECK_LEN) == head.get(12..28)).then_some(Frame {
        seq,
        payload,
        digest,
        end,
    })
}

/// [`super::format::scan`] of a version 1 image whose header decoded.
pub(super) fn scan(
    bytes: &[u8],
    header: Header,
    mut on_record: impl FnMut(u64, u64, &[u8]) -> Result<(), JournalError>,
) -> Result<ScanSummary, JournalError> {
    let mut chain = header.chain_start();
    let mut next_seq = header.first_seq;
    let mut off = HEADER_LEN;
    let mut records = 0u64;
    while let Some(frame) = frame_at(bytes, off, &header.salt).filter(|f| f.seq == next_seq) {
        on_record(to_u64(off), frame.seq, frame.payload)?;
        chain = chain_next(&chain, &frame.digest);
        next_seq = next_seq.checked_add(1).ok_or(JournalError::Damaged {
            offset: to_u64(off),
            reason: DamageReason::SeqOverflow,
        })?;
        records += 1;
        off = frame.end;
    }
    let torn_tail = classify_rest(bytes, off, |o| frame_at(bytes, o, &header.salt).is_some())?;
    Ok(ScanSummary {
        header,
        records,
        valid_len: to_u64(off),
        next_seq,
        chain_head: chain,
        torn_tail,
    })
}

/// Appends one version 1 frame to `out` (tests build version 1 images, the
/// journals earlier releases left on hosts, with it); returns its digest.
pub fn encode_frame(out: &mut Vec<u8>, salt: &[u8; SALT_LEN], seq: u64, payload: &[u8]) -> Hash {
    let digest = frame_digest(salt, seq, payload);
    let len = u32::try_from(payload.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&seq.to_le_bytes());
    out.extend_from_slice(digest.get(..CHECK_LEN).unwrap_or_default());
    out.extend_from_slice(payload);
    digest
}
