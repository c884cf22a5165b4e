//! `daemon::jobs`: hub jobs from delivery to deletion.
//!
//! Owns: the in-memory map `job_id → nonce` of jobs queued in the journal
//! and not yet settled.
//! Trusts: nothing in a job. Every job goes through
//! [`crate::reconcile::queue::enqueue`], the same entry point as `--submit`
//! (verification stages 1-9, nonce not consumed), with source `hub:JOB_ID`.
//!
//! Life of a job:
//! 1. Delivered (the hub loop fetched it) → enqueued under the state lock.
//!    - queued, added as an approval of the op queued under its nonce, or
//!      an approval already held (CONTRACT §11) → tracked; several jobs
//!      carrying signatures over one blob all track its nonce, so they are
//!      settled (deleted) together once the op ran or was rejected;
//!    - rejected terminally ([`signed::is_terminal`]) → deleted on the hub;
//!    - rejected for a reason that may change (`unknown_signer`,
//!      `not_yet_valid`) → left on the hub, offered again by a later fetch.
//! 2. After each pass, a tracked job is *settled* when its nonce is
//!    consumed (it executed; the outcome is in the journal) or when it is no
//!    longer queued (the pass dequeued it as terminally rejected). Settled
//!    jobs are deleted on the hub and forgotten here.
//!
//! Never twice: execution consumes the nonce durably before it starts. A
//! job whose deletion failed (or that the hub re-sends after a restart,
//! when this map is empty) is enqueued again, fails verification with
//! `replay` (terminal), and is deleted again. Nothing here is needed for
//! that guarantee; the map only makes deletion prompt.

use crate::authz::Signers;
use crate::config::Config;
use crate::hub::Job;
use crate::journal::{Journal, JournalError};
use crate::reconcile::queue::{self, Enqueued};
use crate::reconcile::signed;
use std::collections::BTreeMap;

/// Jobs tracked at once. The hub sends at most 256 per answer; tracked
/// jobs leave the map when they run or expire, so this is only reached by
/// a hub that keeps inventing jobs. Beyond it, new jobs wait on the hub.
pub const MAX_TRACKED_JOBS: usize = 1024;

/// Jobs queued from the hub and not yet settled.
#[derive(Debug, Default)]
pub struct JobTracker {
    tracked: BTreeMap<String, String>,
}

impl JobTracker {
    pub fn len(&self) -> usize {
        self.tracked.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tracked.is_empty()
    }

    pub fn nonce_of(&self, job_id: &str) -> Option<&str> {
        self.tracked.get(job_id).map(String::as_str)
    }

    /// Enqueues each delivered job not already tracked. Returns the ids of
    /// jobs rejected terminally, to delete on the hub. A journal error that
    /// is not fatal (a record too large) refuses only that job.
    pub fn enqueue(&mut self, journal: &Journal, config: &Config, jobs: &[Job]) -> Vec<String> {
        let mut delete = Vec::new();
        if jobs.is_empty() {
            return delete;
        }
        let signers = match Signers::load(&config.authz) {
            Ok(s) => s,
            Err(e) => {
                log::error!(
                    "signer files unusable ({e}); hub jobs stay on the hub until they load"
                );
                return delete;
            }
        };
        for job in jobs {
            if self.tracked.contains_key(&job.job_id) {
                continue;
            }
            if self.tracked.len() >= MAX_TRACKED_JOBS {
                log::warn!(
                    "{MAX_TRACKED_JOBS} hub jobs already waiting; job {} stays on the hub",
                    job.job_id
                );
                continue;
            }
            match self.enqueue_one(journal, config, &signers, job) {
                Ok(Some(id)) => delete.push(id),
                Ok(None) => {}
                Err(e) => log::error!("hub job {}: cannot queue it: {e}", job.job_id),
            }
        }
        delete
    }

    /// `Ok(Some(id))`: rejected terminally, delete it.
    fn enqueue_one(
        &mut self,
        journal: &Journal,
        config: &Config,
        signers: &Signers,
        job: &Job,
    ) -> Result<Option<String>, JournalError> {
        let source = format!("hub:{}", job.job_id);
        let sig = job.sig_armored.as_bytes();
        match queue::enqueue(journal, config, signers, &job.blob, sig, &source)? {
            Enqueued::Queued(s) | Enqueued::ApprovalAdded(s) | Enqueued::AlreadyApproved(s) => {
                self.tracked
                    .insert(job.job_id.clone(), s.op.nonce().to_string());
                Ok(None)
            }
            Enqueued::Full(s) => {
                log::warn!(
                    "hub job {}: the queued op (nonce {}) cannot hold another signature; left \
                     on the hub",
                    job.job_id,
                    s.op.nonce()
                );
                Ok(None)
            }
            Enqueued::Rejected(r) if signed::is_terminal(&r.rejection) => {
                log::warn!(
                    "hub job {} rejected ({}): {}; deleting it on the hub",
                    job.job_id,
                    r.code(),
                    r.rejection
                );
                Ok(Some(job.job_id.clone()))
            }
            Enqueued::Rejected(r) => {
                log::warn!(
                    "hub job {} not acceptable yet ({}): {}; left on the hub",
                    job.job_id,
                    r.code(),
                    r.rejection
                );
                Ok(None)
            }
        }
    }

    /// After a pass: removes and returns the jobs whose nonce is consumed
    /// or no longer queued (see the module header).
    pub fn settle(
        &mut self,
        is_consumed: &dyn Fn(&str) -> bool,
        is_queued: &dyn Fn(&str) -> bool,
    ) -> Vec<String> {
        let settled: Vec<String> = self
            .tracked
            .iter()
            .filter(|(_, nonce)| is_consumed(nonce) || !is_queued(nonce))
            .map(|(id, _)| id.clone())
            .collect();
        for id in &settled {
            self.tracked.remove(id);
        }
        settled
    }

    /// [`JobTracker::settle`] against the journal's index.
    pub fn settle_in(&mut self, journal: &Journal) -> Vec<String> {
        journal.with_index(|index| {
            self.settle(&|n| index.is_nonce_consumed(n), &|n| index.is_queued(n))
        })
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

    fn tracker(pairs: &[(&str, &str)]) -> JobTracker {
        JobTracker {
            tracked: pairs
                .iter()
                .map(|(j, n)| (j.to_string(), n.to_string()))
                .collect(),
        }
    }

    #[test]
    fn consumed_or_dequeued_jobs_settle_and_waiting_ones_stay() {
        let mut t = tracker(&[("ran", "n1"), ("dropped", "n2"), ("waiting", "n3")]);
        let consumed = |n: &str| n == "n1";
        let queued = |n: &str| n == "n3";
        let mut settled = t.settle(&consumed, &queued);
        settled.sort();
        assert_eq!(settled, ["dropped", "ran"]);
        assert_eq!(t.len(), 1);
        assert_eq!(t.nonce_of("waiting"), Some("n3"));
        assert!(t.settle(&consumed, &queued).is_empty());
    }

    #[test]
    fn a_consumed_nonce_settles_even_if_still_listed_as_queued() {
        let mut t = tracker(&[("j", "n")]);
        assert_eq!(t.settle(&|_| true, &|_| true), ["j"]);
        assert!(t.is_empty());
    }
}
