//! `reconcile::engine`: one pass (DESIGN §2a).
//!
//! ```text
//! recover → read desired and actual state
//!   → rotation barrier: queued key_rotations verified, gated (audit) and run
//!     one at a time, in arrival order
//!   → plan (+ creations within the provisioning bounds); verify the rest of
//!     the queue against the signer files as the rotations left them; gate
//!     every action (audit)
//!   → lanes: open transactions first (recovery's continuations), then the
//!     allowed actions (each signed op verified again as it starts; each
//!     creation one transaction)
//!   → lapse decisions no longer made; record the generation; compact → report
//! ```
//!
//! Owns: the order of those steps and the pass report.
//! Trusts: the modules it calls, each for its own part.
//!
//! The rotation barrier (CONTRACT §4, "a key_rotation takes effect for
//! every op that runs after it commits, in the same pass included"): every
//! queued `key_rotation` runs before anything else of the pass is even
//! verified, alone (one lane), each one verified again at its turn against
//! the files the previous one left. Everything else — ops queued before a
//! rotation as well as behind it — is verified only after the last
//! rotation committed, so a key a rotation removed can never run anything
//! afterwards. (Verifying ops queued before a rotation against the new
//! files is the stricter reading; a revoked key's op then waits as
//! `unknown_signer` until it expires.) Each op is verified once more at the
//! moment it runs (`verify_now`), so an op that expired while it waited for
//! its lane is `expired`.
//!
//! A `Plan` pass runs the same steps on a read-only journal index and stops
//! before execution: it changes nothing and consumes no nonce (rotations
//! are not applied, so it shows the queue against the files as they are).
//! An `Execute` pass holds the state lock (the caller's open journal) from
//! recovery to report. Every mutation happens in a lane, after the gate,
//! under the write-ahead protocol of `execute`.
//!
//! Before planning, the fields PVE keeps reading back differently after
//! two writes are left out of the desired state and reported
//! ([`super::converge`]); the gate sees what PVE reports about each target
//! ([`ActualState::facts`]); an `Execute` pass records its successful config
//! writes in the read-back memory and saves it (`readback.json`).

use super::action::Action;
use super::actual::{self, ActualState};
use super::audit::PassAudit;
use super::candidates::{self, Candidate};
use super::classify::AgentContext;
use super::converge::{self, Readback};
use super::desired::{DesiredState, Provider};
use super::dispatch::{LaneWork, decision_record, execute_allowed, plan_rows};
use super::execute::ExecEnv;
use super::gate::{self, Decision, GateContext};
use super::pending::{self, PendingItem};
use super::plan::ActualGuest;
use super::provision;
use super::recover::{self, Recovery};
use super::report::{Outcome, PassReport};
use super::signed;
use super::txn::{Continuation, TxnContext};
use crate::authz::Signers;
use crate::config::Config;
use crate::journal::{Index, Journal, JournalError, QueuedOp, Record};
use crate::proxmox::Client;
use std::collections::BTreeSet;

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

impl JournalView<'_> {
    fn writer(&self) -> Option<&Journal> {
        match self {
            JournalView::Write(j) => Some(j),
            JournalView::Read(_) => None,
        }
    }

    /// Runs `f` on the index as it is now (a mutating pass's changes
    /// included).
    fn with_index<R>(&self, f: impl FnOnce(&Index) -> R) -> R {
        match self {
            JournalView::Write(j) => j.with_index(f),
            JournalView::Read(i) => f(i),
        }
    }
}

/// What the caller asks of a pass.
pub struct PassInputs<'a> {
    pub config: &'a Config,
    pub client: &'a Client,
    /// Whether the hub says `blocked: true` now. Read by the gate and by
    /// every lane before each mutation, so a block that arrives during a
    /// long pass stops every mutation not yet started.
    pub blocked: &'a (dyn Fn() -> bool + Sync),
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
    let writer = journal.writer();
    let mut report = PassReport::default();
    // 1. Recover what a previous run left in flight; open transactions
    //    come back as continuations for their lanes.
    let Recovery {
        busy_vmids: mut busy,
        continuations,
        ..
    } = recover_step(writer, inputs.client, config, &mut report)?;
    // 2. Read the desired and the actual state.
    let last_generation = journal.with_index(|i| i.last_generation);
    let desired = read_desired(config, writer, last_generation, &mut report);
    report.generation = desired.as_ref().map(DesiredState::generation);
    let actual = match actual::read(inputs.client, desired.as_ref()) {
        Ok(a) => a,
        Err(e) => {
            report
                .errors
                .push(format!("cannot read guests from Proxmox: {e}"));
            return Ok(PassOutput {
                report,
                pending: Vec::new(),
                guests: Vec::new(),
                generation_applied: last_generation,
                actual_read: false,
            });
        }
    };
    let audit = PassAudit::new(writer);
    let mut pass = Pass {
        config,
        client: inputs.client,
        blocked: inputs.blocked,
        tick: inputs.tick,
        journal: &journal,
        audit: &audit,
        actual: &actual,
        report,
    };
    // 3. The rotation barrier: key_rotations first, alone, in queue order.
    let rotations = pass.verify_queue(signed::is_before_barrier)?;
    let decisions = pass.gate(
        rotations
            .into_iter()
            .map(|j| (j.action, Some(j.approvals)))
            .collect(),
    )?;
    // A rotation that waits for more approvals (CONTRACT §11) is listed
    // for signing like any other pending action.
    let mut pending = pending::items(&decisions, &config.host_id, crate::time::now_unix());
    pass.execute(decisions, Vec::new(), 1)?;
    // 4. Everything else, verified against the files the rotations left.
    let mut readback = Readback::load(&config.state_dir);
    let planned = candidates::plan(&mut pass.report, desired.as_ref(), &actual, &mut readback);
    let planned = pass.provision(planned, desired.as_ref(), &mut busy);
    let jobs = pass.verify_queue(|q| !signed::is_before_barrier(q))?;
    let offered = candidates::pair(&mut pass.report, planned, jobs, &busy, &config.host_id);
    let decisions = pass.gate(offered)?;
    let now = crate::time::now_unix();
    pending.extend(pending::items(&decisions, &config.host_id, now));
    // 5. Execute what is allowed, in lanes.
    pass.execute(decisions, continuations, max_parallel)?;
    // 6. Close the pass.
    let report = pass.report;
    if writer.is_some() {
        remember_writes(&mut readback, &report, &config.state_dir);
    }
    audit.finish(crate::time::now_unix())?;
    let generation_applied = finish_journal(writer, desired.as_ref(), last_generation)?;
    Ok(PassOutput {
        report,
        pending,
        guests: actual.all_guests(),
        generation_applied,
        actual_read: true,
    })
}

/// The state one pass's steps share.
struct Pass<'p, 'a> {
    config: &'a Config,
    client: &'a Client,
    blocked: &'a (dyn Fn() -> bool + Sync),
    tick: &'a mut dyn FnMut(),
    journal: &'p JournalView<'a>,
    audit: &'p PassAudit<'a>,
    actual: &'p ActualState,
    report: PassReport,
}

impl Pass<'_, '_> {
    /// Verifies the queued ops `which` selects against the signer files as
    /// they are now; settles the rejected ones (audit, dequeue if terminal).
    fn verify_queue(
        &mut self,
        which: impl Fn(&QueuedOp) -> bool,
    ) -> Result<Vec<signed::SignedJob>, JournalError> {
        let queue: Vec<QueuedOp> = self
            .journal
            .with_index(|i| i.queued.iter().filter(|q| which(q)).cloned().collect());
        if queue.is_empty() {
            return Ok(Vec::new());
        }
        let signers = Signers::load(&self.config.authz).unwrap_or_else(|e| {
            let line = format!("signer files unusable, no signature can verify: {e}");
            if !self.report.errors.contains(&line) {
                self.report.errors.push(line);
            }
            Signers::default()
        });
        let (jobs, rejections) = self
            .journal
            .with_index(|index| signed::verify_queue(&signers, self.config, index, &queue));
        let now = crate::time::now_unix();
        for r in rejections {
            let line = signed::settle_rejection(self.audit, self.journal.writer(), &r, None, now)?;
            self.report.errors.push(line);
        }
        Ok(jobs)
    }

    /// Adds this pass's creations (within the config's provisioning
    /// bounds) to `planned`. A guest an open transaction owns gets nothing
    /// else this pass (its continuation runs first in its lane): its planned
    /// actions are left out, and its signed ops wait (`busy`).
    fn provision(
        &mut self,
        mut planned: Vec<Action>,
        desired: Option<&DesiredState>,
        busy: &mut BTreeSet<u32>,
    ) -> Vec<Action> {
        let transactions = self.journal.with_index(|i| i.transactions.clone());
        let owned: BTreeSet<u32> = transactions.open.values().map(|t| t.vmid).collect();
        planned.retain(|a| !owned.contains(&a.vmid));
        busy.extend(owned);
        let Some(doc) = desired else {
            return planned;
        };
        let now = crate::time::now_unix();
        let creations = provision::select(
            doc,
            self.actual,
            &transactions,
            self.config,
            self.client,
            now,
        );
        self.report
            .missing
            .retain(|v| !creations.creating.contains(v));
        self.report.actions.extend(creations.held);
        self.report.errors.extend(creations.errors);
        planned.extend(creations.actions);
        planned
    }

    /// Gates each candidate and audits the decision.
    fn gate(&mut self, candidates: Vec<Candidate>) -> Result<Vec<Decision>, JournalError> {
        let ctx = GateContext {
            host_id: &self.config.host_id,
            blocked: (self.blocked)(),
            approvals: &self.config.authz.approvals,
        };
        let now = crate::time::now_unix();
        let mut decisions = Vec::new();
        for (action, op) in candidates {
            // Planned and signed actions belong to no agent transaction, so
            // no provenance can apply to them (only `txn` rolls back its own
            // guest).
            let guest = self.actual.facts(action.vmid);
            let decision = gate::decide(
                action,
                op,
                AgentContext { transaction: None },
                None,
                guest,
                &ctx,
            );
            self.audit.record(decision_record(&decision, now))?;
            decisions.push(decision);
        }
        Ok(decisions)
    }

    /// Runs the allowed decisions in lanes, after the `continuations` of
    /// open transactions (a mutating pass), or reports them as planned;
    /// appends their rows to the report.
    fn execute(
        &mut self,
        decisions: Vec<Decision>,
        continuations: Vec<Continuation>,
        lanes: usize,
    ) -> Result<(), JournalError> {
        if decisions.is_empty() && continuations.is_empty() {
            return Ok(());
        }
        let Some(journal) = self.journal.writer() else {
            let rows = plan_rows(
                &decisions,
                self.actual,
                self.client,
                &mut self.report.errors,
            );
            self.report.actions.extend(rows);
            return Ok(());
        };
        let env = ExecEnv {
            client: self.client,
            journal,
            config: self.config,
            audit: self.audit,
            blocked: self.blocked,
        };
        let work = LaneWork {
            continuations,
            txn: TxnContext {
                generation: self.report.generation.unwrap_or_default(),
            },
        };
        let done = execute_allowed(decisions, work, self.actual, env, lanes, self.tick)?;
        self.report.actions.extend(done.entries);
        self.report.errors.extend(done.errors);
        Ok(())
    }
}

/// Records this pass's successful config writes in the read-back memory
/// and saves it; a save that fails costs at most writes, so it is logged.
fn remember_writes(readback: &mut Readback, report: &PassReport, state_dir: &std::path::Path) {
    for e in &report.actions {
        if e.op == "set_config" && e.outcome == Outcome::Succeeded {
            readback.wrote(e.vmid, &e.params);
        }
    }
    if let Err(e) = readback.save(state_dir) {
        log::warn!("{}: {e}", converge::READBACK_FILE);
    }
}

/// Recovery (mutating passes only): its counts and notes go to the report;
/// returns the guests whose earlier operation is still in flight and the
/// open transactions to resume or roll back.
fn recover_step(
    writer: Option<&Journal>,
    client: &Client,
    config: &Config,
    report: &mut PassReport,
) -> Result<Recovery, JournalError> {
    let Some(j) = writer else {
        return Ok(Recovery::default());
    };
    let mut rec = recover::recover(j, client, config)?;
    report.recovery = rec.counts;
    report.errors.append(&mut rec.notes);
    Ok(rec)
}

/// The desired state in force; a rejected document is reported.
fn read_desired(
    config: &Config,
    writer: Option<&Journal>,
    last_generation: Option<u64>,
    report: &mut PassReport,
) -> Option<DesiredState> {
    let provider = Provider::from_config(config);
    let resolution = match writer {
        Some(_) => provider.resolve(&config.state_dir, last_generation),
        None => provider.resolve_read_only(&config.state_dir, last_generation),
    };
    report.errors.extend(
        resolution
            .errors
            .iter()
            .map(|e| format!("desired state rejected: {e}")),
    );
    resolution.in_force
}

/// Records a newer generation and compacts the journal when it has grown
/// past its bound. Returns the generation applied.
fn finish_journal(
    writer: Option<&Journal>,
    desired: Option<&DesiredState>,
    last_generation: Option<u64>,
) -> Result<Option<u64>, JournalError> {
    let mut applied = last_generation;
    let Some(j) = writer else {
        return Ok(applied);
    };
    if let Some(doc) = desired {
        if applied.is_none_or(|g| doc.generation() > g) {
            j.append(Record::GenerationApplied {
                generation: doc.generation(),
            })?;
        }
        applied = Some(doc.generation());
    }
    j.compact_if_needed()?;
    Ok(applied)
}
