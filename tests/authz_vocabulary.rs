//! One definition of what is valid: stage 5 (`--check-op`, `--submit`)
//! accepts exactly the op/params that execution turns into an action
//! (CONTRACT §4, "Stage 5 accepts exactly what execution accepts").
//!
//! Property, over generated ops and params at and around every range edge
//! (names, cores, memory, description, snapshot names, rotation line
//! lengths and counts, wrong types, extra keys):
//! - a blob that passes stage 5 for a supported op becomes an action, whose
//!   params are the blob's params exactly;
//! - an op/params that execution accepts passes stage 5 (for `key_rotation`,
//!   when its lines are signer lines: the only rule beyond the params shape);
//! - end to end with real signatures: every op that `verify` calls valid
//!   gives `action_of` an action (never dropped as `unsupported_op`).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "support/rng.rs"]
mod rng;

use ed25519_dalek::{Signer, SigningKey};
use felhom_agent::authz::{self, NAMESPACE, Signers, VerifyPolicy, canonical_blob, fuzz};
use felhom_agent::reconcile::action::ActionOp;
use felhom_agent::reconcile::signed::action_of;
use rng::Rng;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha512};

const CASES: usize = 20_000;
const NOW: i64 = 1_781_524_800;
const HOST: &str = "demo-felhom";

impl Rng {
    fn pick<T: Clone>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())].clone()
    }
}

fn string(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(&u32::try_from(b.len()).unwrap().to_be_bytes());
    out.extend_from_slice(b);
}

fn ed_key_blob(key: &SigningKey) -> Vec<u8> {
    let mut blob = Vec::new();
    string(&mut blob, b"ssh-ed25519");
    string(&mut blob, key.verifying_key().as_bytes());
    blob
}

fn ed_line(principal: &str, key: &SigningKey) -> String {
    format!(
        "{principal} ssh-ed25519 {}",
        felhom_agent::base64::encode(&ed_key_blob(key))
    )
}

/// An armored SSHSIG (sha512) by `key` over `blob`, as `ssh-keygen -Y sign`.
fn sshsig(key: &SigningKey, blob: &[u8]) -> Vec<u8> {
    let mut signed = b"SSHSIG".to_vec();
    string(&mut signed, NAMESPACE.as_bytes());
    string(&mut signed, b"");
    string(&mut signed, b"sha512");
    string(&mut signed, &Sha512::digest(blob));
    let mut sig_blob = Vec::new();
    string(&mut sig_blob, b"ssh-ed25519");
    string(&mut sig_blob, &key.sign(&signed).to_bytes());
    let mut raw = b"SSHSIG\0\0\0\x01".to_vec();
    string(&mut raw, &ed_key_blob(key));
    string(&mut raw, NAMESPACE.as_bytes());
    string(&mut raw, b"");
    string(&mut raw, b"sha512");
    string(&mut raw, &sig_blob);
    let b64 = felhom_agent::base64::encode(&raw);
    let mut armored = String::from("-----BEGIN SSH SIGNATURE-----\n");
    for chunk in b64.as_bytes().chunks(70) {
        armored.push_str(std::str::from_utf8(chunk).unwrap());
        armored.push('\n');
    }
    armored.push_str("-----END SSH SIGNATURE-----\n");
    armored.into_bytes()
}

struct Gen {
    rng: Rng,
    /// A valid signer line of a key in no file, padded by its comment.
    line: String,
    recovery_line: String,
}

impl Gen {
    fn signer_line(&mut self, len: usize) -> String {
        let base = format!("{} ", self.line);
        if len <= base.len() {
            return self.line.clone();
        }
        format!("{base}{}", "c".repeat(len - base.len()))
    }

    fn rotation_lines(&mut self) -> Value {
        let count = self.rng.pick(&[0usize, 1, 2, 5]);
        let mut lines = Vec::new();
        for _ in 0..count {
            let line = match self.rng.below(9) {
                0 => Value::from(self.signer_line(4095)),
                1 => Value::from(self.signer_line(4096)),
                2 => Value::from(self.signer_line(4097)),
                3 => Value::from(""),
                4 => Value::from("# a comment"),
                5 => Value::from(format!("{}\nb", self.line)),
                6 => Value::from(self.recovery_line.clone()),
                7 => Value::from(7),
                _ => Value::from(self.line.clone()),
            };
            lines.push(line);
        }
        if self.rng.below(40) == 0 {
            // Beyond the line-count bound.
            lines = vec![Value::from(self.line.clone()); 1025];
        }
        Value::Array(lines)
    }

    fn value_for(&mut self, key: &str) -> Value {
        match (key, self.rng.below(12)) {
            ("cores", 0..=7) => json!(self.rng.pick(&[0u64, 1, 2, 8191, 8192, 8193, u64::MAX])),
            ("memory", 0..=7) => json!(self.rng.pick(&[0u64, 1, 16, 2048, u64::MAX])),
            ("description", 0..=7) => {
                json!("d".repeat(self.rng.pick(&[0usize, 1, 8191, 8192, 8193])))
            }
            ("purge", 0..=7) => json!(self.rng.below(2) == 0),
            ("snapshot", 0..=7) => json!(self.rng.pick(&[
                "a",
                "ab",
                "a1",
                "1a",
                "a-b_c",
                "a.b",
                "a b",
                "",
                "Zz",
                &"s".repeat(40),
                &"s".repeat(41)
            ])),
            ("operational_signers", 0..=8) => self.rotation_lines(),
            (_, n) => self.rng.pick(&[
                json!(-1),
                json!("2"),
                json!(null),
                json!(true),
                json!([]),
                json!({}),
                json!(n),
            ]),
        }
    }

    fn case(&mut self) -> (String, Value, Option<u32>) {
        let op = self.rng.pick(&[
            "start",
            "stop",
            "restart",
            "set_config",
            "set_config",
            "set_config",
            "guest_destroy",
            "restore_overwrite",
            "restore_overwrite",
            "key_rotation",
            "key_rotation",
            "create",
            "storage_wipe",
            "frobnicate",
        ]);
        let keys: &[&str] = match op {
            "set_config" => &["cores", "memory", "description"],
            "guest_destroy" => &["purge"],
            "restore_overwrite" => &["snapshot"],
            "key_rotation" => &["operational_signers"],
            _ => &[],
        };
        let mut params = Map::new();
        for k in keys {
            if self.rng.below(4) != 0 {
                let v = self.value_for(k);
                params.insert((*k).to_string(), v);
            }
        }
        if self.rng.below(15) == 0 {
            let extra = self.rng.pick(&["force", "cores", "snapshot", "vmid"]);
            let v = self.value_for(extra);
            params.insert(extra.to_string(), v);
        }
        let guest = if op == "key_rotation" || op == "frobnicate" {
            None
        } else {
            Some(9001)
        };
        (op.to_string(), Value::Object(params), guest)
    }
}

fn blob(op: &str, params: &Value, guest: Option<u32>, n: usize) -> String {
    canonical_blob(
        op,
        params,
        HOST,
        guest,
        &format!("{n:032x}"),
        NOW - 60,
        NOW + 3600,
        "",
    )
}

/// Whether every rotation line is a signer line whose key is not a
/// recovery key: the rule of `key_rotation` beyond its params shape.
fn rotation_lines_are_signers(params: &Value, signers: &Signers) -> bool {
    let lines: Vec<String> = params["operational_signers"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    signers.check_rotation(&lines).is_ok()
}

#[test]
fn stage_5_and_execution_accept_exactly_the_same_ops_and_params() {
    let operator = SigningKey::from_bytes(&[1u8; 32]);
    let rescue = SigningKey::from_bytes(&[2u8; 32]);
    let newcomer = SigningKey::from_bytes(&[3u8; 32]);
    let op_text = ed_line("alice@example.com", &operator);
    let rec_text = ed_line("rescue@example.com", &rescue);
    let signers = Signers::from_texts(Some(("op", &op_text)), Some(("rec", &rec_text))).unwrap();
    let mut g = Gen {
        rng: Rng(0x0b5e_55ed_5ca1_ab1e),
        line: ed_line("bob@example.com", &newcomer),
        recovery_line: ed_line("mallory@example.com", &rescue),
    };
    let (mut valid, mut invalid) = (0, 0);
    for n in 0..CASES {
        let (op, params, guest) = g.case();
        let bytes = blob(&op, &params, guest, n);
        let stage5 = fuzz::blob(bytes.as_bytes(), &signers);
        let action = ActionOp::from_name_params(&op, &params);
        if authz::op_is_supported(&op) {
            if stage5.is_ok() {
                let action = action.as_ref().unwrap_or_else(|| {
                    panic!("case {n}: stage 5 accepts {op} {params} but execution drops it")
                });
                assert_eq!(action.params(), params, "case {n}: {op}");
                valid += 1;
            } else {
                invalid += 1;
            }
            let rotation_ok = op != "key_rotation" || rotation_lines_are_signers(&params, &signers);
            if action.is_some() && rotation_ok {
                assert!(
                    stage5.is_ok(),
                    "case {n}: execution accepts {op} {params} but stage 5 refuses: {stage5:?}"
                );
            }
        } else {
            assert!(action.is_none(), "case {n}: {op} is not executed here");
        }
    }
    assert!(
        valid > 2_000 && invalid > 2_000,
        "valid {valid}, invalid {invalid}"
    );
}

#[test]
fn every_op_that_verifies_becomes_an_action() {
    let operator = SigningKey::from_bytes(&[4u8; 32]);
    let rescue = SigningKey::from_bytes(&[5u8; 32]);
    let newcomer = SigningKey::from_bytes(&[6u8; 32]);
    let op_text = ed_line("alice@example.com", &operator);
    let rec_text = ed_line("rescue@example.com", &rescue);
    let signers = Signers::from_texts(Some(("op", &op_text)), Some(("rec", &rec_text))).unwrap();
    let policy = VerifyPolicy {
        host_id: HOST.into(),
        now: NOW,
        clock_skew_seconds: 120,
        max_validity_seconds: 86_400,
        require_user_presence: true,
    };
    let mut g = Gen {
        rng: Rng(0x5157_a6e5),
        line: ed_line("bob@example.com", &newcomer),
        recovery_line: ed_line("mallory@example.com", &rescue),
    };
    let mut verified = 0;
    for n in 0..2_000 {
        let (op, params, guest) = g.case();
        let bytes = blob(&op, &params, guest, n);
        let sig = sshsig(&operator, bytes.as_bytes());
        match authz::verify(&signers, &policy, bytes.as_bytes(), &sig, &|_| false) {
            Ok(verified_op) => {
                let action = action_of(&verified_op).unwrap_or_else(|| {
                    panic!("case {n}: {op} {params} verified but is dropped as unsupported_op")
                });
                assert_eq!(action.op.params(), params, "case {n}");
                verified += 1;
            }
            Err(r) => assert!(
                matches!(r.code(), "malformed" | "unsupported_op"),
                "case {n}: {op}: {r}"
            ),
        }
    }
    assert!(verified > 200, "only {verified} verified");
}
