//! Stage-5 rules of `blob`: params per op, guest ids, nonce and field set.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
use super::*;
use serde_json::json;

const NONCE: &str = "0123456789abcdef0123456789abcdef";

fn check(op: &str, params: Value, guest: &str) -> Result<ParsedBlob, BlobError> {
    let doc = json!({"expires_at": "2026-11-22T11:00:00Z", "issued_at": "2026-11-22T10:00:00Z",
        "key_id": "", "nonce": NONCE, "op": op, "params": params,
        "target": {"guest_id": guest, "host_id": "h"}});
    parse(doc.to_string().as_bytes(), &Signers::default())
}

#[test]
fn params_follow_the_vocabulary() {
    assert!(check("start", json!({}), "100").is_ok());
    assert!(check("stop", json!({"force": true}), "100").is_err());
    assert!(check("set_config", json!({"cores": 2}), "100").is_ok());
    assert!(check("set_config", json!({"description": "x"}), "100").is_ok());
    assert!(check("set_config", json!({}), "100").is_err());
    assert!(check("set_config", json!({"cores": 0}), "100").is_err());
    assert!(check("set_config", json!({"memory": -1}), "100").is_err());
    assert!(check("set_config", json!({"memory": "1"}), "100").is_err());
    assert!(check("set_config", json!({"name": "x"}), "100").is_err());
    assert!(check("set_config", json!({"cores": 1.0}), "100") == Err(BlobError::Float));
    assert!(check("guest_destroy", json!({"purge": false}), "100").is_ok());
    assert!(check("guest_destroy", json!({}), "100").is_err());
    assert!(check("guest_destroy", json!({"purge": 1}), "100").is_err());
    assert!(check("restore_overwrite", json!({"snapshot": "pre-up_1"}), "100").is_ok());
    assert!(check("restore_overwrite", json!({"snapshot": "1st"}), "100").is_err());
    assert!(
        check(
            "restore_overwrite",
            json!({"snapshot": "a".repeat(41)}),
            "100"
        )
        .is_err()
    );
    assert!(check("key_rotation", json!({"operational_signers": []}), "").is_ok());
    assert!(check("key_rotation", json!({"operational_signers": ["junk"]}), "").is_err());
    assert!(check("frobnicate", json!({"any": [1, "x"]}), "").is_ok());
}

#[test]
fn guest_ids_are_plain_vmids_where_the_op_needs_one() {
    assert_eq!(
        check("start", json!({}), "999999999").unwrap().guest_id,
        Some(999_999_999)
    );
    for bad in ["", "99", "0100", "+100", "1000000000", "1e3", " 100"] {
        assert_eq!(
            check("start", json!({}), bad).unwrap_err(),
            BlobError::GuestId,
            "{bad:?}"
        );
    }
    assert_eq!(
        check("key_rotation", json!({"operational_signers": []}), "100").unwrap_err(),
        BlobError::GuestId
    );
}

#[test]
fn nonce_op_name_and_field_set_are_exact() {
    let base = check("start", json!({}), "100").unwrap();
    assert_eq!(base.nonce, NONCE);
    assert_eq!(
        check("Start", json!({}), "100").unwrap_err(),
        BlobError::OpName
    );
    let doc = |nonce: &str| {
        format!(
            r#"{{"expires_at":"2026-11-22T11:00:00Z","issued_at":"2026-11-22T10:00:00Z","key_id":"","nonce":"{nonce}","op":"start","params":{{}},"target":{{"guest_id":"100","host_id":"h"}}}}"#
        )
    };
    let s = Signers::default();
    assert!(parse(doc(NONCE).as_bytes(), &s).is_ok());
    assert_eq!(
        parse(doc(&NONCE.to_uppercase()).as_bytes(), &s),
        Err(BlobError::Nonce)
    );
    assert_eq!(
        parse(doc(&NONCE[1..]).as_bytes(), &s),
        Err(BlobError::Nonce)
    );
    assert_eq!(
        parse(doc(&"a".repeat(65)).as_bytes(), &s),
        Err(BlobError::Nonce)
    );
    let extra = doc(NONCE).replacen("{", r#"{"a":1,"#, 1);
    assert_eq!(parse(extra.as_bytes(), &s), Err(BlobError::Fields));
    let dup = doc(NONCE).replacen(r#""key_id":"","#, r#""key_id":"","key_id":"","#, 1);
    assert_eq!(parse(dup.as_bytes(), &s), Err(BlobError::NotCanonical));
}
