//! One journaled PVE call of a transaction: intent → call → task id →
//! wait → outcome. An unknown outcome (the answer lost, the task not seen
//! ending) leaves the intent in flight: recovery reads the task, or finds
//! no task id, and decides with the transaction's rules. Never retried.
//!
//! The create step records provenance (`txn_created`) as soon as its task
//! is seen ending `OK`, *before* the step's outcome: recovery derives
//! provenance only from a create step it finds in flight, so a crash or
//! power cut between the two records must leave the step in flight (then
//! recovery reads the task again), never closed without provenance (then
//! a guest the journal can prove the agent created would be reported
//! `unresolved` instead of being completed or rolled back).

use crate::journal::{JournalError, OutcomeKind, Record};
use crate::proxmox::{PveError, TaskOutcome, Upid};
use crate::reconcile::execute::ExecEnv;
use serde_json::Value;

/// A journaled PVE call: intent → call → task id → wait → outcome. An
/// unknown outcome leaves the intent in flight (recovery reads the task).
pub(super) enum Step {
    Done(TaskOutcome),
    Failed(PveError),
    Unknown(String),
}

pub(super) fn journaled_step(
    env: &ExecEnv<'_>,
    op_id: &str,
    vmid: u32,
    op: &str,
    params: Value,
    source: &str,
    call: impl FnOnce() -> Result<Upid, PveError>,
) -> Result<Step, JournalError> {
    journaled(env, op_id, vmid, op, params, source, None, call)
}

/// The create step of transaction `txn`: a [`journaled_step`] whose task,
/// once seen ending `OK`, is journaled as this transaction's provenance
/// before the step's outcome.
pub(super) fn journaled_create(
    env: &ExecEnv<'_>,
    txn: &str,
    op_id: &str,
    vmid: u32,
    params: Value,
    call: impl FnOnce() -> Result<Upid, PveError>,
) -> Result<Step, JournalError> {
    journaled(
        env,
        op_id,
        vmid,
        "create",
        params,
        "desired_state",
        Some(txn),
        call,
    )
}

#[allow(clippy::too_many_arguments)]
fn journaled(
    env: &ExecEnv<'_>,
    op_id: &str,
    vmid: u32,
    op: &str,
    params: Value,
    source: &str,
    creates_for: Option<&str>,
    call: impl FnOnce() -> Result<Upid, PveError>,
) -> Result<Step, JournalError> {
    env.journal.append(Record::Intent {
        op_id: op_id.to_string(),
        vmid,
        op: op.to_string(),
        params,
        source: source.to_string(),
        idempotency_key: op_id.to_string(),
        nonce: None,
        at: Some(crate::time::now_unix()),
    })?;
    let upid = match call() {
        Ok(upid) => upid,
        Err(e) if e.outcome_unknown() => {
            return Ok(Step::Unknown(format!(
                "outcome unknown ({e}); resolved by recovery at the next pass"
            )));
        }
        Err(e) => {
            outcome(env, op_id, OutcomeKind::Failed, &e.to_string())?;
            return Ok(Step::Failed(e));
        }
    };
    env.journal.append(Record::TaskStarted {
        op_id: op_id.to_string(),
        upid: upid.as_str().to_string(),
    })?;
    match env.client.wait_task(&upid, env.config.proxmox.task_timeout) {
        Ok(done) => {
            if let Some(txn) = creates_for {
                env.journal.append(Record::TxnCreated {
                    txn: txn.to_string(),
                    upid: done.upid.as_str().to_string(),
                })?;
            }
            outcome(
                env,
                op_id,
                OutcomeKind::Succeeded,
                &format!("task {}", done.exitstatus),
            )?;
            Ok(Step::Done(done))
        }
        Err(e @ PveError::TaskFailed { .. }) => {
            outcome(env, op_id, OutcomeKind::Failed, &e.to_string())?;
            Ok(Step::Failed(e))
        }
        Err(e) => Ok(Step::Unknown(format!(
            "task {upid} not seen ending ({e}); resolved by recovery at the next pass"
        ))),
    }
}

fn outcome(
    env: &ExecEnv<'_>,
    op_id: &str,
    kind: OutcomeKind,
    detail: &str,
) -> Result<(), JournalError> {
    env.journal.append(Record::Outcome {
        op_id: op_id.to_string(),
        outcome: kind,
        detail: detail.to_string(),
    })?;
    Ok(())
}
