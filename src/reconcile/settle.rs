//! `reconcile::settle`: judging a power action by the guest's state, not
//! by the HTTP answer or the task alone.
//!
//! Owns: the waits after a mutation, and the re-read when its answer was
//! lost.
//!
//! - After a successful power task the guest's live state is read until it
//!   is the wanted one. For a guest PVE's HA stack manages, the task only
//!   *requested* the change (`ha-manager set --state`, `crm-command stop`:
//!   qemu-server `PVE/API2/Qemu.pm`); the CRM and LRM act within 10-20 s
//!   or more, so the wait lasts up to the action's deadline
//!   (`task_timeout_seconds`), and ends early if the HA stack reports the
//!   resource in `error`. Other guests are given [`SETTLE_TIMEOUT`].
//! - An answer lost after the request was sent (pveproxy's 596, a timeout,
//!   a broken connection) may hide a request PVE executed: the guest is
//!   re-read before the action is judged ([`judge_lost_answer`]).
//! - The graceful shutdown's own timeout, sent to PVE, is shorter than the
//!   agent's wait ([`shutdown_timeout`]), so a guest that ignores ACPI fails
//!   with PVE's own reason and its task has ended (lock released) before the
//!   agent moves on.

use std::time::{Duration, Instant};

use super::action::ActionOp;
use super::normalize::description_matches;
use crate::proxmox::{Client, GuestConfig, GuestRef, PveError};

/// A guest not managed by HA reaches its state when its task ends; this
/// covers PVE's own bookkeeping.
pub const SETTLE_TIMEOUT: Duration = Duration::from_secs(10);
/// First pause between state reads; doubles up to [`SETTLE_POLL_MAX`].
const SETTLE_POLL: Duration = Duration::from_millis(200);
const SETTLE_POLL_MAX: Duration = Duration::from_secs(1);
/// How long a re-read after a lost answer waits for a power state.
const LOST_ANSWER_GRACE: Duration = Duration::from_secs(10);
/// The shutdown timeout sent to PVE leaves this share of the agent's wait
/// (at least 1 s, at most 60 s) for PVE to end the task and for the HA
/// stack's loop.
const SHUTDOWN_MARGIN_DIVISOR: u64 = 4;
const SHUTDOWN_MARGIN_MAX: u64 = 60;

/// The `timeout` for PVE's graceful shutdown, shorter than `wait`.
pub fn shutdown_timeout(wait: Duration) -> u64 {
    let wait = wait.as_secs();
    let margin = wait
        .div_ceil(SHUTDOWN_MARGIN_DIVISOR)
        .clamp(1, SHUTDOWN_MARGIN_MAX);
    wait.saturating_sub(margin).max(1)
}

/// Reads the guest until it is running (`true`) or stopped (`false`).
/// `deadline` bounds the wait of an HA-managed guest; others get
/// [`SETTLE_TIMEOUT`] at most.
pub fn wait_for_power(
    client: &Client,
    guest: &GuestRef,
    want_running: bool,
    deadline: Instant,
) -> Result<(), String> {
    let started = Instant::now();
    let mut pause = SETTLE_POLL;
    loop {
        let s = client
            .status(guest)
            .map_err(|e| format!("state unreadable: {e}"))?;
        if s.is_running() == want_running {
            return Ok(());
        }
        if s.ha_managed && s.ha_state.as_deref() == Some("error") {
            return Err(format!(
                "the guest is {} and its HA resource is in the error state (see ha-manager status)",
                s.status
            ));
        }
        let until = if s.ha_managed {
            deadline
        } else {
            deadline.min(started + SETTLE_TIMEOUT)
        };
        let now = Instant::now();
        if now >= until {
            let why = if s.ha_managed {
                "the HA stack did not act on the request in time"
            } else {
                "PVE did not report the change"
            };
            return Err(format!("the guest is still {} ({why})", s.status));
        }
        std::thread::sleep(pause.min(until - now));
        pause = (pause * 2).min(SETTLE_POLL_MAX);
    }
}

/// What of a `set_config` (`cores`, `memory_mib` in MiB, `description`)
/// the config `have` does not hold yet: a `set_config` with only those
/// keys, or `None` when it holds them all (descriptions compared through
/// [`description_matches`]).
pub fn unapplied_config(
    cores: Option<u64>,
    memory_mib: Option<u64>,
    description: Option<String>,
    have: &GuestConfig,
) -> Option<ActionOp> {
    let cores = cores.filter(|c| have.cores.map(u64::from) != Some(*c));
    let memory_mib = memory_mib.filter(|m| have.memory_mib != Some(*m));
    let description = description.filter(|d| !description_matches(d, have.description.as_deref()));
    let drifted = cores.is_some() || memory_mib.is_some() || description.is_some();
    drifted.then_some(ActionOp::SetConfig {
        cores,
        memory_mib,
        description,
    })
}

/// After a lost answer to `op`: re-reads the guest and says whether the
/// change is in place (`Ok(what was seen)`) or not (`Err(why)`).
pub fn judge_lost_answer(
    client: &Client,
    op: &ActionOp,
    guest: &GuestRef,
    lost: &PveError,
) -> Result<String, String> {
    let grace = Instant::now() + LOST_ANSWER_GRACE;
    let seen = match op {
        ActionOp::Start | ActionOp::Restart => {
            wait_for_power(client, guest, true, grace).map(|()| "the guest is running")
        }
        ActionOp::Stop => {
            wait_for_power(client, guest, false, grace).map(|()| "the guest is stopped")
        }
        ActionOp::SetConfig {
            cores,
            memory_mib,
            description,
        } => match client.pending_config(guest) {
            Ok(cfg) => {
                if unapplied_config(*cores, *memory_mib, description.clone(), &cfg).is_none() {
                    Ok("the config holds the new values")
                } else {
                    Err("the config does not hold the new values".to_string())
                }
            }
            Err(e) => Err(format!("config unreadable: {e}")),
        },
        ActionOp::GuestDestroy { .. } => match client.config(guest) {
            Err(PveError::NotFound { .. }) => Ok("the guest is gone"),
            Ok(_) => Err("the guest still exists".to_string()),
            Err(e) => Err(format!("guest unreadable: {e}")),
        },
        ActionOp::RestoreOverwrite { .. } | ActionOp::KeyRotation { .. } | ActionOp::Create(_) => {
            Err("the outcome cannot be read back".to_string())
        }
    };
    match seen {
        Ok(what) => Ok(format!("{lost}; re-read: {what}")),
        Err(why) => Err(format!("{lost}; re-read: {why}")),
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
    fn the_shutdown_timeout_is_shorter_than_the_wait() {
        for (wait, sent) in [(600, 540), (60, 45), (8, 6), (6, 4), (4, 3), (2, 1), (1, 1)] {
            assert_eq!(shutdown_timeout(Duration::from_secs(wait)), sent, "{wait}");
        }
        for wait in 2..5000 {
            let sent = shutdown_timeout(Duration::from_secs(wait));
            assert!(sent >= 1 && sent < wait, "{wait} -> {sent}");
            assert!(wait - sent <= SHUTDOWN_MARGIN_MAX);
        }
    }
}
