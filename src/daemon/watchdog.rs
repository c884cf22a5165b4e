//! `daemon::watchdog`: the systemd watchdog, fed only by live loops.
//!
//! Each loop owns a [`Heartbeat`] and beats it whenever it makes progress:
//! between waits, and through the engine's `tick` while a long pass runs.
//! The supervisor (the main thread) sends `WATCHDOG=1` every half watchdog
//! interval, but only while every heartbeat is younger than one whole
//! interval. A loop stuck in a call that never returns therefore stops the
//! pings, and systemd restarts the agent (at most two intervals after the
//! loop stalled); a loop that is merely waiting keeps beating.
//!
//! Consequence for operators: keep `proxmox.timeout_seconds`,
//! `hub.timeout_seconds` and the 30 s state-lock wait below `WatchdogSec=`.

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// The shortest wait slice a loop uses, so a tiny `WATCHDOG_USEC` cannot
/// turn the loops into busy loops.
const MIN_CHECKIN: Duration = Duration::from_millis(100);
/// Without a watchdog the loops still wake this often to beat (cheap, and
/// keeps the code path the same).
const IDLE_CHECKIN: Duration = Duration::from_secs(5);

/// The last moment a loop made progress.
#[derive(Debug)]
pub struct Heartbeat {
    name: &'static str,
    last: Mutex<Instant>,
}

impl Heartbeat {
    pub fn new(name: &'static str) -> Heartbeat {
        Heartbeat {
            name,
            last: Mutex::new(Instant::now()),
        }
    }

    pub fn name(&self) -> &'static str {
        self.name
    }

    pub fn beat(&self) {
        *self.last.lock().unwrap_or_else(PoisonError::into_inner) = Instant::now();
    }

    /// Time since the last beat, as of `now`.
    pub fn age(&self, now: Instant) -> Duration {
        now.saturating_duration_since(*self.last.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

/// How often the supervisor considers a ping: half the watchdog interval
/// (systemd's recommendation), or rarely when there is no watchdog.
pub fn ping_period(watchdog: Option<Duration>) -> Duration {
    watchdog.map_or(Duration::from_secs(60), |w| (w / 2).max(MIN_CHECKIN))
}

/// The longest wait slice of a loop between beats: a quarter of the
/// watchdog interval, so a waiting loop is never mistaken for a stuck one.
pub fn checkin_period(watchdog: Option<Duration>) -> Duration {
    watchdog.map_or(IDLE_CHECKIN, |w| (w / 4).clamp(MIN_CHECKIN, IDLE_CHECKIN))
}

/// The loops whose heartbeat is as old as `limit` or older (stalled).
pub fn stalled<'a>(beats: &[&'a Heartbeat], now: Instant, limit: Duration) -> Vec<&'a str> {
    beats
        .iter()
        .filter(|b| b.age(now) >= limit)
        .map(|b| b.name())
        .collect()
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
    fn a_loop_that_has_not_beaten_for_a_whole_interval_is_stalled() {
        let a = Heartbeat::new("reconcile");
        let b = Heartbeat::new("hub");
        let limit = Duration::from_secs(10);
        let now = Instant::now();
        assert!(stalled(&[&a, &b], now, limit).is_empty());
        // Seen from 11 s on, neither has beaten within the limit.
        let later = Instant::now() + Duration::from_secs(11);
        assert_eq!(stalled(&[&a, &b], later, limit), ["reconcile", "hub"]);
        // A beat 11 s "later" than a's last one leaves only a stalled.
        *b.last.lock().unwrap() = later;
        assert_eq!(stalled(&[&a, &b], later, limit), ["reconcile"]);
    }

    #[test]
    fn pings_come_every_half_interval_and_checkins_every_quarter() {
        let w = Some(Duration::from_secs(120));
        assert_eq!(ping_period(w), Duration::from_secs(60));
        assert_eq!(checkin_period(w), Duration::from_secs(5));
        let short = Some(Duration::from_secs(2));
        assert_eq!(ping_period(short), Duration::from_secs(1));
        assert_eq!(checkin_period(short), Duration::from_millis(500));
    }

    #[test]
    fn a_tiny_watchdog_interval_cannot_make_a_busy_loop() {
        let tiny = Some(Duration::from_micros(1));
        assert_eq!(ping_period(tiny), MIN_CHECKIN);
        assert_eq!(checkin_period(tiny), MIN_CHECKIN);
    }
}
