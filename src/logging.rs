//! `logging`: `log` + `env_logger` to stderr.
//!
//! - Under systemd (`JOURNAL_STREAM` set) every line starts with its syslog
//!   priority (`<3>` error, `<4>` warn, `<6>` info, `<7>` debug and trace) so
//!   journald files it at the right level; otherwise lines carry a UTC
//!   timestamp.
//! - Gate decisions use the target [`AUDIT_TARGET`].
//! - The HTTP and TLS libraries never log above `info`, whatever the filter
//!   says: their debug output can include request headers, and the PVE token
//!   and hub key travel in headers. This is enforced here, not by the filter
//!   an operator may change.
//! - Every line is one record, and only a real audit record can look like
//!   one (CONTRACT §8): each message and target passes through [`escape`]
//!   before it is written, whatever module logged it and whatever outside
//!   text (hub or desired-state documents, PVE messages, signer files,
//!   blobs) it carries. Control characters, Unicode line and paragraph
//!   separators and bidirectional controls become visible escapes (`\n`,
//!   `\r`, `\t`, `\u{…}`), so no text can end a line, start a journald
//!   entry or hide what follows; `audit:` (in any case) inside a message is
//!   written `audit\:`, so `grep ' audit: '` matches only the header of a
//!   line logged on the [`AUDIT_TARGET`]; a message longer than
//!   [`MAX_MESSAGE_BYTES`] is cut, so journald never splits a line into
//!   entries of its own.

use log::{Level, LevelFilter, Log, Metadata, Record};
use std::borrow::Cow;
use std::fmt::Write as _;
use std::io::Write;

/// The log target of audit lines (one per gate decision).
pub const AUDIT_TARGET: &str = "audit";

/// Targets whose records above `info` are dropped unconditionally.
const QUIET_TARGETS: &[&str] = &["ureq", "ureq_proto", "rustls", "webpki"];

/// Longest message written into one line, after escaping. journald cuts a
/// line longer than its `LineMax` (48 KiB by default) and reads the rest as
/// a line of its own; 16 KiB stays well below that and far above any
/// message the agent writes.
pub const MAX_MESSAGE_BYTES: usize = 16 * 1024;

/// The marker `grep ' audit: '` looks for, without its blanks, and the
/// word before its colon.
const AUDIT_MARK: &[u8] = b"audit:";
const AUDIT_WORD: &[u8] = b"audit";

/// Characters written as an escape: they could end a line (or look like
/// one ending), or reorder what a reader sees.
fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{2028}' | '\u{2029}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}'
                | '\u{2066}'..='\u{2069}'
        )
}

/// Whether `out` ends with `audit` (any case): a `:` after it would form
/// the audit marker.
fn ends_with_audit_word(out: &str) -> bool {
    out.len()
        .checked_sub(AUDIT_WORD.len())
        .and_then(|from| out.as_bytes().get(from..))
        .is_some_and(|tail| tail.eq_ignore_ascii_case(AUDIT_WORD))
}

/// `text` as it may appear inside one log line (see the module header):
/// control and separator characters escaped, the audit marker defused, at
/// most [`MAX_MESSAGE_BYTES`] (plus a note of what was cut).
pub fn escape(text: &str) -> Cow<'_, str> {
    let has_mark = text
        .as_bytes()
        .windows(AUDIT_MARK.len())
        .any(|w| w.eq_ignore_ascii_case(AUDIT_MARK));
    if text.len() <= MAX_MESSAGE_BYTES && !has_mark && !text.chars().any(needs_escape) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len().min(MAX_MESSAGE_BYTES) + 32);
    for (i, c) in text.char_indices() {
        if out.len() >= MAX_MESSAGE_BYTES {
            let _ = write!(out, " [{} more bytes not logged]", text.len() - i);
            break;
        }
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if needs_escape(c) => {
                let _ = write!(out, "\\u{{{:04x}}}", u32::from(c));
            }
            ':' if ends_with_audit_word(&out) => out.push_str("\\:"),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// One log line (without its newline): the header, then the escaped message.
pub fn render_line(journald: bool, now: i64, level: Level, target: &str, message: &str) -> String {
    let (target, message) = (escape(target), escape(message));
    if journald {
        format!("<{}>{target}: {message}", syslog_priority(level))
    } else {
        format!(
            "{} {level:<5} {target}: {message}",
            crate::time::format_rfc3339(now)
        )
    }
}

/// Syslog priority of a log level (sd-daemon(3)).
pub fn syslog_priority(level: Level) -> u8 {
    match level {
        Level::Error => 3,
        Level::Warn => 4,
        Level::Info => 6,
        Level::Debug | Level::Trace => 7,
    }
}

/// Whether a record may be emitted at all, before the operator's filter.
pub fn allowed_by_policy(target: &str, level: Level) -> bool {
    let quiet = QUIET_TARGETS
        .iter()
        .any(|t| target == *t || target.strip_prefix(t).is_some_and(|r| r.starts_with("::")));
    !(quiet && level > Level::Info)
}

struct PolicyLogger {
    inner: env_logger::Logger,
}

impl Log for PolicyLogger {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        allowed_by_policy(metadata.target(), metadata.level()) && self.inner.enabled(metadata)
    }

    fn log(&self, record: &Record<'_>) {
        if self.enabled(record.metadata()) {
            self.inner.log(record);
        }
    }

    fn flush(&self) {
        self.inner.flush();
    }
}

/// Installs the process logger. `filter` uses env_logger syntax
/// (`info`, `debug,audit=info`). Safe to call more than once (later calls
/// are ignored).
pub fn init(filter: &str) {
    let journald = std::env::var_os("JOURNAL_STREAM").is_some();
    let mut builder = env_logger::Builder::new();
    builder.parse_filters(filter);
    builder.target(env_logger::Target::Stderr);
    builder.format(move |buf, record| {
        let message = match record.args().as_str() {
            Some(s) => Cow::Borrowed(s),
            None => Cow::Owned(record.args().to_string()),
        };
        let line = render_line(
            journald,
            crate::time::now_unix(),
            record.level(),
            record.target(),
            &message,
        );
        writeln!(buf, "{line}")
    });
    let inner = builder.build();
    let max = inner.filter().min(LevelFilter::Trace);
    if log::set_boxed_logger(Box::new(PolicyLogger { inner })).is_ok() {
        log::set_max_level(max);
    }
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
    fn plain_text_is_written_as_is() {
        let text = "desired state generation 3 from the hub accepted (vmid 100: \"web\")";
        assert!(matches!(escape(text), Cow::Borrowed(t) if t == text));
    }

    #[test]
    fn no_text_can_end_the_line_or_hide_what_follows() {
        let hostile =
            "a\nb\r\nc\td\u{0}e\u{1b}[2Kf\u{7f}g\u{85}h\u{2028}i\u{2029}j\u{202e}k\u{2066}l";
        let out = escape(hostile);
        assert_eq!(
            out,
            "a\\nb\\r\\nc\\td\\u{0000}e\\u{001b}[2Kf\\u{007f}g\\u{0085}h\\u{2028}i\\u{2029}j\\u{202e}k\\u{2066}l"
        );
        assert!(!out.chars().any(needs_escape));
        for journald in [false, true] {
            let line = render_line(journald, 0, Level::Warn, "felhom_agent::x", hostile);
            assert_eq!(line.lines().count(), 1, "{line}");
        }
    }

    #[test]
    fn only_a_real_audit_record_matches_the_audit_grep() {
        for text in [
            "\nX audit: decision=allowed",
            "key x audit: decision=allowed",
            "AUDIT: decision=allowed",
            "Audit:",
            "audit::audit:",
        ] {
            for journald in [false, true] {
                let line = render_line(journald, 0, Level::Warn, "felhom_agent::hub", text);
                let lower = line.to_ascii_lowercase();
                assert!(
                    !lower.contains(" audit: ") && !lower.contains(">audit:"),
                    "{line}"
                );
                assert!(!lower.contains("audit:"), "{line}");
                // The audit record's header, and only it, carries the marker.
                let real = render_line(journald, 0, Level::Info, AUDIT_TARGET, text);
                assert_eq!(
                    real.to_ascii_lowercase().matches("audit:").count(),
                    1,
                    "{real}"
                );
            }
        }
        assert_eq!(escape("x audit: y"), "x audit\\: y");
        assert_eq!(escape("audit"), "audit");
        assert_eq!(escape(":audit"), ":audit");
    }

    #[test]
    fn overlong_messages_are_cut_on_a_character_boundary() {
        let text = "é".repeat(MAX_MESSAGE_BYTES);
        let out = escape(&text);
        assert!(out.len() < MAX_MESSAGE_BYTES + 64, "{}", out.len());
        assert!(out.ends_with(&format!(
            " [{} more bytes not logged]",
            text.len() - MAX_MESSAGE_BYTES
        )));
        let line = render_line(false, 0, Level::Info, "t", &"\n".repeat(MAX_MESSAGE_BYTES));
        assert!(line.len() < MAX_MESSAGE_BYTES + 128);
    }

    #[test]
    fn priorities_match_syslog() {
        assert_eq!(syslog_priority(Level::Error), 3);
        assert_eq!(syslog_priority(Level::Warn), 4);
        assert_eq!(syslog_priority(Level::Info), 6);
        assert_eq!(syslog_priority(Level::Debug), 7);
        assert_eq!(syslog_priority(Level::Trace), 7);
    }

    #[test]
    fn http_and_tls_libraries_never_log_debug() {
        assert!(!allowed_by_policy(
            "ureq::unversioned::transport",
            Level::Debug
        ));
        assert!(!allowed_by_policy("ureq_proto::client", Level::Trace));
        assert!(!allowed_by_policy("rustls::client::hs", Level::Debug));
        assert!(allowed_by_policy("ureq", Level::Warn));
        assert!(allowed_by_policy("ureqx", Level::Debug));
        assert!(allowed_by_policy("felhom_agent::proxmox", Level::Debug));
    }
}
