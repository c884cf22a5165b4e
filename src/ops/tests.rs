//! The vocabulary's params shapes, their inverse, and the errors in between.
use super::*;
use serde_json::json;

fn all_ops() -> Vec<ActionOp> {
    vec![
        ActionOp::Start,
        ActionOp::Stop,
        ActionOp::Restart,
        ActionOp::SetConfig {
            cores: Some(2),
            memory_mib: None,
            description: None,
        },
        ActionOp::SetConfig {
            cores: Some(4),
            memory_mib: Some(2048),
            description: Some("web\nline".into()),
        },
        ActionOp::GuestDestroy { purge: true },
        ActionOp::GuestDestroy { purge: false },
        ActionOp::RestoreOverwrite {
            snapshot: "pre-upgrade_1".into(),
        },
        ActionOp::KeyRotation {
            lines: vec!["alice ssh-ed25519 AAAA".into()],
        },
        ActionOp::KeyRotation { lines: vec![] },
    ]
}

#[test]
fn params_match_the_contract_shapes_exactly() {
    let cases = [
        (ActionOp::Start, "start", r#"{}"#),
        (ActionOp::Stop, "stop", r#"{}"#),
        (ActionOp::Restart, "restart", r#"{}"#),
        (
            ActionOp::SetConfig {
                cores: None,
                memory_mib: Some(2048),
                description: None,
            },
            "set_config",
            r#"{"memory":2048}"#,
        ),
        (
            ActionOp::SetConfig {
                cores: Some(2),
                memory_mib: Some(2048),
                description: Some("web".into()),
            },
            "set_config",
            r#"{"cores":2,"description":"web","memory":2048}"#,
        ),
        (
            ActionOp::GuestDestroy { purge: true },
            "guest_destroy",
            r#"{"purge":true}"#,
        ),
        (
            ActionOp::RestoreOverwrite {
                snapshot: "nightly".into(),
            },
            "restore_overwrite",
            r#"{"snapshot":"nightly"}"#,
        ),
        (
            ActionOp::KeyRotation {
                lines: vec!["a ssh-ed25519 X".into(), "b ssh-ed25519 Y".into()],
            },
            "key_rotation",
            r#"{"operational_signers":["a ssh-ed25519 X","b ssh-ed25519 Y"]}"#,
        ),
    ];
    for (op, name, params) in cases {
        assert_eq!(op.name(), name);
        assert_eq!(op.params().to_string(), params, "{name}");
    }
}

#[test]
fn from_name_params_inverts_name_and_params() {
    for op in all_ops() {
        let back = ActionOp::from_name_params(op.name(), &op.params());
        assert_eq!(back.as_ref(), Some(&op), "{op:?}");
    }
}

#[test]
fn unknown_reserved_and_unsupported_ops_are_refused() {
    for name in [
        "create",
        "storage_wipe",
        "decommission",
        "destroy",
        "",
        "START",
    ] {
        assert_eq!(ActionOp::from_name_params(name, &json!({})), None, "{name}");
    }
}

#[test]
fn extra_missing_or_mistyped_params_are_refused() {
    let bad = [
        ("start", json!({"force": true})),
        ("stop", json!([])),
        ("set_config", json!({})),
        ("set_config", json!({"cores": 2, "sockets": 1})),
        ("set_config", json!({"cores": 0})),
        ("set_config", json!({"cores": 8193})),
        ("set_config", json!({"cores": "2"})),
        ("set_config", json!({"memory": 0})),
        ("set_config", json!({"memory": 1.5})),
        ("set_config", json!({"memory_bytes": 1024})),
        ("set_config", json!({"description": 5})),
        ("set_config", json!({"description": "x".repeat(8193)})),
        ("guest_destroy", json!({})),
        ("guest_destroy", json!({"purge": "true"})),
        ("guest_destroy", json!({"purge": true, "vmid": 1})),
        ("restore_overwrite", json!({"snapshot": "a"})),
        ("restore_overwrite", json!({"snapshot": "1abc"})),
        ("restore_overwrite", json!({"snapshot": "../etc"})),
        ("restore_overwrite", json!({"snapshot": "x".repeat(41)})),
        (
            "key_rotation",
            json!({"operational_signers": "a ssh-ed25519 X"}),
        ),
        ("key_rotation", json!({"operational_signers": ["a\nb"]})),
        ("key_rotation", json!({"operational_signers": [""]})),
        ("key_rotation", json!({"operational_signers": [1]})),
    ];
    for (name, params) in bad {
        assert_eq!(
            ActionOp::from_name_params(name, &params),
            None,
            "{name} {params}"
        );
    }
}

#[test]
fn signer_line_count_is_bounded() {
    let lines = vec![json!("a ssh-ed25519 X"); MAX_SIGNER_LINES + 1];
    let params = json!({ "operational_signers": lines });
    assert_eq!(ActionOp::from_name_params("key_rotation", &params), None);
}

#[test]
fn classes_and_support_follow_the_contract() {
    for op in ["start", "stop", "restart", "set_config", "create"] {
        assert_eq!(op_class(op), OpClass::Benign, "{op}");
    }
    for op in [
        "guest_destroy",
        "restore_overwrite",
        "key_rotation",
        "storage_wipe",
        "x",
    ] {
        assert_eq!(op_class(op), OpClass::Destructive, "{op}");
    }
    assert!(!op_is_supported("create") && !op_is_supported("decommission"));
    assert!(is_guest_op("restore_overwrite") && !is_guest_op("key_rotation"));
    assert!(!is_guest_op("frobnicate"));
}

#[test]
fn errors_say_unsupported_or_what_is_wrong_with_the_params() {
    assert_eq!(
        ActionOp::parse("create", &json!({})),
        Err(OpError::Unsupported)
    );
    assert_eq!(
        ActionOp::parse("frobnicate", &json!({})),
        Err(OpError::Unsupported)
    );
    let why = |op: &str, p: Value| match ActionOp::parse(op, &p) {
        Err(OpError::Params(why)) => why,
        other => panic!("{op} {p}: {other:?}"),
    };
    assert!(why("set_config", json!({"cores": 8193})).contains("8192"));
    assert!(why("restore_overwrite", json!({"snapshot": "a"})).contains("2 to 40"));
    let long = "x".repeat(MAX_SIGNER_LINE_BYTES + 1);
    assert!(why("key_rotation", json!({"operational_signers": ["ok", long]})).contains("[1]"));
    assert!(why("start", json!([])).contains("object"));
}

#[test]
fn edges_of_every_range_are_inside() {
    let ok = |op: &str, p: Value| ActionOp::parse(op, &p).unwrap();
    ok("set_config", json!({"cores": 1}));
    ok("set_config", json!({"cores": MAX_CORES}));
    ok("set_config", json!({"memory": 1}));
    ok(
        "set_config",
        json!({"description": "d".repeat(MAX_DESCRIPTION_BYTES)}),
    );
    ok("set_config", json!({"description": ""}));
    ok("restore_overwrite", json!({"snapshot": "ab"}));
    ok(
        "restore_overwrite",
        json!({"snapshot": "s".repeat(MAX_SNAPSHOT_NAME)}),
    );
    let line = "x".repeat(MAX_SIGNER_LINE_BYTES);
    ok("key_rotation", json!({"operational_signers": [line]}));
    let many = vec![json!("a ssh-ed25519 X"); MAX_SIGNER_LINES];
    ok("key_rotation", json!({"operational_signers": many}));
}
