use super::*;
use crate::reconcile::action::{Action, ActionOp, Source};
use crate::reconcile::report::{ActionEntry, Class, PassReport};
use serde_json::json;

fn guest(vmid: u32, status: PowerState) -> ActualGuest {
    ActualGuest {
        vmid,
        kind: plan::GuestKind::Lxc,
        name: format!("g{vmid}"),
        status,
        lock: None,
        cores: Some(2),
        memory_mib: Some(512),
        description: Some("web".into()),
        pve: plan::PveFacts::default(),
    }
}

fn entry(vmid: u32, decision: Decision, outcome: Outcome) -> ActionEntry {
    let action = Action {
        vmid,
        op: ActionOp::Start,
        source: Source::DesiredState,
    };
    let mut e = ActionEntry::planned(&action, Class::Benign, decision);
    e.outcome = outcome;
    e
}

fn output(actual_read: bool, guests: Vec<ActualGuest>) -> PassOutput {
    PassOutput {
        report: PassReport {
            actions: vec![
                entry(100, Decision::Allowed, Outcome::Succeeded),
                entry(101, Decision::Allowed, Outcome::Failed),
                entry(102, Decision::PendingSignature, Outcome::Planned),
            ],
            errors: vec!["guest 101 failed".into()],
            ..PassReport::default()
        },
        pending: vec![PendingItem {
            vmid: 102,
            op: "guest_destroy".into(),
            params: json!({"purge": true}),
            blob: "{}".into(),
            sign_command: "sign".into(),
            approvals: 0,
            approvals_required: 1,
        }],
        guests,
        generation_applied: Some(7),
        actual_read,
    }
}

#[test]
fn the_report_carries_guests_spec_in_bytes_pending_and_pass_counts() {
    let mut state = ReportState::at_start(Some(3));
    state.record_pass(&output(true, vec![guest(100, PowerState::Running)]), 0);
    let doc = serde_json::to_value(state.host_report("h1", 86_400)).unwrap();
    assert_eq!(doc["host_id"], "h1");
    assert_eq!(doc["agent_version"], AGENT_VERSION);
    assert_eq!(doc["reported_at"], "1970-01-02T00:00:00Z");
    assert_eq!(doc["desired_generation_applied"], 7);
    assert_eq!(
        doc["guests"][0],
        json!({"vmid": 100, "kind": "lxc", "name": "g100", "status": "running",
               "spec": {"cores": 2, "memory_bytes": 536_870_912u64, "description": "web"}})
    );
    assert_eq!(doc["pending"][0]["op"], "guest_destroy");
    assert_eq!(doc["pending"][0]["params"], json!({"purge": true}));
    assert_eq!(
        doc["last_pass"],
        json!({"at": "1970-01-01T00:00:00Z", "actions": 3, "failed": 1, "pending": 1})
    );
}

#[test]
fn before_the_first_pass_the_report_has_the_journal_generation_and_no_pass() {
    let doc = serde_json::to_value(ReportState::at_start(Some(5)).host_report("h", 0)).unwrap();
    assert_eq!(doc["desired_generation_applied"], 5);
    assert_eq!(doc["last_pass"], serde_json::Value::Null);
    // Not read yet is not "no guests".
    assert_eq!(doc["guests"], serde_json::Value::Null);
}

#[test]
fn the_start_up_read_lists_the_guests_until_a_pass_reads_them_again() {
    let mut state = ReportState::at_start(None);
    state.record_start_guests(&[]);
    assert_eq!(
        serde_json::to_value(state.host_report("h", 0)).unwrap()["guests"],
        json!([]),
        "a node read as empty is reported as empty"
    );
    let mut state = ReportState::at_start(None);
    let mut listed = guest(100, PowerState::Running);
    listed.cores = None;
    state.record_start_guests(&[listed]);
    assert_eq!(state.guests.as_ref().unwrap()[0].spec.cores, None);
    state.record_pass(&output(true, vec![guest(100, PowerState::Stopped)]), 0);
    state.record_start_guests(&[]);
    let guests = state.guests.as_ref().unwrap();
    assert_eq!(guests[0].spec.cores, Some(2), "the pass's read is newer");
    assert_eq!(guests[0].status, GuestStatus::Stopped);
}

#[test]
fn a_pass_that_cannot_read_pve_before_any_read_leaves_the_guests_unknown() {
    let mut state = ReportState::at_start(None);
    state.record_pass(&output(false, Vec::new()), 0);
    assert_eq!(state.guests, None);
    let doc = serde_json::to_value(state.host_report("h", 0)).unwrap();
    assert_eq!(doc["guests"], serde_json::Value::Null);
}

#[test]
fn an_unreadable_pve_keeps_the_known_guests_with_unknown_status() {
    let mut state = ReportState::default();
    state.record_pass(&output(true, vec![guest(100, PowerState::Running)]), 0);
    state.record_pass(&output(false, Vec::new()), 60);
    let guests = state.guests.as_ref().unwrap();
    assert_eq!(guests.len(), 1);
    assert_eq!(guests[0].status, GuestStatus::Unknown);
    assert_eq!(guests[0].spec.cores, Some(2));
}

#[test]
fn values_that_do_not_fit_are_reported_as_unknown_not_wrapped() {
    let mut g = guest(100, PowerState::Stopped);
    g.cores = Some(u64::from(u32::MAX) + 1);
    g.memory_mib = Some(u64::MAX / 1024);
    let r = guest_report(&g);
    assert_eq!(r.spec.cores, None);
    assert_eq!(r.spec.memory_bytes, None);
    assert_eq!(r.status, GuestStatus::Stopped);
}

#[test]
fn the_status_line_summarizes_the_pass_and_the_hub() {
    let mut state = ReportState::default();
    assert_eq!(state.status_line(false, None), "started; no pass yet");
    state.record_pass(&output(true, Vec::new()), 0);
    let line = state.status_line(true, Some("hub unreachable"));
    assert_eq!(
        line,
        "last pass 1970-01-01T00:00:00Z: 3 actions, 1 failed, 1 pending signature, 1 errors; \
         generation 7; blocked by the hub; hub unreachable"
    );
}

#[test]
fn the_status_line_and_the_report_name_actions_waiting_for_more_approvals() {
    let mut out = output(true, Vec::new());
    out.pending[0].approvals = 1;
    out.pending[0].approvals_required = 2;
    let mut state = ReportState::default();
    state.record_pass(&out, 0);
    let line = state.status_line(false, None);
    assert!(
        line.ends_with("; awaiting approvals: guest_destroy 102: 1 of 2 approvals"),
        "{line}"
    );
    let doc = serde_json::to_value(state.host_report("h1", 0)).unwrap();
    assert_eq!(doc["pending"][0]["approvals"], 1);
    assert_eq!(doc["pending"][0]["approvals_required"], 2);
}
