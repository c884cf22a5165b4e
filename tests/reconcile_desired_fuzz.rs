//! Mutation fuzzing of the desired-state parser.
//!
//! Seeds are real documents (the CONTRACT §5 example and edge cases);
//! mutations are bit flips, byte insert/delete/replace, truncation,
//! splicing two seeds, and insertion of JSON fragments that hit schema
//! rules. Every input must give a valid document or a typed error with a
//! short one-line message; never a panic. Accepted documents must satisfy
//! the model's invariants and survive a round trip.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use felhom_agent::reconcile::desired::{
    CreateSpec, DesiredError, DesiredState, GuestState, MAX_CORES, MAX_DESCRIPTION_BYTES, MAX_VMID,
    create, parse,
};
use std::collections::BTreeMap;

const ITERATIONS: usize = 120_000;
/// An error message is one line an operator reads; it must stay short
/// whatever the input.
const MAX_MESSAGE: usize = 400;

const SEEDS: &[&str] = &[
    r#"{"generation": 12,
 "desired_state": {"guests": [
   {"vmid": 9001, "state": "running", "cores": 2, "memory_bytes": 2147483648, "description": "web"},
   {"vmid": 9002, "state": "stopped"},
   {"vmid": 9003, "state": "absent", "purge": true}
 ]}}"#,
    r#"{"generation":0,"desired_state":{"guests":[]}}"#,
    r#"{"desired_state":{"guests":[{"vmid":999999999,"cores":8192,"memory_bytes":18446744073709551615}]},"generation":18446744073709551615}"#,
    r#"{"generation":3,"desired_state":{"guests":[{"vmid":1,"state":null,"cores":null,"memory_bytes":null,"description":null,"purge":null},{"vmid":2,"description":"line\nline\u00e9\ud83d\ude00 "}]}}"#,
    r#"{"generation":4,"desired_state":{"guests":[{"vmid":7,"state":"absent","purge":false,"cores":1},{"vmid":8,"state":"running","purge":false}]}}"#,
    r#"{"generation":5,"desired_state":{"guests":[
   {"vmid": 9100, "state": "running", "cores": 2, "memory_bytes": 1073741824, "description": "shop",
    "create": {"kind": "lxc", "name": "shop", "ostemplate": "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst",
               "storage": "local-lvm", "disk_gib": 8, "unprivileged": true, "net0": "name=eth0,bridge=vmbr0,ip=dhcp"}},
   {"vmid": 9101, "state": "stopped",
    "create": {"kind": "qemu", "name": "build", "clone": 9000, "full": true, "storage": "local-lvm"}}]}}"#,
    r#"{"generation":6,"desired_state":{"guests":[{"vmid":5,"create":{"kind":"qemu","name":"a","clone":6,"storage":"s1","full":null}},{"vmid":6,"state":"stopped","create":{"kind":"lxc","name":"b-1","ostemplate":"s2:vztmpl/x.tar","storage":"s2","disk_gib":65536,"unprivileged":false,"net0":null}}]}}"#,
];

const FRAGMENTS: &[&str] = &[
    r#""x":1,"#,
    r#""vmid":5,"#,
    r#""vmid":"5","#,
    r#""purge":true,"#,
    r#""state":"absent","#,
    r#""cores":0,"#,
    r#""cores":1.5,"#,
    r#""memory_bytes":-1,"#,
    "null",
    "1e3",
    "-0",
    "{",
    "}",
    "[",
    "]",
    ",",
    ":",
    "\"",
    "\\u0000",
    "\\ud800",
    r#"{"vmid":9001},"#,
    "18446744073709551616",
    "true",
    "\u{feff}",
    r#""create":{"kind":"lxc"},"#,
    r#""kind":"qemu","#,
    r#""clone":9101,"#,
    r#""disk_gib":0,"#,
    r#""net0":"name=eth0,name=x","#,
    r#""name":"-x","#,
    r#""provenance":"agent","#,
];

struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

fn mutate(rng: &mut XorShift, input: &mut Vec<u8>) {
    let len = input.len();
    match rng.below(7) {
        0 if len > 0 => {
            let i = rng.below(len);
            input[i] ^= 1 << rng.below(8);
        }
        1 => {
            let byte = rng.next() as u8;
            input.insert(rng.below(len + 1), byte);
        }
        2 if len > 0 => {
            input.remove(rng.below(len));
        }
        3 if len > 0 => {
            let i = rng.below(len);
            input[i] = *b"{}[]\",:0123456789-.eEtruefalsn \\"
                .get(rng.below(32))
                .unwrap();
        }
        4 => input.truncate(rng.below(len + 1)),
        5 => {
            let other = SEEDS[rng.below(SEEDS.len())].as_bytes();
            let cut = rng.below(len + 1);
            let from = rng.below(other.len() + 1);
            input.truncate(cut);
            input.extend_from_slice(&other[from..]);
        }
        _ => {
            let frag = FRAGMENTS[rng.below(FRAGMENTS.len())].as_bytes();
            let at = rng.below(len + 1);
            input.splice(at..at, frag.iter().copied());
        }
    }
}

fn check_accepted(doc: &DesiredState) {
    let vmids: Vec<u32> = doc.guests().iter().map(|g| g.vmid).collect();
    assert!(
        vmids.windows(2).all(|w| w[0] < w[1]),
        "sorted and unique: {vmids:?}"
    );
    for g in doc.guests() {
        assert!(g.vmid >= 1 && u64::from(g.vmid) <= MAX_VMID);
        assert!(g.cores.is_none_or(|c| (1..=MAX_CORES).contains(&c)));
        assert_ne!(g.memory_bytes, Some(0));
        assert!(
            g.description
                .as_ref()
                .is_none_or(|d| d.len() <= MAX_DESCRIPTION_BYTES)
        );
        assert!(!g.purge || g.state == Some(GuestState::Absent));
        if let Some(c) = &g.create {
            assert_ne!(g.state, Some(GuestState::Absent));
            assert!(create::valid_dns_label(c.name()));
            assert!(felhom_agent::config::valid_storage_id(c.storage()));
            match c {
                CreateSpec::Lxc(l) => {
                    assert!(create::valid_ostemplate(&l.ostemplate));
                    assert!((1..=create::MAX_DISK_GIB).contains(&l.disk_gib));
                    assert!(l.net0.as_deref().is_none_or(create::valid_net0));
                }
                CreateSpec::Qemu(q) => assert!(q.clone != g.vmid && q.clone >= 1),
            }
        }
    }
    let again = parse(doc.to_document().to_string().as_bytes()).unwrap();
    assert_eq!(&again, doc);
}

fn variant(e: &DesiredError) -> &'static str {
    match e {
        DesiredError::Syntax { .. } => "syntax",
        DesiredError::UnknownKey { .. } => "unknown_key",
        DesiredError::MissingKey { .. } => "missing_key",
        DesiredError::WrongType { .. } => "wrong_type",
        DesiredError::OutOfRange { .. } => "out_of_range",
        DesiredError::InvalidState { .. } => "invalid_state",
        DesiredError::DuplicateVmid { .. } => "duplicate_vmid",
        DesiredError::PurgeWithoutAbsent { .. } => "purge_without_absent",
        DesiredError::Invalid { .. } => "invalid",
        DesiredError::CreateWithAbsent { .. } => "create_with_absent",
        other => panic!("parse cannot produce {other:?}"),
    }
}

#[test]
fn seeds_are_valid_documents() {
    for seed in SEEDS {
        check_accepted(&parse(seed.as_bytes()).unwrap());
    }
}

#[test]
fn mutated_documents_parse_or_fail_with_a_typed_short_error() {
    let mut rng = XorShift(0x00C0_FFEE_D15E_A5E5);
    let mut counts: BTreeMap<&'static str, usize> = BTreeMap::new();
    for _ in 0..ITERATIONS {
        let mut input = SEEDS[rng.below(SEEDS.len())].as_bytes().to_vec();
        for _ in 0..=rng.below(4) {
            mutate(&mut rng, &mut input);
        }
        match parse(&input) {
            Ok(doc) => {
                check_accepted(&doc);
                *counts.entry("ok").or_default() += 1;
            }
            Err(e) => {
                let msg = e.to_string();
                assert!(!msg.is_empty() && msg.len() <= MAX_MESSAGE, "{msg}");
                assert!(!msg.contains('\n'), "one line: {msg:?}");
                *counts.entry(variant(&e)).or_default() += 1;
            }
        }
    }
    // The mutations reach deep into the schema, not only the tokenizer.
    let reached = |kind: &str| counts.get(kind).copied().unwrap_or(0);
    for kind in [
        "ok",
        "syntax",
        "unknown_key",
        "missing_key",
        "wrong_type",
        "invalid_state",
    ] {
        assert!(reached(kind) > 100, "{kind}: {counts:?}");
    }
    for kind in [
        "out_of_range",
        "duplicate_vmid",
        "purge_without_absent",
        "invalid",
    ] {
        assert!(reached(kind) > 0, "{kind}: {counts:?}");
    }
}
