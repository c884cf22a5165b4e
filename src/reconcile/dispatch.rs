//! `reconcile::dispatch`: runs the gate's allowed actions in lanes and turns
//! every decision into its report row and audit record.
//!
//! Owns: op ids, the lane jobs of one pass, report rows.
//! Trusts: the gate (only [`Decision::Allowed`] values reach an executor).
//!
//! A failed action stops its guest's lane: later actions on that guest are
//! reported `skipped` (the guest's state is uncertain; the next pass
//! re-plans). Other guests' lanes go on. An action refused when its turn
//! came (hub block, signature no longer valid) changed nothing: its row is
//! `refused`/`skipped` and the lane goes on. A signed op PVE would refuse
//! right now is `allowed`/`skipped`, kept queued with its nonce, and named
//! in the pass's errors (it has not converged); the lane goes on.

use super::action::Action;
use super::actual::ActualState;
use super::execute::{self, ExecEnv, Executed, Execution};
use super::gate::{self, Decision};
use super::lanes::{self, JobOutcome, Step};
use super::report::{self, ActionEntry, Outcome};
use crate::authz::{OpClass, VerifiedOp};
use crate::journal::{DecisionRecord, JournalError};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

static OP_SEQ: AtomicU64 = AtomicU64::new(0);

/// A process-unique op id: start time, pid, sequence.
fn new_op_id(vmid: u32) -> String {
    let seq = OP_SEQ.fetch_add(1, Ordering::Relaxed);
    format!(
        "{}-{}-{seq}-{vmid}",
        crate::time::now_unix(),
        std::process::id()
    )
}

/// What the lanes made of a pass's decisions: one report row per decision
/// (in decision order), and the operator's lines for refusals at the
/// moment of running.
pub(super) struct Dispatched {
    pub entries: Vec<ActionEntry>,
    pub errors: Vec<String>,
}

pub(super) fn execute_allowed(
    decisions: Vec<Decision>,
    actual: &ActualState,
    env: ExecEnv<'_>,
    max_parallel: usize,
    tick: &mut dyn FnMut(),
) -> Result<Dispatched, JournalError> {
    let mut entries: Vec<Option<ActionEntry>> = Vec::new();
    let mut lanes_in: std::collections::BTreeMap<u32, Vec<(usize, gate::Allowed)>> =
        Default::default();
    for (i, d) in decisions.into_iter().enumerate() {
        match d {
            Decision::Allowed(a) => {
                entries.push(None);
                lanes_in.entry(a.action().vmid).or_default().push((i, a));
            }
            other => {
                let outcome = if matches!(other, Decision::Refused { .. }) {
                    Outcome::Skipped
                } else {
                    Outcome::Planned
                };
                entries.push(Some(entry(&other, outcome, None)));
            }
        }
    }
    let exec = |vmid: u32, (i, allowed): (usize, gate::Allowed)| {
        let target = actual.guest_ref(vmid);
        let result = execute::execute(&env, &allowed, target.as_ref(), &new_op_id(vmid));
        let failed = match &result {
            Ok(Execution::Ran(Executed { succeeded, .. })) => !succeeded,
            Ok(Execution::NotStarted { .. } | Execution::KeptQueued { .. }) => false,
            Err(_) => true,
        };
        let step = (i, allowed, result);
        if failed {
            Step::StopLane(step)
        } else {
            Step::Continue(step)
        }
    };
    let jobs: Vec<(u32, Vec<(usize, gate::Allowed)>)> = lanes_in.into_iter().collect();
    let reports =
        lanes::run_pass_with_tick(jobs, max_parallel, &exec, Duration::from_secs(1), tick);
    let mut journal_error = None;
    let mut errors = Vec::new();
    for lane in reports {
        for outcome in lane.outcomes {
            let (i, allowed, result) = match outcome {
                JobOutcome::Ran((i, a, r)) => (i, a, r),
                JobOutcome::LaneStopped((i, a)) => (i, a, Ok(ran(false, ""))),
                JobOutcome::NoWorker((i, a)) => (i, a, Ok(ran(false, "no worker thread"))),
                JobOutcome::Lost => continue,
            };
            let d = Decision::Allowed(allowed);
            let e = match result {
                Ok(Execution::Ran(Executed {
                    succeeded: true,
                    detail,
                })) => entry(&d, Outcome::Succeeded, Some(detail)),
                Ok(Execution::Ran(Executed {
                    succeeded: false,
                    detail,
                })) if detail.is_empty() => entry(
                    &d,
                    Outcome::Skipped,
                    Some("an earlier action on this guest failed".into()),
                ),
                Ok(Execution::Ran(Executed { detail, .. })) => {
                    entry(&d, Outcome::Failed, Some(detail))
                }
                Ok(Execution::KeptQueued { why }) => {
                    if let Decision::Allowed(a) = &d {
                        errors.push(kept_queued_line(a, &why));
                    }
                    entry(
                        &d,
                        Outcome::Skipped,
                        Some(format!("kept queued, not started: {why}")),
                    )
                }
                Ok(Execution::NotStarted {
                    reason,
                    error,
                    awaits_approvals,
                }) => {
                    errors.extend(error);
                    let mut e = entry(&d, Outcome::Skipped, None);
                    e.decision = report::Decision::Refused;
                    if awaits_approvals {
                        e.decision = report::Decision::PendingSignature;
                        e.outcome = Outcome::Planned;
                    }
                    e.reason = Some(format!("{reason} (when its turn came; not started)"));
                    e
                }
                Err(err) => {
                    let e = entry(&d, Outcome::Failed, Some(format!("journal: {err}")));
                    journal_error.get_or_insert(err);
                    e
                }
            };
            if let Some(slot) = entries.get_mut(i) {
                *slot = Some(e);
            }
        }
    }
    if let Some(err) = journal_error {
        return Err(err);
    }
    Ok(Dispatched {
        entries: entries.into_iter().flatten().collect(),
        errors,
    })
}

fn ran(succeeded: bool, detail: &str) -> Execution {
    Execution::Ran(Executed {
        succeeded,
        detail: detail.to_string(),
    })
}

/// The pass error for a signed op kept queued: what, why, until when.
fn kept_queued_line(allowed: &gate::Allowed, why: &str) -> String {
    let a = allowed.action();
    let (nonce, expires) = allowed.authorization().map_or_else(
        || (String::from("-"), String::from("-")),
        |op| {
            (
                op.nonce().to_string(),
                crate::time::format_rfc3339(op.expires_at()),
            )
        },
    );
    format!(
        "guest {}: signed {} (nonce {nonce}) kept queued with its nonce: PVE would refuse it now: \
         {why}; it runs in a later pass once the cause is gone, until it expires at {expires}",
        a.vmid,
        a.op.name()
    )
}

pub(super) fn class_str(c: OpClass) -> &'static str {
    match c {
        OpClass::Benign => "benign",
        OpClass::Destructive => "destructive",
    }
}

pub(super) fn entry(d: &Decision, outcome: Outcome, detail: Option<String>) -> ActionEntry {
    let class = match d.class() {
        OpClass::Benign => report::Class::Benign,
        OpClass::Destructive => report::Class::Destructive,
    };
    let decision = match d {
        Decision::Allowed(_) => report::Decision::Allowed,
        Decision::PendingSignature { .. } => report::Decision::PendingSignature,
        Decision::Refused { .. } => report::Decision::Refused,
    };
    let mut e = ActionEntry::planned(d.action(), class, decision);
    e.outcome = outcome;
    e.reason = Some(match detail {
        Some(detail) if !detail.is_empty() => format!("{}; {detail}", d.reason()),
        _ => d.reason(),
    });
    e
}

/// The audit record of a decision. `signer` and `role` name every approver
/// (comma-separated, in arrival order; a first principal never holds a
/// comma), so the decision that finally allows a k-approval op names all
/// of them.
pub(super) fn decision_record(d: &Decision, now: i64) -> DecisionRecord {
    let action = d.action();
    let op = d.signed_op();
    let approvers = d.approvals().map(|a| a.approvers());
    let join = |f: &dyn Fn(&crate::authz::SignerInfo) -> String| {
        approvers.map(|list| list.iter().map(f).collect::<Vec<_>>().join(","))
    };
    DecisionRecord {
        decision: d.code().into(),
        op: action.op.name().into(),
        class: class_str(d.class()).into(),
        vmid: (action.vmid != 0).then_some(action.vmid),
        source: action.source.as_str().into(),
        signer: join(&|s| s.signer.clone()),
        role: join(&|s| s.role.to_string()),
        reason: match op {
            // An empty key_id (the `--pending` blobs) claims nothing.
            Some(o) if !o.key_id().is_empty() && !o.key_id_matches_signer() => {
                format!(
                    "{} (advisory key_id {:?} does not name the signer)",
                    d.reason(),
                    o.key_id()
                )
            }
            _ => d.reason(),
        },
        nonce: op.map(|o| o.nonce().to_string()),
        at: now,
    }
}

/// The audit record of `action` refused with `code` when its turn came.
pub(super) fn refusal_record(
    action: &Action,
    class: OpClass,
    op: Option<&VerifiedOp>,
    code: &str,
    now: i64,
) -> DecisionRecord {
    DecisionRecord {
        decision: "refused".into(),
        op: action.op.name().into(),
        class: class_str(class).into(),
        vmid: (action.vmid != 0).then_some(action.vmid),
        source: action.source.as_str().into(),
        signer: op.map(|o| o.signer().to_string()),
        role: op.map(|o| o.role().to_string()),
        reason: code.to_string(),
        nonce: op.map(|o| o.nonce().to_string()),
        at: now,
    }
}
