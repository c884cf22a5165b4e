//! Property test of the classifier over journal histories: for random
//! sequences of journal records (transactions begun, creates seen
//! succeeding or left unknown, commits, rollbacks, destroys, vmid reuse,
//! legacy provenance records, compactions), a `guest_destroy` is benign
//! exactly when an open transaction of this agent created this very guest,
//! and the destroy is asked for in that transaction.
//!
//! The journal side is the real index (`Index::apply`, `live_records` +
//! replay for compaction); the reference is a small model written from the
//! rule itself.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "support/rng.rs"]
mod rng;

use felhom_agent::authz::OpClass;
use felhom_agent::journal::txn::step_op_id;
use felhom_agent::journal::{Index, OutcomeKind, ProvenanceKind, Record, TxnEndKind};
use felhom_agent::reconcile::classify::{AgentContext, GuestFacts, classify};
use std::collections::BTreeMap;

const VMIDS: [u32; 3] = [9100, 9101, 9102];
const HISTORIES: usize = 400;

/// `true` once in `n`.
fn chance(rng: &mut rng::Rng, n: usize) -> bool {
    rng.below(n) == 0
}
const STEPS: usize = 60;

/// The rule, as a model: open transactions and whether each still holds
/// the guest it created.
#[derive(Default)]
struct Model {
    open: BTreeMap<String, (u32, bool)>,
}

impl Model {
    fn benign(&self, vmid: u32, txn: Option<&str>) -> bool {
        txn.and_then(|t| self.open.get(t)) == Some(&(vmid, true))
    }
}

struct History {
    index: Index,
    model: Model,
    txns: Vec<String>,
    seq: u64,
}

impl History {
    fn apply(&mut self, r: Record) {
        self.index.apply(r);
    }

    fn op(&mut self, op_id: &str, vmid: u32, op: &str, outcome: Option<OutcomeKind>) {
        self.apply(Record::Intent {
            op_id: op_id.into(),
            vmid,
            op: op.into(),
            params: serde_json::json!({}),
            source: "agent".into(),
            idempotency_key: op_id.into(),
            nonce: None,
            at: None,
        });
        self.apply(Record::TaskStarted {
            op_id: op_id.into(),
            upid: format!("UPID:{op_id}"),
        });
        if let Some(outcome) = outcome {
            self.apply(Record::Outcome {
                op_id: op_id.into(),
                outcome,
                detail: String::new(),
            });
        }
    }

    fn end(&mut self, txn: &str, vmid: u32, end: TxnEndKind) {
        self.apply(Record::TxnEnd {
            txn: txn.into(),
            vmid,
            end,
            generation: 1,
            at: 1_700_000_000,
            detail: String::new(),
        });
        self.model.open.remove(txn);
    }

    fn step(&mut self, rng: &mut rng::Rng) {
        self.seq += 1;
        let vmid = VMIDS[rng.below(VMIDS.len())];
        let open: Vec<(String, u32)> = self
            .model
            .open
            .iter()
            .map(|(t, (v, _))| (t.clone(), *v))
            .collect();
        let pick = (!open.is_empty()).then(|| open[rng.below(open.len())].clone());
        match (rng.below(9), pick) {
            // A transaction begins (the same vmid again is reuse).
            (0 | 1, _) => {
                let txn = format!("txn-{}-{vmid}", self.seq);
                self.apply(Record::TxnBegin {
                    txn: txn.clone(),
                    vmid,
                    create: serde_json::json!({"kind": "lxc"}),
                    config: None,
                    start: true,
                    generation: 1,
                    at: 1_700_000_000,
                });
                self.model.open.insert(txn.clone(), (vmid, false));
                self.txns.push(txn);
            }
            // Its create task seen succeeding: provenance.
            (2, Some((txn, v))) => {
                let op_id = step_op_id(&txn, "create");
                self.op(&op_id, v, "create", Some(OutcomeKind::Succeeded));
                self.apply(Record::TxnCreated {
                    txn: txn.clone(),
                    upid: format!("UPID:{op_id}"),
                });
                self.model.open.get_mut(&txn).unwrap().1 = true;
            }
            // A create whose outcome stays unknown, or failed: no provenance.
            (3, Some((txn, v))) => {
                let op_id = step_op_id(&txn, &format!("create-{}", self.seq));
                let outcome = chance(rng, 2).then_some(OutcomeKind::Failed);
                self.op(&op_id, v, "create", outcome);
            }
            (4, Some((txn, v))) => self.end(&txn, v, TxnEndKind::Committed),
            // The compensating rollback: its destroy, then the end.
            (5, Some((txn, v))) => {
                let op_id = step_op_id(&txn, &format!("destroy-{}", self.seq));
                let done = chance(rng, 3);
                let outcome = if done {
                    OutcomeKind::Succeeded
                } else {
                    OutcomeKind::Failed
                };
                self.op(&op_id, v, "guest_destroy", Some(outcome));
                if done {
                    for t in self.model.open.values_mut().filter(|t| t.0 == v) {
                        t.1 = false;
                    }
                    self.end(&txn, v, TxnEndKind::RolledBack);
                }
            }
            // Any destroy of the vmid (a signed one) that succeeded or not.
            (6, _) => {
                let done = chance(rng, 2);
                let outcome = if done {
                    OutcomeKind::Succeeded
                } else {
                    OutcomeKind::Failed
                };
                self.op(
                    &format!("op-{}", self.seq),
                    vmid,
                    "guest_destroy",
                    Some(outcome),
                );
                if done {
                    for t in self.model.open.values_mut().filter(|t| t.0 == vmid) {
                        t.1 = false;
                    }
                }
            }
            // Legacy vmid-keyed provenance naming any transaction: nothing.
            (7, _) => {
                let txn = self.txns.last().cloned().unwrap_or_default();
                self.apply(Record::Provenance {
                    vmid,
                    kind: if chance(rng, 2) {
                        ProvenanceKind::Created
                    } else {
                        ProvenanceKind::Scratch
                    },
                    transaction: txn,
                });
            }
            // Compaction: the live state, replayed.
            (8, _) => {
                let mut compacted = Index::default();
                for r in self.index.live_records(1_700_000_000) {
                    compacted.apply(r);
                }
                self.index = compacted;
            }
            // A step needing an open transaction when none is: an end of
            // an unknown transaction, which changes nothing.
            (_, None) => self.end("txn-unknown", vmid, TxnEndKind::Failed),
            (_, Some(_)) => unreachable!(),
        }
    }

    fn check(&self) {
        let mut contexts: Vec<Option<&str>> = vec![None];
        contexts.extend(self.txns.iter().map(|t| Some(t.as_str())));
        for vmid in VMIDS {
            for ctx in &contexts {
                let provenance = ctx.and_then(|t| self.index.transactions.provenance(t));
                let class = classify(
                    "guest_destroy",
                    vmid,
                    AgentContext { transaction: *ctx },
                    provenance.as_ref(),
                    GuestFacts::default(),
                );
                let want = self.model.benign(vmid, *ctx);
                assert_eq!(
                    class == OpClass::Benign,
                    want,
                    "vmid {vmid}, transaction {ctx:?}: index {:?}",
                    self.index.transactions
                );
                assert_eq!(self.index.created_in(vmid, ctx.unwrap_or("")), want);
            }
        }
        assert_eq!(
            self.index.transactions.open.keys().collect::<Vec<_>>(),
            self.model.open.keys().collect::<Vec<_>>(),
            "closed transactions leave the live state"
        );
    }
}

#[test]
fn a_destroy_is_benign_exactly_when_an_open_transaction_of_the_agent_created_that_very_guest() {
    let mut rng = rng::Rng(0x005e_ed0f_7a7e);
    let mut benign_seen = 0;
    for _ in 0..HISTORIES {
        let mut h = History {
            index: Index::default(),
            model: Model::default(),
            txns: Vec::new(),
            seq: 0,
        };
        for _ in 0..STEPS {
            h.step(&mut rng);
            h.check();
            benign_seen += h.model.open.values().filter(|t| t.1).count();
        }
    }
    // The histories reach the interesting states, not only the trivial ones.
    assert!(benign_seen > 1000, "{benign_seen}");
}
