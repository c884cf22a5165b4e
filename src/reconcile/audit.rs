//! `reconcile::audit`: one audit line (log target `audit`) and one journal
//! record per gate decision (CONTRACT §8).
//!
//! Audit is a signal, never the guard: the decision is made before this
//! runs and nothing here can change it. A journal write failure is returned
//! (the journal exits the process on I/O errors, so a decision is never
//! executed without its record).
//!
//! Line format, logfmt-like: `decision=D op=O class=C vmid=V source=S
//! signer=P role=R nonce=N reason="..."`. A value is written bare when it
//! is one plain token (`signer=alice@example.com`), else quoted with
//! escapes (`signer="Bob Ops"`), so text from a signer file or a blob can
//! never add or change a field. The logger escapes the whole line too
//! (`crate::logging`), so nothing in it can start another line.

use crate::journal::{DecisionRecord, Journal, JournalError, Record};
use crate::logging::AUDIT_TARGET;
use std::borrow::Cow;

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

/// Logs `record` on the audit target and appends it to the journal. A
/// read-only pass (`--plan`, `--pending`, `journal` None) decides nothing
/// for real, so it writes no audit line either.
pub fn record(journal: Option<&Journal>, record: DecisionRecord) -> Result<(), JournalError> {
    let Some(journal) = journal else {
        return Ok(());
    };
    log::info!(target: AUDIT_TARGET, "{}", line(&record));
    journal.append(Record::Decision(record)).map(|_| ())
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
