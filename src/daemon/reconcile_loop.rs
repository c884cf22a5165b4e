//! `daemon::reconcile_loop`: one pass every `reconcile_interval_seconds`,
//! or sooner when the hub loop delivers something.
//!
//! Owns: the only use of the journal inside the daemon. Each round opens
//! the journal (taking the state lock, waiting up to 30 s), queues the
//! delivered hub jobs, runs one pass, settles jobs, and drops the journal,
//! so the lock is free between passes and `--reconcile-now` / `--submit`
//! work beside the daemon.
//!
//! With a hub, the loop first reads the node's guest list (one PVE read,
//! before anything else) so the first report can list them, and tells the
//! hub loop when that read (or, if it failed, the first pass's) is done.
//! After every pass it records the pass for `--status` and the metrics
//! file, before the state lock is released.
//!
//! Failure handling:
//! - lock held past the wait (a long one-shot run) → this round is skipped,
//!   delivered jobs are kept for the next one;
//! - PVE unreadable → the pass reports it and changes nothing; the next
//!   round tries again;
//! - journal damaged or unwritable → fatal: the loop returns the exit
//!   code and the supervisor ends the process (crash-only; systemd
//!   restarts it and the start refuses a damaged journal with exit 65).

use super::jobs::JobTracker;
use super::watchdog::Heartbeat;
use super::{Shared, ToHub, ToReconcile};
use crate::config::Config;
use crate::hub::Job;
use crate::journal::{Journal, JournalError};
use crate::proxmox::Client;
use crate::reconcile::engine::{self, JournalView, PassInputs};
use crate::systemd::Notifier;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

/// Hub jobs held between rounds (when the lock was busy). A fetch brings
/// at most 256; jobs beyond this wait on the hub for a later fetch.
const MAX_HELD_JOBS: usize = 1024;

pub struct ReconcileLoop<'a> {
    pub config: &'a Config,
    pub client: &'a Client,
    pub shared: &'a Shared,
    pub inbox: Receiver<ToReconcile>,
    /// `None` without a hub.
    pub to_hub: Option<Sender<ToHub>>,
    pub heartbeat: &'a Heartbeat,
    pub notifier: &'a Notifier,
    /// Longest wait between heartbeats.
    pub checkin: Duration,
    /// With a hub: how long the first pass waits for the first report
    /// (so the pass knows whether the hub says `blocked`).
    pub first_report_wait: Option<Duration>,
}

/// What one round ended with.
enum Round {
    Done,
    /// The state lock was busy; try again next round.
    Skipped,
}

impl ReconcileLoop<'_> {
    /// Runs forever; returns only a fatal exit code.
    pub fn run(self) -> u8 {
        let mut tracker = JobTracker::default();
        let mut held: Vec<Job> = Vec::new();
        let mut last_errors: Vec<String> = Vec::new();
        self.read_guests_at_start();
        if let Some(limit) = self.first_report_wait {
            self.wait(Instant::now() + limit, &mut held);
        }
        loop {
            let started = Instant::now();
            match self.round(&mut tracker, &mut held, &mut last_errors) {
                Ok(Round::Done) => {}
                Ok(Round::Skipped) => {
                    log::warn!(
                        "state lock held by another process for 30 s; pass skipped, retried \
                         in {} s",
                        self.config.reconcile_interval.as_secs()
                    );
                }
                Err(code) => return code,
            }
            let next = started
                .checked_add(self.config.reconcile_interval)
                .unwrap_or(started);
            self.wait(next, &mut held);
        }
    }

    /// With a hub: the node's guest list for the first report (CONTRACT
    /// §7). Whatever the result, the hub loop is told the read is over.
    fn read_guests_at_start(&self) {
        let Some(tx) = &self.to_hub else { return };
        self.heartbeat.beat();
        match crate::reconcile::actual::read(self.client, None) {
            Ok(actual) => self.shared.record_start_guests(&actual.all_guests()),
            Err(e) => log::warn!(
                "cannot read this node's guests at start ({e}); the first report goes out \
                 without them and the guests follow once a pass reads them"
            ),
        }
        self.heartbeat.beat();
        // The hub loop ends only if the process is ending.
        let _ = tx.send(ToHub::Guests);
    }

    /// Waits until `deadline` or a message from the hub loop (a pass is
    /// then due at once), beating the heartbeat.
    fn wait(&self, deadline: Instant, held: &mut Vec<Job>) {
        loop {
            self.heartbeat.beat();
            let now = Instant::now();
            if now >= deadline {
                return;
            }
            let slice = deadline.saturating_duration_since(now).min(self.checkin);
            match self.inbox.recv_timeout(slice) {
                Ok(msg) => {
                    take(msg, held);
                    while let Ok(more) = self.inbox.try_recv() {
                        take(more, held);
                    }
                    return;
                }
                Err(RecvTimeoutError::Timeout) => {}
                // No hub loop (or it ended): pace by the interval alone.
                Err(RecvTimeoutError::Disconnected) => std::thread::sleep(slice),
            }
        }
    }

    fn round(
        &self,
        tracker: &mut JobTracker,
        held: &mut Vec<Job>,
        last_errors: &mut Vec<String>,
    ) -> Result<Round, u8> {
        let journal = match Journal::open(&self.config.state_dir, crate::journal::LOCK_WAIT) {
            Ok(j) => j,
            Err(JournalError::Locked { .. }) => return Ok(Round::Skipped),
            Err(e) => return Err(super::journal_exit(&e)),
        };
        self.heartbeat.beat();
        let mut delete = tracker.enqueue(&journal, self.config, held);
        held.clear();
        // Read by the gate and before each lane mutation: the hub loop may
        // set it while the pass runs.
        let shared = self.shared;
        let blocked = || shared.is_blocked();
        let heartbeat = self.heartbeat;
        let mut tick = || heartbeat.beat();
        let inputs = PassInputs {
            config: self.config,
            client: self.client,
            blocked: &blocked,
            tick: &mut tick,
        };
        let at = crate::time::now_unix();
        let started = Instant::now();
        let output = engine::run_pass(inputs, JournalView::Write(&journal))
            .map_err(|e| super::journal_exit(&e))?;
        delete.extend(tracker.settle_in(&journal));
        crate::status::record_pass(self.config, &journal, &output, at, started.elapsed());
        drop(journal);
        log_errors(&output.report.errors, last_errors);
        let guests_were_known = self.shared.guests_known();
        self.shared.record_pass(&output, at);
        if !guests_were_known
            && self.shared.guests_known()
            && let Some(tx) = &self.to_hub
        {
            let _ = tx.send(ToHub::Guests);
        }
        let status = self.shared.status_line();
        if let Err(e) = self.notifier.status(&status) {
            log::debug!("sd_notify STATUS failed: {e}");
        }
        if output.report.actions.is_empty() && output.report.errors.is_empty() {
            log::debug!("{status}");
        } else {
            log::info!("{status}");
        }
        if !delete.is_empty()
            && let Some(tx) = &self.to_hub
        {
            // The hub loop ended only if the process is ending.
            let _ = tx.send(ToHub::Delete(delete));
        }
        Ok(Round::Done)
    }
}

fn take(msg: ToReconcile, held: &mut Vec<Job>) {
    match msg {
        ToReconcile::Wake => {}
        ToReconcile::Jobs(jobs) => {
            for job in jobs {
                if held.len() >= MAX_HELD_JOBS {
                    break;
                }
                if !held.iter().any(|h| h.job_id == job.job_id) {
                    held.push(job);
                }
            }
        }
    }
}

/// Logs the pass's errors at `warn` when they differ from the previous
/// pass's, at `debug` otherwise, so a lasting problem is reported once
/// rather than every interval.
fn log_errors(errors: &[String], last: &mut Vec<String>) {
    let changed = errors != last.as_slice();
    for e in errors {
        if changed {
            log::warn!("pass: {e}");
        } else {
            log::debug!("pass (unchanged): {e}");
        }
    }
    if changed && errors.is_empty() && !last.is_empty() {
        log::info!("pass: earlier errors cleared");
    }
    last.clear();
    last.extend(errors.iter().cloned());
}
