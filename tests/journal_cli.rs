//! The journal as the binary exposes it: `--journal-verify`, damage (65) and
//! the state lock (75) in mutating modes, read-only modes never writing.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "support/fixture.rs"]
mod fixture;
use felhom_agent::journal::{Journal, Record};
use fixture::{Fixture, text};
use std::time::Duration;

fn seed_journal(f: &Fixture, records: u64) -> std::path::PathBuf {
    let j = Journal::open(&f.state_dir(), Duration::from_secs(1)).unwrap();
    for g in 1..=records {
        j.append(Record::GenerationApplied { generation: g })
            .unwrap();
    }
    j.path().to_path_buf()
}

fn verify_json(f: &Fixture) -> (Option<i32>, serde_json::Value) {
    let o = f.run(&f.example(), &["--journal-verify", "--json"]);
    let doc = serde_json::from_slice(&o.stdout).unwrap_or_else(|_| panic!("{}", text(&o)));
    (o.status.code(), doc)
}

#[test]
fn clean_journal_verifies_with_its_record_count() {
    let f = Fixture::new("jv-clean");
    seed_journal(&f, 5);
    let (code, doc) = verify_json(&f);
    assert_eq!(code, Some(0));
    assert_eq!(doc["ok"], true);
    assert_eq!(doc["records"], 5);
    assert_eq!(doc["torn_tail"], serde_json::Value::Null);
}

#[test]
fn torn_tail_is_reported_not_repaired_by_a_read_only_mode() {
    let f = Fixture::new("jv-torn");
    let path = seed_journal(&f, 3);
    let mut bytes = std::fs::read(&path).unwrap();
    let full = bytes.len();
    bytes.truncate(full - 5);
    std::fs::write(&path, &bytes).unwrap();
    let (code, doc) = verify_json(&f);
    assert_eq!(code, Some(0), "{doc}");
    assert_eq!(doc["records"], 2);
    assert!(doc["torn_tail"]["bytes"].as_u64().unwrap() > 0);
    assert_eq!(
        std::fs::read(&path).unwrap(),
        bytes,
        "a read-only mode changed the journal"
    );
}

#[test]
fn mid_file_damage_exits_65_in_every_mode_and_leaves_the_file_alone() {
    let f = Fixture::new("jv-damage");
    let path = seed_journal(&f, 4);
    let mut bytes = std::fs::read(&path).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x40;
    std::fs::write(&path, &bytes).unwrap();
    let (code, doc) = verify_json(&f);
    assert_eq!(code, Some(65));
    assert_eq!(doc["ok"], false);
    std::fs::write(f.dir.join("blob"), "{}").unwrap();
    std::fs::write(f.dir.join("blob.sig"), "x").unwrap();
    let blob = f.dir.join("blob").display().to_string();
    let sig = f.dir.join("blob.sig").display().to_string();
    // CONTRACT §6: 65 for a damaged journal in any mode, --check-config
    // included (it would otherwise call a host fine that cannot start).
    for mode in [
        &["--reconcile-now"][..],
        &["--plan"],
        &["--pending"],
        &["--check-op", &blob, &sig],
        &["--submit", &blob, &sig],
        &["--status"],
        &["--check-config"],
        &["--check-config", "--json"],
    ] {
        let o = f.run(&f.example(), mode);
        assert_eq!(o.status.code(), Some(65), "{mode:?}: {}", text(&o));
    }
    assert_eq!(
        std::fs::read(&path).unwrap(),
        bytes,
        "damaged journal was modified"
    );
}

#[test]
fn missing_journal_verifies_as_empty() {
    let f = Fixture::new("jv-none");
    let (code, doc) = verify_json(&f);
    assert_eq!(code, Some(0), "{doc}");
    assert_eq!(doc["records"], 0);
}

#[test]
fn mutating_mode_waits_for_the_state_lock_then_exits_75() {
    let f = Fixture::new("jv-lock");
    let _held = Journal::open(&f.state_dir(), Duration::from_secs(1)).unwrap();
    std::fs::write(f.dir.join("blob"), "{}").unwrap();
    std::fs::write(f.dir.join("blob.sig"), "x").unwrap();
    let blob = f.dir.join("blob").display().to_string();
    let sig = f.dir.join("blob.sig").display().to_string();
    let o = f.run(&f.example(), &["--submit", &blob, &sig]);
    assert_eq!(o.status.code(), Some(75), "{}", text(&o));
}
