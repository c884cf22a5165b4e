//! `daemon::hub_loop`: the conversation with the hub (CONTRACT §7).
//!
//! Owns: the report schedule, the desired-state and jobs fetches that the
//! envelope asks for, and job deletions with their retries.
//! Trusts: nothing the hub sends. The envelope is strictly decoded by
//! `hub`; a desired-state document goes through the §5 parser and the
//! generation rule ([`ingest_hub_document`]); jobs go to the reconcile loop,
//! which verifies them like `--submit`. No answer can cause a mutation by
//! itself: the hub can only deliver documents and signed ops, or block.
//!
//! Pacing: the first report goes out at start, then one per (clamped) poll
//! interval. The first report waits (at most `start_read_wait`) for the
//! reconcile loop's read of the node's guests, so it lists them (CONTRACT
//! §7). The one other report: when a delivered report had to say
//! `guests: null` (PVE unreadable at start), a report goes out as soon as
//! the guests are read, so the hub never waits an interval to learn them.
//! At start the desired state is fetched once whatever the envelope says.
//! Every failed exchange (hub unreachable, 5xx, timeout, oversized or
//! malformed answer) is logged and retried with exponential backoff capped
//! at the poll interval.
//!
//! After every round with an exchange, the hub's last contact and error
//! are recorded for `--status` and the metrics file (`status::record_hub`).
//!
//! A rejected desired-state document is logged, shown in `STATUS=`, and
//! not fetched again until an envelope announces a newer generation; the
//! last good document stays in force.

use super::schedule::{self, Retry};
use super::watchdog::Heartbeat;
use super::{Shared, ToHub, ToReconcile};
use crate::config::{Config, HubConfig};
use crate::hub::{ControlEnvelope, HubClient, HubError};
use crate::reconcile::desired::provider::ingest_hub_document;
use std::collections::BTreeSet;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

/// Job deletions waiting for a retry. Beyond this, an id is dropped: the
/// hub re-sends the job, it fails verification as `replay`, and its
/// deletion is asked again.
const MAX_PENDING_DELETES: usize = 1024;

pub struct HubLoop<'a> {
    pub config: &'a Config,
    pub hub: &'a HubConfig,
    pub client: &'a HubClient,
    pub shared: &'a Shared,
    pub to_reconcile: Sender<ToReconcile>,
    pub inbox: Receiver<ToHub>,
    pub heartbeat: &'a Heartbeat,
    /// Longest wait between heartbeats.
    pub checkin: Duration,
    /// How long the first report waits for the start-up guest read.
    pub start_read_wait: Duration,
}

struct State {
    interval: Duration,
    report: Retry,
    /// `Some` while a desired-state fetch is wanted.
    desired: Option<Retry>,
    /// `Some` while a jobs fetch is wanted.
    jobs: Option<Retry>,
    deletes: BTreeSet<String>,
    delete_retry: Retry,
    /// The newest generation taken from the hub in this run.
    ingested: Option<u64>,
    first_report_done: bool,
    /// The last delivered report said `guests: null`: one carrying them is
    /// owed as soon as they are read.
    guests_owed: bool,
}

impl HubLoop<'_> {
    /// Runs forever (the hub loop has no fatal errors).
    pub fn run(self) -> u8 {
        let now = Instant::now();
        let mut st = State {
            interval: schedule::clamp_poll(self.hub.poll_seconds),
            report: Retry::due_at(now),
            desired: Some(Retry::due_at(now)),
            jobs: None,
            deletes: BTreeSet::new(),
            delete_retry: Retry::due_at(now),
            ingested: None,
            first_report_done: false,
            guests_owed: false,
        };
        self.await_start_read(&mut st);
        loop {
            self.heartbeat.beat();
            if self.step(&mut st) {
                crate::status::record_hub(self.config, &self.shared.hub_status());
            }
            self.wait(&mut st);
        }
    }

    /// Waits until the reconcile loop's start-up read of the node's guests
    /// is over, or `start_read_wait` passed.
    fn await_start_read(&self, st: &mut State) {
        let deadline = Instant::now()
            .checked_add(self.start_read_wait)
            .unwrap_or_else(Instant::now);
        loop {
            self.heartbeat.beat();
            let now = Instant::now();
            if now >= deadline {
                log::warn!(
                    "the node's guests were not read within {} s; the first report goes out \
                     without them",
                    self.start_read_wait.as_secs()
                );
                return;
            }
            let slice = deadline.saturating_duration_since(now).min(self.checkin);
            match self.inbox.recv_timeout(slice) {
                Ok(ToHub::Guests) | Err(RecvTimeoutError::Disconnected) => return,
                Ok(ToHub::Delete(ids)) => self.add_deletes(st, ids),
                Err(RecvTimeoutError::Timeout) => {}
            }
        }
    }

    /// Runs the exchanges that are due; true if there was any.
    fn step(&self, st: &mut State) -> bool {
        let mut exchanged = false;
        if st.report.is_due(Instant::now()) {
            self.report(st);
            exchanged = true;
        }
        if st.desired.is_some_and(|r| r.is_due(Instant::now())) {
            self.fetch_desired(st);
            exchanged = true;
        }
        if st.jobs.is_some_and(|r| r.is_due(Instant::now())) {
            self.fetch_jobs(st);
            exchanged = true;
        }
        if !st.deletes.is_empty() && st.delete_retry.is_due(Instant::now()) {
            self.delete_jobs(st);
            exchanged = true;
        }
        exchanged
    }

    /// Sleeps until the next exchange is due or the reconcile loop sends
    /// deletions, beating the heartbeat.
    fn wait(&self, st: &mut State) {
        let mut due = st.report.next_at();
        for r in [st.desired, st.jobs].into_iter().flatten() {
            due = due.min(r.next_at());
        }
        if !st.deletes.is_empty() {
            due = due.min(st.delete_retry.next_at());
        }
        loop {
            self.heartbeat.beat();
            let now = Instant::now();
            if now >= due {
                return;
            }
            let slice = due.saturating_duration_since(now).min(self.checkin);
            match self.inbox.recv_timeout(slice) {
                Ok(ToHub::Delete(ids)) => {
                    self.add_deletes(st, ids);
                    return;
                }
                Ok(ToHub::Guests) => {
                    if st.guests_owed && st.report.failures() == 0 && self.shared.guests_known() {
                        log::info!("the node's guests are read; reporting them now");
                        st.report = Retry::due_at(Instant::now());
                        return;
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => std::thread::sleep(slice),
            }
        }
    }

    fn add_deletes(&self, st: &mut State, ids: Vec<String>) {
        for id in ids {
            if st.deletes.len() >= MAX_PENDING_DELETES {
                log::warn!("too many job deletions waiting; job {id} will be deleted when re-sent");
                continue;
            }
            st.deletes.insert(id);
        }
    }

    fn report(&self, st: &mut State) {
        let report = self
            .shared
            .report_state()
            .host_report(&self.config.host_id, crate::time::now_unix());
        match self.client.report(&report) {
            Ok(envelope) => {
                st.interval = envelope.clamped_poll_interval();
                st.report.succeeded(Instant::now(), st.interval);
                st.guests_owed = report.guests.is_none();
                self.shared.hub_contact();
                self.shared.set_hub_note(None);
                self.follow(st, &envelope);
            }
            Err(e) => {
                st.report.failed(Instant::now(), st.interval);
                self.failed("report", &e, st.report);
            }
        }
        if !st.first_report_done {
            st.first_report_done = true;
            self.wake();
        }
    }

    /// Acts on an envelope: blocked flag, desired generation, jobs.
    fn follow(&self, st: &mut State, envelope: &ControlEnvelope) {
        if self.shared.set_blocked(envelope.blocked) {
            self.wake();
        }
        let known = st.ingested.max(self.shared.generation_applied());
        if let Some(g) = envelope.desired_generation
            && known.is_none_or(|k| g > k)
            && st.desired.is_none()
        {
            log::info!("hub announces desired-state generation {g}; fetching it");
            st.desired = Some(Retry::due_at(Instant::now()));
        }
        if envelope.has_signed_ops && st.jobs.is_none() {
            st.jobs = Some(Retry::due_at(Instant::now()));
        }
    }

    fn fetch_desired(&self, st: &mut State) {
        let answer = self.client.desired_state(&self.config.host_id);
        let bytes = match answer {
            Ok(b) => b,
            Err(HubError::Status { status: 404, .. }) => {
                self.shared.hub_contact();
                log::info!("the hub holds no desired state for this host");
                st.desired = None;
                return;
            }
            Err(e) => {
                if let Some(r) = st.desired.as_mut() {
                    r.failed(Instant::now(), st.interval);
                    self.failed("desired-state fetch", &e, *r);
                }
                return;
            }
        };
        st.desired = None;
        self.shared.hub_contact();
        let applied = self.shared.generation_applied();
        match ingest_hub_document(&self.config.state_dir, &bytes, applied) {
            Ok(doc) => {
                let g = doc.generation();
                log::info!("desired state generation {g} from the hub accepted");
                st.ingested = st.ingested.max(Some(g));
                self.shared.set_hub_note(None);
                self.wake();
            }
            Err(e) => {
                log::warn!(
                    "desired state from the hub rejected: {e}; the last good document stays \
                     in force"
                );
                self.shared
                    .set_hub_note(Some(format!("desired state from the hub rejected: {e}")));
            }
        }
    }

    fn fetch_jobs(&self, st: &mut State) {
        match self.client.jobs(&self.config.host_id) {
            Ok(mut jobs) => {
                st.jobs = None;
                self.shared.hub_contact();
                // A job whose deletion is still being retried is settled.
                jobs.retain(|j| !st.deletes.contains(&j.job_id));
                if !jobs.is_empty() {
                    log::info!("{} signed job(s) from the hub", jobs.len());
                    let _ = self.to_reconcile.send(ToReconcile::Jobs(jobs));
                }
            }
            Err(e) => {
                if let Some(r) = st.jobs.as_mut() {
                    r.failed(Instant::now(), st.interval);
                    self.failed("jobs fetch", &e, *r);
                }
            }
        }
    }

    fn delete_jobs(&self, st: &mut State) {
        let mut failed = false;
        for id in st.deletes.clone() {
            match self.client.delete_job(&self.config.host_id, &id) {
                Ok(()) => {
                    self.shared.hub_contact();
                    log::info!("hub job {id} deleted");
                    st.deletes.remove(&id);
                }
                Err(e) => {
                    log::warn!("deleting hub job {id} failed: {e}; retried later");
                    failed = true;
                }
            }
        }
        if failed {
            st.delete_retry.failed(Instant::now(), st.interval);
        } else {
            st.delete_retry.succeeded(Instant::now(), Duration::ZERO);
        }
    }

    fn failed(&self, what: &str, e: &HubError, retry: Retry) {
        let wait = retry.next_at().saturating_duration_since(Instant::now());
        log::warn!(
            "hub {what} failed (attempt {}): {e}; retrying in {} s",
            retry.failures(),
            wait.as_secs()
        );
        self.shared
            .set_hub_note(Some(format!("hub {what} failing: {e}")));
    }

    fn wake(&self) {
        // The reconcile loop ends only when the process does.
        let _ = self.to_reconcile.send(ToReconcile::Wake);
    }
}
