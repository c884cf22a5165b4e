//! `reconcile::audit`: one audit line (log target `audit`) and one journal
//! record per gate decision (CONTRACT §8).
//!
//! Audit is a signal, never the guard: the decision is made before this
//! runs and nothing here can change it. A journal write failure is returned
//! (the journal exits the process on I/O errors, so a decision is never
//! executed without its record).

use crate::journal::{DecisionRecord, Journal, JournalError, Record};
use crate::logging::AUDIT_TARGET;

/// Logs `record` on the audit target and appends it to the journal. A
/// read-only pass (`--plan`, `--pending`, `journal` None) decides nothing
/// for real, so it writes no audit line either.
pub fn record(journal: Option<&Journal>, record: DecisionRecord) -> Result<(), JournalError> {
    let Some(journal) = journal else {
        return Ok(());
    };
    let opt = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".to_string());
    log::info!(
        target: AUDIT_TARGET,
        "decision={} op={} class={} vmid={} source={} signer={} role={} nonce={} reason={:?}",
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
    journal.append(Record::Decision(record)).map(|_| ())
}
