//! Strict RFC 3339 timestamps for the op blob's `issued_at` / `expires_at`.
//!
//! Owns: parsing untrusted timestamp strings. Trusts: nothing.
//!
//! Accepted form, byte for byte (RFC 3339 §5.6 `date-time`):
//!
//! ```text
//! YYYY-MM-DDTHH:MM:SS[.F{1,9}](Z|+HH:MM|-HH:MM)
//! ```
//!
//! - `T` and `Z` upper case only (RFC 3339 also allows lower case; refusing it
//!   keeps one spelling per instant family and costs signers nothing).
//! - The date must exist in the proleptic Gregorian calendar (no 02-30);
//!   hour 00-23, minute 00-59, second 00-59: no leap second `:60`.
//! - Offset hours 00-23, minutes 00-59. `-00:00` is read as UTC.
//! - At most 9 fractional digits (nanoseconds), at least one if `.` is present.

use std::fmt;

/// Longest accepted string: 19 (date-time) + 10 (`.` + 9 digits) + 6 (offset).
pub const MAX_LEN: usize = 35;

/// An instant: whole seconds since the Unix epoch plus a sub-second part.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Timestamp {
    pub secs: i64,
    pub nanos: u32,
}

impl Timestamp {
    /// The whole second at or before the instant.
    pub fn floor(self) -> i64 {
        self.secs
    }

    /// The whole second at or after the instant.
    pub fn ceil(self) -> i64 {
        if self.nanos > 0 {
            self.secs.saturating_add(1)
        } else {
            self.secs
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rfc3339Error {
    Length,
    /// A byte that is not what the format requires at this offset.
    Syntax(usize),
    Date,
    Time,
    Offset,
}

impl fmt::Display for Rfc3339Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rfc3339Error::Length => write!(f, "timestamp has the wrong length"),
            Rfc3339Error::Syntax(at) => write!(
                f,
                "timestamp is not YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM) (byte {at})"
            ),
            Rfc3339Error::Date => write!(f, "timestamp names a date that does not exist"),
            Rfc3339Error::Time => write!(f, "timestamp time of day out of range"),
            Rfc3339Error::Offset => write!(f, "timestamp offset out of range"),
        }
    }
}

impl std::error::Error for Rfc3339Error {}

/// A fixed-width run of ASCII digits at `at`, as a number.
fn digits(s: &[u8], at: usize, n: usize) -> Result<u32, Rfc3339Error> {
    let field = s
        .get(at..at + n)
        .ok_or(Rfc3339Error::Syntax(s.len().min(at)))?;
    let mut v: u32 = 0;
    for (i, &c) in field.iter().enumerate() {
        if !c.is_ascii_digit() {
            return Err(Rfc3339Error::Syntax(at + i));
        }
        v = v * 10 + u32::from(c - b'0');
    }
    Ok(v)
}

fn expect(s: &[u8], at: usize, want: u8) -> Result<(), Rfc3339Error> {
    match s.get(at) {
        Some(&c) if c == want => Ok(()),
        _ => Err(Rfc3339Error::Syntax(at)),
    }
}

/// Parses one RFC 3339 `date-time` (see the module header for the rules).
pub fn parse(text: &str) -> Result<Timestamp, Rfc3339Error> {
    let s = text.as_bytes();
    if s.len() < 20 || s.len() > MAX_LEN {
        return Err(Rfc3339Error::Length);
    }
    let year = digits(s, 0, 4)?;
    expect(s, 4, b'-')?;
    let month = digits(s, 5, 2)?;
    expect(s, 7, b'-')?;
    let day = digits(s, 8, 2)?;
    expect(s, 10, b'T')?;
    let hour = digits(s, 11, 2)?;
    expect(s, 13, b':')?;
    let minute = digits(s, 14, 2)?;
    expect(s, 16, b':')?;
    let second = digits(s, 17, 2)?;
    let (nanos, rest) = fraction(s, 19)?;
    let offset = offset_seconds(s, rest)?;

    let year = i64::from(year);
    if !(1..=12).contains(&month) || day < 1 || day > crate::time::days_in_month(year, month) {
        return Err(Rfc3339Error::Date);
    }
    if hour > 23 || minute > 59 || second > 59 {
        return Err(Rfc3339Error::Time);
    }
    let days = crate::time::days_from_civil(year, month, day);
    let local = days * 86_400 + i64::from(hour * 3600 + minute * 60 + second);
    Ok(Timestamp {
        secs: local - offset,
        nanos,
    })
}

/// Optional `.digits` at `at`; returns nanoseconds and the offset's position.
fn fraction(s: &[u8], at: usize) -> Result<(u32, usize), Rfc3339Error> {
    if s.get(at) != Some(&b'.') {
        return Ok((0, at));
    }
    let start = at + 1;
    let count = s
        .get(start..)
        .unwrap_or_default()
        .iter()
        .take_while(|c| c.is_ascii_digit())
        .count();
    if count == 0 || count > 9 {
        return Err(Rfc3339Error::Syntax(start + count.min(9)));
    }
    let mut nanos = digits(s, start, count)?;
    for _ in count..9 {
        nanos *= 10;
    }
    Ok((nanos, start + count))
}

/// `Z` or `±HH:MM` at `at`, ending the string; returns seconds east of UTC.
fn offset_seconds(s: &[u8], at: usize) -> Result<i64, Rfc3339Error> {
    match s.get(at) {
        Some(b'Z') if s.len() == at + 1 => Ok(0),
        Some(&sign @ (b'+' | b'-')) if s.len() == at + 6 => {
            let hours = digits(s, at + 1, 2)?;
            expect(s, at + 3, b':')?;
            let minutes = digits(s, at + 4, 2)?;
            if hours > 23 || minutes > 59 {
                return Err(Rfc3339Error::Offset);
            }
            let secs = i64::from(hours * 3600 + minutes * 60);
            Ok(if sign == b'-' { -secs } else { secs })
        }
        _ => Err(Rfc3339Error::Syntax(at)),
    }
}

/// `YYYY-MM-DDTHH:MM:SSZ` for a Unix time (the form `canonical_blob` writes);
/// round-trips through [`parse`] (tested).
pub fn format_utc(unix: i64) -> String {
    crate::time::format_rfc3339(unix)
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

    fn secs(s: &str) -> i64 {
        parse(s).unwrap().secs
    }

    #[test]
    fn utc_and_offsets_name_the_same_instant() {
        assert_eq!(secs("2026-11-22T10:00:00Z"), 1_795_341_600);
        assert_eq!(secs("2026-11-22T11:30:00+01:30"), 1_795_341_600);
        assert_eq!(secs("2026-11-22T05:00:00-05:00"), 1_795_341_600);
        assert_eq!(secs("2026-11-22T10:00:00-00:00"), 1_795_341_600);
        assert_eq!(secs("1970-01-01T00:00:00Z"), 0);
        assert_eq!(secs("1969-12-31T23:59:59Z"), -1);
    }

    #[test]
    fn fractional_seconds_keep_nanos_and_round_both_ways() {
        let t = parse("2026-11-22T10:00:00.5Z").unwrap();
        assert_eq!((t.secs, t.nanos), (1_795_341_600, 500_000_000));
        assert_eq!(t.floor(), 1_795_341_600);
        assert_eq!(t.ceil(), 1_795_341_601);
        let t = parse("2026-11-22T10:00:00.000000001+00:00").unwrap();
        assert_eq!(t.nanos, 1);
        assert_eq!(
            parse("2026-11-22T10:00:00.0Z").unwrap().ceil(),
            1_795_341_600
        );
    }

    #[test]
    fn format_utc_round_trips_through_parse() {
        assert_eq!(format_utc(1_795_341_600), "2026-11-22T10:00:00Z");
        assert_eq!(format_utc(951_782_400), "2000-02-29T00:00:00Z");
        for t in (-2_000_000_000_i64..4_000_000_000).step_by(9_876_543) {
            assert_eq!(parse(&format_utc(t)).unwrap().secs, t, "{t}");
        }
    }

    #[test]
    fn calendar_invalid_dates_are_rejected() {
        assert_eq!(parse("2026-02-29T00:00:00Z"), Err(Rfc3339Error::Date));
        assert!(parse("2024-02-29T00:00:00Z").is_ok());
        assert_eq!(parse("2100-02-29T00:00:00Z"), Err(Rfc3339Error::Date));
        assert!(parse("2000-02-29T00:00:00Z").is_ok());
        assert_eq!(parse("2026-04-31T00:00:00Z"), Err(Rfc3339Error::Date));
        assert_eq!(parse("2026-13-01T00:00:00Z"), Err(Rfc3339Error::Date));
        assert_eq!(parse("2026-00-01T00:00:00Z"), Err(Rfc3339Error::Date));
        assert_eq!(parse("2026-01-00T00:00:00Z"), Err(Rfc3339Error::Date));
    }

    #[test]
    fn leap_seconds_and_out_of_range_times_are_rejected() {
        assert_eq!(parse("2016-12-31T23:59:60Z"), Err(Rfc3339Error::Time));
        assert_eq!(parse("2026-01-01T24:00:00Z"), Err(Rfc3339Error::Time));
        assert_eq!(parse("2026-01-01T00:60:00Z"), Err(Rfc3339Error::Time));
        assert_eq!(
            parse("2026-01-01T00:00:00+24:00"),
            Err(Rfc3339Error::Offset)
        );
        assert_eq!(
            parse("2026-01-01T00:00:00+01:60"),
            Err(Rfc3339Error::Offset)
        );
    }

    #[test]
    fn loose_spellings_are_rejected() {
        for bad in [
            "2026-11-22t10:00:00Z",
            "2026-11-22T10:00:00z",
            "2026-11-22 10:00:00Z",
            "2026-11-22T10:00:00",
            "2026-11-22T10:00Z",
            "2026-11-22T10:00:00.Z",
            "2026-11-22T10:00:00.1234567890Z",
            "2026-11-22T10:00:00+0100",
            "2026-11-22T10:00:00+01",
            "2026-11-22T10:00:00Z ",
            " 2026-11-22T10:00:00Z",
            "+2026-11-22T10:00:00Z",
            "2026-1-22T10:00:00Z",
            "2026-11-22T10:00:00ZZ",
            "２026-11-22T10:00:00Z",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} accepted");
        }
    }
}
