#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use super::*;

fn replayed(records: Vec<Record>) -> Index {
    let mut index = Index::default();
    for r in records {
        index.apply(r);
    }
    index
}

fn consumed(nonce: &str, expires_at: i64) -> Record {
    Record::NonceConsumed {
        nonce: nonce.into(),
        expires_at,
        op_id: format!("op-{nonce}"),
    }
}

fn decision(decision: &str, vmid: u32, at: i64) -> DecisionRecord {
    DecisionRecord {
        decision: decision.into(),
        op: "guest_destroy".into(),
        class: "destructive".into(),
        vmid: Some(vmid),
        source: "desired_state".into(),
        signer: None,
        role: None,
        reason: "destructive: awaiting an operator signature".into(),
        nonce: None,
        at,
    }
}

#[test]
fn what_compaction_forgets_stays_refused_whatever_the_clock_does_later() {
    let index = replayed(vec![consumed("a", 1_000), consumed("b", 5_000)]);
    assert!(!index.may_have_forgotten(1_000));
    // The clock reads 2_000 at compaction: `a` is forgotten, `b` kept.
    let compacted = replayed(index.live_records(2_000));
    assert!(!compacted.is_nonce_consumed("a"));
    assert!(compacted.is_nonce_consumed("b"));
    assert!(compacted.may_have_forgotten(1_000), "a's blob is refused");
    assert!(!compacted.may_have_forgotten(1_001));
    // A later compaction with the clock stepped back lowers nothing.
    let again = replayed(compacted.live_records(500));
    assert_eq!(again.nonces_pruned_before, 1_001);
    assert!(again.is_nonce_consumed("b"));
    // One far ahead forgets `b` too and raises the bound past it, only.
    let ahead = replayed(again.live_records(1_000_000));
    assert_eq!(ahead.nonces_pruned_before, 5_001);
    assert!(ahead.may_have_forgotten(5_000));
    assert!(!ahead.may_have_forgotten(5_001));
}

#[test]
fn a_journal_that_never_pruned_refuses_nothing_for_its_expiry() {
    let index = replayed(vec![consumed("a", 1_000)]);
    let kept = replayed(index.live_records(0));
    assert_eq!(kept.nonces_pruned_before, 0);
    assert!(!kept.may_have_forgotten(1));
    assert!(
        !kept
            .live_records(0)
            .iter()
            .any(|r| matches!(r, Record::NoncesPruned { .. }))
    );
}

#[test]
fn a_refusal_or_pending_decision_stands_until_it_lapses_and_survives_compaction() {
    let mut index = replayed(vec![
        Record::Decision(decision("pending_signature", 1, 10)),
        Record::Decision(decision("pending_signature", 1, 20)),
        Record::Decision(decision("allowed", 2, 10)),
    ]);
    assert!(index.standing_since(&decision("pending_signature", 1, 99)) == Some(10));
    assert!(
        index.standing_since(&decision("allowed", 2, 10)).is_none(),
        "allowed never stands"
    );
    assert!(
        index
            .standing_since(&decision("pending_signature", 3, 10))
            .is_none()
    );
    let compacted = replayed(index.live_records(0));
    assert_eq!(compacted.standing, index.standing);
    assert_eq!(
        compacted.standing.values().copied().collect::<Vec<_>>(),
        [10],
        "first made at 10"
    );
    index.apply(Record::DecisionLapsed(decision("pending_signature", 1, 30)));
    assert!(
        index
            .standing_since(&decision("pending_signature", 1, 10))
            .is_none()
    );
    assert!(index.standing.is_empty());
}
