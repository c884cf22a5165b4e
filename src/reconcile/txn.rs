//! `reconcile::txn`: a creation as one journaled transaction (CONTRACT §10,
//! DESIGN §5a), its compensating rollback, and its recovery after a crash.
//!
//! Owns: the transaction records (`txn_begin`, `txn_created`, `txn_abort`,
//! `txn_end`), the order of a creation's steps, and the only code path that
//! asks the gate for an unsigned destroy.
//! Trusts: the gate (every step is an [`Allowed`] from `gate::decide`), the
//! journal (provenance), PVE task status (a create is ours only once the
//! task *we* started, by its UPID, ended `OK`).
//!
//! ```text
//! txn_begin ─→ create: intent → POST → task id → wait → txn_created(upid) → outcome
//!                                     (provenance, only now; before the outcome)
//!           ─→ set_config: intent → ... → outcome      (if the entry asks)
//!           ─→ start:      intent → ... → outcome      (if `running`)
//!           ─→ txn_end(committed)
//! a step after the create fails:
//!           ─→ txn_abort ─→ gate: guest_destroy, source agent, in this txn
//!           ─→ [hard stop: intent → ... → outcome] ─→ destroy(purge) ─→ txn_end(rolled_back)
//! ```
//!
//! Invariants (the security argument):
//! - Provenance is written only after the create task whose UPID this
//!   transaction journaled was seen ending `OK`. A create whose call failed
//!   leaves none; a create whose outcome is unknown (no task id journaled,
//!   the answer lost) leaves none. Without it the gate classifies the
//!   compensating destroy as destructive, so it is never executed unsigned.
//! - Provenance lasts while the transaction is open: once committed, the
//!   guest is ordinary and data-bearing (its destroy needs a signature);
//!   once rolled back, it is gone. A reused vmid starts a new transaction.
//! - Before the compensating destroy, the guest is checked to still be the
//!   one this transaction created (this node, this kind, this name); if not,
//!   it is left alone and reported `unresolved`.
//! - Each PVE call is written ahead (intent first, task id as soon as it
//!   is known) and never repeated blindly: an unknown outcome leaves the
//!   transaction open for recovery ([`recover`]), which runs before any
//!   other action may touch that guest.
//! - After a rollback the vmid is held back until the desired-state
//!   generation changes or `journal::RETRY_HOLD_SECONDS` pass.

mod recover;
mod resume;
mod rollback;
mod step;

pub use recover::{Continuation, recover_transactions};
pub use resume::run_continuation;
use step::{Step, journaled_create, journaled_step};

use super::action::ActionOp;
use super::dispatch::action_entry;
use super::dispatch::entry;
use super::execute::{self, ExecEnv, Executed, Execution};
use super::gate::{Allowed, Decision, RefusalReason};
use super::report::{ActionEntry, Outcome};
use super::verify_now::NotNow;
use crate::journal::txn::step_op_id;
use crate::journal::{JournalError, Record, TxnEndKind};
use crate::proxmox::{GuestRef, Kind, LxcCreate, QemuClone, TaskOutcome};
use crate::reconcile::desired::CreateSpec;
use std::sync::atomic::{AtomicU64, Ordering};

static TXN_SEQ: AtomicU64 = AtomicU64::new(0);

/// What a transaction needs besides the executor's environment (PVE
/// client, journal, audit, the hub's `blocked` flag).
#[derive(Debug, Clone, Copy)]
pub struct TxnContext {
    /// The desired-state generation the creation was planned from.
    pub generation: u64,
}

/// One report row a transaction produced; `slot` is the index of the gated
/// decision it reports (none for a step decided inside the transaction).
#[derive(Debug)]
pub struct Row {
    pub slot: Option<usize>,
    pub entry: ActionEntry,
}

/// A process-unique transaction id: `txn-{time}-{pid}-{seq}-{vmid}`.
fn new_txn_id(vmid: u32) -> String {
    let seq = TXN_SEQ.fetch_add(1, Ordering::Relaxed);
    format!(
        "txn-{}-{}-{seq}-{vmid}",
        crate::time::now_unix(),
        std::process::id()
    )
}

/// A step name unique within its transaction (a step may run again when a
/// transaction is resumed after a restart).
fn step_name(step: &str) -> String {
    let seq = TXN_SEQ.fetch_add(1, Ordering::Relaxed);
    format!("{step}-{}-{seq}", std::process::id())
}

/// The address of the guest a spec creates on this node.
fn guest_ref(env: &ExecEnv<'_>, vmid: u32, spec: &CreateSpec) -> GuestRef {
    GuestRef {
        vmid,
        node: env.client.node().to_string(),
        kind: match spec {
            CreateSpec::Lxc(_) => Kind::Lxc,
            CreateSpec::Qemu(_) => Kind::Qemu,
        },
    }
}

/// Runs one creation: `steps` are the gate's allowed `create` action
/// followed by its `set_config` and `start` (if planned), each with the
/// index of its report slot.
pub fn run_creation(
    env: &ExecEnv<'_>,
    ctx: TxnContext,
    steps: Vec<(usize, Allowed)>,
) -> Result<Vec<Row>, JournalError> {
    let mut steps = steps.into_iter();
    let Some((create_slot, create)) = steps.next() else {
        return Ok(Vec::new());
    };
    let ActionOp::Create(spec) = create.action().op.clone() else {
        return Ok(vec![row(
            Some(create_slot),
            create,
            Outcome::Failed,
            "not a creation",
        )]);
    };
    let follow: Vec<(usize, Allowed)> = steps.collect();
    if (env.blocked)() {
        // The hub blocked after the gate: nothing is sent, the refusal is
        // audited like any other at the moment of running.
        let not_now = NotNow::Refused(RefusalReason::Blocked);
        let not_started = execute::not_started(env, &create, &not_now)?;
        let mut rows = vec![not_started_row(Some(create_slot), create, not_started)];
        for (slot, a) in follow {
            rows.push(row(
                Some(slot),
                a,
                Outcome::Skipped,
                "the creation did not start",
            ));
        }
        return Ok(rows);
    }
    let vmid = create.action().vmid;
    let txn = new_txn_id(vmid);
    let config = follow.iter().find_map(|(_, a)| match &a.action().op {
        op @ ActionOp::SetConfig { .. } => Some(op.params()),
        _ => None,
    });
    let start = follow
        .iter()
        .any(|(_, a)| matches!(a.action().op, ActionOp::Start));
    env.journal.append(Record::TxnBegin {
        txn: txn.clone(),
        vmid,
        create: spec.to_value(),
        config,
        start,
        generation: ctx.generation,
        at: crate::time::now_unix(),
    })?;
    let created = create_step(env, &txn, vmid, &spec)?;
    let mut rows = Vec::new();
    let detail = match &created {
        Created::Ok(outcome) => format!("transaction {txn}: task {}", outcome.exitstatus),
        Created::Failed(why) | Created::Unknown(why) => format!("transaction {txn}: {why}"),
    };
    let ok = matches!(created, Created::Ok(_));
    let outcome = if ok {
        Outcome::Succeeded
    } else {
        Outcome::Failed
    };
    rows.push(row(Some(create_slot), create, outcome, &detail));
    if !ok {
        for (slot, a) in follow {
            rows.push(row(
                Some(slot),
                a,
                Outcome::Skipped,
                "the create did not succeed",
            ));
        }
        return Ok(rows);
    }
    let guest = guest_ref(env, vmid, &spec);
    let mut follow = follow.into_iter();
    while let Some((slot, allowed)) = follow.next() {
        let name = allowed.action().op.name();
        let step = step_op_id(&txn, &step_name(name));
        let result = match execute::execute(env, &allowed, Some(&guest), &step)? {
            Execution::Ran(result) => result,
            not_started => {
                // The hub blocked meanwhile: nothing was sent; the
                // transaction stays open and is resumed once allowed.
                rows.push(not_started_row(Some(slot), allowed, not_started));
                for (slot, a) in follow.by_ref() {
                    rows.push(row(
                        Some(slot),
                        a,
                        Outcome::Skipped,
                        "the transaction waits",
                    ));
                }
                return Ok(rows);
            }
        };
        let failed = !result.succeeded;
        rows.push(executed_row(Some(slot), allowed, &result));
        if failed {
            for (slot, a) in follow.by_ref() {
                rows.push(row(
                    Some(slot),
                    a,
                    Outcome::Skipped,
                    "an earlier step failed",
                ));
            }
            let why = format!("{name} failed: {}", result.detail);
            rows.extend(rollback::roll_back(env, ctx, &txn, vmid, &spec, &why)?);
            return Ok(rows);
        }
    }
    end(
        env,
        &txn,
        vmid,
        TxnEndKind::Committed,
        ctx.generation,
        "created as planned",
    )?;
    Ok(rows)
}

/// How the create step ended.
enum Created {
    /// The task this transaction started ended `OK`; provenance is journaled.
    Ok(TaskOutcome),
    /// PVE refused the call, or the task failed: nothing of ours exists.
    Failed(String),
    /// The outcome is not known (answer lost, task still running): the
    /// transaction stays open and recovery resolves it.
    Unknown(String),
}

/// The create call and its task; provenance once the task ended `OK`.
fn create_step(
    env: &ExecEnv<'_>,
    txn: &str,
    vmid: u32,
    spec: &CreateSpec,
) -> Result<Created, JournalError> {
    let op_id = step_op_id(txn, "create");
    let c = env.client;
    let step = journaled_create(env, txn, &op_id, vmid, spec.to_value(), || match spec {
        CreateSpec::Lxc(l) => c.create_lxc(&LxcCreate {
            vmid,
            hostname: l.name.clone(),
            ostemplate: l.ostemplate.clone(),
            storage: l.storage.clone(),
            disk_gib: l.disk_gib,
            unprivileged: l.unprivileged(),
            net0: l.net0.clone(),
        }),
        CreateSpec::Qemu(q) => c.clone_qemu(&QemuClone {
            template: q.clone,
            newid: vmid,
            name: q.name.clone(),
            full: q.full(),
            storage: q.storage.clone(),
        }),
    })?;
    match step {
        // Provenance was journaled by the step, before its outcome.
        Step::Done(done) => Ok(Created::Ok(done)),
        Step::Unknown(why) => Ok(Created::Unknown(why)),
        Step::Failed(e) => {
            // PVE removes a guest whose create failed; one that exists now
            // is not provably ours either way.
            let exists = rollback::find_guest(env, vmid).ok().flatten().is_some();
            let (end, why) = if exists {
                (
                    TxnEndKind::Unresolved,
                    format!(
                        "create failed ({e}) and a guest with vmid {vmid} exists: not provably \
                         created by this agent, never destroyed by it; unresolved, left to the operator"
                    ),
                )
            } else {
                (
                    TxnEndKind::Failed,
                    format!("create failed, nothing was created: {e}"),
                )
            };
            close(env, txn, vmid, end, &why)?;
            Ok(Created::Failed(why))
        }
    }
}

/// Closes a transaction whose generation is read from the journal.
fn close(
    env: &ExecEnv<'_>,
    txn: &str,
    vmid: u32,
    end: TxnEndKind,
    detail: &str,
) -> Result<(), JournalError> {
    let generation = env
        .journal
        .with_index(|i| i.transactions.open.get(txn).map(|t| t.generation))
        .unwrap_or_default();
    self::end(env, txn, vmid, end, generation, detail)
}

fn end(
    env: &ExecEnv<'_>,
    txn: &str,
    vmid: u32,
    end: TxnEndKind,
    generation: u64,
    detail: &str,
) -> Result<(), JournalError> {
    log::info!("transaction {txn} (guest {vmid}) ended {end:?}: {detail}");
    env.journal.append(Record::TxnEnd {
        txn: txn.to_string(),
        vmid,
        end,
        generation,
        at: crate::time::now_unix(),
        detail: detail.to_string(),
    })?;
    Ok(())
}

fn row(slot: Option<usize>, allowed: Allowed, outcome: Outcome, detail: &str) -> Row {
    Row {
        slot,
        entry: entry(
            &Decision::Allowed(allowed),
            outcome,
            Some(detail.to_string()),
        ),
    }
}

/// The row of a step the executor did not start (the hub blocked).
fn not_started_row(slot: Option<usize>, allowed: Allowed, not_started: Execution) -> Row {
    Row {
        slot,
        entry: action_entry(allowed, Ok(not_started), &mut Vec::new(), &mut None),
    }
}

fn executed_row(slot: Option<usize>, allowed: Allowed, result: &Executed) -> Row {
    let outcome = if result.succeeded {
        Outcome::Succeeded
    } else {
        Outcome::Failed
    };
    row(slot, allowed, outcome, &result.detail)
}
