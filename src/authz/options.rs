//! The option field of an `allowed_signers` line (ssh-keygen(1), ALLOWED
//! SIGNERS; OpenSSH `sshsigopt_parse`), restricted to what the agent
//! supports.
//!
//! Owns: `namespaces="LIST"`, `valid-after="TIME"`, `valid-before="TIME"`.
//! Trusts: nothing.
//!
//! - Options are comma-separated; names are case-insensitive (as OpenSSH);
//!   each at most once; every value is double-quoted.
//! - TIME is `YYYYMMDD` or `YYYYMMDDHHMM[SS]`, followed by `Z` (UTC). Without
//!   `Z`, OpenSSH reads it in the host's local time zone; the agent takes it
//!   only where that zone is provably UTC (`local_zone`), and then reads it
//!   as UTC, exactly as `ssh-keygen` on the same host does.
//!
//! Stricter than OpenSSH, each a whole-file error naming the line:
//! `cert-authority` and every other option; a value without the `Z` suffix
//! on a host whose local time zone is not (provably) UTC, since its meaning
//! would depend on the zone (refused with a message saying so); `z` or `UTC`
//! as the suffix; dates that do not exist (OpenSSH normalizes 0231 to 0303);
//! second 60; a backslash inside a value.

use super::pattern;

/// What a line's options say; `None` means the option is absent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SignerOptions {
    pub namespaces: Option<String>,
    pub valid_after: Option<i64>,
    pub valid_before: Option<i64>,
}

/// Parses the options token (already cut at the first unquoted blank).
pub fn parse(token: &str) -> Result<SignerOptions, String> {
    let mut opts = SignerOptions::default();
    let mut rest = token;
    loop {
        let (name, value, after) = one_option(rest)?;
        match name.to_ascii_lowercase().as_str() {
            "namespaces" => set_once(&mut opts.namespaces, namespaces(value)?, "namespaces")?,
            "valid-after" => set_once(
                &mut opts.valid_after,
                time(value, "valid-after")?,
                "valid-after",
            )?,
            "valid-before" => set_once(
                &mut opts.valid_before,
                time(value, "valid-before")?,
                "valid-before",
            )?,
            _ => return Err(format!("unknown option {name:?}")),
        }
        match after.strip_prefix(',') {
            None if after.is_empty() => return Ok(opts),
            Some(next) if !next.is_empty() => rest = next,
            _ => return Err("unexpected end of options".to_string()),
        }
    }
}

/// Splits `name="value"` off the front; returns the rest after the quote.
fn one_option(s: &str) -> Result<(&str, &str, &str), String> {
    let name_end = s.find(['=', ',']).unwrap_or(s.len());
    let name = s.get(..name_end).unwrap_or_default();
    if name.eq_ignore_ascii_case("cert-authority") {
        return Err("cert-authority is not supported (plain signer keys only)".to_string());
    }
    let Some(after_eq) = s.get(name_end..).and_then(|r| r.strip_prefix('=')) else {
        return Err(format!("unknown option {name:?}"));
    };
    if !["namespaces", "valid-after", "valid-before"]
        .iter()
        .any(|k| name.eq_ignore_ascii_case(k))
    {
        return Err(format!(
            "unknown option {name:?} (supported: namespaces, valid-after, valid-before)"
        ));
    }
    let Some(quoted) = after_eq.strip_prefix('"') else {
        return Err(format!("value of {name} must be in double quotes"));
    };
    let Some(close) = quoted.find('"') else {
        return Err(format!("value of {name} has no closing quote"));
    };
    let value = quoted.get(..close).unwrap_or_default();
    if value.contains('\\') {
        return Err(format!("value of {name} contains a backslash"));
    }
    Ok((name, value, quoted.get(close + 1..).unwrap_or_default()))
}

fn set_once<T>(slot: &mut Option<T>, value: T, name: &str) -> Result<(), String> {
    if slot.is_some() {
        return Err(format!("{name} given more than once"));
    }
    *slot = Some(value);
    Ok(())
}

fn namespaces(value: &str) -> Result<String, String> {
    if pattern::list_is_well_formed(value.as_bytes()) {
        Ok(value.to_string())
    } else {
        Err(format!("namespaces value {value:?} is not a pattern list"))
    }
}

/// `YYYYMMDD[HHMM[SS]]Z` as Unix seconds (UTC); must be after the epoch,
/// since OpenSSH reads 0 as "option absent" and refuses it.
pub fn time(value: &str, name: &str) -> Result<i64, String> {
    let bad = || format!("{name} value {value:?} is not YYYYMMDD[HHMM[SS]]Z");
    let digits = if let Some(d) = value.strip_suffix('Z') {
        d
    } else if value.ends_with('z') || value.to_ascii_uppercase().ends_with("UTC") {
        return Err(format!("{name} value {value:?}: write the UTC suffix as Z"));
    } else if value.bytes().all(|c| c.is_ascii_digit()) && matches!(value.len(), 8 | 12 | 14) {
        if !super::local_zone::is_utc() {
            return Err(format!(
                "{name} value {value:?} is in local time, and this host's time zone is not UTC; \
                 write it in UTC with a Z suffix (e.g. \"{value}Z\")"
            ));
        }
        value
    } else {
        return Err(bad());
    };
    if !digits.bytes().all(|c| c.is_ascii_digit()) || !matches!(digits.len(), 8 | 12 | 14) {
        return Err(bad());
    }
    let field = |at: usize, n: usize| -> u32 {
        digits
            .get(at..at + n)
            .and_then(|f| f.parse().ok())
            .unwrap_or(0)
    };
    let (year, month, day) = (i64::from(field(0, 4)), field(4, 2), field(6, 2));
    let (hour, minute, second) = (field(8, 2), field(10, 2), field(12, 2));
    if !(1..=12).contains(&month) || day < 1 || day > crate::time::days_in_month(year, month) {
        return Err(format!(
            "{name} value {value:?} names a date that does not exist"
        ));
    }
    if hour > 23 || minute > 59 || second > 59 {
        return Err(format!(
            "{name} value {value:?} has a time of day out of range"
        ));
    }
    let secs = crate::time::days_from_civil(year, month, day) * 86_400
        + i64::from(hour * 3600 + minute * 60 + second);
    if secs <= 0 {
        return Err(format!(
            "{name} value {value:?} is not after 1970-01-01T00:00:00Z"
        ));
    }
    Ok(secs)
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

    #[test]
    fn the_three_supported_options_parse() {
        let o = parse(r#"namespaces="felhom-op-v1,file",VALID-AFTER="20260101Z",valid-before="202612312359Z""#)
            .unwrap();
        assert_eq!(o.namespaces.as_deref(), Some("felhom-op-v1,file"));
        assert_eq!(o.valid_after, Some(1_767_225_600));
        assert_eq!(o.valid_before, Some(1_798_761_540));
    }

    #[test]
    fn local_time_values_count_as_utc_only_where_the_zone_is_utc() {
        // Where the zone is not provably UTC, the value's meaning depends on
        // the host: refused, saying so (the binary's tests set TZ for both).
        match parse(r#"valid-after="20260101""#) {
            Ok(o) if super::super::local_zone::is_utc() => {
                assert_eq!(o.valid_after, Some(1_767_225_600));
            }
            Ok(o) => panic!("accepted {o:?} in a zone that is not UTC"),
            Err(e) => {
                assert!(!super::super::local_zone::is_utc(), "{e}");
                assert!(e.contains("local time"), "{e}");
            }
        }
        assert!(
            parse(r#"valid-after="20260101z""#)
                .unwrap_err()
                .contains("as Z")
        );
        assert!(
            parse(r#"valid-after="20260101UTC""#)
                .unwrap_err()
                .contains("as Z")
        );
    }

    #[test]
    fn unsupported_duplicate_and_unquoted_options_are_refused() {
        assert!(
            parse("cert-authority")
                .unwrap_err()
                .contains("cert-authority")
        );
        assert!(
            parse(r#"verify-required"#)
                .unwrap_err()
                .contains("unknown option")
        );
        assert!(
            parse(r#"principals="x""#)
                .unwrap_err()
                .contains("unknown option")
        );
        assert!(
            parse(r#"namespaces=x"#)
                .unwrap_err()
                .contains("double quotes")
        );
        assert!(
            parse(r#"namespaces="x"#)
                .unwrap_err()
                .contains("closing quote")
        );
        assert!(
            parse(r#"namespaces="a",namespaces="b""#)
                .unwrap_err()
                .contains("more than once")
        );
        assert!(
            parse(r#"namespaces="a","#)
                .unwrap_err()
                .contains("end of options")
        );
        assert!(parse(r#"namespaces="a\"b""#).is_err());
        assert!(parse(r#"namespaces="a"x"#).is_err());
    }

    #[test]
    fn impossible_dates_and_the_epoch_are_refused() {
        assert!(time("20260231Z", "v").is_err());
        assert!(time("20260101236000Z", "v").is_err());
        assert!(time("20260101240000Z", "v").is_err());
        assert!(time("20261231235960Z", "v").is_err());
        assert!(time("19700101Z", "v").is_err());
        assert!(time("2026010Z", "v").is_err());
        assert_eq!(time("19700101000001Z", "v"), Ok(1));
    }
}
