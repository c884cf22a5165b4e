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

use log::{Level, LevelFilter, Log, Metadata, Record};
use std::io::Write;

/// The log target of audit lines (one per gate decision).
pub const AUDIT_TARGET: &str = "audit";

/// Targets whose records above `info` are dropped unconditionally.
const QUIET_TARGETS: &[&str] = &["ureq", "ureq_proto", "rustls", "webpki"];

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
        if journald {
            writeln!(
                buf,
                "<{}>{}: {}",
                syslog_priority(record.level()),
                record.target(),
                record.args()
            )
        } else {
            writeln!(
                buf,
                "{} {:<5} {}: {}",
                crate::time::format_rfc3339(crate::time::now_unix()),
                record.level(),
                record.target(),
                record.args()
            )
        }
    });
    let inner = builder.build();
    let max = inner.filter().min(LevelFilter::Trace);
    if log::set_boxed_logger(Box::new(PolicyLogger { inner })).is_ok() {
        log::set_max_level(max);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
