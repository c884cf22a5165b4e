//! `reconcile::candidates`: what a pass offers the gate, after the rotation
//! barrier: the planned desired-state actions, each paired with the signed
//! op (if any) that authorizes it, and the signed ops from the queue.
//!
//! Owns: the plan step of a pass and the pairing rules.
//! Trusts: `plan` for the diff, `signed` for the queue's verification (done
//! by the caller against the signer files as they are after the barrier).
//!
//! Rules:
//! - a desired-state destructive delta runs only when a signed op binds to
//!   exactly it; that op then stands for the action (source `job`);
//! - nothing is planned, and no signed op offered, for a guest whose
//!   earlier operation is still in flight (recovery left it unresolved).

use super::action::Action;
use super::actual::ActualState;
use super::converge::{self, Readback};
use super::desired::DesiredState;
use super::gate;
use super::plan;
use super::report::PassReport;
use super::signed::SignedJob;
use crate::authz::Approvals;
use std::collections::BTreeSet;

/// An action for the gate, with the signed op (its approvals) offered for it.
pub type Candidate = (Action, Option<Approvals>);

/// Plans `desired` against `actual` (guests with an unreadable config are
/// skipped and reported; fields that do not converge, per `readback`, are
/// left out and reported) and fills the report's plan lists.
pub fn plan(
    report: &mut PassReport,
    desired: Option<&DesiredState>,
    actual: &ActualState,
    readback: &mut Readback,
) -> Vec<Action> {
    let Some(doc) = desired else {
        report.unmanaged = actual.resources.keys().copied().collect();
        return Vec::new();
    };
    for (vmid, why) in &actual.unreadable {
        report
            .errors
            .push(format!("guest {vmid}: config unreadable ({why}); skipped"));
    }
    let readable: Vec<_> = doc
        .guests()
        .iter()
        .filter(|g| !actual.unreadable.iter().any(|(v, _)| *v == g.vmid))
        .cloned()
        .collect();
    let doc = DesiredState::new(doc.generation(), readable).unwrap_or_else(|_| doc.clone());
    let unread: Vec<u32> = actual.unreadable.iter().map(|(v, _)| *v).collect();
    let stuck = readback.observe(&doc, &actual.managed, &unread);
    report
        .errors
        .extend(stuck.iter().map(converge::Stuck::message));
    let doc = converge::without_stuck(&doc, &stuck);
    let p = plan::plan(&doc, &actual.managed);
    report.add_plan_lists(&p);
    report.unmanaged = actual
        .resources
        .keys()
        .copied()
        .filter(|v| doc.guest(*v).is_none())
        .collect();
    p.actions
}

/// Pairs `planned` with `jobs` (verified signed ops) for the gate, leaving
/// out what touches a `busy` guest.
pub fn pair(
    report: &mut PassReport,
    planned: Vec<Action>,
    mut jobs: Vec<SignedJob>,
    busy: &BTreeSet<u32>,
    host_id: &str,
) -> Vec<Candidate> {
    let mut out: Vec<Candidate> = Vec::new();
    for action in planned {
        if busy.contains(&action.vmid) {
            report.errors.push(format!(
                "guest {}: an earlier operation is still in flight; {} not planned this pass",
                action.vmid,
                action.op.name()
            ));
            continue;
        }
        if jobs.iter().any(|j| gate::binds(j.op(), &action, host_id)) {
            continue;
        }
        out.push((action, None));
    }
    jobs.retain(|j| {
        let keep = !busy.contains(&j.action.vmid);
        if !keep {
            report.errors.push(format!(
                "guest {}: signed {} waits for an in-flight operation",
                j.action.vmid,
                j.op().op_name()
            ));
        }
        keep
    });
    out.extend(jobs.into_iter().map(|j| (j.action, Some(j.approvals))));
    out
}
