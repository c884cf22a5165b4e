//! `journal::txn`: what the journal says about provisioning transactions
//! (DESIGN §5a): the open ones, the provenance they hold, and the retry
//! holds that compensating rollbacks leave behind.
//!
//! Owns: the transaction part of the [`super::Index`], its replay and its
//! compacted form. Trusts: the records (they passed the frame checks).
//!
//! Records (see `record.rs` for the wire form):
//! - `txn_begin`: a transaction for one vmid, with its whole plan (the
//!   create object, the config to write, whether to start), written before
//!   the create intent.
//! - `txn_created {txn, upid}`: the create task `upid`, started by this
//!   transaction, was seen ending `OK`. This is the only provenance there is.
//! - `txn_abort {txn, reason}`: the transaction is being rolled back.
//! - `txn_end {txn, vmid, end, generation, at, detail}`: closes it.
//!
//! Invariants:
//! - Provenance belongs to one open transaction of one vmid. It is gone
//!   when the transaction ends (committed: the guest is an ordinary,
//!   data-bearing guest; rolled back: it was destroyed), and when a
//!   `guest_destroy` of that vmid succeeds while the transaction is still
//!   open (the guest it named no longer exists). A vmid used again starts
//!   a new transaction with none.
//! - `txn_created` for a transaction that is not open changes nothing;
//!   nothing but these records can create provenance (the legacy
//!   vmid-keyed `provenance` record is decoded and ignored).
//! - Live state is bounded: closed transactions are dropped at once; a
//!   retry hold is kept by compaction only for [`RETRY_HOLD_SECONDS`].
//! - Steps of a transaction are ordinary intents whose op id is
//!   `{txn}/{step}` ([`step_op_id`]), so in-flight tracking, task ids and
//!   outcomes work as for every other mutation.

use super::record::{Record, TxnEndKind};
use serde_json::Value;
use std::collections::BTreeMap;

/// After a compensating rollback, the same vmid is not created again until
/// the desired-state generation changes or this long has passed.
pub const RETRY_HOLD_SECONDS: i64 = 3600;

/// An open transaction, as its records say.
#[derive(Debug, Clone, PartialEq)]
pub struct OpenTxn {
    pub vmid: u32,
    /// The `create` object (CONTRACT §10) as planned.
    pub create: Value,
    /// The `set_config` params to write after the create, if any.
    pub config: Option<Value>,
    pub start: bool,
    pub generation: u64,
    pub at: i64,
    /// The create task's UPID once it was seen succeeding (provenance).
    pub created: Option<String>,
    /// Why it is being rolled back, once it is.
    pub aborting: Option<String>,
}

/// A vmid held back after a compensating rollback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryHold {
    pub txn: String,
    pub generation: u64,
    pub at: i64,
    pub detail: String,
}

impl RetryHold {
    /// Whether the hold still applies to a document of `generation` at `now`.
    pub fn holds(&self, generation: u64, now: i64) -> bool {
        self.generation == generation && now < self.at.saturating_add(RETRY_HOLD_SECONDS)
    }
}

/// What makes a destroy benign: this transaction created this guest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provenance {
    pub txn: String,
    pub vmid: u32,
    /// The create task seen succeeding.
    pub upid: String,
}

/// The transaction part of the index.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Transactions {
    /// By transaction id.
    pub open: BTreeMap<String, OpenTxn>,
    /// By vmid: the last compensating rollback.
    pub holds: BTreeMap<u32, RetryHold>,
}

/// The op id of step `step` of transaction `txn`.
pub fn step_op_id(txn: &str, step: &str) -> String {
    format!("{txn}/{step}")
}

/// The transaction an op id belongs to, if it is a step's.
pub fn txn_of_op(op_id: &str) -> Option<&str> {
    op_id.split_once('/').map(|(txn, _)| txn)
}

impl Transactions {
    /// The provenance transaction `txn` holds, if it is open and its create
    /// was seen succeeding.
    pub fn provenance(&self, txn: &str) -> Option<Provenance> {
        let t = self.open.get(txn)?;
        t.created.as_ref().map(|upid| Provenance {
            txn: txn.to_string(),
            vmid: t.vmid,
            upid: upid.clone(),
        })
    }

    /// The open transaction on `vmid`, if any.
    pub fn open_on(&self, vmid: u32) -> Option<(&str, &OpenTxn)> {
        self.open
            .iter()
            .find(|(_, t)| t.vmid == vmid)
            .map(|(id, t)| (id.as_str(), t))
    }

    /// Whether `op_id` is a step of an open transaction.
    pub fn owns_op(&self, op_id: &str) -> bool {
        txn_of_op(op_id).is_some_and(|t| self.open.contains_key(t))
    }

    /// A `guest_destroy` of `vmid` succeeded: whatever an open transaction
    /// created there is gone.
    pub(super) fn guest_destroyed(&mut self, vmid: u32) {
        for t in self.open.values_mut().filter(|t| t.vmid == vmid) {
            t.created = None;
        }
    }

    /// Folds in one transaction record; other records are ignored.
    pub(super) fn apply(&mut self, record: Record) {
        match record {
            Record::TxnBegin {
                txn,
                vmid,
                create,
                config,
                start,
                generation,
                at,
            } => {
                self.open.insert(
                    txn,
                    OpenTxn {
                        vmid,
                        create,
                        config,
                        start,
                        generation,
                        at,
                        created: None,
                        aborting: None,
                    },
                );
            }
            Record::TxnCreated { txn, upid } => {
                if let Some(t) = self.open.get_mut(&txn) {
                    t.created = Some(upid);
                }
            }
            Record::TxnAbort { txn, reason } => {
                if let Some(t) = self.open.get_mut(&txn) {
                    t.aborting = Some(reason);
                }
            }
            Record::TxnEnd {
                txn,
                vmid,
                end,
                generation,
                at,
                detail,
            } => {
                self.open.remove(&txn);
                match end {
                    TxnEndKind::RolledBack => {
                        let hold = RetryHold {
                            txn,
                            generation,
                            at,
                            detail,
                        };
                        self.holds.insert(vmid, hold);
                    }
                    TxnEndKind::Committed => {
                        self.holds.remove(&vmid);
                    }
                    TxnEndKind::Failed | TxnEndKind::Unresolved => {}
                }
            }
            _ => {}
        }
    }

    /// The records a compacted journal holds for this state at `now`.
    pub(super) fn live_records(&self, now: i64) -> Vec<Record> {
        let mut out = Vec::new();
        for (vmid, h) in &self.holds {
            if now < h.at.saturating_add(RETRY_HOLD_SECONDS) {
                out.push(Record::TxnEnd {
                    txn: h.txn.clone(),
                    vmid: *vmid,
                    end: TxnEndKind::RolledBack,
                    generation: h.generation,
                    at: h.at,
                    detail: h.detail.clone(),
                });
            }
        }
        for (txn, t) in &self.open {
            out.push(Record::TxnBegin {
                txn: txn.clone(),
                vmid: t.vmid,
                create: t.create.clone(),
                config: t.config.clone(),
                start: t.start,
                generation: t.generation,
                at: t.at,
            });
            if let Some(upid) = &t.created {
                out.push(Record::TxnCreated {
                    txn: txn.clone(),
                    upid: upid.clone(),
                });
            }
            if let Some(reason) = &t.aborting {
                out.push(Record::TxnAbort {
                    txn: txn.clone(),
                    reason: reason.clone(),
                });
            }
        }
        out
    }
}
