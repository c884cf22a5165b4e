//! `reconcile::audit`: one audit line (log target `audit`) per gate
//! decision, and its journal record (CONTRACT §8).
//!
//! Owns: which decisions reach the journal, and when a standing one lapses.
//! Trusts: the journal's index for what already stands.
//!
//! Every decision is logged on the audit target, every pass. A decision
//! that is not `allowed` (a destroy awaiting a signature, a queued op not
//! yet valid, anything refused) *stands* while passes keep making it: it is
//! journaled once, when it starts to stand; a pass that makes the same
//! decision again (every audit field but the time equal) logs its audit
//! line with `standing_since=<time>` and writes nothing; at the end of the
//! pass ([`PassAudit::finish`]) each standing decision the pass did not
//! make lapses, one `decision_lapsed` record each. So the journal holds
//! every distinct decision, when it was first made and when it stopped,
//! and a host holding the same 500 pending actions for weeks does not grow
//! it. An `allowed` decision is always journaled: it is followed by an
//! execution of its own.
//!
//! Audit is a signal, never the guard: the decision is made before this
//! runs and nothing here can change it. A journal write failure is returned
//! (the journal exits the process on I/O errors, so a decision is never
//! executed without its record).
//!
//! Line format, logfmt-like: `decision=D op=O class=C vmid=V source=S
//! signer=P role=R nonce=N reason="..."`, then ` standing_since=T` (Unix
//! seconds) for a decision that already stands. A value is written bare when it
//! is one plain token (`signer=alice@example.com`), else quoted with
//! escapes (`signer="Bob Ops"`), so text from a signer file or a blob can
//! never add or change a field. The logger escapes the whole line too
//! (`crate::logging`), so nothing in it can start another line.

use crate::journal::index::standing_key;
use crate::journal::{DecisionRecord, Journal, JournalError, Record};
use crate::logging::AUDIT_TARGET;
use std::borrow::Cow;
use std::collections::BTreeSet;
use std::sync::{Mutex, PoisonError};

/// `value` as one field value: bare if it is a plain token, else quoted.
fn field(value: &str) -> Cow<'_, str> {
    let plain = !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_graphic() && !matches!(c, '"' | '=' | '\\'));
    if plain {
        Cow::Borrowed(value)
    } else {
        Cow::Owned(format!("{value:?}"))
    }
}

/// An optional field: `-` when absent.
fn opt_field(value: Option<&String>) -> Cow<'_, str> {
    value.map_or(Cow::Borrowed("-"), |v| field(v))
}

/// The audit line's text (after the `audit: ` header).
pub fn line(record: &DecisionRecord) -> String {
    format!(
        "decision={} op={} class={} vmid={} source={} signer={} role={} nonce={} reason={:?}",
        field(&record.decision),
        field(&record.op),
        field(&record.class),
        record
            .vmid
            .map_or_else(|| "-".to_string(), |v| v.to_string()),
        field(&record.source),
        opt_field(record.signer.as_ref()),
        opt_field(record.role.as_ref()),
        opt_field(record.nonce.as_ref()),
        record.reason,
    )
}

/// The audit of one pass. Lanes record through it too (`Sync`).
pub struct PassAudit<'a> {
    /// `None` for a read-only pass (`--plan`, `--pending`): it decides
    /// nothing for real, so it writes no audit line either.
    journal: Option<&'a Journal>,
    /// Standing keys of the decisions this pass made that are not `allowed`.
    made: Mutex<BTreeSet<DecisionRecord>>,
}

impl<'a> PassAudit<'a> {
    pub fn new(journal: Option<&'a Journal>) -> PassAudit<'a> {
        PassAudit {
            journal,
            made: Mutex::new(BTreeSet::new()),
        }
    }

    /// Logs `record` on the audit target and journals it unless the same
    /// decision already stands.
    pub fn record(&self, record: DecisionRecord) -> Result<(), JournalError> {
        let Some(journal) = self.journal else {
            return Ok(());
        };
        let since = journal.with_index(|i| i.standing_since(&record));
        log_line(&record, since);
        if record.decision != "allowed" {
            self.made
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(standing_key(record.clone()).0);
        }
        if since.is_some() {
            return Ok(());
        }
        journal.append(Record::Decision(record)).map(|_| ())
    }

    /// Ends the pass: every decision that stood and that this pass did not
    /// make lapses (at `now`). Call it only for a pass that gated its
    /// actions (one that could not read the guests decided nothing, and
    /// lapses nothing).
    pub fn finish(self, now: i64) -> Result<(), JournalError> {
        let Some(journal) = self.journal else {
            return Ok(());
        };
        let made = self
            .made
            .into_inner()
            .unwrap_or_else(PoisonError::into_inner);
        let lapsed: Vec<DecisionRecord> = journal.with_index(|i| {
            i.standing
                .keys()
                .filter(|k| !made.contains(*k))
                .cloned()
                .collect()
        });
        for mut d in lapsed {
            log::debug!(
                "decision {} on {} {} no longer made: it lapses",
                d.decision,
                d.op,
                d.vmid.map_or_else(|| "-".to_string(), |v| v.to_string())
            );
            d.at = now;
            journal.append(Record::DecisionLapsed(d))?;
        }
        Ok(())
    }
}

/// The audit line; a decision that already stands says since when.
fn log_line(record: &DecisionRecord, standing_since: Option<i64>) {
    match standing_since {
        Some(at) => log::info!(target: AUDIT_TARGET, "{} standing_since={at}", line(record)),
        None => log::info!(target: AUDIT_TARGET, "{}", line(record)),
    }
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
mod tests {
    use super::*;

    fn decision(signer: Option<&str>, reason: &str) -> DecisionRecord {
        DecisionRecord {
            decision: "refused".into(),
            op: "guest_destroy".into(),
            class: "destructive".into(),
            vmid: Some(9003),
            source: "job".into(),
            signer: signer.map(String::from),
            role: Some("operational".into()),
            reason: reason.into(),
            nonce: None,
            at: 0,
        }
    }

    #[test]
    fn plain_values_are_bare_and_the_rest_cannot_add_a_field() {
        let l = line(&decision(Some("alice@example.com"), "bad_signature"));
        assert_eq!(
            l,
            "decision=refused op=guest_destroy class=destructive vmid=9003 source=job \
             signer=alice@example.com role=operational nonce=- reason=\"bad_signature\""
        );
        let l = line(&decision(
            Some("Bob Ops decision=allowed"),
            "x\" decision=allowed",
        ));
        assert!(l.contains("signer=\"Bob Ops decision=allowed\" "), "{l}");
        let fields = logfmt(&l);
        let keys: Vec<&str> = fields.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            keys,
            [
                "decision", "op", "class", "vmid", "source", "signer", "role", "nonce", "reason"
            ]
        );
        assert_eq!(fields[0].1, "refused");
        assert_eq!(fields[5].1, "Bob Ops decision=allowed");
    }

    /// A logfmt reader: `key=bare` or `key="quoted \" with escapes"`.
    fn logfmt(line: &str) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let mut rest = line;
        while !rest.is_empty() {
            let (key, after) = rest.split_once('=').unwrap();
            let (value, after) = if let Some(q) = after.strip_prefix('"') {
                let mut value = String::new();
                let mut chars = q.char_indices();
                let end = loop {
                    match chars.next().unwrap() {
                        (_, '\\') => value.push(chars.next().unwrap().1),
                        (i, '"') => break i + 1,
                        (_, c) => value.push(c),
                    }
                };
                (value, &q[end..])
            } else {
                let end = after.find(' ').unwrap_or(after.len());
                (after[..end].to_string(), &after[end..])
            };
            out.push((key.to_string(), value));
            rest = after.trim_start_matches(' ');
        }
        out
    }
}
