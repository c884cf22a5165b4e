//! `daemon::schedule`: when the next hub exchange happens. Pure: no clock
//! reads, no I/O; the loops pass `now` in.
//!
//! Rules (CONTRACT §7):
//! - A report goes out at start and then once per poll interval. The
//!   interval is the hub's `poll_interval_seconds` (or, before the first
//!   answer, the configured `hub.poll_seconds`), clamped to
//!   [`MIN_POLL_SECONDS`, `MAX_POLL_SECONDS`] either way, so neither the hub
//!   nor a typo in the config can make the agent hammer the hub or go silent
//!   for hours.
//! - A failed exchange is retried after an exponential backoff that starts
//!   at [`BACKOFF_BASE`] and is capped at the poll interval: a hub outage
//!   costs at most one attempt per interval and per exchange, never a busy
//!   loop.

use crate::hub::{MAX_POLL_SECONDS, MIN_POLL_SECONDS};
use std::time::{Duration, Instant};

/// The first retry after a failure. Short enough that a hub restart is
/// noticed quickly, long enough that a refusing hub is not hammered.
pub const BACKOFF_BASE: Duration = Duration::from_secs(2);

/// `seconds` clamped to the contract's poll range.
pub fn clamp_poll(seconds: u64) -> Duration {
    Duration::from_secs(seconds.clamp(MIN_POLL_SECONDS, MAX_POLL_SECONDS))
}

/// The wait before retry number `failures` (1 = first retry):
/// `BACKOFF_BASE * 2^(failures-1)`, never more than `cap`.
pub fn backoff(failures: u32, cap: Duration) -> Duration {
    let doublings = failures.saturating_sub(1).min(20);
    BACKOFF_BASE
        .checked_mul(1u32 << doublings)
        .unwrap_or(cap)
        .min(cap)
}

/// One recurring or on-demand exchange: when it is next due, and how many
/// times in a row it failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retry {
    next_at: Instant,
    failures: u32,
}

impl Retry {
    /// Due at `at`.
    pub fn due_at(at: Instant) -> Retry {
        Retry {
            next_at: at,
            failures: 0,
        }
    }

    pub fn is_due(&self, now: Instant) -> bool {
        now >= self.next_at
    }

    pub fn next_at(&self) -> Instant {
        self.next_at
    }

    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// Succeeded at `now`; next due after `interval`.
    pub fn succeeded(&mut self, now: Instant, interval: Duration) {
        self.failures = 0;
        self.next_at = now.checked_add(interval).unwrap_or(now);
    }

    /// Failed at `now`; retried after the backoff (capped at `cap`).
    pub fn failed(&mut self, now: Instant, cap: Duration) {
        self.failures = self.failures.saturating_add(1);
        self.next_at = now.checked_add(backoff(self.failures, cap)).unwrap_or(now);
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
    use crate::hub::decode_envelope;

    fn envelope_interval(seconds: u64) -> Duration {
        let doc = format!(
            r#"{{"poll_interval_seconds":{seconds},"blocked":false,"desired_generation":null,"has_signed_ops":false}}"#
        );
        decode_envelope(doc.as_bytes())
            .unwrap()
            .clamped_poll_interval()
    }

    #[test]
    fn a_zero_poll_interval_schedules_the_next_report_sixty_seconds_later() {
        let t0 = Instant::now();
        let mut report = Retry::due_at(t0);
        assert!(report.is_due(t0));
        report.succeeded(t0, envelope_interval(0));
        assert!(!report.is_due(t0 + Duration::from_secs(59)));
        assert!(report.is_due(t0 + Duration::from_secs(60)));
    }

    #[test]
    fn a_huge_poll_interval_is_capped_at_one_hour() {
        let t0 = Instant::now();
        let mut report = Retry::due_at(t0);
        report.succeeded(t0, envelope_interval(u64::MAX));
        assert_eq!(report.next_at(), t0 + Duration::from_secs(3600));
        report.succeeded(t0, envelope_interval(900));
        assert_eq!(report.next_at(), t0 + Duration::from_secs(900));
    }

    #[test]
    fn the_configured_poll_seconds_are_clamped_like_the_hubs() {
        assert_eq!(clamp_poll(1), Duration::from_secs(60));
        assert_eq!(clamp_poll(900), Duration::from_secs(900));
        assert_eq!(clamp_poll(7 * 24 * 3600), Duration::from_secs(3600));
    }

    #[test]
    fn backoff_doubles_from_the_base_and_stops_at_the_cap() {
        let cap = Duration::from_secs(60);
        let waits: Vec<u64> = (1..=8).map(|n| backoff(n, cap).as_secs()).collect();
        assert_eq!(waits, [2, 4, 8, 16, 32, 60, 60, 60]);
        assert_eq!(backoff(u32::MAX, cap), cap);
        assert_eq!(backoff(0, cap), BACKOFF_BASE);
    }

    #[test]
    fn failures_back_off_and_a_success_resets_the_count() {
        let t0 = Instant::now();
        let cap = Duration::from_secs(60);
        let mut r = Retry::due_at(t0);
        r.failed(t0, cap);
        r.failed(t0, cap);
        assert_eq!(r.failures(), 2);
        assert_eq!(r.next_at(), t0 + Duration::from_secs(4));
        assert!(!r.is_due(t0 + Duration::from_secs(3)));
        r.succeeded(t0, cap);
        assert_eq!(r.failures(), 0);
        r.failed(t0, cap);
        assert_eq!(r.next_at(), t0 + BACKOFF_BASE);
    }

    #[test]
    fn backoff_never_exceeds_a_short_cap() {
        let cap = Duration::from_secs(1);
        for n in 0..40 {
            assert!(backoff(n, cap) <= cap);
        }
    }
}
