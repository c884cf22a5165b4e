//! `daemon`: the long-running agent (no mode on the command line).
//!
//! Shape (DESIGN §1: synchronous, threads and `std::sync::mpsc`):
//!
//! ```text
//!   main thread: start-up (journal open + recovery) → READY=1 → supervisor
//!        │ spawns (scoped)                            (WATCHDOG=1, fatal exits)
//!        ├── reconcile loop: (start: read the node's guests) → journal lock
//!        │        → queue hub jobs → pass → record status → unlock
//!        │        ▲ ToReconcile::{Wake, Jobs}      │ ToHub::{Delete, Guests}
//!        │        │                                ▼
//!        └── hub loop: report → envelope → desired-state / jobs fetch, deletes
//!                 → record hub status
//! ```
//!
//! Owns: the threads, the channels between them and [`Shared`] (the
//! `blocked` flag, the report's per-pass state, the hub's contact and
//! error for `STATUS=`, `--status` and the metrics file).
//! Trusts: the modules it drives; nothing from the hub (see `hub_loop`).
//!
//! Invariants:
//! - Crash-only: there is no shutdown path. SIGTERM ends the process with
//!   the default action; the journal makes the next start resume or roll
//!   back whatever was in flight, and recovery runs on every start (here,
//!   before `READY=1`, and again at the start of every pass).
//! - The state lock is held only inside the reconcile loop's rounds, never
//!   between passes.
//! - Only the main thread ends the process: a loop that cannot go on
//!   (journal damaged or unwritable) returns its exit code, the supervisor
//!   exits with it. Configuration problems are found before `READY=1`.
//! - `WATCHDOG=1` is sent only while both loops are beating (see
//!   `watchdog`).
//! - The first report lists the node's guests (CONTRACT §7): the reconcile
//!   loop reads them before anything else and the hub loop waits for that
//!   read (at most [`start_read_wait`]). A report that had to go out
//!   without them (PVE unreadable) says `guests: null`, and one report
//!   carrying them follows as soon as they are read.

mod hub_loop;
pub mod jobs;
mod reconcile_loop;
pub mod report;
pub mod schedule;
mod watchdog;

use crate::config::Config;
use crate::hub::{HubClient, Job, blocked};
use crate::journal::{Journal, JournalError};
use crate::proxmox::Client;
use crate::status::HubStatus;
use crate::systemd::{self, Notifier};
use report::ReportState;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};
use watchdog::Heartbeat;

/// Hub loop → reconcile loop.
#[derive(Debug)]
pub enum ToReconcile {
    /// Something changed (first report done, desired document, `blocked`):
    /// run a pass now.
    Wake,
    /// Signed jobs delivered by the hub: queue them, then run a pass.
    Jobs(Vec<Job>),
}

/// Reconcile loop → hub loop.
#[derive(Debug)]
pub enum ToHub {
    /// These jobs are settled (executed or terminally rejected): delete them.
    Delete(Vec<String>),
    /// A read of the node's guests ended (the start-up read, whether or not
    /// it succeeded, or the first pass that read them): a report waiting
    /// for them may go out.
    Guests,
}

/// State both loops read and write.
#[derive(Debug)]
pub struct Shared {
    state_dir: std::path::PathBuf,
    blocked: AtomicBool,
    report: Mutex<ReportState>,
    hub: Mutex<HubStatus>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Release builds abort on panic, so a poisoned lock cannot be observed
    // there; in tests the data is still consistent (plain assignments).
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    fn new(config: &Config, generation_applied: Option<u64>) -> Shared {
        Shared {
            state_dir: config.state_dir.clone(),
            blocked: AtomicBool::new(blocked::load(&config.state_dir)),
            report: Mutex::new(ReportState::at_start(generation_applied)),
            hub: Mutex::new(crate::status::hub_status(&config.state_dir)),
        }
    }

    pub fn is_blocked(&self) -> bool {
        self.blocked.load(Ordering::SeqCst)
    }

    /// Records the hub's `blocked`; true when it changed. The flag is made
    /// durable first; if that fails the daemon stays blocked (fail closed)
    /// until a write succeeds.
    fn set_blocked(&self, blocked: bool) -> bool {
        if blocked == self.is_blocked() {
            return false;
        }
        if let Err(e) = blocked::store(&self.state_dir, blocked) {
            log::error!("cannot record the hub's blocked flag in the state directory: {e}");
            if !blocked {
                return false;
            }
        }
        log::warn!(
            "hub {} mutations",
            if blocked { "blocked" } else { "unblocked" }
        );
        self.blocked.store(blocked, Ordering::SeqCst);
        true
    }

    fn report_state(&self) -> ReportState {
        lock(&self.report).clone()
    }

    fn generation_applied(&self) -> Option<u64> {
        lock(&self.report).generation_applied
    }

    fn record_pass(&self, out: &crate::reconcile::engine::PassOutput, at: i64) {
        lock(&self.report).record_pass(out, at);
    }

    /// Whether the node's guests have been read since start.
    fn guests_known(&self) -> bool {
        lock(&self.report).guests.is_some()
    }

    fn record_start_guests(&self, guests: &[crate::reconcile::plan::ActualGuest]) {
        lock(&self.report).record_start_guests(guests);
    }

    /// What is wrong with the hub now (`None`: nothing).
    fn set_hub_note(&self, note: Option<String>) {
        let mut hub = lock(&self.hub);
        hub.last_error_at = note.as_ref().map(|_| crate::time::now_unix());
        hub.last_error = note;
    }

    /// The hub answered an exchange as expected.
    fn hub_contact(&self) {
        lock(&self.hub).last_contact_at = Some(crate::time::now_unix());
    }

    fn hub_status(&self) -> HubStatus {
        lock(&self.hub).clone()
    }

    fn status_line(&self) -> String {
        let note = lock(&self.hub).last_error.clone();
        lock(&self.report).status_line(self.is_blocked(), note.as_deref())
    }
}

/// The exit code for a journal that cannot be opened or written.
fn journal_exit(e: &JournalError) -> u8 {
    log::error!("journal: {e}");
    match e {
        JournalError::Locked { .. } => crate::exit::TEMP_FAIL,
        JournalError::Damaged { .. } => crate::exit::DATA_ERR,
        _ => crate::exit::FAILURE,
    }
}

/// How long the hub loop waits for the start-up read of the node's guests
/// before the first report goes out without them: one PVE request's
/// timeout and a second. A PVE that answers at all answers well within it;
/// one that does not must not hold back the heartbeat.
pub fn start_read_wait(config: &Config) -> Duration {
    config
        .proxmox
        .timeout
        .saturating_add(Duration::from_secs(1))
}

/// Start-up: open the journal (state lock), recover in-flight work, clean
/// the status files' leftover temps, read the applied generation, release
/// the lock.
fn start_up(config: &Config, client: &Client) -> Result<Option<u64>, u8> {
    let journal = Journal::open(&config.state_dir, crate::journal::LOCK_WAIT)
        .map_err(|e| journal_exit(&e))?;
    crate::status::remove_stale_temps(config);
    // Before the hub loop runs: it replaces the last good desired state
    // without the state lock.
    crate::reconcile::leftovers::remove_stale_temps(
        config,
        crate::reconcile::leftovers::Moment::DaemonStart,
    );
    let recovery = crate::reconcile::recover::recover(&journal, client, config)
        .map_err(|e| journal_exit(&e))?;
    for note in &recovery.notes {
        log::warn!("recovery: {note}");
    }
    Ok(journal.with_index(|i| i.last_generation))
}

/// Runs the daemon. Returns only when start-up fails; afterwards the
/// process ends from the supervisor with a fatal loop's exit code.
pub fn run(config: &Config, client: &Client, hub: Option<&HubClient>) -> u8 {
    let generation = match start_up(config, client) {
        Ok(g) => g,
        Err(code) => return code,
    };
    let notifier = Notifier::from_env();
    let watchdog = systemd::watchdog_interval();
    let shared = Shared::new(config, generation);
    if let Err(e) = notifier.ready() {
        log::warn!("sd_notify READY=1 failed: {e}");
    }
    let _ = notifier.status(&shared.status_line());
    log::info!(
        "daemon started: host {}, reconcile every {} s, hub {}",
        config.host_id,
        config.reconcile_interval.as_secs(),
        if hub.is_some() { "on" } else { "off" }
    );
    let checkin = watchdog::checkin_period(watchdog);
    let reconcile_beat = Heartbeat::new("reconcile");
    let hub_beat = Heartbeat::new("hub");
    let (to_reconcile, reconcile_inbox) = mpsc::channel();
    let (to_hub, hub_inbox) = mpsc::channel();
    let (fatal_tx, fatal_rx) = mpsc::channel::<u8>();
    std::thread::scope(|scope| {
        let hub_parts = config.hub.as_ref().zip(hub);
        let reconcile = reconcile_loop::ReconcileLoop {
            config,
            client,
            shared: &shared,
            inbox: reconcile_inbox,
            to_hub: hub_parts.is_some().then(|| to_hub.clone()),
            heartbeat: &reconcile_beat,
            notifier: &notifier,
            checkin,
            first_report_wait: hub_parts.map(|(h, _)| {
                h.timeout
                    .saturating_add(start_read_wait(config))
                    .saturating_add(Duration::from_secs(5))
            }),
        };
        spawn(scope, "reconcile", fatal_tx.clone(), move || {
            reconcile.run()
        });
        let mut beats = vec![&reconcile_beat];
        if let Some((hub_config, hub_client)) = hub_parts {
            let hub_loop = hub_loop::HubLoop {
                config,
                hub: hub_config,
                client: hub_client,
                shared: &shared,
                to_reconcile,
                inbox: hub_inbox,
                heartbeat: &hub_beat,
                checkin,
                start_read_wait: start_read_wait(config),
            };
            spawn(scope, "hub", fatal_tx.clone(), move || hub_loop.run());
            beats.push(&hub_beat);
        } else {
            drop(to_reconcile);
        }
        drop(fatal_tx);
        let code = supervise(&notifier, watchdog, &beats, &fatal_rx);
        log::error!("daemon stopping with exit code {code}");
        std::process::exit(i32::from(code))
    })
}

/// Spawns a loop thread. Whatever way it ends (a fatal code, or a panic in
/// a debug build), the supervisor learns of it.
fn spawn<'scope, 'env>(
    scope: &'scope std::thread::Scope<'scope, 'env>,
    name: &'static str,
    fatal: Sender<u8>,
    body: impl FnOnce() -> u8 + Send + 'scope,
) {
    struct Guard {
        fatal: Sender<u8>,
        name: &'static str,
        code: u8,
    }
    impl Drop for Guard {
        fn drop(&mut self) {
            log::error!("{} loop ended (exit code {})", self.name, self.code);
            let _ = self.fatal.send(self.code);
        }
    }
    let on_error = fatal.clone();
    let spawned = std::thread::Builder::new()
        .name(format!("felhom-{name}"))
        .spawn_scoped(scope, move || {
            let mut guard = Guard {
                fatal,
                name,
                code: crate::exit::FAILURE,
            };
            guard.code = body();
        });
    if let Err(e) = spawned {
        log::error!("cannot start the {name} loop thread: {e}");
        let _ = on_error.send(crate::exit::FAILURE);
    }
}

/// The main thread's job: ping the watchdog while both loops beat, and end
/// the process when a loop ends. Returns the exit code.
fn supervise(
    notifier: &Notifier,
    watchdog: Option<Duration>,
    beats: &[&Heartbeat],
    fatal: &Receiver<u8>,
) -> u8 {
    let period = watchdog::ping_period(watchdog);
    loop {
        match fatal.recv_timeout(period) {
            Ok(code) => return code,
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return crate::exit::FAILURE,
        }
        let Some(limit) = watchdog else { continue };
        let stalled = watchdog::stalled(beats, Instant::now(), limit);
        if stalled.is_empty() {
            if let Err(e) = notifier.watchdog() {
                log::debug!("sd_notify WATCHDOG=1 failed: {e}");
            }
        } else {
            log::error!(
                "loop(s) {} made no progress for {} s; withholding the watchdog ping",
                stalled.join(", "),
                limit.as_secs()
            );
        }
    }
}
