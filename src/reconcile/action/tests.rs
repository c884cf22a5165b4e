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
fn sources_use_contract_names() {
    assert_eq!(Source::DesiredState.as_str(), "desired_state");
    assert_eq!(Source::Job.as_str(), "job");
    assert_eq!(Source::Agent.as_str(), "agent");
}
