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

use crate::journal::index::standing_key;
use crate::journal::{DecisionRecord, Journal, JournalError, Record};
use crate::logging::AUDIT_TARGET;
use std::collections::BTreeSet;
use std::sync::{Mutex, PoisonError};

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

/// Records one decision outside a pass's bookkeeping (it stands, if it is
/// not `allowed`, until a pass does not make it).
pub fn record(journal: Option<&Journal>, record: DecisionRecord) -> Result<(), JournalError> {
    PassAudit::new(journal).record(record)
}

fn log_line(record: &DecisionRecord, standing_since: Option<i64>) {
    let opt = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".to_string());
    let since = standing_since.map_or_else(String::new, |at| format!(" standing_since={at}"));
    log::info!(
        target: AUDIT_TARGET,
        "decision={} op={} class={} vmid={} source={} signer={} role={} nonce={} reason={:?}{since}",
        record.decision,
        record.op,
        record.class,
        record.vmid.map_or_else(|| "-".to_string(), |v| v.to_string()),
        record.source,
        opt(&record.signer),
        opt(&record.role),
        opt(&record.nonce),
        record.reason,
    );
}
