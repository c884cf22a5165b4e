//! `reconcile::recover`: resolves in-flight journal entries (DESIGN §5).
//!
//! Owns: closing intents that a previous run left without an outcome.
//! Trusts: the journal's index, PVE task status (read once per task).
//!
//! Runs before any mutation of a mutating pass. For each in-flight op:
//! - with a task id: read the task status once. Stopped: record the real
//!   outcome (`resolved`). Running: leave it in flight (`unresolved`, its
//!   guest is not touched this pass). Unreadable: leave it (`unresolved`).
//! - without a task id: the PVE call was never confirmed; record `failed`
//!   (`rolled_back`: the write-ahead intent is rolled back, never re-run).
//!
//! A reconcile action is simply re-planned by the next pass. A signed op
//! whose outcome was never recorded is never re-run (its nonce is consumed);
//! recovery reports it so the operator can look and sign a new blob.
//!
//! Open provisioning transactions come first and as units
//! (`txn::recover_transactions`): their steps are resolved with the
//! transaction's rules (a create seen succeeding is provenance), and what
//! remains to do is handed to the pass as continuations. The per-op loop
//! below never touches a step of an open transaction.

use super::report::RecoveryCounts;
use super::txn::{Continuation, recover_transactions};
use crate::journal::{Journal, JournalError, OutcomeKind, Record};
use crate::proxmox::{Client, TaskState, Upid};
use std::collections::BTreeSet;

/// What recovery did, and what the operator should know.
#[derive(Debug, Default)]
pub struct Recovery {
    pub counts: RecoveryCounts,
    /// Operator-facing lines (signed ops interrupted, tasks still unresolved).
    pub notes: Vec<String>,
    /// Guests with an op still in flight: not touched this pass.
    pub busy_vmids: BTreeSet<u32>,
    /// Open transactions to resume or roll back this pass, first in their
    /// guests' lanes (the pass plans nothing else for a guest whose
    /// transaction is open).
    pub continuations: Vec<Continuation>,
}

pub fn recover(journal: &Journal, client: &Client) -> Result<Recovery, JournalError> {
    let mut out = Recovery::default();
    recover_transactions(journal, client, &mut out)?;
    let in_flight = journal.with_index(|i| {
        i.in_flight
            .iter()
            .filter(|(op_id, _)| !i.transactions.owns_op(op_id))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect::<Vec<_>>()
    });
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
