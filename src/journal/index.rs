//! `journal::index`: the live state the journal's records add up to.
//!
//! Owns: replaying records into an [`Index`] and writing an index back out as
//! the records a compacted file holds. Trusts: the records (they passed the
//! frame checks).
//!
//! Invariants and choices:
//! - In flight = an `Intent` with no `Outcome` yet (`upid` once `TaskStarted`).
//! - An idempotency key is *applied* only when its intent's outcome is
//!   `succeeded`; a failed action is re-planned by the next pass. While its
//!   intent is in flight the key is [`KeyState::InFlight`].
//! - A consumed nonce is kept until its expiry has passed, and pruned only by
//!   compaction (never during replay), so a restart never forgets one early.
//!   What compaction forgets it also bounds: `nonces_pruned_before` is above
//!   the expiry of every nonce ever pruned, never decreases, and survives
//!   compaction, so a clock that steps back after a prune cannot make a
//!   forgotten nonce look unconsumed ([`Index::may_have_forgotten`]).
//! - A decision that is not `allowed` *stands* until a `DecisionLapsed`
//!   for it: the same decision made again (every field but `at` equal) is
//!   already in the live state. Standing decisions are live state (kept by
//!   compaction, with the time each was first made).
//! - An applied key outlives compaction only while it can come around
//!   again. A signed op's key is its nonce: kept exactly as long as that
//!   nonce is. A desired-state action's key is its process-unique op id,
//!   which no later action can carry (the next pass re-plans from the actual
//!   state, DESIGN §5), so compaction drops it with the closed intent; the
//!   live state then stays bounded by retained nonces, not by every action
//!   ever applied.
//! - Queued ops keep arrival order; an `OpQueued` whose nonce is consumed is
//!   not queued, and consuming a queued op's nonce removes it.
//! - An `ApprovalAdded` adds its signature to the queued op of its nonce
//!   (arrival order; a signature already held, or an op not queued, changes
//!   nothing). The writer (`reconcile::queue`) keeps at most
//!   `authz::MAX_HELD_SIGNATURES` per op, so the queue's live state stays
//!   bounded; approvals leave with their op.
//! - `TaskStarted`/`Outcome` for an op id not in flight change nothing.
//! - Provenance and retry holds are the transactions' ([`super::txn`]); a
//!   succeeded `guest_destroy` outcome ends any provenance on its vmid.
//! - `live_records` replays into an index equal to this one, minus nonces
//!   expired at its `now`, applied keys that are not retained nonces, and
//!   retry holds past their hour (and with `nonces_pruned_before` raised
//!   above the nonces it dropped).

use super::record::{DecisionRecord, OutcomeKind, Record};
use super::txn::Transactions;
use std::collections::{BTreeMap, HashSet};

/// An op whose intent is durable and whose outcome is not.
#[derive(Debug, Clone, PartialEq)]
pub struct InFlight {
    pub vmid: u32,
    pub op: String,
    pub params: serde_json::Value,
    pub source: String,
    pub idempotency_key: String,
    pub nonce: Option<String>,
    pub upid: Option<String>,
    /// When the intent was written (Unix seconds); `None` for intents
    /// journaled before the time was recorded.
    pub since: Option<i64>,
}

/// A verified signed op waiting for a pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedOp {
    pub nonce: String,
    pub blob: String,
    /// The signature it was queued with, and where it came from.
    pub sig: String,
    pub source: String,
    pub expires_at: i64,
    /// Signatures added since (`ApprovalAdded`), in arrival order.
    pub added: Vec<AddedApproval>,
}

/// A further signature over a queued op's blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddedApproval {
    pub sig: String,
    pub source: String,
}

impl QueuedOp {
    /// Every signature held for the blob, the first one first.
    pub fn signatures(&self) -> Vec<&[u8]> {
        std::iter::once(self.sig.as_bytes())
            .chain(self.added.iter().map(|a| a.sig.as_bytes()))
            .collect()
    }

    /// How many signatures it holds.
    pub fn held(&self) -> usize {
        self.added.len().saturating_add(1)
    }
}

/// Where an idempotency key stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyState {
    Unknown,
    InFlight,
    Applied,
}

/// The replayed live state.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Index {
    /// By op id.
    pub in_flight: BTreeMap<String, InFlight>,
    /// Applied idempotency keys: the index's largest set (one per action
    /// applied since the last compaction), so a hash set (replay inserts
    /// each in O(1); keys share long prefixes, which makes ordered
    /// comparison slow). Compaction keeps the retained nonces among them,
    /// sorted.
    pub applied_keys: HashSet<String>,
    /// Nonce -> (expires_at, op_id).
    pub consumed_nonces: BTreeMap<String, (i64, String)>,
    /// Provisioning transactions: open ones (with their provenance) and
    /// retry holds.
    pub transactions: Transactions,
    pub last_generation: Option<u64>,
    /// Arrival order.
    pub queued: Vec<QueuedOp>,
    /// The operational signer file's lines after the last rotation, and the
    /// rotation's nonce.
    pub signers: Option<(Vec<String>, String)>,
    /// Decisions that stand (not `allowed`), keyed by the record with `at`
    /// zero; the value is the `at` of the record that made it stand.
    pub standing: BTreeMap<DecisionRecord, i64>,
    /// Every consumed nonce compaction forgot expired before this (0: none
    /// forgotten).
    pub nonces_pruned_before: i64,
    /// Records replayed from the current file (after compaction, its records).
    pub records: u64,
}

impl Index {
    pub fn is_nonce_consumed(&self, nonce: &str) -> bool {
        self.consumed_nonces.contains_key(nonce)
    }

    pub fn is_queued(&self, nonce: &str) -> bool {
        self.queued.iter().any(|q| q.nonce == nonce)
    }

    /// Whether a blob expiring at `expires_at` may carry a nonce that was
    /// consumed and then forgotten by compaction (stage 9 treats it as a
    /// replay).
    pub fn may_have_forgotten(&self, expires_at: i64) -> bool {
        expires_at < self.nonces_pruned_before
    }

    /// When `record` (its `at` aside) started to stand, if it does.
    pub fn standing_since(&self, record: &DecisionRecord) -> Option<i64> {
        self.standing.get(&standing_key(record.clone()).0).copied()
    }

    pub fn key_state(&self, key: &str) -> KeyState {
        if self.applied_keys.contains(key) {
            KeyState::Applied
        } else if self.in_flight.values().any(|f| f.idempotency_key == key) {
            KeyState::InFlight
        } else {
            KeyState::Unknown
        }
    }

    /// Created by the agent in transaction `transaction`, which is still
    /// open (the only provenance there is).
    pub fn created_in(&self, vmid: u32, transaction: &str) -> bool {
        self.transactions
            .provenance(transaction)
            .is_some_and(|p| p.vmid == vmid)
    }

    /// Folds one record in (replay and append use the same code).
    pub fn apply(&mut self, record: Record) {
        self.records = self.records.saturating_add(1);
        match record {
            Record::Intent {
                op_id,
                vmid,
                op,
                params,
                source,
                idempotency_key,
                nonce,
                at,
            } => {
                let flight = InFlight {
                    vmid,
                    op,
                    params,
                    source,
                    idempotency_key,
                    nonce,
                    upid: None,
                    since: at,
                };
                self.in_flight.insert(op_id, flight);
            }
            Record::TaskStarted { op_id, upid } => {
                if let Some(f) = self.in_flight.get_mut(&op_id) {
                    f.upid = Some(upid);
                }
            }
            Record::Outcome { op_id, outcome, .. } => {
                if let Some(f) = self.in_flight.remove(&op_id)
                    && outcome == OutcomeKind::Succeeded
                {
                    if f.op == "guest_destroy" {
                        self.transactions.guest_destroyed(f.vmid);
                    }
                    self.applied_keys.insert(f.idempotency_key);
                }
            }
            Record::KeyApplied { idempotency_key } => {
                self.applied_keys.insert(idempotency_key);
            }
            Record::NonceConsumed {
                nonce,
                expires_at,
                op_id,
            } => {
                self.queued.retain(|q| q.nonce != nonce);
                self.consumed_nonces.insert(nonce, (expires_at, op_id));
            }
            Record::Decision(d) => {
                if d.decision != "allowed" {
                    let (key, at) = standing_key(d);
                    self.standing.entry(key).or_insert(at);
                }
            }
            Record::DecisionLapsed(d) => {
                self.standing.remove(&standing_key(d).0);
            }
            Record::NoncesPruned { expiring_before } => {
                self.nonces_pruned_before = self.nonces_pruned_before.max(expiring_before);
            }
            // Legacy provenance confers nothing (see `Record::Provenance`).
            Record::Provenance { .. } => {}
            txn @ (Record::TxnBegin { .. }
            | Record::TxnCreated { .. }
            | Record::TxnAbort { .. }
            | Record::TxnEnd { .. }) => self.transactions.apply(txn),
            Record::GenerationApplied { generation } => self.last_generation = Some(generation),
            Record::OpQueued {
                nonce,
                blob,
                sig,
                source,
                expires_at,
            } => {
                if !self.consumed_nonces.contains_key(&nonce) && !self.is_queued(&nonce) {
                    self.queued.push(QueuedOp {
                        nonce,
                        blob,
                        sig,
                        source,
                        expires_at,
                        added: Vec::new(),
                    });
                }
            }
            Record::ApprovalAdded { nonce, sig, source } => {
                if let Some(q) = self.queued.iter_mut().find(|q| q.nonce == nonce)
                    && q.sig != sig
                    && !q.added.iter().any(|a| a.sig == sig)
                {
                    q.added.push(AddedApproval { sig, source });
                }
            }
            Record::OpDequeued { nonce, .. } => self.queued.retain(|q| q.nonce != nonce),
            Record::SignersRotated { lines, nonce } => self.signers = Some((lines, nonce)),
        }
    }

    /// The records a compacted file holds: this state, with nonces whose
    /// expiry is before `now` dropped, and applied keys kept only while they
    /// are such a retained nonce.
    pub fn live_records(&self, now: i64) -> Vec<Record> {
        let mut out = Vec::new();
        let mut pruned_before = self.nonces_pruned_before;
        for (nonce, (expires_at, op_id)) in &self.consumed_nonces {
            if *expires_at >= now {
                out.push(Record::NonceConsumed {
                    nonce: nonce.clone(),
                    expires_at: *expires_at,
                    op_id: op_id.clone(),
                });
            } else {
                pruned_before = pruned_before.max(expires_at.saturating_add(1));
            }
        }
        if pruned_before > 0 {
            out.insert(
                0,
                Record::NoncesPruned {
                    expiring_before: pruned_before,
                },
            );
        }
        let retained = |k: &&String| {
            self.consumed_nonces
                .get(k.as_str())
                .is_some_and(|(expires_at, _)| *expires_at >= now)
        };
        let mut keys: Vec<&String> = self.applied_keys.iter().filter(retained).collect();
        keys.sort_unstable();
        out.extend(keys.into_iter().map(|k| Record::KeyApplied {
            idempotency_key: k.clone(),
        }));
        for (op_id, f) in &self.in_flight {
            out.push(Record::Intent {
                op_id: op_id.clone(),
                vmid: f.vmid,
                op: f.op.clone(),
                params: f.params.clone(),
                source: f.source.clone(),
                idempotency_key: f.idempotency_key.clone(),
                nonce: f.nonce.clone(),
                at: f.since,
            });
            if let Some(upid) = &f.upid {
                out.push(Record::TaskStarted {
                    op_id: op_id.clone(),
                    upid: upid.clone(),
                });
            }
        }
        out.extend(self.transactions.live_records(now));
        if let Some(generation) = self.last_generation {
            out.push(Record::GenerationApplied { generation });
        }
        for q in &self.queued {
            out.push(Record::OpQueued {
                nonce: q.nonce.clone(),
                blob: q.blob.clone(),
                sig: q.sig.clone(),
                source: q.source.clone(),
                expires_at: q.expires_at,
            });
            out.extend(q.added.iter().map(|a| Record::ApprovalAdded {
                nonce: q.nonce.clone(),
                sig: a.sig.clone(),
                source: a.source.clone(),
            }));
        }
        if let Some((lines, nonce)) = &self.signers {
            out.push(Record::SignersRotated {
                lines: lines.clone(),
                nonce: nonce.clone(),
            });
        }
        out.extend(self.standing.iter().map(|(key, at)| {
            let mut d = key.clone();
            d.at = *at;
            Record::Decision(d)
        }));
        out
    }
}

/// The key of a standing decision (the record with `at` zero) and its `at`.
pub fn standing_key(mut record: DecisionRecord) -> (DecisionRecord, i64) {
    let at = record.at;
    record.at = 0;
    (record, at)
}

#[cfg(test)]
mod tests;
