//! Continuations of open transactions, run in the guest's lane before
//! anything else touches it: resume (converge the guest to the
//! transaction's own plan, then commit) or finish a rollback. Every step is
//! gated and journaled like the pass's own actions; a failed step rolls the
//! transaction back.

use super::recover::Continuation;
use super::rollback::{find_guest, is_ours, roll_back};
use super::{Row, TxnContext, end, guest_ref, step_name};
use crate::journal::txn::step_op_id;
use crate::journal::{JournalError, TxnEndKind};
use crate::reconcile::action::{Action, ActionOp, Source};
use crate::reconcile::classify::{AgentContext, GuestFacts};
use crate::reconcile::desired::CreateSpec;
use crate::reconcile::dispatch::{decision_record, entry};
use crate::reconcile::execute::{self, ExecEnv, Execution};
use crate::reconcile::gate::{self, Decision, GateContext};
use crate::reconcile::report::Outcome;
use crate::reconcile::settle::unapplied_config;
use serde_json::Value;

/// Runs a continuation in the guest's lane.
pub fn run_continuation(
    env: &ExecEnv<'_>,
    ctx: TxnContext,
    c: Continuation,
) -> Result<Vec<Row>, JournalError> {
    match c {
        Continuation::RollBack {
            txn,
            vmid,
            spec,
            reason,
        } => roll_back(
            env,
            ctx,
            &txn,
            vmid,
            &spec,
            &format!("{reason} (resumed after a restart)"),
        ),
        Continuation::Resume {
            txn,
            vmid,
            spec,
            config,
            start,
        } => resume(env, ctx, &txn, vmid, &spec, config.as_ref(), start),
    }
}

fn resume(
    env: &ExecEnv<'_>,
    ctx: TxnContext,
    txn: &str,
    vmid: u32,
    spec: &CreateSpec,
    config: Option<&Value>,
    start: bool,
) -> Result<Vec<Row>, JournalError> {
    let generation = env
        .journal
        .with_index(|i| i.transactions.open.get(txn).map(|t| t.generation))
        .unwrap_or(ctx.generation);
    match find_guest(env, vmid) {
        Err(e) => {
            log::warn!("transaction {txn}: guest list unreadable ({e}); resumed at the next pass");
            return Ok(Vec::new());
        }
        Ok(None) => {
            end(
                env,
                txn,
                vmid,
                TxnEndKind::RolledBack,
                generation,
                "the guest is gone",
            )?;
            return Ok(Vec::new());
        }
        Ok(Some(r)) if !is_ours(env.client.node(), &r, spec) => {
            let detail = "vmid now holds a guest this transaction did not create; unresolved";
            end(env, txn, vmid, TxnEndKind::Unresolved, generation, detail)?;
            return Ok(Vec::new());
        }
        Ok(Some(_)) => {}
    }
    let guest = guest_ref(env, vmid, spec);
    let mut steps = Vec::new();
    if let Some(want) = config {
        match config_drift(env, &guest, want) {
            Ok(Some(op)) => steps.push(op),
            Ok(None) => {}
            Err(e) => {
                log::warn!("transaction {txn}: config unreadable ({e}); resumed at the next pass");
                return Ok(Vec::new());
            }
        }
    }
    if start {
        match env.client.status(&guest) {
            Ok(s) if s.is_running() => {}
            Ok(_) => steps.push(ActionOp::Start),
            Err(e) => {
                log::warn!("transaction {txn}: status unreadable ({e}); resumed at the next pass");
                return Ok(Vec::new());
            }
        }
    }
    let mut rows = Vec::new();
    for op in steps {
        let action = Action {
            vmid,
            op,
            source: Source::DesiredState,
        };
        let gate_ctx = GateContext {
            host_id: &env.config.host_id,
            blocked: (env.blocked)(),
            approvals: &env.config.authz.approvals,
        };
        let decision = gate::decide(
            action,
            None,
            AgentContext { transaction: None },
            None,
            GuestFacts::default(),
            &gate_ctx,
        );
        env.audit
            .record(decision_record(&decision, crate::time::now_unix()))?;
        let allowed = match decision {
            Decision::Allowed(a) => a,
            other => {
                let detail = format!("transaction {txn} resumes once allowed");
                rows.push(Row {
                    slot: None,
                    entry: entry(&other, Outcome::Skipped, Some(detail)),
                });
                return Ok(rows);
            }
        };
        let name = allowed.action().op.name();
        let op_id = step_op_id(txn, &step_name(name));
        let result = match execute::execute(env, &allowed, Some(&guest), &op_id)? {
            Execution::Ran(result) => result,
            Execution::NotStarted { reason, .. } | Execution::KeptQueued { why: reason } => {
                let detail = format!("transaction {txn} resumes once allowed ({reason})");
                rows.push(Row {
                    slot: None,
                    entry: entry(&Decision::Allowed(allowed), Outcome::Skipped, Some(detail)),
                });
                return Ok(rows);
            }
        };
        let outcome = if result.succeeded {
            Outcome::Succeeded
        } else {
            Outcome::Failed
        };
        let detail = format!("transaction {txn} resumed: {}", result.detail);
        rows.push(Row {
            slot: None,
            entry: entry(&Decision::Allowed(allowed), outcome, Some(detail)),
        });
        if !result.succeeded {
            let why = format!("{name} failed: {}", result.detail);
            rows.extend(roll_back(env, ctx, txn, vmid, spec, &why)?);
            return Ok(rows);
        }
    }
    end(
        env,
        txn,
        vmid,
        TxnEndKind::Committed,
        generation,
        "resumed after a restart and completed",
    )?;
    Ok(rows)
}

/// The `set_config` still needed for the planned params `want`, if any.
fn config_drift(
    env: &ExecEnv<'_>,
    guest: &crate::proxmox::GuestRef,
    want: &Value,
) -> Result<Option<ActionOp>, crate::proxmox::PveError> {
    let Some(ActionOp::SetConfig {
        cores,
        memory_mib,
        description,
    }) = ActionOp::from_name_params("set_config", want)
    else {
        return Ok(None);
    };
    let have = env.client.pending_config(guest)?;
    Ok(unapplied_config(cores, memory_mib, description, &have))
}
