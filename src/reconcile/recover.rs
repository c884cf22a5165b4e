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
//! whose outcome was never recorded is never re-run (its nonce is consumed);
//! recovery reports it so the operator can look and sign a new blob.

use super::action::ActionOp;
use super::execute::{ExecEnv, rotate_signers};
use super::leftovers::{self, Moment};
use super::report::RecoveryCounts;
use crate::config::Config;
use crate::journal::{InFlight, Journal, JournalError, OutcomeKind, Record};
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
}

/// Recovers every in-flight op. The caller holds the state lock.
pub fn recover(
    journal: &Journal,
    client: &Client,
    config: &Config,
) -> Result<Recovery, JournalError> {
    leftovers::remove_stale_temps(config, Moment::Pass);
    let in_flight = journal.with_index(|i| i.in_flight.clone());
    let mut out = Recovery::default();
    for (op_id, op) in in_flight {
        out.counts.examined += 1;
        let env = ExecEnv {
            client,
            journal,
            config,
        };
        if complete_rotation(&env, &op_id, &op)? {
            out.counts.resolved += 1;
            continue;
        }
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

/// Completes an interrupted `key_rotation` whose nonce was consumed, and
/// records its outcome; `false` if `op` is not one.
fn complete_rotation(env: &ExecEnv<'_>, op_id: &str, op: &InFlight) -> Result<bool, JournalError> {
    let Some(nonce) = op.nonce.as_deref() else {
        return Ok(false);
    };
    let consumed = env.journal.with_index(|i| i.is_nonce_consumed(nonce));
    let Some(ActionOp::KeyRotation { lines }) = ActionOp::from_name_params(&op.op, &op.params)
    else {
        return Ok(false);
    };
    if !consumed {
        return Ok(false);
    }
    let result = rotate_signers(env, &lines, Some(nonce))?;
    let detail = format!("completed by recovery after a restart: {}", result.detail);
    if result.succeeded {
        log::warn!("recovery: key_rotation (nonce {nonce}, op {op_id}) {detail}");
    } else {
        log::error!("recovery: key_rotation (nonce {nonce}, op {op_id}) failed: {detail}");
    }
    env.journal.append(Record::Outcome {
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
