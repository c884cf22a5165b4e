//! `daemon::report`: what the agent tells the hub (CONTRACT §7 HostReport),
//! built from the last reconcile pass, and the one-line systemd `STATUS=`.
//!
//! Owns: [`ReportState`], the part of the report that changes per pass.
//! Trusts: the pass output (the agent's own reading of PVE).
//!
//! Rules:
//! - `guests`: every guest the last read found on this node, managed or
//!   not (the start-up read, then every pass's). `null` until a read
//!   succeeded: an empty list means the node has no guest, never "not read
//!   yet" (CONTRACT §7). When a pass could not read PVE at all, the guests
//!   of the last successful read are reported with `status: "unknown"`
//!   (they most likely still exist; their state is not known), rather than
//!   an empty list that would read as "every guest vanished".
//! - `spec.memory_bytes` is MiB × 1048576; a value that does not fit, or a
//!   core count above `u32::MAX`, is reported as `null` (unknown).
//! - `pending` lists the pass's `pending_signature` actions as `--pending`
//!   does, each with a ready-to-sign blob and its approvals (CONTRACT §11).
//! - `STATUS=` names every action that waits for more approvals:
//!   `guest_destroy 9001: 1 of 2 approvals`.
//! - `last_pass.actions` counts every gated action; `failed` those whose
//!   outcome is `failed`; `pending` those awaiting a signature.

use crate::hub::{
    AGENT_VERSION, GuestKind, GuestReport, GuestSpec, GuestStatus, HostReport, PassSummary,
    PendingApproval,
};
use crate::reconcile::engine::PassOutput;
use crate::reconcile::pending::PendingItem;
use crate::reconcile::plan::{self, ActualGuest, PowerState};
use crate::reconcile::report::{Decision, Outcome};

const MIB: u64 = 1024 * 1024;

/// The report's per-pass part.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReportState {
    /// `None` until the node's guests were read.
    pub guests: Option<Vec<GuestReport>>,
    pub generation_applied: Option<u64>,
    pub pending: Vec<PendingApproval>,
    pub last_pass: Option<PassSummary>,
    /// Errors of the last pass (for `STATUS=` and the log; the HostReport
    /// has no field for them).
    pub errors: usize,
}

impl ReportState {
    /// Before the first pass: only the generation recorded in the journal.
    pub fn at_start(generation_applied: Option<u64>) -> ReportState {
        ReportState {
            generation_applied,
            ..ReportState::default()
        }
    }

    /// Folds in a finished pass that ran at `at` (Unix seconds).
    pub fn record_pass(&mut self, out: &PassOutput, at: i64) {
        let actions = &out.report.actions;
        let count = |f: &dyn Fn(&&crate::reconcile::report::ActionEntry) -> bool| {
            u64::try_from(actions.iter().filter(f).count()).unwrap_or(u64::MAX)
        };
        self.last_pass = Some(PassSummary {
            at: crate::time::format_rfc3339(at),
            actions: u64::try_from(actions.len()).unwrap_or(u64::MAX),
            failed: count(&|a| a.outcome == Outcome::Failed),
            pending: count(&|a| a.decision == Decision::PendingSignature),
        });
        self.generation_applied = out.generation_applied;
        self.pending = out.pending.iter().map(pending_approval).collect();
        self.errors = out.report.errors.len();
        if out.actual_read {
            self.guests = Some(out.guests.iter().map(guest_report).collect());
        } else {
            for g in self.guests.iter_mut().flatten() {
                g.status = GuestStatus::Unknown;
            }
        }
    }

    /// Folds in the start-up read of the node's guests (the resource list
    /// alone: specs the list does not carry stay `null` until a pass reads
    /// the managed guests' configs). A pass's read is newer: kept.
    pub fn record_start_guests(&mut self, guests: &[ActualGuest]) {
        if self.guests.is_none() {
            self.guests = Some(guests.iter().map(guest_report).collect());
        }
    }

    /// The full report as of `now` (Unix seconds).
    pub fn host_report(&self, host_id: &str, now: i64) -> HostReport {
        HostReport {
            host_id: host_id.to_string(),
            agent_version: AGENT_VERSION.to_string(),
            reported_at: crate::time::format_rfc3339(now),
            guests: self.guests.clone(),
            desired_generation_applied: self.generation_applied,
            pending: self.pending.clone(),
            last_pass: self.last_pass.clone(),
        }
    }

    /// The `STATUS=` line: the last pass in one line.
    pub fn status_line(&self, blocked: bool, hub_note: Option<&str>) -> String {
        let mut line = match &self.last_pass {
            None => "started; no pass yet".to_string(),
            Some(p) => format!(
                "last pass {}: {} actions, {} failed, {} pending signature, {} errors; \
                 generation {}",
                p.at,
                p.actions,
                p.failed,
                p.pending,
                self.errors,
                self.generation_applied
                    .map_or_else(|| "none".to_string(), |g| g.to_string())
            ),
        };
        let waiting: Vec<String> = self
            .pending
            .iter()
            .filter(|p| p.approvals > 0 || p.approvals_required > 1)
            .map(|p| {
                format!(
                    "{} {}: {} of {} approvals",
                    p.op, p.vmid, p.approvals, p.approvals_required
                )
            })
            .collect();
        if !waiting.is_empty() {
            line.push_str("; awaiting approvals: ");
            line.push_str(&waiting.join(", "));
        }
        if blocked {
            line.push_str("; blocked by the hub");
        }
        if let Some(note) = hub_note {
            line.push_str("; ");
            line.push_str(note);
        }
        line
    }
}

fn pending_approval(p: &PendingItem) -> PendingApproval {
    PendingApproval {
        vmid: p.vmid,
        op: p.op.clone(),
        params: p.params.clone(),
        blob: p.blob.clone(),
        sign_command: p.sign_command.clone(),
        approvals: p.approvals,
        approvals_required: p.approvals_required,
    }
}

fn guest_report(g: &ActualGuest) -> GuestReport {
    GuestReport {
        vmid: g.vmid,
        kind: match g.kind {
            plan::GuestKind::Qemu => GuestKind::Qemu,
            plan::GuestKind::Lxc => GuestKind::Lxc,
        },
        name: g.name.clone(),
        status: match g.status {
            PowerState::Running => GuestStatus::Running,
            PowerState::Stopped => GuestStatus::Stopped,
            PowerState::Unknown => GuestStatus::Unknown,
        },
        spec: GuestSpec {
            cores: g.cores.and_then(|c| u32::try_from(c).ok()),
            memory_bytes: g.memory_mib.and_then(|m| m.checked_mul(MIB)),
            description: g.description.clone(),
        },
    }
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
mod tests;
