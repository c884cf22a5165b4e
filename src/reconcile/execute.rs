//! `reconcile::execute`: runs one gate-allowed action against PVE under the
//! write-ahead protocol of DESIGN §4.
//!
//! Owns: the executors (power, config, destroy, rollback, key rotation).
//! Trusts: the gate (it only receives [`Allowed`] values), PVE task status.
//!
//! Protocol for every mutation, each step durable before the next:
//!
//! ```text
//! [hub block?] ─→ [signed ops: would PVE refuse it now?] ─→ Intent
//!              ─→ [signed ops: verify now ─→ NonceConsumed] ─→ PVE call
//!              ─→ TaskStarted(upid) ─→ wait for the task ─→ Outcome
//! ```
//!
//! Before anything is journaled, the lane checks the hub's `blocked` flag
//! as it is now: a block that arrives during a long pass stops every
//! mutation not yet started (CONTRACT §7). A signed op on a guest then
//! passes the preflight ([`super::preflight::for_allowed`]): the
//! guest is read and an op PVE would refuse right now (protection, a lock,
//! HA or replication without purge, a paused VM) is not started; nothing is
//! journaled, its nonce is kept, it stays queued
//! ([`Execution::KeptQueued`]) and runs in a later pass once the cause is
//! gone, while it is valid. The intent comes next so that a
//! crash at any later instant leaves an in-flight record for recovery.
//! A signed op is then verified again against the signer files and the
//! clock of this instant (`verify_now`), the last step before its nonce is
//! consumed; a refusal closes the intent as not started and consumes
//! nothing. The nonce is consumed before the call: a crash between the
//! intent and the consumption leaves the op unexecuted *and* unconsumed
//! (still queued), so it is verified and runs once on the next pass; a
//! crash after consumption never runs it again. PVE calls that mutate are
//! never retried here; a failed benign action is re-planned by the next
//! pass, a failed signed op is terminal for that signature.
//!
//! A signed `guest_destroy` of a running guest first stops it (hard stop:
//! it is being destroyed) as its own journaled step: an intent
//! `{op_id}-stop` (op `stop`, no nonce) → `status/stop` → its task → its
//! outcome, then the destroy's call and task. Recovery then never mistakes
//! the stop's task for the destroy's. Power actions are judged by the
//! guest's state and lost answers by a re-read ([`super::settle`]).

use super::action::ActionOp;
use super::audit::PassAudit;
use super::gate::{Allowed, RefusalReason};
use super::preflight;
use super::settle::{judge_lost_answer, shutdown_timeout, wait_for_power};
use super::verify_now::{self, NotNow, VerifiedNow};
use crate::authz::Signers;
use crate::config::Config;
use crate::journal::{Journal, JournalError, OutcomeKind, Record};
use crate::proxmox::{Client, ConfigChange, GuestRef, PveError, Upid};
use std::time::Instant;

/// The result of one execution, as the pass reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Executed {
    pub succeeded: bool,
    pub detail: String,
}

impl Executed {
    fn ok(detail: impl Into<String>) -> Executed {
        Executed {
            succeeded: true,
            detail: detail.into(),
        }
    }

    fn failed(detail: impl Into<String>) -> Executed {
        Executed {
            succeeded: false,
            detail: detail.into(),
        }
    }
}

/// What became of an allowed action when its turn came.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Execution {
    /// It ran (or its PVE call failed); the outcome is journaled.
    Ran(Executed),
    /// It was not started: nothing went to PVE, no nonce was consumed. The
    /// refusal is audited (`reason`: its code, or `N of K approvals`);
    /// `error` is the operator's line for the pass report, if any;
    /// `awaits_approvals`: not refused, it waits for more approvals
    /// (CONTRACT §11) and stays queued.
    NotStarted {
        reason: String,
        error: Option<String>,
        awaits_approvals: bool,
    },
    /// A signed op PVE would refuse right now (`why`): not started, nothing
    /// journaled, its nonce kept; it stays queued for a later pass.
    KeptQueued { why: String },
}

/// What an executor needs besides the action.
pub struct ExecEnv<'a> {
    pub client: &'a Client,
    pub journal: &'a Journal,
    pub config: &'a Config,
    /// The pass's audit (a refusal at the moment of running is a decision).
    pub audit: &'a PassAudit<'a>,
    /// The hub's `blocked` flag as it is now (read before each mutation).
    pub blocked: &'a (dyn Fn() -> bool + Sync),
}

/// Executes `allowed` on `target` (None only for host-scoped ops).
/// A journal error here is fatal for the process (the journal module exits
/// on write/sync failure); other errors become a failed outcome.
pub fn execute(
    env: &ExecEnv<'_>,
    allowed: &Allowed,
    target: Option<&GuestRef>,
    op_id: &str,
) -> Result<Execution, JournalError> {
    let action = allowed.action();
    if (env.blocked)() {
        return not_started(env, allowed, &NotNow::Refused(RefusalReason::Blocked));
    }
    let running = match preflight::for_allowed(env.client, allowed, target) {
        Ok(running) => running,
        Err(why) => return Ok(Execution::KeptQueued { why }),
    };
    let nonce = allowed.authorization().map(|op| op.nonce().to_string());
    env.journal.append(Record::Intent {
        op_id: op_id.to_string(),
        vmid: action.vmid,
        op: action.op.name().to_string(),
        params: action.op.params(),
        source: action.source.as_str().to_string(),
        idempotency_key: nonce.clone().unwrap_or_else(|| op_id.to_string()),
        nonce: nonce.clone(),
        at: Some(crate::time::now_unix()),
    })?;
    if let Err(not_now) = verify_now_then_consume(env, allowed, op_id)? {
        env.journal.append(Record::Outcome {
            op_id: op_id.to_string(),
            outcome: OutcomeKind::Failed,
            detail: format!("not started: {}", not_now.reason()),
        })?;
        return not_started(env, allowed, &not_now);
    }
    let result = match (&action.op, target) {
        (ActionOp::KeyRotation { lines }, _) => {
            rotate_signers(env.journal, env.config, lines, nonce.as_deref())
        }
        (_, None) => Ok(Executed::failed("guest not found on this host")),
        (op, Some(guest)) => run_on_guest(env, op, guest, op_id, running),
    }?;
    env.journal.append(Record::Outcome {
        op_id: op_id.to_string(),
        outcome: if result.succeeded {
            OutcomeKind::Succeeded
        } else {
            OutcomeKind::Failed
        },
        detail: result.detail.clone(),
    })?;
    Ok(Execution::Ran(result))
}

/// Signed ops: verified again against the signer files and the clock of
/// this instant, then the nonce consumed (durable). The last step before the
/// PVE call; any precondition checked before a nonce is consumed goes
/// before it. An unsigned action passes.
fn verify_now_then_consume(
    env: &ExecEnv<'_>,
    allowed: &Allowed,
    op_id: &str,
) -> Result<Result<(), NotNow>, JournalError> {
    let Some(signed_op) = allowed.authorization() else {
        return Ok(Ok(()));
    };
    let now: VerifiedNow = match verify_now::verify_now(env.journal, env.config, allowed, signed_op)
    {
        Ok(now) => now,
        Err(not_now) => return Ok(Err(not_now)),
    };
    verify_now::consume_nonce(env.journal, &now, op_id)?;
    Ok(Ok(()))
}

/// `allowed` is not started: the refusal is audited (and the op dequeued
/// when waiting cannot help) by `verify_now::settle`.
pub(super) fn not_started(
    env: &ExecEnv<'_>,
    allowed: &Allowed,
    not_now: &NotNow,
) -> Result<Execution, JournalError> {
    let error = verify_now::settle(env.audit, env.journal, allowed, not_now)?;
    Ok(Execution::NotStarted {
        reason: not_now.reason(),
        error,
        awaits_approvals: matches!(not_now, NotNow::TooFewApprovals(_)),
    })
}

fn run_on_guest(
    env: &ExecEnv<'_>,
    op: &ActionOp,
    guest: &GuestRef,
    op_id: &str,
    running: bool,
) -> Result<Executed, JournalError> {
    let c = env.client;
    let deadline = Instant::now() + env.config.proxmox.task_timeout;
    if let (ActionOp::GuestDestroy { .. }, true) = (op, running)
        && let Err(why) = stop_before_destroy(env, guest, op_id, deadline)?
    {
        return Ok(Executed::failed(format!(
            "the hard stop before the destroy failed: {why}"
        )));
    }
    let started = match op {
        ActionOp::Start => c.start(guest).map(Some),
        ActionOp::Stop => c
            .shutdown(guest, shutdown_timeout(env.config.proxmox.task_timeout))
            .map(Some),
        ActionOp::Restart => c.reboot(guest).map(Some),
        ActionOp::SetConfig {
            cores,
            memory_mib,
            description,
        } => set_config(c, guest, *cores, *memory_mib, description.clone()),
        ActionOp::GuestDestroy { purge } => c.destroy(guest, *purge).map(Some),
        ActionOp::RestoreOverwrite { snapshot } => c.rollback(guest, snapshot).map(Some),
        ActionOp::KeyRotation { .. } => return Ok(Executed::failed("not a guest op")),
        // A creation is a transaction of several steps (`reconcile::txn`).
        ActionOp::Create(_) => {
            return Ok(Executed::failed("a creation runs only as a transaction"));
        }
    };
    let upid = match started {
        Ok(Some(upid)) => upid,
        Ok(None) => return Ok(Executed::ok("applied")),
        Err(e) if e.outcome_unknown() => {
            return Ok(match judge_lost_answer(c, op, guest, &e) {
                Ok(seen) => Executed::ok(seen),
                Err(why) => Executed::failed(why),
            });
        }
        Err(e) => return Ok(Executed::failed(e.to_string())),
    };
    env.journal.append(Record::TaskStarted {
        op_id: op_id.to_string(),
        upid: upid.as_str().to_string(),
    })?;
    Ok(wait_and_settle(env, op, guest, &upid, deadline))
}

/// The hard stop of a running guest that a signed destroy is about to
/// remove, journaled as its own op (`{op_id}-stop`). `Ok(Err(why))`: the
/// stop failed and the destroy must not be sent.
fn stop_before_destroy(
    env: &ExecEnv<'_>,
    guest: &GuestRef,
    op_id: &str,
    deadline: Instant,
) -> Result<Result<(), String>, JournalError> {
    let stop_id = format!("{op_id}-stop");
    env.journal.append(Record::Intent {
        op_id: stop_id.clone(),
        vmid: guest.vmid,
        op: "stop".to_string(),
        params: serde_json::json!({}),
        source: super::action::Source::Job.as_str().to_string(),
        idempotency_key: stop_id.clone(),
        nonce: None,
        at: Some(crate::time::now_unix()),
    })?;
    let result = match env.client.stop(guest) {
        Ok(upid) => {
            env.journal.append(Record::TaskStarted {
                op_id: stop_id.clone(),
                upid: upid.as_str().to_string(),
            })?;
            env.client
                .wait_task(&upid, deadline.saturating_duration_since(Instant::now()))
                .map_err(|e| e.to_string())
                .and_then(|_| wait_for_power(env.client, guest, false, deadline))
        }
        Err(e) => Err(e.to_string()),
    };
    env.journal.append(Record::Outcome {
        op_id: stop_id,
        outcome: if result.is_ok() {
            OutcomeKind::Succeeded
        } else {
            OutcomeKind::Failed
        },
        detail: match &result {
            Ok(()) => "hard stop before a signed destroy".to_string(),
            Err(why) => why.clone(),
        },
    })?;
    Ok(result)
}

fn set_config(
    c: &Client,
    guest: &GuestRef,
    cores: Option<u64>,
    memory_mib: Option<u64>,
    description: Option<String>,
) -> Result<Option<Upid>, PveError> {
    let current = c.config(guest)?;
    if let Some(lock) = &current.lock {
        return Err(PveError::Locked { lock: lock.clone() });
    }
    let cores = cores
        .map(u32::try_from)
        .transpose()
        .map_err(|_| PveError::InvalidRequest("cores out of range"))?;
    let change = ConfigChange {
        cores,
        memory_mib,
        description,
        delete: Vec::new(),
    };
    c.set_config(guest, &change, &current.digest)
}

/// Waits for the task, then (power ops) for the guest's state; both by
/// `deadline` (the action's `task_timeout_seconds`).
fn wait_and_settle(
    env: &ExecEnv<'_>,
    op: &ActionOp,
    guest: &GuestRef,
    upid: &Upid,
    deadline: Instant,
) -> Executed {
    let wait = deadline.saturating_duration_since(Instant::now());
    let outcome = match env.client.wait_task(upid, wait) {
        Ok(o) => o,
        Err(e) => return Executed::failed(e.to_string()),
    };
    let want_running = match op {
        ActionOp::Start | ActionOp::Restart => Some(true),
        ActionOp::Stop => Some(false),
        _ => None,
    };
    let Some(want_running) = want_running else {
        return Executed::ok(format!("task {}", outcome.exitstatus));
    };
    match wait_for_power(env.client, guest, want_running, deadline) {
        Ok(()) => Executed::ok(format!("task {}", outcome.exitstatus)),
        Err(why) => Executed::failed(format!("task {} but {why}", outcome.exitstatus)),
    }
}

/// `key_rotation`: atomically replaces the operational signer file (mode
/// 0600, CONTRACT §3). The recovery file is never touched. The new lines
/// are checked by the same function as stage 5 (`Signers::check_rotation`:
/// signer lines, no recovery key's Ed25519 point under any encoding, within
/// the load limits) against the signer files as they are now; when those
/// cannot be read, nothing is written (fail closed). Idempotent (the same
/// lines give the same file), so recovery completes an interrupted rotation
/// with it.
pub(super) fn rotate_signers(
    journal: &Journal,
    config: &Config,
    lines: &[String],
    nonce: Option<&str>,
) -> Result<Executed, JournalError> {
    let Some(path) = config.authz.operational_signers.as_deref() else {
        return Ok(Executed::failed(
            "authz.operational_signers is not configured",
        ));
    };
    let current = match Signers::load(&config.authz) {
        Ok(s) => s,
        Err(e) => {
            return Ok(Executed::failed(format!(
                "signer files unusable, nothing rewritten: {e}"
            )));
        }
    };
    if let Err(e) = current.check_rotation(lines) {
        return Ok(Executed::failed(format!("new signer set invalid: {e}")));
    }
    let text = crate::authz::operational_file_text(lines);
    if let Err(e) = crate::state_file::write_atomically(path, text.as_bytes(), 0o600) {
        return Ok(Executed::failed(format!(
            "cannot rewrite {}: {e}",
            path.display()
        )));
    }
    journal.append(Record::SignersRotated {
        lines: lines.to_vec(),
        nonce: nonce.unwrap_or_default().to_string(),
    })?;
    Ok(Executed::ok(format!(
        "{} operational signer line(s) in force",
        lines.len()
    )))
}
