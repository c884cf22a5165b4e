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
//! - a `key_rotation` whose nonce was consumed: completed here (CONTRACT
//!   §8). It is local and idempotent (the same lines, written atomically),
//!   and the consumed nonce proves it passed verification when it ran, so
//!   a crash between consumption and the rename never leaves the operator's
//!   signed rotation consumed and unapplied. Its outcome is the executor's
//!   (`resolved`). A rotation whose nonce was not consumed yet is rolled
//!   back like any other intent: it is still queued and runs next pass.
//!
//! Before that, temp files an interrupted whole-file replacement left are
//! deleted (`leftovers`).
//!
//! A reconcile action is simply re-planned by the next pass. A signed op
//! gets a note that says what happened, by where the crash came in the
//! write-ahead protocol (`execute`: intent → nonce consumed → PVE call →
//! task id → outcome):
//! - before its nonce was consumed: nothing was sent to PVE and the op is
//!   still queued, so it is verified again and runs once (nothing to do);
//! - after the nonce, before the task id: PVE may or may not have executed
//!   the call; the operator checks the guest, and signs a new blob only if
//!   the action did not happen and is still wanted;
//! - with a task id: the task's real outcome is recorded; the signature is
//!   spent either way.
//!
//! Open provisioning transactions come first and as units
//! (`txn::recover_transactions`): their steps are resolved with the
//! transaction's rules (a create seen succeeding is provenance), and what
//! remains to do is handed to the pass as continuations. The per-op loop
//! below never touches a step of an open transaction.

use super::action::ActionOp;
use super::execute::rotate_signers;
use super::leftovers::{self, Moment};
use super::report::RecoveryCounts;
use super::txn::{Continuation, recover_transactions};
use crate::config::Config;
use crate::journal::{InFlight, Journal, JournalError, OutcomeKind, Record};
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
    /// Open transactions to resume or roll back this pass, first in their
    /// guests' lanes (the pass plans nothing else for a guest whose
    /// transaction is open).
    pub continuations: Vec<Continuation>,
}

/// Recovers every in-flight op. The caller holds the state lock.
pub fn recover(
    journal: &Journal,
    client: &Client,
    config: &Config,
) -> Result<Recovery, JournalError> {
    leftovers::remove_stale_temps(config, Moment::Pass);
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
        let consumed_here = op.nonce.as_ref().is_some_and(|n| {
            journal.with_index(|i| i.consumed_nonces.get(n).is_some_and(|(_, by)| *by == op_id))
        });
        if consumed_here && complete_rotation(journal, config, &op_id, &op)? {
            out.counts.resolved += 1;
            continue;
        }
        let what = what(&op_id, &op);
        let resolved = match op.upid.as_deref().map(Upid::parse) {
            None if op.nonce.is_some() && !consumed_here => Some((
                OutcomeKind::Failed,
                "not started: interrupted before its nonce was consumed (nothing was sent to \
                 Proxmox)"
                    .to_string(),
            )),
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
            out.notes
                .push(signed_note(&what, nonce, &op, consumed_here, kind, &detail));
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

fn what(op_id: &str, op: &InFlight) -> String {
    if op.vmid == 0 {
        format!("{} (op {op_id})", op.op)
    } else {
        format!("{} on guest {} (op {op_id})", op.op, op.vmid)
    }
}

/// What happened to an interrupted signed op, and what the operator should
/// do: by whether its nonce was consumed and whether its task id is known.
fn signed_note(
    what: &str,
    nonce: &str,
    op: &InFlight,
    consumed: bool,
    kind: OutcomeKind,
    detail: &str,
) -> String {
    let head = format!("signed {what} (nonce {nonce})");
    if !consumed {
        return format!(
            "{head} was interrupted before its nonce was consumed: nothing was sent to Proxmox. \
             It is still queued, so it is verified again and runs once while it is valid; \
             nothing to do"
        );
    }
    let spent = "This signature will not run again";
    if op.upid.is_some() {
        return match kind {
            OutcomeKind::Succeeded => format!(
                "{head} was interrupted by a restart after Proxmox started it; its Proxmox task \
                 ended and is recorded as succeeded ({detail}). {spent}"
            ),
            OutcomeKind::Failed => format!(
                "{head} was interrupted by a restart after Proxmox started it; its Proxmox task \
                 ended and is recorded as failed ({detail}). {spent}; sign a new blob if the \
                 action is still wanted"
            ),
        };
    }
    if op.op == "key_rotation" {
        return format!(
            "{head} was interrupted after its nonce was consumed and before it completed: the \
             operational signer file may hold the old or the new lines; check \
             authz.operational_signers. {spent}; if the rotation is not in force and is still \
             wanted, sign a new blob"
        );
    }
    format!(
        "{head} was interrupted after its nonce was consumed and before Proxmox confirmed the \
         call ({detail}): Proxmox may or may not have executed it; check guest {} in Proxmox \
         (its task log, and whether the {} took effect). {spent}; if the action did not happen \
         and is still wanted, sign a new blob",
        op.vmid, op.op
    )
}

/// Completes an interrupted `key_rotation` (the caller checked that `op`
/// consumed its nonce), and records its outcome; `false` if `op` is not
/// one.
fn complete_rotation(
    journal: &Journal,
    config: &Config,
    op_id: &str,
    op: &InFlight,
) -> Result<bool, JournalError> {
    let Some(nonce) = op.nonce.as_deref() else {
        return Ok(false);
    };
    let Some(ActionOp::KeyRotation { lines }) = ActionOp::from_name_params(&op.op, &op.params)
    else {
        return Ok(false);
    };
    let result = rotate_signers(journal, config, &lines, Some(nonce))?;
    let detail = format!("completed by recovery after a restart: {}", result.detail);
    if result.succeeded {
        log::warn!("recovery: key_rotation (nonce {nonce}, op {op_id}) {detail}");
    } else {
        log::error!("recovery: key_rotation (nonce {nonce}, op {op_id}) failed: {detail}");
    }
    journal.append(Record::Outcome {
        op_id: op_id.to_string(),
        outcome: if result.succeeded {
            OutcomeKind::Succeeded
        } else {
            OutcomeKind::Failed
        },
        detail,
    })?;
    Ok(true)
}
