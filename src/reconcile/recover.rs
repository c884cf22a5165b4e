//! `reconcile::recover`: resolves in-flight journal entries (DESIGN §5).
//!
//! Owns: closing intents that a previous run left without an outcome.
//! Trusts: the journal's index, PVE task status (read once per task).
//!
//! Runs before any mutation of a mutating pass. For each in-flight op:
//! - with a task id: read the task status once. Stopped: record the real
//!   outcome (`resolved`). Running: leave it in flight (`unresolved`, its
//!   guest is not touched this pass). Unknown to PVE (400 "no such task":
//!   pve-manager `PVE/API2/Tasks.pm`, e.g. its log was rotated away): the
//!   outcome can never be learnt, so the entry is closed `failed` with the
//!   outcome named unknown and reported (`resolved`); nothing stays in
//!   flight forever. Unreadable otherwise: leave it (`unresolved`).
//! - without a task id: the PVE call was never confirmed; record `failed`
//!   (`rolled_back`: the write-ahead intent is rolled back, never re-run).
//!
//! A reconcile action is simply re-planned by the next pass. A signed op
//! whose outcome was never recorded is never re-run (its nonce is consumed);
//! recovery reports it so the operator can look and sign a new blob.

use super::report::RecoveryCounts;
use crate::journal::{Journal, JournalError, OutcomeKind, Record};
use crate::proxmox::{Client, PveError, TaskState, Upid};
use std::collections::BTreeSet;

/// What recovery did, and what the operator should know.
#[derive(Debug, Default)]
pub struct Recovery {
    pub counts: RecoveryCounts,
    /// Operator-facing lines (signed ops interrupted, tasks still unresolved).
    pub notes: Vec<String>,
    /// Guests with an op still in flight: not touched this pass.
    pub busy_vmids: BTreeSet<u32>,
}

pub fn recover(journal: &Journal, client: &Client) -> Result<Recovery, JournalError> {
    let in_flight = journal.with_index(|i| i.in_flight.clone());
    let mut out = Recovery::default();
    for (op_id, op) in in_flight {
        out.counts.examined += 1;
        let what = format!("{} on guest {} (op {op_id})", op.op, op.vmid);
        let resolved = match op.upid.as_deref().map(Upid::parse) {
            None => Some((
                OutcomeKind::Failed,
                "no task id recorded: the PVE call was never confirmed".to_string(),
            )),
            Some(Err(e)) => Some((OutcomeKind::Failed, format!("unparsable task id: {e}"))),
            Some(Ok(upid)) => match client.task_status_once(&upid) {
                Ok(TaskState::Stopped { ok, exitstatus }) => {
                    let kind = if ok {
                        OutcomeKind::Succeeded
                    } else {
                        OutcomeKind::Failed
                    };
                    Some((kind, format!("recovered: task ended {exitstatus}")))
                }
                Ok(TaskState::Running) => {
                    out.notes
                        .push(format!("{what}: task still running, left in flight"));
                    None
                }
                Err(PveError::TaskUnknown { upid }) => {
                    let detail = format!(
                        "PVE does not know task {upid} (no such task): outcome unknown, \
                         closed; the guest's state is read again this pass"
                    );
                    out.notes.push(format!("{what}: {detail}"));
                    Some((OutcomeKind::Failed, detail))
                }
                Err(e) => {
                    out.notes.push(format!(
                        "{what}: task status unreadable ({e}), left in flight"
                    ));
                    None
                }
            },
        };
        let Some((kind, detail)) = resolved else {
            out.counts.unresolved += 1;
            out.busy_vmids.insert(op.vmid);
            continue;
        };
        if op.upid.is_none() {
            out.counts.rolled_back += 1;
        } else {
            out.counts.resolved += 1;
        }
        if let Some(nonce) = &op.nonce {
            out.notes.push(format!(
                "signed {what} (nonce {nonce}) was interrupted by a restart and is not re-run: \
                 {detail}; sign a new blob if it is still wanted"
            ));
        }
        log::warn!("recovery: {what}: {detail}");
        journal.append(Record::Outcome {
            op_id,
            outcome: kind,
            detail,
        })?;
    }
    if out.counts.examined > 0 {
        log::info!(
            "recovery: examined {}, resolved {}, rolled back {}, unresolved {}",
            out.counts.examined,
            out.counts.resolved,
            out.counts.rolled_back,
            out.counts.unresolved
        );
    }
    Ok(out)
}
