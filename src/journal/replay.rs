//! `journal::replay`: a journal image into an [`Index`], every batch
//! checked (the one replay used everywhere: open, read-only open,
//! `--journal-verify`, compaction's read-back).
//!
//! Owns: the order of checking and decoding. Trusts: [`format::scan`] for
//! what validates, [`Record::decode`] for what a payload means.
//!
//! Two halves run at once, because replay time is agent start-up time:
//! - a checker thread runs [`format::scan`] (header, batch checks, seq
//!   order, hash chain, torn-tail rule), about a third of the work;
//! - this thread decodes and applies the records located by the batches'
//!   length and count fields alone ([`format::walk_unchecked`]).
//!
//! The speculative index is used only if the walk ended exactly where the
//! scan's valid batches end and every payload decoded: from the same start,
//! the same fields give the same batches, so it then holds exactly the
//! checked records. In every other case (damage, a torn tail the walk read
//! into, a payload that does not decode, a format version 1 file, no
//! thread available) the image is replayed again the plain way, each record
//! decoded only after its batch's check, which gives the exact index or the
//! exact error. Decoding before checking is safe: decoding is strict and
//! bounded by the record size, and what it builds is dropped unless the
//! check covers every byte it read.

use super::format::{self, ScanSummary};
use super::index::Index;
use super::record::Record;
use super::{JournalError, decode_at};

/// Replays `bytes` (a whole journal image).
pub(super) fn replay(bytes: &[u8]) -> Result<(Index, ScanSummary), JournalError> {
    let outcome = std::thread::scope(|s| {
        let checker = std::thread::Builder::new()
            .name("journal-check".into())
            .spawn_scoped(s, || format::scan(bytes, |_, _, _| Ok(())))
            .ok()?;
        let speculative = decode_unchecked(bytes);
        let checked = checker.join().ok()?.ok()?;
        let (index, end) = speculative?;
        (end == checked.valid_len).then_some((index, checked))
    });
    match outcome {
        Some(done) => Ok(done),
        None => replay_sequential(bytes),
    }
}

/// Every record the batches' fields lay out, decoded and applied; `None` as
/// soon as one does not decode.
fn decode_unchecked(bytes: &[u8]) -> Option<(Index, u64)> {
    let mut index = Index::default();
    let mut decoded_all = true;
    let end = format::walk_unchecked(bytes, |_, payload| match Record::decode(payload) {
        Ok(record) => {
            index.apply(record);
            true
        }
        Err(_) => {
            decoded_all = false;
            false
        }
    });
    decoded_all.then_some((index, end))
}

/// Check a batch, then decode and apply its records, in file order.
fn replay_sequential(bytes: &[u8]) -> Result<(Index, ScanSummary), JournalError> {
    let mut index = Index::default();
    let summary = format::scan(bytes, |offset, _seq, payload| {
        index.apply(decode_at(offset, payload)?);
        Ok(())
    })?;
    Ok((index, summary))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use super::*;
    use crate::journal::format::Header;
    use crate::journal::record::OutcomeKind;

    type Outcome = Result<(Index, ScanSummary), String>;

    fn both(bytes: &[u8]) -> (Outcome, Outcome) {
        let fast = replay(bytes).map_err(|e| format!("{e:?}"));
        let plain = replay_sequential(bytes).map_err(|e| format!("{e:?}"));
        (fast, plain)
    }

    /// Batches of 1, 2, 3, ... records.
    fn image(payloads: &[Vec<u8>]) -> Vec<u8> {
        let header = Header::new([3u8; 16], 1, [0u8; 32]);
        let mut bytes = header.encode().to_vec();
        let (mut at, mut size) = (0usize, 1usize);
        while at < payloads.len() {
            let batch = &payloads[at..(at + size).min(payloads.len())];
            let seq = at as u64 + 1;
            format::encode_batch(
                &mut bytes,
                &header.salt,
                seq,
                batch.iter().map(Vec::as_slice),
            );
            at += batch.len();
            size += 1;
        }
        bytes
    }

    fn records() -> Vec<Vec<u8>> {
        (0..8u64)
            .map(|n| match n % 3 {
                0 => Record::GenerationApplied { generation: n },
                1 => Record::KeyApplied {
                    idempotency_key: format!("k{n}"),
                },
                _ => Record::Outcome {
                    op_id: format!("op{n}"),
                    outcome: OutcomeKind::Failed,
                    detail: String::new(),
                },
            })
            .map(|r| r.encode().unwrap())
            .collect()
    }

    #[test]
    fn the_parallel_replay_agrees_with_the_plain_one_on_every_damaged_image() {
        let clean = image(&records());
        let (fast, plain) = both(&clean);
        assert!(fast.is_ok());
        assert_eq!(fast, plain);
        for len in 0..clean.len() {
            let (fast, plain) = both(&clean[..len]);
            assert_eq!(fast, plain, "truncated to {len}");
        }
        for at in 0..clean.len() {
            let mut flipped = clean.clone();
            flipped[at] ^= 0x20;
            let (fast, plain) = both(&flipped);
            assert_eq!(fast, plain, "byte {at} flipped");
        }
        let mut zeros = clean.clone();
        zeros.resize(clean.len() + 200, 0);
        let (fast, plain) = both(&zeros);
        assert!(fast.as_ref().unwrap().1.torn_tail.is_some());
        assert_eq!(fast, plain);
    }

    #[test]
    fn a_checked_record_that_does_not_decode_is_the_same_error_on_both_paths() {
        for bad_at in [0usize, 3, 7] {
            let mut payloads = records();
            payloads[bad_at] = br#"{"type":"generation_applied","generation":"x"}"#.to_vec();
            let (fast, plain) = both(&image(&payloads));
            assert!(
                plain.as_ref().unwrap_err().contains("BadRecord"),
                "{plain:?}"
            );
            assert_eq!(fast, plain);
        }
    }
}
