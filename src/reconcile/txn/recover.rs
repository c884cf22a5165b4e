//! Recovery of open transactions (DESIGN §5a), before anything else may
//! touch their guests.
//!
//! At the start of every mutating pass (and of the daemon), for each open
//! transaction:
//! 1. its in-flight steps are resolved from PVE task status, read once:
//!    ended → the real outcome (a create that ended `OK` under the UPID the
//!    transaction journaled → provenance, journaled before that outcome);
//!    still running or unreadable → the transaction stays open and its
//!    guest is left alone this pass; no task id → the call was never
//!    confirmed (`failed`, never re-sent).
//! 2. then it is decided, reading the cluster's guest list once:
//!    - no provenance: nothing is provably ours. A guest with the vmid
//!      exists → `unresolved` (never destroyed by the agent, reported for
//!      the operator); none → `failed` (nothing was created).
//!    - provenance, guest gone → `rolled_back`; a different guest holds the
//!      vmid → `unresolved`; our guest → a [`Continuation`]: resume (config,
//!      start, commit) or, if a rollback had begun, roll back. It runs in
//!      the guest's lane this pass, and the guest gets no other action.

use super::rollback::is_ours;
use crate::journal::txn::{OpenTxn, txn_of_op};
use crate::journal::{Journal, JournalError, OutcomeKind, Record, TxnEndKind};
use crate::proxmox::{Client, Resource, TaskState, Upid};
use crate::reconcile::desired::CreateSpec;
use crate::reconcile::desired::create::parse_create;
use crate::reconcile::recover::Recovery;
use serde_json::Value;

/// What is left of an open transaction once recovery resolved its steps.
#[derive(Debug, Clone)]
pub enum Continuation {
    /// The guest is ours: converge it to the transaction's plan and commit.
    Resume {
        txn: String,
        vmid: u32,
        spec: CreateSpec,
        config: Option<Value>,
        start: bool,
    },
    /// A rollback had begun: finish it.
    RollBack {
        txn: String,
        vmid: u32,
        spec: CreateSpec,
        reason: String,
    },
}

impl Continuation {
    pub fn vmid(&self) -> u32 {
        match self {
            Continuation::Resume { vmid, .. } | Continuation::RollBack { vmid, .. } => *vmid,
        }
    }
}

/// Resolves every open transaction's in-flight steps and decides what
/// remains; adds counts, notes, busy guests and continuations to `out`.
pub fn recover_transactions(
    journal: &Journal,
    client: &Client,
    out: &mut Recovery,
) -> Result<(), JournalError> {
    let (open, in_flight) =
        journal.with_index(|i| (i.transactions.open.clone(), i.in_flight.clone()));
    if open.is_empty() {
        return Ok(());
    }
    let mut guests: Option<Vec<Resource>> = None;
    for (txn, t) in open {
        out.counts.examined += 1;
        let steps = in_flight
            .iter()
            .filter(|(op_id, _)| txn_of_op(op_id) == Some(txn.as_str()));
        let mut busy = false;
        for (op_id, step) in steps {
            let resolved = match step.upid.as_deref().map(Upid::parse) {
                None => Some((
                    OutcomeKind::Failed,
                    None,
                    "no task id recorded: the PVE call was never confirmed".to_string(),
                )),
                Some(Err(e)) => Some((
                    OutcomeKind::Failed,
                    None,
                    format!("unparsable task id: {e}"),
                )),
                Some(Ok(upid)) => match client.task_status_once(&upid) {
                    Ok(TaskState::Stopped { ok, exitstatus }) => {
                        let kind = if ok {
                            OutcomeKind::Succeeded
                        } else {
                            OutcomeKind::Failed
                        };
                        Some((
                            kind,
                            Some(upid),
                            format!("recovered: task ended {exitstatus}"),
                        ))
                    }
                    Ok(TaskState::Running) => {
                        out.notes.push(format!(
                            "transaction {txn}: {} of guest {} still running, left in flight",
                            step.op, t.vmid
                        ));
                        None
                    }
                    Err(e) => {
                        out.notes.push(format!(
                            "transaction {txn}: {} of guest {}: task status unreadable ({e}), left in flight",
                            step.op, t.vmid
                        ));
                        None
                    }
                },
            };
            let Some((kind, upid, detail)) = resolved else {
                busy = true;
                continue;
            };
            // Provenance before the outcome that closes the step: a crash
            // between the two leaves the step in flight, read again at the
            // next start (never closed without its provenance).
            if let (Some(upid), "create", OutcomeKind::Succeeded) = (upid, step.op.as_str(), kind) {
                journal.append(Record::TxnCreated {
                    txn: txn.clone(),
                    upid: upid.as_str().to_string(),
                })?;
            }
            journal.append(Record::Outcome {
                op_id: op_id.clone(),
                outcome: kind,
                detail,
            })?;
            if step.upid.is_some() {
                out.counts.resolved += 1;
            } else {
                out.counts.rolled_back += 1;
            }
        }
        if busy {
            out.counts.unresolved += 1;
            out.busy_vmids.insert(t.vmid);
            continue;
        }
        let listed = match &guests {
            Some(g) => g,
            None => match client.resources() {
                Ok(list) => guests.insert(list),
                Err(e) => {
                    out.notes.push(format!(
                        "transaction {txn} (guest {}): guest list unreadable ({e}); left open",
                        t.vmid
                    ));
                    out.counts.unresolved += 1;
                    out.busy_vmids.insert(t.vmid);
                    continue;
                }
            },
        };
        let current = journal.with_index(|i| i.transactions.open.get(&txn).cloned());
        let Some(current) = current else { continue };
        decide(journal, client, out, &txn, &current, listed)?;
    }
    Ok(())
}

fn decide(
    journal: &Journal,
    client: &Client,
    out: &mut Recovery,
    txn: &str,
    t: &OpenTxn,
    listed: &[Resource],
) -> Result<(), JournalError> {
    let vmid = t.vmid;
    let guest = listed.iter().find(|r| r.vmid == vmid);
    let close = |end_kind, detail: &str| {
        log::warn!("recovery: transaction {txn} (guest {vmid}): {detail}");
        journal.append(Record::TxnEnd {
            txn: txn.to_string(),
            vmid,
            end: end_kind,
            generation: t.generation,
            at: crate::time::now_unix(),
            detail: detail.to_string(),
        })
    };
    let Some(r) = guest else {
        // Nothing holds the vmid: whatever was created is gone (a rollback
        // that finished, or someone else's destroy), or nothing ever was.
        let (end_kind, detail) = if t.created.is_some() || t.aborting.is_some() {
            (
                TxnEndKind::RolledBack,
                "the guest this transaction created no longer exists",
            )
        } else {
            (TxnEndKind::Failed, "nothing was created")
        };
        close(end_kind, detail)?;
        return Ok(());
    };
    let spec = parse_create("journal".into(), &t.create).ok();
    let (Some(spec), Some(_)) = (spec, &t.created) else {
        let detail = format!(
            "guest {vmid}: creation outcome unknown (transaction {txn} never saw its create \
             task succeed) and a guest with this vmid exists: not provably created by the \
             agent, never destroyed by it; unresolved, left to the operator"
        );
        close(TxnEndKind::Unresolved, &detail)?;
        out.counts.unresolved += 1;
        out.notes.push(detail);
        return Ok(());
    };
    if !is_ours(client.node(), r, &spec) {
        let detail = format!(
            "guest {vmid}: vmid now holds a guest transaction {txn} did not create; never \
             destroyed by the agent; unresolved, left to the operator"
        );
        close(TxnEndKind::Unresolved, &detail)?;
        out.counts.unresolved += 1;
        out.notes.push(detail);
        return Ok(());
    }
    out.continuations.push(match &t.aborting {
        Some(reason) => Continuation::RollBack {
            txn: txn.to_string(),
            vmid,
            spec,
            reason: reason.clone(),
        },
        None => Continuation::Resume {
            txn: txn.to_string(),
            vmid,
            spec,
            config: t.config.clone(),
            start: t.start,
        },
    });
    Ok(())
}
