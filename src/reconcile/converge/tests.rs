use super::*;
use crate::reconcile::desired::parse;
use crate::reconcile::plan::{GuestKind, PowerState, PveFacts};
use serde_json::json;

fn doc(description: &str) -> DesiredState {
    let text = json!({"generation": 1, "desired_state": {"guests": [
        {"vmid": 100, "description": description, "cores": 2}
    ]}});
    parse(text.to_string().as_bytes()).unwrap()
}

fn actual(description: &str, cores: u64) -> Vec<ActualGuest> {
    vec![ActualGuest {
        vmid: 100,
        kind: GuestKind::Qemu,
        name: "g".into(),
        status: PowerState::Stopped,
        lock: None,
        cores: Some(cores),
        memory_mib: Some(512),
        description: Some(description.into()),
        pve: PveFacts::default(),
    }]
}

/// One pass: read, then (if not stuck) the write of the description.
fn pass(r: &mut Readback, want: &str, reads: &str) -> Vec<Stuck> {
    let d = doc(want);
    let stuck = r.observe(&d, &actual(reads, 2), &[]);
    if stuck.is_empty() && want.trim_end() != reads.trim_end() {
        r.wrote(100, &json!({"description": want}));
    }
    stuck
}

#[test]
fn the_second_identical_read_back_stops_the_writes() {
    let mut r = Readback::default();
    assert!(pass(&mut r, "50%25", "old").is_empty(), "first write");
    assert!(
        pass(&mut r, "50%25", "50%").is_empty(),
        "first read-back: written again"
    );
    let stuck = pass(&mut r, "50%25", "50%");
    assert_eq!(
        stuck,
        vec![Stuck {
            vmid: 100,
            field: "description",
            wrote: "50%25".into(),
            reads: "50%".into()
        }]
    );
    assert!(stuck[0].message().contains("\"50%25\"") && stuck[0].message().contains("\"50%\""));
    assert_eq!(pass(&mut r, "50%25", "50%").len(), 1, "still held");
    // The actual value changes: written again.
    assert!(pass(&mut r, "50%25", "edited").is_empty());
    assert!(pass(&mut r, "50%25", "50%").is_empty());
    assert_eq!(pass(&mut r, "50%25", "50%").len(), 1);
    // The desired value changes: written again.
    assert!(pass(&mut r, "60%25", "50%").is_empty());
}

#[test]
fn a_field_that_reads_back_as_written_is_forgotten() {
    let mut r = Readback::default();
    pass(&mut r, "web", "old");
    assert!(pass(&mut r, "web", "web\n").is_empty());
    assert!(r.entries.is_empty());
}

#[test]
fn reads_without_a_write_between_or_a_different_read_back_do_not_count() {
    let mut r = Readback::default();
    pass(&mut r, "x", "a");
    // The first read-back; its write fails (nothing recorded).
    assert!(r.observe(&doc("x"), &actual("b", 2), &[]).is_empty());
    for _ in 0..3 {
        assert!(r.observe(&doc("x"), &actual("b", 2), &[]).is_empty());
    }
    assert_eq!(r.entries.len(), 1);
    // A different read-back starts over.
    assert!(pass(&mut r, "x", "c").is_empty());
    assert!(pass(&mut r, "x", "d").is_empty());
    assert_eq!(pass(&mut r, "x", "d").len(), 1);
}

#[test]
fn unread_guests_keep_their_entries_and_unlisted_ones_lose_them() {
    let mut r = Readback::default();
    pass(&mut r, "x", "a");
    assert!(r.observe(&doc("x"), &[], &[100]).is_empty());
    assert_eq!(r.entries.len(), 1);
    assert!(r.observe(&doc("x"), &[], &[]).is_empty());
    assert!(r.entries.is_empty());
}

#[test]
fn stuck_fields_are_left_out_of_the_desired_state() {
    let d = doc("x");
    let s = Stuck {
        vmid: 100,
        field: "description",
        wrote: "x".into(),
        reads: "y".into(),
    };
    let out = without_stuck(&d, &[s]);
    let g = out.guest(100).unwrap();
    assert_eq!((g.description.as_deref(), g.cores), (None, Some(2)));
}

fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("felhom-readback-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn the_memory_survives_a_restart_and_a_damaged_file_starts_afresh() {
    let dir = temp_dir("save");
    let mut r = Readback::default();
    pass(&mut r, "50%25", "old");
    pass(&mut r, "50%25", "50%");
    r.save(&dir).unwrap();
    let mut again = Readback::load(&dir);
    assert_eq!(pass(&mut again, "50%25", "50%").len(), 1);
    for bad in [&b"{"[..], b"[]", b"{\"version\":2,\"fields\":[]}", b"\xff"] {
        std::fs::write(dir.join(READBACK_FILE), bad).unwrap();
        assert!(Readback::load(&dir).entries.is_empty());
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Mutation fuzzing of the state file: no panic, and whatever loads is
/// within bounds.
#[test]
fn mutated_state_files_never_panic() {
    let dir = temp_dir("fuzz");
    let mut r = Readback::default();
    pass(&mut r, "50%25", "old");
    pass(&mut r, "50%25", "50%");
    r.save(&dir).unwrap();
    let good = std::fs::read(dir.join(READBACK_FILE)).unwrap();
    let mut state = 0x2545_f491_4f6c_dd1du64;
    for _ in 0..3000 {
        let mut bytes = good.clone();
        for _ in 0..1 + (state % 3) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let at = (state as usize) % bytes.len();
            bytes[at] = (state >> 40) as u8;
        }
        let loaded = Readback::read_bytes(&bytes);
        if let Ok(l) = loaded {
            assert!(l.entries.len() <= MAX_ENTRIES);
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
