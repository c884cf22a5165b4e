//! The compensating rollback: destroy (with purge) the guest this
//! transaction created, unsigned, through the gate.
//!
//! The gate sees `guest_destroy` with source `agent` in this transaction's
//! context and the journal's provenance for it; it allows the destroy only
//! if that provenance names this vmid (see `classify`). Before anything is
//! sent, the guest must still be the one this transaction created: on this
//! node, of this kind, with this name. A running guest is stopped hard first
//! (PVE refuses to destroy a running VM). Every call is journaled.

use super::{Row, Step, TxnContext, end, guest_ref, journaled_step, step_name};
use crate::journal::txn::step_op_id;
use crate::journal::{JournalError, Record, TxnEndKind};
use crate::proxmox::{PveError, Resource};
use crate::reconcile::action::{Action, ActionOp, Source};
use crate::reconcile::classify::{AgentContext, GuestFacts};
use crate::reconcile::desired::CreateSpec;
use crate::reconcile::dispatch::{decision_record, entry};
use crate::reconcile::execute::{self, ExecEnv, Execution};
use crate::reconcile::gate::{self, Decision, GateContext, RefusalReason};
use crate::reconcile::report::Outcome;

/// The guest holding `vmid` anywhere in the cluster, if any.
pub(super) fn find_guest(env: &ExecEnv<'_>, vmid: u32) -> Result<Option<Resource>, PveError> {
    Ok(env.client.resources()?.into_iter().find(|r| r.vmid == vmid))
}

/// Whether `r` is the guest `spec` created on `node`: same node, kind and
/// name, not a template.
pub(super) fn is_ours(node: &str, r: &Resource, spec: &CreateSpec) -> bool {
    r.node == node
        && r.kind.as_str() == spec.kind()
        && !r.template
        && r.name.as_deref() == Some(spec.name())
}

/// Rolls transaction `txn` back because `why`. Returns the report row of
/// the compensating destroy (or of why it did not run).
pub(super) fn roll_back(
    env: &ExecEnv<'_>,
    ctx: TxnContext,
    txn: &str,
    vmid: u32,
    spec: &CreateSpec,
    why: &str,
) -> Result<Vec<Row>, JournalError> {
    let (aborting, generation) = env.journal.with_index(|i| {
        let t = i.transactions.open.get(txn);
        (
            t.is_some_and(|t| t.aborting.is_some()),
            t.map_or(ctx.generation, |t| t.generation),
        )
    });
    if !aborting {
        env.journal.append(Record::TxnAbort {
            txn: txn.to_string(),
            reason: why.to_string(),
        })?;
    }
    let context = format!("compensating rollback of transaction {txn}: {why}");
    let provenance = env.journal.with_index(|i| i.transactions.provenance(txn));
    let action = Action {
        vmid,
        op: ActionOp::GuestDestroy { purge: true },
        source: Source::Agent,
    };
    let gate_ctx = GateContext {
        host_id: &env.config.host_id,
        blocked: (env.blocked)(),
        approvals: &env.config.authz.approvals,
    };
    let agent = AgentContext {
        transaction: Some(txn),
    };
    // A guest this transaction just created is not HA-managed.
    let guest = GuestFacts::default();
    let decision = gate::decide(action, None, agent, provenance.as_ref(), guest, &gate_ctx);
    let mut record = decision_record(&decision, crate::time::now_unix());
    record.reason = format!("{context}; {}", record.reason);
    env.audit.record(record)?;
    let allowed = match decision {
        Decision::Allowed(a) => a,
        other => {
            let blocked = matches!(
                other,
                Decision::Refused {
                    reason: RefusalReason::Blocked,
                    ..
                }
            );
            let detail = if blocked {
                format!("{context}; held while the hub blocks this host")
            } else {
                let detail = format!(
                    "{context}; not executed: this transaction holds no provenance for guest \
                     {vmid} (its create was never seen succeeding), so the guest is not provably \
                     the agent's; unresolved, left to the operator"
                );
                end(env, txn, vmid, TxnEndKind::Unresolved, generation, &detail)?;
                detail
            };
            let outcome = if blocked {
                Outcome::Skipped
            } else {
                Outcome::Planned
            };
            return Ok(vec![Row {
                slot: None,
                entry: entry(&other, outcome, Some(detail)),
            }]);
        }
    };
    let guest = guest_ref(env, vmid, spec);
    let report = |allowed, outcome, detail: String| Row {
        slot: None,
        entry: entry(&Decision::Allowed(allowed), outcome, Some(detail)),
    };
    match find_guest(env, vmid) {
        Err(e) => {
            let detail =
                format!("{context}; guest list unreadable ({e}); retried at the next pass");
            return Ok(vec![report(allowed, Outcome::Failed, detail)]);
        }
        Ok(None) => {
            let detail = format!("{context}; the guest is already gone");
            end(env, txn, vmid, TxnEndKind::RolledBack, generation, &detail)?;
            return Ok(vec![report(allowed, Outcome::Succeeded, detail)]);
        }
        Ok(Some(r)) if !is_ours(env.client.node(), &r, spec) => {
            let detail = format!(
                "{context}; not executed: vmid {vmid} now holds a guest this transaction did not \
                 create ({} {} on {}); unresolved, left to the operator",
                r.kind.as_str(),
                r.name.as_deref().unwrap_or("-"),
                r.node
            );
            end(env, txn, vmid, TxnEndKind::Unresolved, generation, &detail)?;
            return Ok(vec![report(allowed, Outcome::Failed, detail)]);
        }
        Ok(Some(_)) => {}
    }
    let running = match env.client.status(&guest) {
        Ok(s) => s.is_running(),
        Err(e) => {
            let detail = format!("{context}; status unreadable ({e}); retried at the next pass");
            return Ok(vec![report(allowed, Outcome::Failed, detail)]);
        }
    };
    if running && (env.blocked)() {
        let detail = format!("{context}; held while the hub blocks this host");
        return Ok(vec![report(allowed, Outcome::Skipped, detail)]);
    }
    if running {
        let op_id = step_op_id(txn, &step_name("stop"));
        let stop = journaled_step(
            env,
            &op_id,
            vmid,
            "stop",
            serde_json::json!({"hard": true}),
            "agent",
            || env.client.stop(&guest),
        )?;
        let failure = match stop {
            Step::Done(_) => None,
            Step::Failed(e) => Some(e.to_string()),
            Step::Unknown(why) => Some(why),
        };
        if let Some(e) = failure {
            let detail = format!("{context}; hard stop failed ({e}); retried at the next pass");
            return Ok(vec![report(allowed, Outcome::Failed, detail)]);
        }
    }
    let op_id = step_op_id(txn, &step_name("destroy"));
    let result = match execute::execute(env, &allowed, Some(&guest), &op_id)? {
        Execution::Ran(result) => result,
        Execution::NotStarted { reason, .. } | Execution::KeptQueued { why: reason } => {
            let detail = format!("{context}; not started ({reason}); retried at the next pass");
            return Ok(vec![report(allowed, Outcome::Skipped, detail)]);
        }
    };
    let detail = format!("{context}; {}", result.detail);
    if result.succeeded {
        end(env, txn, vmid, TxnEndKind::RolledBack, generation, &detail)?;
        Ok(vec![report(allowed, Outcome::Succeeded, detail)])
    } else {
        let detail = format!("{detail}; retried at the next pass");
        Ok(vec![report(allowed, Outcome::Failed, detail)])
    }
}
