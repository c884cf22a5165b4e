//! Canonical forms of PVE's loosely typed values, so that a value read back
//! after a write compares equal to what was written.
//!
//! PVE's JSON is Perl-typed: numbers may arrive as strings, booleans as
//! `0`/`1`, `"1"`, `"true"`, ... Exact forms accepted:
//! - qemu `memory`: `2048`, `"2048"`, or the property string
//!   `"current=2048"` (PVE 8.1+), optionally with more `key=value` parts;
//! - byte counts: a non-negative integer, an integral float below 2^53, or
//!   a decimal string; always `u64`;
//! - lxc `description`: PVE stores it as comment lines and returns it with a
//!   trailing newline; exactly one trailing `\n` is removed;
//! - booleans: JSON bools, `0`/`1`, and the strings PVE's schema parser takes
//!   (`0 1 yes no on off true false`, any case).

use serde_json::Value;

/// Largest integer an f64 carries exactly.
const MAX_EXACT_F64: f64 = 9_007_199_254_740_992.0;

/// A non-negative integer in any of PVE's spellings.
pub fn u64_value(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64().or_else(|| {
            let f = n.as_f64()?;
            ((0.0..MAX_EXACT_F64).contains(&f) && f.fract() == 0.0).then_some(f as u64)
        }),
        Value::String(s) => {
            let s = s.trim();
            (!s.is_empty() && s.len() <= 20 && s.bytes().all(|b| b.is_ascii_digit()))
                .then(|| s.parse().ok())
                .flatten()
        }
        _ => None,
    }
}

/// Byte counts (`maxmem`, `maxdisk`, ...).
pub fn byte_count(v: &Value) -> Option<u64> {
    u64_value(v)
}

/// qemu/lxc `memory` in MiB: number, string, or `current=N[,...]`.
pub fn memory_mib(v: &Value) -> Option<u64> {
    if let Some(n) = u64_value(v) {
        return Some(n);
    }
    let s = v.as_str()?;
    let mut bare = None;
    for (i, part) in s.split(',').enumerate() {
        match part.split_once('=') {
            Some(("current", n)) => return u64_value(&Value::String(n.to_string())),
            Some(_) => {}
            None if i == 0 => bare = u64_value(&Value::String(part.to_string())),
            None => return None,
        }
    }
    bare
}

/// A PVE boolean.
pub fn pve_bool(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::Number(_) => match u64_value(v)? {
            0 => Some(false),
            1 => Some(true),
            _ => None,
        },
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "1" | "yes" | "on" | "true" => Some(true),
            "0" | "no" | "off" | "false" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

/// An lxc description as the operator wrote it.
pub fn lxc_description(text: &str) -> String {
    text.strip_suffix('\n').unwrap_or(text).to_string()
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
    fn memory_forms() {
        assert_eq!(memory_mib(&json!(2048)), Some(2048));
        assert_eq!(memory_mib(&json!("2048")), Some(2048));
        assert_eq!(memory_mib(&json!("current=4096")), Some(4096));
        assert_eq!(memory_mib(&json!("current=4096,foo=1")), Some(4096));
        assert_eq!(memory_mib(&json!("x=1,current=512")), Some(512));
        assert_eq!(memory_mib(&json!(2048.0)), Some(2048));
        assert_eq!(memory_mib(&json!(-1)), None);
        assert_eq!(memory_mib(&json!("2G")), None);
        assert_eq!(memory_mib(&json!("current=")), None);
        assert_eq!(memory_mib(&json!(null)), None);
    }

    #[test]
    fn byte_counts_are_u64() {
        assert_eq!(byte_count(&json!(17_179_869_184u64)), Some(17_179_869_184));
        assert_eq!(byte_count(&json!(u64::MAX)), Some(u64::MAX));
        assert_eq!(byte_count(&json!("8589934592")), Some(8_589_934_592));
        assert_eq!(byte_count(&json!(1.5)), None);
        assert_eq!(byte_count(&json!(1e300)), None);
        assert_eq!(byte_count(&json!("99999999999999999999999")), None);
    }

    #[test]
    fn booleans() {
        for t in [json!(1), json!("1"), json!(true), json!("Yes"), json!("on")] {
            assert_eq!(pve_bool(&t), Some(true), "{t}");
        }
        for f in [
            json!(0),
            json!("0"),
            json!(false),
            json!("no"),
            json!("OFF"),
        ] {
            assert_eq!(pve_bool(&f), Some(false), "{f}");
        }
        assert_eq!(pve_bool(&json!(2)), None);
        assert_eq!(pve_bool(&json!("maybe")), None);
    }

    #[test]
    fn lxc_description_loses_one_trailing_newline() {
        assert_eq!(lxc_description("web\n"), "web");
        assert_eq!(lxc_description("web"), "web");
        assert_eq!(lxc_description("a\nb\n\n"), "a\nb\n");
    }
}
