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
//!
//! A creation (`create` and the `set_config`/`start` planned with it) is
//! one lane unit run by `txn` as a transaction; a transaction recovery left
//! open runs first in its guest's lane. Rows a transaction adds (its
//! compensating rollback) follow its own rows.

use super::action::{Action, ActionOp, Source};
use super::actual::ActualState;
use super::execute::{self, ExecEnv, Executed, Execution};
use super::gate::{self, Decision};
use super::lanes::{self, JobOutcome, Step};
use super::report::{self, ActionEntry, Outcome};
use super::txn::{self, Continuation, TxnContext};
use crate::authz::{OpClass, VerifiedOp};
use crate::journal::{DecisionRecord, JournalError};
use std::collections::BTreeMap;
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

/// What a pass runs in lanes besides the gate's allowed actions: the
/// continuations of transactions recovery found open, and the context of
/// the pass's transactions.
pub(super) struct LaneWork {
    pub continuations: Vec<Continuation>,
    pub txn: TxnContext,
}

/// One unit of a guest's lane.
enum Unit {
    Action(usize, Box<gate::Allowed>),
    /// A `create` and the `set_config`/`start` planned with it: one
    /// transaction (`txn`).
    Creation(Vec<(usize, gate::Allowed)>),
    /// An open transaction to resume or roll back (first in its lane).
    Continue(Continuation),
}

impl Unit {
    fn allowed(self) -> Vec<(usize, gate::Allowed)> {
        match self {
            Unit::Action(i, a) => vec![(i, *a)],
            Unit::Creation(steps) => steps,
            Unit::Continue(_) => Vec::new(),
        }
    }
}

enum UnitDone {
    Action(usize, Box<gate::Allowed>, Result<Execution, JournalError>),
    Rows(Result<Vec<txn::Row>, JournalError>),
}

/// Groups the allowed decisions into lane units: a `create` opens a
/// creation unit, and the desired-state `set_config`/`start` right after it
/// on the same guest join it. Rows of the other decisions go to `slots`.
fn units(
    decisions: Vec<Decision>,
    continuations: Vec<Continuation>,
    slots: &mut Vec<Vec<ActionEntry>>,
) -> BTreeMap<u32, Vec<Unit>> {
    let mut lanes: BTreeMap<u32, Vec<Unit>> = BTreeMap::new();
    for c in continuations {
        lanes.entry(c.vmid()).or_default().push(Unit::Continue(c));
    }
    for (i, d) in decisions.into_iter().enumerate() {
        let a = match d {
            Decision::Allowed(a) => a,
            other => {
                let outcome = if matches!(other, Decision::Refused { .. }) {
                    Outcome::Skipped
                } else {
                    Outcome::Planned
                };
                slots.push(vec![entry(&other, outcome, None)]);
                continue;
            }
        };
        slots.push(Vec::new());
        let lane = lanes.entry(a.action().vmid).or_default();
        if matches!(a.action().op, ActionOp::Create(_)) {
            lane.push(Unit::Creation(vec![(i, a)]));
            continue;
        }
        let follows_create = a.action().source == Source::DesiredState
            && matches!(a.action().op, ActionOp::SetConfig { .. } | ActionOp::Start);
        if follows_create && let Some(Unit::Creation(steps)) = lane.last_mut() {
            steps.push((i, a));
            continue;
        }
        lane.push(Unit::Action(i, Box::new(a)));
    }
    lanes
}

pub(super) fn execute_allowed(
    decisions: Vec<Decision>,
    work: LaneWork,
    actual: &ActualState,
    env: ExecEnv<'_>,
    max_parallel: usize,
    tick: &mut dyn FnMut(),
) -> Result<Dispatched, JournalError> {
    let mut slots: Vec<Vec<ActionEntry>> = Vec::new();
    let lanes_in = units(decisions, work.continuations, &mut slots);
    let ctx = work.txn;
    let exec = |vmid: u32, unit: Unit| {
        let done = match unit {
            Unit::Action(i, allowed) => {
                let target = actual.guest_ref(vmid);
                let result = execute::execute(&env, &allowed, target.as_ref(), &new_op_id(vmid));
                UnitDone::Action(i, allowed, result)
            }
            Unit::Creation(steps) => UnitDone::Rows(txn::run_creation(&env, ctx, steps)),
            Unit::Continue(c) => UnitDone::Rows(txn::run_continuation(&env, ctx, c)),
        };
        let failed = match &done {
            UnitDone::Action(_, _, Ok(Execution::Ran(Executed { succeeded, .. }))) => !succeeded,
            UnitDone::Action(
                _,
                _,
                Ok(Execution::NotStarted { .. } | Execution::KeptQueued { .. }),
            ) => false,
            UnitDone::Action(_, _, Err(_)) => true,
            UnitDone::Rows(r) => r.as_ref().map_or(true, |rows| {
                rows.iter().any(|r| r.entry.outcome == Outcome::Failed)
            }),
        };
        if failed {
            Step::StopLane(done)
        } else {
            Step::Continue(done)
        }
    };
    let jobs: Vec<(u32, Vec<Unit>)> = lanes_in.into_iter().collect();
    let reports =
        lanes::run_pass_with_tick(jobs, max_parallel, &exec, Duration::from_secs(1), tick);
    let mut journal_error = None;
    let mut errors = Vec::new();
    let mut unslotted = Vec::new();
    for lane in reports {
        for outcome in lane.outcomes {
            let done = match outcome {
                JobOutcome::Ran(done) => done,
                JobOutcome::LaneStopped(unit) => {
                    for (i, a) in unit.allowed() {
                        let e = action_entry(a, Ok(ran(false, "")), &mut errors, &mut None);
                        put(&mut slots, i, e);
                    }
                    continue;
                }
                JobOutcome::NoWorker(unit) => {
                    for (i, a) in unit.allowed() {
                        let result = Ok(ran(false, "no worker thread"));
                        let e = action_entry(a, result, &mut errors, &mut None);
                        put(&mut slots, i, e);
                    }
                    continue;
                }
                JobOutcome::Lost => continue,
            };
            match done {
                UnitDone::Action(i, allowed, result) => {
                    let e = action_entry(*allowed, result, &mut errors, &mut journal_error);
                    put(&mut slots, i, e);
                }
                UnitDone::Rows(Ok(rows)) => {
                    let mut last = None;
                    for row in rows {
                        match row.slot.or(last) {
                            Some(i) => {
                                put(&mut slots, i, row.entry);
                                last = Some(i);
                            }
                            None => unslotted.push(row.entry),
                        }
                    }
                }
                UnitDone::Rows(Err(err)) => {
                    journal_error.get_or_insert(err);
                }
            }
        }
    }
    if let Some(err) = journal_error {
        return Err(err);
    }
    Ok(Dispatched {
        entries: unslotted
            .into_iter()
            .chain(slots.into_iter().flatten())
            .collect(),
        errors,
    })
}

fn put(slots: &mut [Vec<ActionEntry>], i: usize, e: ActionEntry) {
    if let Some(slot) = slots.get_mut(i) {
        slot.push(e);
    }
}

/// The report row of one executed (or skipped) allowed action; operator
/// lines go to `errors`, a journal failure to `journal_error`.
pub(super) fn action_entry(
    allowed: gate::Allowed,
    result: Result<Execution, JournalError>,
    errors: &mut Vec<String>,
    journal_error: &mut Option<JournalError>,
) -> ActionEntry {
    let d = Decision::Allowed(allowed);
    match result {
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
        Ok(Execution::Ran(Executed { detail, .. })) => entry(&d, Outcome::Failed, Some(detail)),
        Ok(Execution::KeptQueued { why }) => kept_queued_entry(&d, &why, errors),
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
    }
}

fn ran(succeeded: bool, detail: &str) -> Execution {
    Execution::Ran(Executed {
        succeeded,
        detail: detail.to_string(),
    })
}

/// The row of a signed op kept queued because PVE would refuse it now
/// (`why`): skipped; its pass error (what, why, until when) goes to
/// `errors`.
fn kept_queued_entry(d: &Decision, why: &str, errors: &mut Vec<String>) -> ActionEntry {
    errors.push(kept_queued_line(d, why));
    entry(
        d,
        Outcome::Skipped,
        Some(format!("kept queued, not started: {why}")),
    )
}

/// The pass error for a signed op kept queued: what, why, until when.
fn kept_queued_line(d: &Decision, why: &str) -> String {
    let a = d.action();
    let (nonce, expires) = d.signed_op().map_or_else(
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

/// The rows of a read-only pass (`--plan`): every decision `planned`,
/// except a signed op PVE would refuse right now, shown as a mutating pass
/// shows it (`skipped`, kept queued, with its error line), so that `--plan`
/// exits as the pass would (CONTRACT §6). Only reads PVE.
pub(super) fn plan_rows(
    decisions: &[Decision],
    actual: &ActualState,
    client: &crate::proxmox::Client,
    errors: &mut Vec<String>,
) -> Vec<ActionEntry> {
    decisions
        .iter()
        .map(|d| {
            let refused = match d {
                Decision::Allowed(a) => {
                    let target = actual.guest_ref(a.action().vmid);
                    super::preflight::for_allowed(client, a, target.as_ref()).err()
                }
                _ => None,
            };
            match refused {
                Some(why) => kept_queued_entry(d, &why, errors),
                None => entry(d, Outcome::Planned, None),
            }
        })
        .collect()
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
