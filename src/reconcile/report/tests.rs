use super::*;
use crate::reconcile::action::ActionOp;
use crate::reconcile::plan::Plan;
use serde_json::json;

fn entry(decision: Decision, outcome: Outcome) -> ActionEntry {
    let action = Action {
        vmid: 9001,
        op: ActionOp::GuestDestroy { purge: true },
        source: Source::DesiredState,
    };
    ActionEntry {
        outcome,
        ..ActionEntry::planned(&action, Class::Destructive, decision)
    }
}

#[test]
fn exit_code_follows_contract_precedence() {
    let mut r = PassReport::default();
    assert_eq!(r.exit_code(), exit::OK);
    r.actions.push(entry(Decision::Allowed, Outcome::Succeeded));
    r.actions.push(entry(Decision::Refused, Outcome::Skipped));
    assert_eq!(r.exit_code(), exit::OK);
    r.actions
        .push(entry(Decision::PendingSignature, Outcome::Planned));
    assert_eq!(r.exit_code(), exit::PENDING);
    r.actions.push(entry(Decision::Allowed, Outcome::Failed));
    assert_eq!(r.exit_code(), exit::FAILURE);
    let mut e = PassReport::default();
    e.actions
        .push(entry(Decision::PendingSignature, Outcome::Planned));
    e.errors.push("guest 1 is locked".into());
    assert_eq!(e.exit_code(), exit::FAILURE);
}

#[test]
fn json_document_has_exactly_the_contract_keys() {
    let mut r = PassReport {
        generation: Some(12),
        unmanaged: vec![100],
        missing: vec![9004],
        ..PassReport::default()
    };
    r.actions
        .push(entry(Decision::PendingSignature, Outcome::Planned));
    r.recovery.examined = 2;
    let expected = json!({
        "generation": 12,
        "actions": [{"vmid": 9001, "op": "guest_destroy", "class": "destructive",
            "params": {"purge": true}, "source": "desired_state",
            "decision": "pending_signature", "outcome": "planned", "reason": null}],
        "unmanaged": [100], "missing": [9004], "errors": [],
        "recovery": {"examined": 2, "resolved": 0, "rolled_back": 0, "unresolved": 0}
    });
    assert_eq!(r.to_json(), expected);
    assert_eq!(PassReport::default().to_json()["generation"], Value::Null);
}

#[test]
fn plan_lists_become_report_lists_and_errors() {
    let plan = Plan {
        unmanaged: vec![1, 2],
        missing: vec![3],
        skipped_locked: vec![(4, "backup".into())],
        unknown_power: vec![5],
        ..Plan::default()
    };
    let mut r = PassReport::default();
    r.add_plan_lists(&plan);
    assert_eq!(r.unmanaged, vec![1, 2]);
    assert_eq!(r.missing, vec![3]);
    assert_eq!(r.errors.len(), 2);
    assert!(r.errors[0].contains("guest 4") && r.errors[0].contains("backup"));
    assert!(r.errors[1].contains("guest 5"));
    assert_eq!(r.exit_code(), exit::FAILURE);
}

#[test]
fn missing_alone_does_not_fail_the_pass() {
    let r = PassReport {
        missing: vec![7],
        ..PassReport::default()
    };
    assert_eq!(r.exit_code(), exit::OK);
}

#[test]
fn render_escapes_terminal_control_and_bidi_characters() {
    let mut e = entry(Decision::Allowed, Outcome::Failed);
    e.reason = Some("task failed\x1b[2J\u{202E}evil\nnext".into());
    let r = PassReport {
        actions: vec![e],
        errors: vec!["bad\x07bell".into()],
        missing: vec![9],
        ..PassReport::default()
    };
    let text = r.render();
    assert!(!text.contains('\x1b') && !text.contains('\x07') && !text.contains('\u{202E}'));
    assert!(text.contains("\\u{1b}[2J"));
    assert!(text.contains("guest_destroy") && text.contains("failed"));
    assert!(text.contains("missing: 9"));
    assert_eq!(text.lines().filter(|l| l.starts_with("error: ")).count(), 1);
}

#[test]
fn render_cuts_long_cells() {
    let mut e = entry(Decision::Allowed, Outcome::Failed);
    e.reason = Some("x".repeat(10_000));
    let r = PassReport {
        actions: vec![e],
        ..PassReport::default()
    };
    assert!(r.render().len() < 1000);
}
