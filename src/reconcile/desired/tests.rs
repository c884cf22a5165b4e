use super::*;

fn err(text: &str) -> DesiredError {
    parse(text.as_bytes()).unwrap_err()
}

fn wrap(guests: &str) -> String {
    format!(r#"{{"generation":3,"desired_state":{{"guests":[{guests}]}}}}"#)
}

#[test]
fn contract_example_parses_sorted_by_vmid() {
    let d = parse(
        br#"{"generation": 12,
 "desired_state": {"guests": [
   {"vmid": 9003, "state": "absent", "purge": true},
   {"vmid": 9001, "state": "running", "cores": 2, "memory_bytes": 2147483648, "description": "web"},
   {"vmid": 9002, "state": "stopped"}
 ]}}"#,
    )
    .unwrap();
    assert_eq!(d.generation(), 12);
    let vmids: Vec<u32> = d.guests().iter().map(|g| g.vmid).collect();
    assert_eq!(vmids, vec![9001, 9002, 9003]);
    let g = d.guest(9001).unwrap();
    assert_eq!(g.state, Some(GuestState::Running));
    assert_eq!(g.memory_bytes, Some(2_147_483_648));
    assert_eq!(g.description.as_deref(), Some("web"));
    assert!(d.guest(9003).unwrap().purge);
    assert!(d.guest(9004).is_none());
}

#[test]
fn null_fields_mean_not_managed() {
    let d = parse(wrap(r#"{"vmid":1,"state":null,"cores":null,"purge":null}"#).as_bytes()).unwrap();
    assert_eq!(d.guests()[0], DesiredGuest::listed(1));
}

#[test]
fn unknown_keys_are_rejected_at_every_level_with_their_path() {
    let cases = [
        (
            r#"{"generation":1,"desired_state":{"guests":[]},"x":1}"#,
            "x",
        ),
        (
            r#"{"generation":1,"desired_state":{"guests":[],"hosts":[]}}"#,
            "desired_state.hosts",
        ),
        (
            &wrap(r#"{"vmid":1},{"vmid":2,"sockets":1}"#),
            "desired_state.guests[1].sockets",
        ),
    ];
    for (text, path) in cases {
        match err(text) {
            DesiredError::UnknownKey { path: p } => assert_eq!(p, path),
            other => panic!("{text}: {other:?}"),
        }
    }
}

#[test]
fn hostile_keys_are_shown_quoted_escaped_and_cut_in_one_line() {
    let key = format!("\nX audit: decision=allowed\r{}", "k".repeat(100));
    let doc = serde_json::json!({"generation": 1, "desired_state": {"guests": [], &key: 1}});
    let e = err(&doc.to_string());
    let shown = e.to_string();
    assert!(
        shown.starts_with("desired state: desired_state.\"\\nX audit: decision=allowed\\rkkk"),
        "{shown}"
    );
    assert!(!shown.contains('\n') && !shown.contains('\r'), "{shown}");
    assert!(
        !shown.contains(&"k".repeat(70)),
        "cut at 64 characters: {shown}"
    );
    let dup = r#"{"generation":1,"desired_state":{"guests":[]},"a\u000bb":1,"a\u000bb":2}"#;
    let shown = err(dup).to_string();
    assert!(shown.contains(r#"duplicate key "a\u{b}b""#), "{shown}");
}

#[test]
fn wrong_types_and_floats_name_the_path() {
    let cases = [
        (
            r#"{"generation":1.0,"desired_state":{"guests":[]}}"#,
            "generation",
        ),
        (
            r#"{"generation":-1,"desired_state":{"guests":[]}}"#,
            "generation",
        ),
        (
            r#"{"generation":1,"desired_state":{"guests":{}}}"#,
            "desired_state.guests",
        ),
        (r#"{"generation":1,"desired_state":[]}"#, "desired_state"),
        (&wrap(r#"{"vmid":"1"}"#), "desired_state.guests[0].vmid"),
        (
            &wrap(r#"{"vmid":1,"cores":2.5}"#),
            "desired_state.guests[0].cores",
        ),
        (
            &wrap(r#"{"vmid":1,"memory_bytes":1e9}"#),
            "desired_state.guests[0].memory_bytes",
        ),
        (
            &wrap(r#"{"vmid":1,"purge":"yes"}"#),
            "desired_state.guests[0].purge",
        ),
        (
            &wrap(r#"{"vmid":1,"description":7}"#),
            "desired_state.guests[0].description",
        ),
        (&wrap(r#"7"#), "desired_state.guests[0]"),
        ("[]", "(root)"),
    ];
    for (text, path) in cases {
        match err(text) {
            DesiredError::WrongType { path: p, .. } => assert_eq!(p, path, "{text}"),
            other => panic!("{text}: {other:?}"),
        }
    }
}

#[test]
fn missing_required_keys_name_the_path() {
    for (text, path) in [
        (r#"{"desired_state":{"guests":[]}}"#, "generation"),
        (r#"{"generation":1}"#, "desired_state"),
        (
            r#"{"generation":1,"desired_state":{}}"#,
            "desired_state.guests",
        ),
        (
            wrap(r#"{"state":"running"}"#).as_str(),
            "desired_state.guests[0].vmid",
        ),
    ] {
        match err(text) {
            DesiredError::MissingKey { path: p } => assert_eq!(p, path),
            other => panic!("{text}: {other:?}"),
        }
    }
}

#[test]
fn out_of_range_values_are_rejected() {
    for (guest, path) in [
        (r#"{"vmid":0}"#, "desired_state.guests[0].vmid"),
        (r#"{"vmid":1000000000}"#, "desired_state.guests[0].vmid"),
        (r#"{"vmid":4294967297}"#, "desired_state.guests[0].vmid"),
        (r#"{"vmid":1,"cores":0}"#, "desired_state.guests[0].cores"),
        (
            r#"{"vmid":1,"cores":8193}"#,
            "desired_state.guests[0].cores",
        ),
        (
            r#"{"vmid":1,"memory_bytes":0}"#,
            "desired_state.guests[0].memory_bytes",
        ),
    ] {
        match err(&wrap(guest)) {
            DesiredError::OutOfRange { path: p, .. } => assert_eq!(p, path, "{guest}"),
            other => panic!("{guest}: {other:?}"),
        }
    }
    let long = format!(r#"{{"vmid":1,"description":"{}"}}"#, "x".repeat(8193));
    assert!(matches!(err(&wrap(&long)), DesiredError::OutOfRange { .. }));
    let max = format!(
        r#"{{"vmid":999999999,"cores":8192,"description":"{}"}}"#,
        "x".repeat(8192)
    );
    assert!(parse(wrap(&max).as_bytes()).is_ok());
}

#[test]
fn bad_state_duplicate_vmid_and_purge_without_absent_are_rejected() {
    assert!(matches!(
        err(&wrap(r#"{"vmid":1,"state":"paused"}"#)),
        DesiredError::InvalidState { .. }
    ));
    match err(&wrap(r#"{"vmid":5},{"vmid":6},{"vmid":5}"#)) {
        DesiredError::DuplicateVmid { path, vmid } => {
            assert_eq!((path.as_str(), vmid), ("desired_state.guests[2].vmid", 5));
        }
        other => panic!("{other:?}"),
    }
    for g in [
        r#"{"vmid":1,"purge":true}"#,
        r#"{"vmid":1,"state":"running","purge":true}"#,
    ] {
        assert!(
            matches!(err(&wrap(g)), DesiredError::PurgeWithoutAbsent { .. }),
            "{g}"
        );
    }
    assert!(parse(wrap(r#"{"vmid":1,"state":"running","purge":false}"#).as_bytes()).is_ok());
}

#[test]
fn duplicate_object_keys_and_trailing_bytes_are_syntax_errors() {
    for text in [
        r#"{"generation":1,"generation":2,"desired_state":{"guests":[]}}"#.to_string(),
        wrap(r#"{"vmid":1,"vmid":2}"#),
        r#"{"generation":1,"desired_state":{"guests":[]}} x"#.to_string(),
        "".to_string(),
        "\u{feff}{}".to_string(),
    ] {
        assert!(matches!(err(&text), DesiredError::Syntax { .. }), "{text}");
    }
}

#[test]
fn size_count_and_value_budget_are_bounded() {
    let big = vec![b' '; MAX_DOCUMENT_BYTES + 1];
    assert!(matches!(
        parse(&big).unwrap_err(),
        DesiredError::TooLarge { .. }
    ));
    let many: Vec<String> = (1..=MAX_GUESTS + 1)
        .map(|v| format!(r#"{{"vmid":{v}}}"#))
        .collect();
    assert!(matches!(
        err(&wrap(&many.join(","))),
        DesiredError::TooManyGuests { .. }
    ));
    let ok: Vec<String> = (1..=MAX_GUESTS)
        .map(|v| format!(r#"{{"vmid":{v}}}"#))
        .collect();
    assert_eq!(
        parse(wrap(&ok.join(",")).as_bytes())
            .unwrap()
            .guests()
            .len(),
        MAX_GUESTS
    );
    let zeros = format!("[{}0]", "0,".repeat(MAX_JSON_VALUES));
    assert!(matches!(err(&zeros), DesiredError::Syntax { .. }));
    let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
    assert!(matches!(err(&deep), DesiredError::Syntax { .. }));
}

#[test]
fn generation_may_repeat_but_never_go_back() {
    let doc = |g: u64| DesiredState::new(g, vec![]).unwrap();
    assert!(accept(doc(5), None).is_ok());
    assert!(accept(doc(5), Some(5)).is_ok());
    assert!(accept(doc(6), Some(5)).is_ok());
    match accept(doc(4), Some(5)) {
        Err(DesiredError::GenerationWentBack {
            generation: 4,
            last_applied: 5,
        }) => {}
        other => panic!("{other:?}"),
    }
}

#[test]
fn to_document_round_trips_through_parse() {
    let text = wrap(
        r#"{"vmid":3,"state":"absent","purge":true},{"vmid":1,"cores":2,"memory_bytes":5,"description":"a\nb"},{"vmid":2,"state":"stopped"}"#,
    );
    let d = parse(text.as_bytes()).unwrap();
    let again = parse(d.to_document().to_string().as_bytes()).unwrap();
    assert_eq!(d, again);
}

#[test]
fn new_validates_like_parse() {
    let mut g = DesiredGuest::listed(1);
    g.cores = Some(0);
    assert!(matches!(
        DesiredState::new(1, vec![g]),
        Err(DesiredError::OutOfRange { .. })
    ));
    let dup = vec![DesiredGuest::listed(2), DesiredGuest::listed(2)];
    assert!(matches!(
        DesiredState::new(1, dup),
        Err(DesiredError::DuplicateVmid { .. })
    ));
}

#[test]
fn errors_display_the_path_for_the_operator() {
    let e = err(&wrap(r#"{"vmid":1,"cpus":2}"#));
    assert_eq!(
        e.to_string(),
        "desired state: desired_state.guests[0].cpus: unknown key"
    );
}

mod providers {
    use super::super::*;
    use std::path::PathBuf;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn temp_dir() -> PathBuf {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("felhom-desired-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn doc(generation: u64, vmid: u32) -> String {
        format!(r#"{{"generation":{generation},"desired_state":{{"guests":[{{"vmid":{vmid}}}]}}}}"#)
    }

    #[test]
    fn none_provider_has_no_desired_state_and_no_error() {
        let r = Provider::None.resolve(&temp_dir(), Some(3));
        assert!(r.in_force.is_none() && r.errors.is_empty());
    }

    #[test]
    fn missing_file_is_an_error_not_an_empty_document() {
        let dir = temp_dir();
        let p = Provider::File(dir.join("nope.json"));
        assert!(matches!(
            p.load(&dir),
            Err(DesiredError::FileMissing { .. })
        ));
        let r = p.resolve(&dir, None);
        assert!(r.in_force.is_none());
        assert!(matches!(
            r.errors.as_slice(),
            [DesiredError::FileMissing { .. }]
        ));
    }

    #[test]
    fn good_file_is_saved_and_a_later_bad_file_falls_back_to_it() {
        let dir = temp_dir();
        let file = dir.join("desired.json");
        std::fs::write(&file, doc(7, 42)).unwrap();
        let p = Provider::File(file.clone());
        let r = p.resolve(&dir, Some(6));
        assert!(r.errors.is_empty(), "{:?}", r.errors);
        assert_eq!(r.in_force.unwrap().generation(), 7);
        assert_eq!(
            std::fs::read_to_string(dir.join(LAST_GOOD_FILE)).unwrap(),
            doc(7, 42)
        );

        std::fs::write(
            &file,
            r#"{"generation":8,"desired_state":{"guests":[],"x":1}}"#,
        )
        .unwrap();
        let r = p.resolve(&dir, Some(7));
        assert!(matches!(
            r.errors.as_slice(),
            [DesiredError::UnknownKey { .. }]
        ));
        let kept = r.in_force.unwrap();
        assert_eq!((kept.generation(), kept.guests()[0].vmid), (7, 42));

        std::fs::write(&file, doc(5, 1)).unwrap();
        let r = p.resolve(&dir, Some(7));
        assert!(matches!(
            r.errors.as_slice(),
            [DesiredError::GenerationWentBack { .. }]
        ));
        assert_eq!(r.in_force.unwrap().generation(), 7);
        assert_eq!(
            std::fs::read_to_string(dir.join(LAST_GOOD_FILE)).unwrap(),
            doc(7, 42)
        );
    }

    #[test]
    fn hub_documents_are_kept_only_when_accepted() {
        let dir = temp_dir();
        assert!(Provider::Hub.load(&dir).unwrap().is_none());
        let r = Provider::Hub.resolve(&dir, None);
        assert!(r.in_force.is_none() && r.errors.is_empty());

        ingest_hub_document(&dir, doc(3, 9).as_bytes(), Some(2)).unwrap();
        assert!(ingest_hub_document(&dir, doc(2, 8).as_bytes(), Some(3)).is_err());
        assert!(ingest_hub_document(&dir, b"{", Some(3)).is_err());
        let kept = Provider::Hub.resolve(&dir, Some(3)).in_force.unwrap();
        assert_eq!((kept.generation(), kept.guests()[0].vmid), (3, 9));
        assert!(!dir.join(".desired-state.json.tmp").exists());
    }

    #[test]
    fn last_good_round_trips_and_is_private_to_the_agent() {
        use std::os::unix::fs::PermissionsExt;
        let dir = temp_dir();
        assert!(load_last_good(&dir).unwrap().is_none());
        save_last_good(&dir, doc(1, 2).as_bytes()).unwrap();
        save_last_good(&dir, doc(4, 5).as_bytes()).unwrap();
        let d = load_last_good(&dir).unwrap().unwrap();
        assert_eq!((d.generation(), d.guests()[0].vmid), (4, 5));
        let mode = std::fs::metadata(dir.join(LAST_GOOD_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0);
    }

    #[test]
    fn oversized_file_is_refused_without_reading_it_all() {
        let dir = temp_dir();
        let file = dir.join("big.json");
        std::fs::write(&file, vec![b' '; MAX_DOCUMENT_BYTES + 10]).unwrap();
        match Provider::File(file).load(&dir) {
            Err(DesiredError::TooLarge { size, .. }) => assert_eq!(size, MAX_DOCUMENT_BYTES + 1),
            other => panic!("{other:?}"),
        }
    }
}
