//! `status`: what the agent holds now, for an operator (`--status`) and for
//! Prometheus (`metrics_file`), CONTRACT §12.
//!
//! ```text
//! pass (daemon or --reconcile-now, under the state lock) ─→ record_pass ─┐
//! daemon hub loop, after each round ─────────────────────→ record_hub ──┤
//!                                     files: status.json, hub-status.json
//!                                                                       ▼
//!        publish_metrics: files + hub-blocked + journal size → metrics_file
//! --status: journal (read-only) + files + hub-blocked → view::document
//! ```
//!
//! Owns: when the status files and the metrics file are written, and the
//! facts they are built from. Trusts: the pass output, the journal's
//! read-only snapshot, its own files (read back strictly; see `files`).
//!
//! Invariants:
//! - Nothing here changes the journal, waits for the state lock, or fails a
//!   pass: a status or metrics file that cannot be written is logged (once
//!   per distinct error at `warn`) and the agent goes on.
//! - Every file is replaced with [`crate::state_file::write_atomically`].
//! - Approvals are computed in [`approvals`] only.

pub mod approvals;
pub mod files;
pub mod view;

pub use files::{HubStatus, PassStatus};

use crate::config::Config;
use crate::journal::Journal;
use crate::reconcile::engine::PassOutput;
use std::path::Path;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

/// The last write error logged at `warn`, so a lasting problem (a metrics
/// directory that does not exist) is reported once, not every pass.
static LAST_WRITE_ERROR: Mutex<Option<String>> = Mutex::new(None);

fn note_write(what: &str, result: std::io::Result<()>) {
    let mut last = LAST_WRITE_ERROR
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    match result {
        Ok(()) => {
            if last.as_deref().is_some_and(|l| l.starts_with(what)) {
                log::info!("{what}: written again");
                *last = None;
            }
        }
        Err(e) => {
            let message = format!("{what}: cannot write: {e}");
            if last.as_deref() == Some(message.as_str()) {
                log::debug!("{message}");
            } else {
                log::warn!("{message}");
                *last = Some(message);
            }
        }
    }
}

/// After a mutating pass, while its journal (the state lock) is still held:
/// records the pass in `status.json` and refreshes the metrics file.
pub fn record_pass(
    config: &Config,
    journal: &Journal,
    out: &PassOutput,
    at: i64,
    duration: Duration,
) {
    let (queued, in_flight) = journal.with_index(|i| (i.queued.len(), i.in_flight.len()));
    let status = PassStatus::from_pass(out, at, duration, queued, in_flight);
    note_write(
        files::PASS_FILE,
        files::store_pass(&config.state_dir, &status),
    );
    publish_metrics(config);
}

/// After a hub round (daemon): records the hub contact and refreshes the
/// metrics file.
pub fn record_hub(config: &Config, hub: &HubStatus) {
    note_write(files::HUB_FILE, files::store_hub(&config.state_dir, hub));
    publish_metrics(config);
}

/// A status file as read back; one that does not read back is logged and
/// counts as absent.
fn or_absent<T>(
    state_dir: &Path,
    name: &str,
    loaded: Result<Option<T>, files::StatusFileError>,
) -> Option<T> {
    loaded.unwrap_or_else(|e| {
        log::warn!("{}: {e}; ignored", state_dir.join(name).display());
        None
    })
}

/// The last pass as recorded; a file that does not read back is logged and
/// counts as no pass.
pub fn last_pass(state_dir: &Path) -> Option<PassStatus> {
    or_absent(state_dir, files::PASS_FILE, files::load_pass(state_dir))
}

/// The hub contact as recorded (default: never).
pub fn hub_status(state_dir: &Path) -> HubStatus {
    or_absent(state_dir, files::HUB_FILE, files::load_hub(state_dir)).unwrap_or_default()
}

/// The gauges as of now, from the files (so the daemon's hub round shows a
/// pass that `--reconcile-now` ran, and the other way round).
pub fn metrics_snapshot(config: &Config) -> crate::metrics::Snapshot {
    let pass = last_pass(&config.state_dir);
    let hub = hub_status(&config.state_dir);
    let journal_bytes = std::fs::metadata(config.journal_path()).map_or(0, |m| m.len());
    crate::metrics::Snapshot {
        version: crate::hub::AGENT_VERSION.to_string(),
        reconcile_interval_seconds: config.reconcile_interval.as_secs(),
        pass: pass.map(|p| crate::metrics::PassGauges {
            at: p.at,
            duration_seconds: Duration::from_millis(p.duration_ms).as_secs_f64(),
            planned: p.outcomes.planned,
            succeeded: p.outcomes.succeeded,
            failed: p.outcomes.failed,
            skipped: p.outcomes.skipped,
            errors: p.errors,
            pending_signature: p.pending,
            queued_ops: p.queued,
            in_flight_ops: p.in_flight,
            managed: p.guests.managed,
            unmanaged: p.guests.unmanaged,
            missing: p.guests.missing,
            desired_generation: p.generation_applied,
        }),
        journal_bytes,
        hub_configured: config.hub.is_some(),
        hub_blocked: crate::hub::blocked::load(&config.state_dir),
        hub_last_success: config.hub.as_ref().and(hub.last_contact_at),
    }
}

/// Rewrites `metrics_file` (if configured) from the recorded facts.
pub fn publish_metrics(config: &Config) {
    if let Some(path) = &config.metrics_file {
        let snapshot = metrics_snapshot(config);
        note_write("metrics_file", crate::metrics::write(path, &snapshot));
    }
}

/// At daemon start, under the state lock: removes temp files that a crash
/// left behind while replacing a status or metrics file.
pub fn remove_stale_temps(config: &Config) {
    let mut targets = vec![
        (config.state_dir.clone(), files::PASS_FILE.to_string()),
        (config.state_dir.clone(), files::HUB_FILE.to_string()),
    ];
    if let Some(path) = &config.metrics_file
        && let (Some(dir), Some(name)) = (path.parent(), path.file_name())
    {
        targets.push((dir.to_path_buf(), name.to_string_lossy().into_owned()));
    }
    for (dir, name) in targets {
        match crate::state_file::remove_stale_temps(&dir, &name) {
            Ok(0) => {}
            Ok(n) => log::info!(
                "removed {n} stale temp file(s) of {name} in {}",
                dir.display()
            ),
            Err(e) => log::warn!(
                "cannot clean temp files of {name} in {}: {e}",
                dir.display()
            ),
        }
    }
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
mod tests;
