//! Mutation fuzzing of the two decoders that see hub bytes directly:
//! at least 100k mutated inputs each, no panic, and every answer is either a
//! typed `Decode` error or a value that satisfies the documented invariants.

use felhom_agent::hub::{self, HubError};
#[path = "../support/rng.rs"]
mod rng;
use rng::Rng;

/// Bytes that steer mutations toward JSON-shaped edge cases.
const TOKENS: &[&[u8]] = &[
    b"null",
    b"true",
    b"false",
    b"-1",
    b"0",
    b"1e400",
    b"18446744073709551616",
    b"\"\"",
    b"{}",
    b"[]",
    b",",
    b":",
    b"\"",
    b"\\u0000",
    b"=",
    b"==",
    b"/",
    b"..",
    b"\"x\":1,",
];

fn mutate(rng: &mut Rng, input: &mut Vec<u8>, seeds: &[Vec<u8>]) {
    let at = rng.below(input.len() + 1);
    match rng.below(7) {
        0 if !input.is_empty() => {
            let i = rng.below(input.len());
            input[i] ^= 1 << rng.below(8);
        }
        1 => input.insert(at, rng.next() as u8),
        2 if at < input.len() => {
            input.remove(at);
        }
        3 if at < input.len() => input[at] = rng.next() as u8,
        4 => input.truncate(at),
        5 => {
            let other = &seeds[rng.below(seeds.len())];
            let from = rng.below(other.len());
            let len = rng.below(other.len() - from + 1);
            let tail = input.split_off(at);
            input.extend_from_slice(&other[from..from + len]);
            input.extend_from_slice(&tail);
        }
        _ => {
            let token = TOKENS[rng.below(TOKENS.len())];
            let tail = input.split_off(at);
            input.extend_from_slice(token);
            input.extend_from_slice(&tail);
        }
    }
}

fn run(
    seeds: &[Vec<u8>],
    iterations: usize,
    seed: u64,
    mut check: impl FnMut(&[u8]) -> bool,
) -> usize {
    let mut rng = Rng(seed);
    let mut accepted = 0;
    for _ in 0..iterations {
        let mut input = seeds[rng.below(seeds.len())].clone();
        for _ in 0..=rng.below(4) {
            mutate(&mut rng, &mut input, seeds);
        }
        if check(&input) {
            accepted += 1;
        }
    }
    accepted
}

fn envelope_seeds() -> Vec<Vec<u8>> {
    [
        r#"{"poll_interval_seconds":900,"blocked":false,"desired_generation":12,"has_signed_ops":true}"#,
        r#"{"poll_interval_seconds":0,"blocked":true,"desired_generation":null,"has_signed_ops":false}"#,
        "{\n  \"has_signed_ops\": false,\n  \"desired_generation\": 18446744073709551615,\n  \"blocked\": false,\n  \"poll_interval_seconds\": 99999\n}",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect()
}

fn jobs_seeds() -> Vec<Vec<u8>> {
    let blob = br#"{"expires_at":"2026-11-22T11:00:00Z","issued_at":"2026-11-22T10:00:00Z","key_id":"alice","nonce":"9f2c4e7a1b3d5f60718293a4b5c6d7e8","op":"guest_destroy","params":{"purge":true},"target":{"guest_id":"9001","host_id":"demo-felhom"}}"#;
    let sig = "-----BEGIN SSH SIGNATURE-----\nU1NIU0lHAAAAAQAAADMAAAALc3NoLWVkMjU1MTkAAAAg\n-----END SSH SIGNATURE-----\n";
    let one = serde_json::json!({"jobs": [{"job_id": "job-1", "op_blob_b64": felhom_agent::base64::encode(blob), "sig_armored": sig}]});
    let two = serde_json::json!({"jobs": [
        {"job_id": "a.b_c-1", "op_blob_b64": "eA==", "sig_armored": "s"},
        {"job_id": "z", "op_blob_b64": felhom_agent::base64::encode(b"\x00\x01\x02"), "sig_armored": sig},
    ]});
    vec![
        one.to_string().into_bytes(),
        two.to_string().into_bytes(),
        br#"{"jobs":[]}"#.to_vec(),
    ]
}

#[test]
fn mutated_envelopes_never_panic_and_decode_or_fail_typed() {
    let seeds = envelope_seeds();
    for s in &seeds {
        hub::decode_envelope(s).unwrap();
    }
    let accepted = run(
        &seeds,
        100_000,
        0x5EED_0001,
        |input| match hub::decode_envelope(input) {
            Ok(env) => {
                let secs = env.clamped_poll_interval().as_secs();
                assert!((hub::MIN_POLL_SECONDS..=hub::MAX_POLL_SECONDS).contains(&secs));
                true
            }
            Err(HubError::Decode {
                what: "control envelope",
                detail,
            }) => {
                assert!(detail.chars().count() <= 201 && !detail.chars().any(char::is_control));
                false
            }
            Err(other) => panic!("untyped error {other:?}"),
        },
    );
    // Some mutations (whitespace, digits) keep documents valid: the fuzzer reaches both sides.
    assert!(accepted > 0 && accepted < 100_000, "accepted {accepted}");
}

#[test]
fn mutated_job_lists_never_panic_and_only_valid_jobs_pass() {
    let seeds = jobs_seeds();
    for s in &seeds {
        hub::decode_jobs(s).unwrap();
    }
    let accepted = run(
        &seeds,
        100_000,
        0x5EED_0002,
        |input| match hub::decode_jobs(input) {
            Ok(jobs) => {
                assert!(jobs.len() <= hub::MAX_JOBS);
                for job in &jobs {
                    assert!(hub::is_safe_path_segment(&job.job_id), "{:?}", job.job_id);
                    assert!(!job.blob.is_empty() && job.blob.len() <= hub::MAX_JOB_BLOB_BYTES);
                    assert!(
                        !job.sig_armored.is_empty()
                            && job.sig_armored.len() <= hub::MAX_JOB_SIG_BYTES
                    );
                }
                true
            }
            Err(HubError::Decode { .. }) => false,
            Err(other) => panic!("untyped error {other:?}"),
        },
    );
    assert!(accepted > 0 && accepted < 100_000, "accepted {accepted}");
}
