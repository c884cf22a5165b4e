//! Canonical forms, so a round trip through PVE never reads as drift.
//!
//! Owns the comparison rules between the desired state and what PVE
//! reports; the plan compares only through these functions.
//! Trusts nothing: PVE values arrive as loose JSON (numbers or strings).
//!
//! Rules:
//! - memory: desired `memory_bytes` is compared and written in MiB, rounded
//!   up (`2147483649` bytes → `2049` MiB). PVE reports qemu `memory` as a
//!   number, a numeric string, or a property string `current=N[,...]`; lxc
//!   as a number. All are MiB.
//! - description: equal modulo trailing whitespace (lxc returns the text
//!   with a trailing newline; qemu keeps it as comment lines). An absent
//!   description reads as empty. Nothing else is rewritten: PVE hands the
//!   API the decoded text.
//! - integers and booleans: PVE sends `2` or `"2"`, `1`/`0` or `"1"`/`"0"`.
//!
//! Invariant (tested): writing the normalized desired value and reading it
//! back in any of PVE's forms compares equal.

use serde_json::Value;

/// One MiB: PVE's unit for `memory`.
pub const MIB: u64 = 1024 * 1024;
/// Longest numeric text accepted from PVE; a u64 has at most 20 digits.
const MAX_NUMBER_TEXT: usize = 20;

/// `memory_bytes` → MiB, rounded up. Never overflows.
pub fn memory_bytes_to_mib(bytes: u64) -> u64 {
    bytes.div_ceil(MIB)
}

/// Whether the desired memory (bytes) equals PVE's (MiB).
pub fn memory_matches(desired_bytes: u64, actual_mib: Option<u64>) -> bool {
    actual_mib == Some(memory_bytes_to_mib(desired_bytes))
}

/// The comparable form of a description.
pub fn canonical_description(text: &str) -> &str {
    text.trim_end()
}

/// Whether a desired description equals PVE's; absent reads as empty.
pub fn description_matches(desired: &str, actual: Option<&str>) -> bool {
    canonical_description(desired) == canonical_description(actual.unwrap_or(""))
}

/// A non-negative integer from PVE: a JSON number or a decimal string.
pub fn pve_u64(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => decimal_u64(s),
        _ => None,
    }
}

/// A PVE boolean: `true`/`false`, `1`/`0`, `"1"`/`"0"`.
pub fn pve_bool(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        other => match pve_u64(other)? {
            0 => Some(false),
            1 => Some(true),
            _ => None,
        },
    }
}

/// qemu `memory` in MiB: `2048`, `"2048"`, `"current=2048"`, or a property
/// string whose `current` (or unnamed first) entry holds the size.
pub fn qemu_memory_mib(v: &Value) -> Option<u64> {
    match v {
        Value::String(s) => property_current(s),
        other => pve_u64(other),
    }
}

fn property_current(s: &str) -> Option<u64> {
    s.split(',').find_map(|part| match part.split_once('=') {
        Some(("current", n)) => decimal_u64(n),
        Some(_) => None,
        None => decimal_u64(part),
    })
}

/// Strict decimal: ASCII digits only, no sign, no spaces, bounded length.
fn decimal_u64(s: &str) -> Option<u64> {
    let ok = !s.is_empty() && s.len() <= MAX_NUMBER_TEXT && s.bytes().all(|b| b.is_ascii_digit());
    ok.then(|| s.parse().ok()).flatten()
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn memory_rounds_up_to_whole_mib() {
        assert_eq!(memory_bytes_to_mib(1), 1);
        assert_eq!(memory_bytes_to_mib(MIB), 1);
        assert_eq!(memory_bytes_to_mib(MIB + 1), 2);
        assert_eq!(memory_bytes_to_mib(2_147_483_648), 2048);
        assert_eq!(memory_bytes_to_mib(u64::MAX), 1 << 44);
    }

    #[test]
    fn written_memory_read_back_in_every_pve_form_is_not_drift() {
        for bytes in [1, MIB - 1, MIB, MIB + 1, 3_000_000_000, u64::MAX] {
            let written = memory_bytes_to_mib(bytes);
            for form in [
                json!(written),
                json!(written.to_string()),
                json!(format!("current={written}")),
                json!(format!("{written},balloon=0")),
            ] {
                assert!(memory_matches(bytes, qemu_memory_mib(&form)), "{form}");
            }
        }
    }

    #[test]
    fn a_different_memory_size_is_drift() {
        assert!(!memory_matches(2 * MIB, Some(1)));
        assert!(!memory_matches(MIB + 1, Some(1)));
        assert!(!memory_matches(MIB, None));
    }

    #[test]
    fn written_description_read_back_with_trailing_newline_is_not_drift() {
        for d in ["web", "web\n", "two\nlines", "", "  lead kept"] {
            for read in [d.to_string(), format!("{d}\n"), format!("{d} \r\n\n")] {
                assert!(description_matches(d, Some(&read)), "{d:?} vs {read:?}");
            }
        }
        assert!(description_matches("", None));
        assert!(description_matches("\n", None));
    }

    #[test]
    fn a_changed_description_is_drift() {
        assert!(!description_matches("web", Some("db\n")));
        assert!(!description_matches("web", None));
        assert!(!description_matches("web", Some(" web")));
    }

    #[test]
    fn pve_numbers_and_booleans_in_loose_forms() {
        assert_eq!(pve_u64(&json!(4)), Some(4));
        assert_eq!(pve_u64(&json!("4")), Some(4));
        for bad in [
            json!(-1),
            json!(1.5),
            json!("+4"),
            json!(" 4"),
            json!(""),
            json!(null),
        ] {
            assert_eq!(pve_u64(&bad), None, "{bad}");
        }
        assert_eq!(pve_u64(&json!("99999999999999999999999")), None);
        assert_eq!(pve_bool(&json!(1)), Some(true));
        assert_eq!(pve_bool(&json!("0")), Some(false));
        assert_eq!(pve_bool(&json!(false)), Some(false));
        assert_eq!(pve_bool(&json!(2)), None);
        assert_eq!(qemu_memory_mib(&json!("current=abc")), None);
        assert_eq!(qemu_memory_mib(&json!("balloon=0")), None);
    }
}
