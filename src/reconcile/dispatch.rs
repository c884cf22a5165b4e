//! `reconcile::dispatch`: runs the gate's allowed actions in lanes and turns
//! every decision into its report row and audit record.
//!
//! Owns: op ids, the lane jobs of one pass, report rows.
//! Trusts: the gate (only [`Decision::Allowed`] values reach an executor).
//!
//! A failed action stops its guest's lane: later actions on that guest are
//! reported `skipped` (the guest's state is uncertain; the next pass
//! re-plans). Other guests' lanes go on.

use super::actual::ActualState;
use super::execute::{self, ExecEnv, Executed};
use super::gate::{self, Decision};
use super::lanes::{self, JobOutcome, Step};
use super::report::{self, ActionEntry, Outcome};
use crate::authz::OpClass;
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

pub(super) fn execute_allowed(
    decisions: Vec<Decision>,
    actual: &ActualState,
    env: ExecEnv<'_>,
    max_parallel: usize,
    tick: &mut dyn FnMut(),
) -> Result<Vec<ActionEntry>, JournalError> {
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
        let failed = !matches!(
            &result,
            Ok(Executed {
                succeeded: true,
                ..
            })
        );
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
    for lane in reports {
        for outcome in lane.outcomes {
            let (i, allowed, result) = match outcome {
                JobOutcome::Ran((i, a, r)) => (i, a, r),
                JobOutcome::LaneStopped((i, a)) => (
                    i,
                    a,
                    Ok(Executed {
                        succeeded: false,
                        detail: String::new(),
                    }),
                ),
                JobOutcome::NoWorker((i, a)) => (
                    i,
                    a,
                    Ok(Executed {
                        succeeded: false,
                        detail: "no worker thread".into(),
                    }),
                ),
                JobOutcome::Lost => continue,
            };
            let d = Decision::Allowed(allowed);
            let e = match result {
                Ok(Executed {
                    succeeded: true,
                    detail,
                }) => entry(&d, Outcome::Succeeded, Some(detail)),
                Ok(Executed {
                    succeeded: false,
                    detail,
                }) if detail.is_empty() => entry(
                    &d,
                    Outcome::Skipped,
                    Some("an earlier action on this guest failed".into()),
                ),
                Ok(Executed { detail, .. }) => entry(&d, Outcome::Failed, Some(detail)),
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
    Ok(entries.into_iter().flatten().collect())
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
