use super::files::*;
use super::*;
use crate::reconcile::action::{Action, ActionOp, Source};
use crate::reconcile::pending::PendingItem;
use crate::reconcile::plan::{ActualGuest, GuestKind, PowerState, PveFacts};
use crate::reconcile::report::{ActionEntry, Class, Decision, Outcome, PassReport};

fn tempdir(tag: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("felhom-status-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
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

fn guest(vmid: u32) -> ActualGuest {
    ActualGuest {
        vmid,
        kind: GuestKind::Qemu,
        name: String::new(),
        status: PowerState::Running,
        lock: None,
        cores: None,
        memory_mib: None,
        description: None,
        pve: PveFacts::default(),
    }
}

fn output() -> PassOutput {
    PassOutput {
        report: PassReport {
            actions: vec![
                entry(1, Decision::Allowed, Outcome::Succeeded),
                entry(2, Decision::Allowed, Outcome::Failed),
                entry(3, Decision::PendingSignature, Outcome::Skipped),
                entry(4, Decision::Refused, Outcome::Skipped),
            ],
            unmanaged: vec![7, 8],
            missing: vec![9],
            errors: (0..40)
                .map(|n| format!("error {n} {}", "x".repeat(600)))
                .collect(),
            ..PassReport::default()
        },
        pending: vec![PendingItem {
            vmid: 3,
            op: "guest_destroy".into(),
            params: serde_json::json!({"purge": true}),
            blob: "{}".into(),
            sign_command: String::new(),
            approvals: 1,
            approvals_required: 2,
        }],
        guests: vec![guest(1), guest(2), guest(3), guest(7), guest(8)],
        generation_applied: Some(12),
        actual_read: true,
    }
}

#[test]
fn a_pass_summary_counts_exactly_and_keeps_bounded_text() {
    let s = PassStatus::from_pass(&output(), 100, Duration::from_millis(1500), 2, 1);
    assert_eq!((s.actions, s.failed, s.pending, s.errors), (4, 1, 1, 40));
    assert_eq!(
        s.outcomes,
        OutcomeCounts {
            planned: 0,
            succeeded: 1,
            failed: 1,
            skipped: 2
        }
    );
    assert_eq!(
        s.guests,
        GuestCounts {
            managed: 3,
            unmanaged: 2,
            missing: 1
        }
    );
    assert_eq!(s.error_messages.len(), MAX_ERROR_MESSAGES);
    assert!(
        s.error_messages
            .iter()
            .all(|m| m.chars().count() <= MAX_MESSAGE_CHARS)
    );
    assert_eq!(
        s.pending_actions,
        vec![PendingAction {
            vmid: 3,
            op: "guest_destroy".into(),
            approvals: 1,
        }]
    );
    assert_eq!((s.queued, s.in_flight, s.duration_ms), (2, 1, 1500));
}

#[test]
fn status_files_read_back_what_was_written_and_absence_is_none() {
    let d = tempdir("roundtrip");
    assert_eq!(load_pass(&d).unwrap(), None);
    assert_eq!(load_hub(&d).unwrap(), None);
    let s = PassStatus::from_pass(&output(), 100, Duration::ZERO, 0, 0);
    store_pass(&d, &s).unwrap();
    assert_eq!(load_pass(&d).unwrap(), Some(s));
    let h = HubStatus {
        version: 0,
        last_contact_at: Some(5),
        last_error: Some("hub report failing: timeout".into()),
        last_error_at: Some(6),
    };
    store_hub(&d, &h).unwrap();
    let back = load_hub(&d).unwrap().unwrap();
    assert_eq!(back.version, FORMAT_VERSION);
    assert_eq!(back.last_error, h.last_error);
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(d.join(PASS_FILE))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn status_files_that_are_not_ours_are_errors_never_panics() {
    let d = tempdir("hostile");
    let good =
        serde_json::to_vec(&PassStatus::from_pass(&output(), 1, Duration::ZERO, 0, 0)).unwrap();
    let path = d.join(PASS_FILE);
    let mut with_unknown: serde_json::Value = serde_json::from_slice(&good).unwrap();
    with_unknown["extra"] = 1.into();
    let mut future: serde_json::Value = serde_json::from_slice(&good).unwrap();
    future["version"] = 2.into();
    for bad in [
        serde_json::to_vec(&with_unknown).unwrap(),
        serde_json::to_vec(&future).unwrap(),
        vec![b' '; 2 * 1024 * 1024],
        b"{".to_vec(),
    ] {
        std::fs::write(&path, &bad).unwrap();
        assert!(load_pass(&d).is_err());
        assert_eq!(last_pass(&d), None);
    }
    // Mutations of a good file: a typed error or a value, never a panic.
    let mut seed = 0x5eed_u64;
    for _ in 0..3000 {
        let mut bytes = good.clone();
        for _ in 0..3 {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            let at = usize::try_from(seed >> 33).unwrap() % bytes.len();
            match seed % 3 {
                0 => bytes[at] = (seed >> 8) as u8,
                1 => {
                    bytes.remove(at);
                }
                _ => bytes.insert(at, b"{}[]\",:0e-"[(seed >> 13) as usize % 10]),
            }
        }
        std::fs::write(&path, &bytes).unwrap();
        let _ = load_pass(&d);
    }
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn the_config_reserves_every_state_dir_file_name_the_agent_writes() {
    for name in [
        PASS_FILE,
        HUB_FILE,
        crate::journal::JOURNAL_FILE,
        crate::journal::TEMP_FILE,
        crate::journal::lock::LOCK_FILE,
        crate::hub::blocked::MARKER,
        crate::reconcile::desired::provider::LAST_GOOD_FILE,
        crate::reconcile::converge::READBACK_FILE,
    ] {
        assert!(
            crate::config::STATE_DIR_FILES.contains(&name),
            "{name} is not reserved against metrics_file"
        );
    }
}
