//! Recovery of open transactions (DESIGN §5a), before anything else may
//! touch their guests.
//!
//! At the start of every mutating pass (and of the daemon), for each open
//! transaction:
//! 1. its in-flight steps are resolved from PVE task status, read once:
//!    ended → the real outcome (a create that ended `OK` under the UPID the
//!    transaction journaled → provenance); still running or unreadable →
//!    the transaction stays open and its guest is left alone this pass; no
//!    task id → the call was never confirmed (`failed`, never re-sent).
//! 2. then it is decided, reading the cluster's guest list once:
//!    - no provenance: nothing is provably ours. A guest with the vmid
//!      exists → `unresolved` (never destroyed by the agent, reported for
//!      the operator); none → `failed` (nothing was created).
//!    - provenance, guest gone → `rolled_back`; a different guest holds the
//!      vmid → `unresolved`; our guest → a [`Continuation`]: resume (config,
//!      start, commit) or, if a rollback had begun, roll back. It runs in
//!      the guest's lane this pass, and the guest gets no other action.

use super::rollback::{find_guest, is_ours, roll_back};
use super::{Row, TxnContext, end, guest_ref, step_name};
use crate::journal::txn::{OpenTxn, step_op_id, txn_of_op};
use crate::journal::{Journal, JournalError, OutcomeKind, Record, TxnEndKind};
use crate::proxmox::{Client, Resource, TaskState, Upid};
use crate::reconcile::action::{Action, ActionOp, Source};
use crate::reconcile::audit;
use crate::reconcile::classify::AgentContext;
use crate::reconcile::desired::CreateSpec;
use crate::reconcile::dispatch::{decision_record, entry};
use crate::reconcile::execute::{self, ExecEnv};
use crate::reconcile::gate::{self, Decision, GateContext};
use crate::reconcile::normalize::description_matches;
use crate::reconcile::recover::Recovery;
use crate::reconcile::report::Outcome;
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
            if let (Some(upid), "create", OutcomeKind::Succeeded) = (upid, step.op.as_str(), kind) {
                journal.append(Record::TxnCreated {
                    txn: txn.clone(),
                    upid: upid.as_str().to_string(),
                })?;
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
    let spec = CreateSpec::from_value("journal".into(), &t.create).ok();
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
    out.txn_vmids.insert(vmid);
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
            blocked: ctx.blocked,
        };
        let decision = gate::decide(
            action,
            None,
            AgentContext { transaction: None },
            None,
            &gate_ctx,
        );
        audit::record(
            Some(env.journal),
            decision_record(&decision, crate::time::now_unix()),
        )?;
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
        let result = execute::execute(env, &allowed, Some(&guest), &op_id)?;
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
    let cores = cores.filter(|c| have.cores.map(u64::from) != Some(*c));
    let memory_mib = memory_mib.filter(|m| have.memory_mib != Some(*m));
    let description = description.filter(|d| !description_matches(d, have.description.as_deref()));
    let drifted = cores.is_some() || memory_mib.is_some() || description.is_some();
    Ok(drifted.then_some(ActionOp::SetConfig {
        cores,
        memory_mib,
        description,
    }))
}
