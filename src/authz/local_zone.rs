//! `authz::local_zone`: is this host's local time zone UTC, for every instant?
//!
//! Owns: the one question a signer-file validity time without `Z` needs
//! answered. OpenSSH reads `valid-after="20260101"` in the local time zone of
//! the process that verifies (ssh-keygen(1), ALLOWED SIGNERS: "interpreted in
//! the current system time zone unless suffixed with a Z"). The agent takes
//! such a value only where that zone is provably UTC, and then reads it
//! exactly as `ssh-keygen` on the same host does; anywhere else the file is
//! refused (fail closed), asking for the `Z` suffix.
//!
//! Trusts: the process environment and the system's zone files (root-owned).
//!
//! The zone is found as glibc finds it, narrowed to what proves UTC:
//! - `TZ` unset: `/etc/localtime` decides; a missing file is UTC (glibc's
//!   default). Any other read error: not proven.
//! - `TZ` empty: UTC. Otherwise (after one optional leading `:`): an absolute
//!   path, or a name under `/usr/share/zoneinfo` (no `..`, and `TZDIR` unset),
//!   names a TZif file that decides; when no such file exists, the value is
//!   a POSIX TZ string, UTC only as `NAME0` (no DST rule).
//! - A TZif file (RFC 8536, at most [`MAX_TZIF_BYTES`]) is UTC when the data
//!   block that governs (version 1: the first; version 2+: the second) has no
//!   transition, no leap second and exactly one local time type, offset 0
//!   and not DST, and (version 2+) its footer is empty or `NAME0`. The first
//!   block of a version 2+ file is not read for this: `zic -b slim` writes it
//!   as one type of offset 0 for every zone.

use std::io::Read;

/// Zone files are a few KiB; a larger file is not read (not proven UTC).
pub const MAX_TZIF_BYTES: u64 = 256 * 1024;

const ZONEINFO: &str = "/usr/share/zoneinfo";
const LOCALTIME: &str = "/etc/localtime";
/// Magic, version, 15 reserved bytes, six 32-bit counts.
const HEADER_LEN: usize = 44;

/// Whether the process's local time zone is UTC at every instant.
pub fn is_utc() -> bool {
    match std::env::var_os("TZ") {
        None => match read_bounded(LOCALTIME) {
            Ok(bytes) => tzif_is_utc(&bytes),
            Err(e) => e.kind() == std::io::ErrorKind::NotFound,
        },
        Some(tz) => tz.to_str().is_some_and(tz_is_utc),
    }
}

/// A set `TZ` value (see the module header).
fn tz_is_utc(tz: &str) -> bool {
    if tz.is_empty() {
        return true;
    }
    let name = tz.strip_prefix(':').unwrap_or(tz);
    if name.is_empty() {
        return false;
    }
    let path = if name.starts_with('/') {
        name.to_string()
    } else if name.split('/').any(|c| c == "..") || std::env::var_os("TZDIR").is_some() {
        return false;
    } else {
        format!("{ZONEINFO}/{name}")
    };
    match read_bounded(&path) {
        Ok(bytes) => tzif_is_utc(&bytes),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => posix_is_utc(name),
        Err(_) => false,
    }
}

fn read_bounded(path: &str) -> std::io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    std::fs::File::open(path)?
        .take(MAX_TZIF_BYTES + 1)
        .read_to_end(&mut bytes)?;
    if u64::try_from(bytes.len()).map_or(true, |n| n > MAX_TZIF_BYTES) {
        return Err(std::io::Error::other("zone file too large"));
    }
    Ok(bytes)
}

/// The counts of a TZif header, in file order.
struct Header {
    version: u8,
    isutcnt: usize,
    isstdcnt: usize,
    leapcnt: usize,
    timecnt: usize,
    typecnt: usize,
    charcnt: usize,
}

impl Header {
    fn parse(bytes: &[u8], at: usize) -> Option<Header> {
        let h = bytes.get(at..at.checked_add(HEADER_LEN)?)?;
        if h.get(..4)? != b"TZif" {
            return None;
        }
        let count = |i: usize| -> Option<usize> {
            let b: [u8; 4] = h.get(20 + 4 * i..24 + 4 * i)?.try_into().ok()?;
            usize::try_from(u32::from_be_bytes(b)).ok()
        };
        Some(Header {
            version: *h.get(4)?,
            isutcnt: count(0)?,
            isstdcnt: count(1)?,
            leapcnt: count(2)?,
            timecnt: count(3)?,
            typecnt: count(4)?,
            charcnt: count(5)?,
        })
    }

    /// Length of the data block after this header (`time` bytes per time).
    fn data_len(&self, time: usize) -> Option<usize> {
        let parts = [
            self.timecnt.checked_mul(time)?,
            self.timecnt,
            self.typecnt.checked_mul(6)?,
            self.charcnt,
            self.leapcnt.checked_mul(time.checked_add(4)?)?,
            self.isstdcnt,
            self.isutcnt,
        ];
        parts.iter().try_fold(0usize, |sum, p| sum.checked_add(*p))
    }

    /// One type, offset 0, not DST; no transition, no leap second. `data`
    /// starts at the block (with no transition, the types come first).
    fn is_utc_block(&self, data: &[u8]) -> bool {
        self.leapcnt == 0
            && self.timecnt == 0
            && self.typecnt == 1
            && data.get(..5) == Some(&[0, 0, 0, 0, 0][..])
    }
}

/// Whether a TZif file describes UTC at every instant.
fn tzif_is_utc(bytes: &[u8]) -> bool {
    let Some(v1) = Header::parse(bytes, 0) else {
        return false;
    };
    let Some(v1_end) = v1.data_len(4).and_then(|n| n.checked_add(HEADER_LEN)) else {
        return false;
    };
    if v1.version == 0 {
        return bytes
            .get(HEADER_LEN..)
            .is_some_and(|data| v1.is_utc_block(data));
    }
    let Some(v2) = Header::parse(bytes, v1_end) else {
        return false;
    };
    let data_at = v1_end.saturating_add(HEADER_LEN);
    let Some(footer_at) = v2.data_len(8).and_then(|n| n.checked_add(data_at)) else {
        return false;
    };
    let block_ok = bytes.get(data_at..).is_some_and(|d| v2.is_utc_block(d));
    let footer = bytes
        .get(footer_at..)
        .and_then(|f| f.strip_prefix(b"\n"))
        .and_then(|f| f.strip_suffix(b"\n"))
        .and_then(|f| std::str::from_utf8(f).ok());
    block_ok && footer.is_some_and(|f| f.is_empty() || posix_is_utc(f))
}

/// A POSIX TZ string of offset 0 and no DST rule: `NAME0`, where NAME is
/// three or more letters or `<...>`, and the offset `[+-]0[0][:00[:00]]`.
fn posix_is_utc(s: &str) -> bool {
    let rest = if let Some(quoted) = s.strip_prefix('<') {
        match quoted.split_once('>') {
            Some((name, rest))
                if name.len() >= 3
                    && name
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'-') =>
            {
                rest
            }
            _ => return false,
        }
    } else {
        let letters = s.bytes().take_while(u8::is_ascii_alphabetic).count();
        if letters < 3 {
            return false;
        }
        s.get(letters..).unwrap_or_default()
    };
    let offset = rest.strip_prefix(['+', '-']).unwrap_or(rest);
    let mut parts = offset.split(':');
    let hours = parts.next().unwrap_or_default();
    let tail: Vec<&str> = parts.collect();
    matches!(hours, "0" | "00") && tail.len() <= 2 && tail.iter().all(|p| *p == "00")
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

    /// A TZif header: version, then isut, isstd, leap, time, type, char.
    fn header(version: u8, counts: [u32; 6]) -> Vec<u8> {
        let mut h = b"TZif".to_vec();
        h.push(version);
        h.extend([0u8; 15]);
        for c in counts {
            h.extend(c.to_be_bytes());
        }
        h
    }

    /// One type of `offset` seconds, designation "UTC\0".
    fn one_type(offset: i32) -> Vec<u8> {
        let mut d = offset.to_be_bytes().to_vec();
        d.extend([0, 0]);
        d.extend(b"UTC\0");
        d
    }

    fn v2_file(v1_offset: i32, v2_offset: i32, footer: &str) -> Vec<u8> {
        let mut f = header(b'2', [0, 0, 0, 0, 1, 4]);
        f.extend(one_type(v1_offset));
        f.extend(header(b'2', [0, 0, 0, 0, 1, 4]));
        f.extend(one_type(v2_offset));
        f.extend(format!("\n{footer}\n").bytes());
        f
    }

    #[test]
    fn a_utc_zone_file_is_utc_in_every_version() {
        let mut v1 = header(0, [0, 0, 0, 0, 1, 4]);
        v1.extend(one_type(0));
        assert!(tzif_is_utc(&v1));
        assert!(tzif_is_utc(&v2_file(0, 0, "UTC0")));
        assert!(tzif_is_utc(&v2_file(0, 0, "")));
    }

    #[test]
    fn a_slim_file_of_another_zone_is_not_utc_whatever_its_first_block_says() {
        // zic -b slim: the first block is one type of offset 0 for any zone.
        assert!(!tzif_is_utc(&v2_file(
            0,
            3600,
            "CET-1CEST,M3.5.0,M10.5.0/3"
        )));
        assert!(!tzif_is_utc(&v2_file(0, 0, "CET-1CEST,M3.5.0,M10.5.0/3")));
        let mut v1 = header(0, [0, 0, 0, 0, 1, 4]);
        v1.extend(one_type(3600));
        assert!(!tzif_is_utc(&v1));
    }

    #[test]
    fn transitions_leap_seconds_and_truncation_are_not_utc() {
        let mut with_leap = header(0, [0, 0, 1, 0, 1, 4]);
        with_leap.extend(one_type(0));
        with_leap.extend([0u8; 8]);
        assert!(!tzif_is_utc(&with_leap));
        let mut two_types = header(0, [0, 0, 0, 0, 2, 4]);
        two_types.extend(one_type(0));
        two_types.extend(one_type(0));
        assert!(!tzif_is_utc(&two_types));
        let full = v2_file(0, 0, "UTC0");
        for cut in 0..full.len() {
            assert!(!tzif_is_utc(&full[..cut]), "cut at {cut}");
        }
        assert!(!tzif_is_utc(
            b"not a zone file at all, but long enough to hold a header"
        ));
    }

    /// A cross-check with real `zic` output (the crafted files above are
    /// the proof; tzdata may be absent from a minimal system).
    #[test]
    fn the_zone_files_of_this_system_agree_where_they_exist() {
        for (name, utc) in [("Etc/UTC", true), ("UTC", true), ("Europe/Berlin", false)] {
            if let Ok(bytes) = read_bounded(&format!("{ZONEINFO}/{name}")) {
                assert_eq!(tzif_is_utc(&bytes), utc, "{name}");
            }
        }
    }

    #[test]
    fn posix_strings_are_utc_only_with_offset_zero_and_no_dst() {
        for s in [
            "UTC0",
            "GMT0",
            "UTC+0",
            "UTC-00:00",
            "<+00>0",
            "ZZZ00:00:00",
        ] {
            assert!(posix_is_utc(s), "{s}");
        }
        for s in [
            "UTC",
            "UTC1",
            "CET-1CEST",
            "UT0",
            "UTC0DST",
            "<+00>1",
            "<a>0",
            "0",
            "",
            "UTC0:30",
            "UTC0:00:00:00",
        ] {
            assert!(!posix_is_utc(s), "{s}");
        }
    }

    #[test]
    fn tz_values_follow_glibc_narrowed_to_what_proves_utc() {
        assert!(tz_is_utc(""));
        assert!(!tz_is_utc(":"));
        assert!(!tz_is_utc("../../etc/passwd"));
        assert!(!tz_is_utc("/nonexistent/zone"));
        // No such zone file: the value is a POSIX string.
        assert!(tz_is_utc("NOSUCHZONE0"));
        assert!(!tz_is_utc("NOSUCHZONE-1"));
    }
}
