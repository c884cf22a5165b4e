//! `reconcile::engine`: one pass (DESIGN §2a).
//!
//! ```text
//! recover → read actual → read desired → plan (+ creations within bounds)
//!         → verify queued signed ops → gate every action (audit)
//!         → lanes: open transactions first, then allowed actions → report
//! ```
//!
//! Owns: the order of those steps and the pass report.
//! Trusts: the modules it calls, each for its own part.
//!
//! A `Plan` pass runs the same steps on a read-only journal index and stops
//! before execution: it changes nothing and consumes no nonce. An `Execute`
//! pass holds the state lock (the caller's open journal) from recovery to
//! report. Every mutation happens in a lane, after the gate, under the
//! write-ahead protocol of `execute`.

use super::action::{Action, Source};
use super::actual::{self, ActualState};
use super::classify::AgentContext;
use super::desired::{DesiredState, Provider};
use super::dispatch::{LaneWork, class_str, decision_record, entry, execute_allowed};
use super::execute::ExecEnv;
use super::gate::{self, GateContext};
use super::pending::{self, PendingItem};
use super::plan::{self, ActualGuest};
use super::provision;
use super::recover;
use super::report::{Outcome, PassReport};
use super::signed::{self, SignedJob};
use super::txn::TxnContext;
use crate::authz::Signers;
use crate::config::Config;
use crate::journal::{DecisionRecord, Index, Journal, JournalError, Record};
use crate::proxmox::Client;

/// At most this many guests execute at once, so a host with hundreds of
/// guests does not open hundreds of PVE connections in one pass.
pub const MAX_PARALLEL_GUESTS: usize = 8;

/// The journal a pass works on.
pub enum JournalView<'a> {
    /// Mutating pass: the open, locked journal.
    Write(&'a Journal),
    /// Read-only pass (`--plan`, `--pending`): a replayed index.
    Read(Box<Index>),
}

/// What the caller asks of a pass.
pub struct PassInputs<'a> {
    pub config: &'a Config,
    pub client: &'a Client,
    /// The hub said `blocked: true`: refuse every mutation.
    pub blocked: bool,
    /// Called while lanes work (the systemd watchdog).
    pub tick: &'a mut dyn FnMut(),
}

/// A pass's results: the report, the actions awaiting a signature, and
/// the guests as read (for the hub report).
pub struct PassOutput {
    pub report: PassReport,
    pub pending: Vec<PendingItem>,
    pub guests: Vec<ActualGuest>,
    pub generation_applied: Option<u64>,
    /// Whether PVE's guest list was read (false: nothing could be planned).
    pub actual_read: bool,
}

/// Runs one pass with [`MAX_PARALLEL_GUESTS`] lanes. A journal error (a
/// record that cannot be made durable) aborts the pass; the journal module
/// has already stopped the process if the failure was an I/O error.
pub fn run_pass(
    inputs: PassInputs<'_>,
    journal: JournalView<'_>,
) -> Result<PassOutput, JournalError> {
    run_pass_with_lanes(inputs, journal, MAX_PARALLEL_GUESTS)
}

/// [`run_pass`] with at most `max_parallel` (min 1) guests executing at
/// once (the benchmark compares lanes against a single lane).
pub fn run_pass_with_lanes(
    inputs: PassInputs<'_>,
    journal: JournalView<'_>,
    max_parallel: usize,
) -> Result<PassOutput, JournalError> {
    let config = inputs.config;
    let writer = match &journal {
        JournalView::Write(j) => Some(*j),
        JournalView::Read(_) => None,
    };
    let mut report = PassReport::default();
    let mut rec = recover::Recovery::default();
    if let Some(j) = writer {
        rec = recover::recover(j, inputs.client)?;
        report.recovery = rec.counts;
        report.errors.append(&mut rec.notes);
    }
    let index = match &journal {
        JournalView::Write(j) => j.index(),
        JournalView::Read(i) => Index::clone(i),
    };
    let provider = Provider::from_config(config);
    let resolution = match writer {
        Some(_) => provider.resolve(&config.state_dir, index.last_generation),
        None => provider.resolve_read_only(&config.state_dir, index.last_generation),
    };
    report.errors.extend(
        resolution
            .errors
            .iter()
            .map(|e| format!("desired state rejected: {e}")),
    );
    let desired = resolution.in_force;
    report.generation = desired.as_ref().map(DesiredState::generation);
    let actual = match actual::read(inputs.client, desired.as_ref()) {
        Ok(a) => a,
        Err(e) => {
            report
                .errors
                .push(format!("cannot read guests from Proxmox: {e}"));
            let generation_applied = index.last_generation;
            return Ok(PassOutput {
                report,
                pending: Vec::new(),
                guests: Vec::new(),
                generation_applied,
                actual_read: false,
            });
        }
    };
    let signers = Signers::load(&config.authz).unwrap_or_else(|e| {
        report.errors.push(format!(
            "signer files unusable, no signature can verify: {e}"
        ));
        Signers::default()
    });
    let now = crate::time::now_unix();
    let candidates = gather(
        &mut report,
        desired.as_ref(),
        &actual,
        &rec.busy_vmids,
        &index,
        &signers,
        (config, inputs.client),
        now,
        writer,
    )?;
    let ctx = GateContext {
        host_id: &config.host_id,
        blocked: inputs.blocked,
    };
    let mut decisions = Vec::new();
    for (action, op) in candidates {
        // Planned and signed actions belong to no agent transaction, so no
        // provenance can apply to them (only `txn` rolls back its own guest).
        let decision = gate::decide(action, op, AgentContext { transaction: None }, None, &ctx);
        super::audit::record(writer, decision_record(&decision, now))?;
        decisions.push(decision);
    }
    let pending = pending::items(&decisions, &config.host_id, now);
    let lane_work = LaneWork {
        continuations: rec.continuations,
        txn: TxnContext {
            blocked: inputs.blocked,
            generation: report.generation.unwrap_or_default(),
        },
    };
    let entries = match writer {
        Some(j) => execute_allowed(
            decisions,
            lane_work,
            &actual,
            ExecEnv {
                client: inputs.client,
                journal: j,
                config,
            },
            max_parallel,
            inputs.tick,
        )?,
        None => decisions
            .iter()
            .map(|d| entry(d, Outcome::Planned, None))
            .collect(),
    };
    report.actions.extend(entries);
    let mut generation_applied = index.last_generation;
    if let (Some(j), Some(doc)) = (writer, &desired) {
        if index.last_generation.is_none_or(|g| doc.generation() > g) {
            j.append(Record::GenerationApplied {
                generation: doc.generation(),
            })?;
        }
        generation_applied = Some(doc.generation());
        j.compact_if_needed()?;
    }
    Ok(PassOutput {
        report,
        pending,
        guests: actual.all_guests(),
        generation_applied,
        actual_read: true,
    })
}

/// Plans desired-state actions, verifies queued signed ops, and pairs each
/// action with the signed op (if any) offered for it.
#[allow(clippy::too_many_arguments)]
fn gather(
    report: &mut PassReport,
    desired: Option<&DesiredState>,
    actual: &ActualState,
    busy: &std::collections::BTreeSet<u32>,
    index: &Index,
    signers: &Signers,
    (config, client): (&Config, &Client),
    now: i64,
    writer: Option<&Journal>,
) -> Result<Vec<(Action, Option<crate::authz::VerifiedOp>)>, JournalError> {
    let mut planned = Vec::new();
    if let Some(doc) = desired {
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
        let p = plan::plan(&doc, &actual.managed);
        report.add_plan_lists(&p);
        report.unmanaged = actual
            .resources
            .keys()
            .copied()
            .filter(|v| doc.guest(*v).is_none())
            .collect();
        planned = p.actions;
        let creations = provision::select(&doc, actual, index, config, client, now);
        report.missing.retain(|v| !creations.creating.contains(v));
        report.actions.extend(creations.held);
        report.errors.extend(creations.errors);
        planned.extend(creations.actions);
    } else {
        report.unmanaged = actual.resources.keys().copied().collect();
    }
    let in_txn = |vmid: u32| index.transactions.open_on(vmid).is_some();
    planned.retain(|a| {
        if busy.contains(&a.vmid) {
            report.errors.push(format!(
                "guest {}: an earlier operation is still in flight; {} not planned this pass",
                a.vmid,
                a.op.name()
            ));
            return false;
        }
        // An open transaction (resumed or rolled back in this pass's lane)
        // owns its guest: nothing else is planned for it.
        !in_txn(a.vmid)
    });
    let policy = signed::policy(config, now);
    let consumed = |n: &str| index.is_nonce_consumed(n);
    let (jobs, rejections) = signed::verify_queue(signers, &policy, &index.queued, &consumed);
    for r in rejections {
        record_rejection(report, writer, &r, now)?;
    }
    let mut out: Vec<(Action, Option<crate::authz::VerifiedOp>)> = Vec::new();
    let mut jobs: Vec<SignedJob> = jobs;
    for action in planned {
        // A desired-state destructive delta runs only when a signed op binds
        // to exactly it; that op then stands for the action (source: job).
        let bound = jobs
            .iter()
            .position(|j| gate::binds(&j.op, &action, &config.host_id));
        if bound.is_some() {
            continue;
        }
        out.push((action, None));
    }
    jobs.retain(|j| {
        let keep = !busy.contains(&j.action.vmid) && !in_txn(j.action.vmid);
        if !keep {
            report.errors.push(format!(
                "guest {}: signed {} waits for an in-flight operation",
                j.action.vmid,
                j.op.op_name()
            ));
        }
        keep
    });
    out.extend(jobs.into_iter().map(|j| (j.action, Some(j.op))));
    Ok(out)
}

fn record_rejection(
    report: &mut PassReport,
    writer: Option<&Journal>,
    r: &signed::QueueRejection,
    now: i64,
) -> Result<(), JournalError> {
    let code = r.rejected.code();
    let facts = r.rejected.op.as_deref();
    let vmid = facts.and_then(|f| f.guest_id.parse().ok());
    let signer = r.rejected.signer.as_ref();
    super::audit::record(
        writer,
        DecisionRecord {
            decision: "refused".into(),
            op: facts.map_or_else(|| "unknown".into(), |f| f.op.clone()),
            class: facts
                .map_or("destructive", |f| class_str(crate::authz::op_class(&f.op)))
                .into(),
            vmid,
            source: Source::Job.as_str().into(),
            signer: signer.map(|s| s.signer.clone()),
            role: signer.map(|s| s.role.to_string()),
            reason: code.to_string(),
            nonce: Some(r.nonce.clone()),
            at: now,
        },
    )?;
    if r.is_terminal() {
        report.errors.push(format!(
            "queued signed op (nonce {}) rejected: {code}; removed from the queue",
            r.nonce
        ));
        if let Some(j) = writer {
            j.append(Record::OpDequeued {
                nonce: r.nonce.clone(),
                reason: code.to_string(),
            })?;
        }
    } else {
        report.errors.push(format!(
            "queued signed op (nonce {}) not yet acceptable: {code}; kept queued",
            r.nonce
        ));
    }
    Ok(())
}
