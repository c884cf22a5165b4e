//! Lanes: one worker thread per guest, the per-guest serializer.
//!
//! Owns the only concurrency in a pass. Everything that mutates a guest
//! goes through that guest's lane, so:
//! - one guest's jobs run strictly one at a time, in submit order;
//! - different guests run in parallel;
//! - at most `max_parallel` jobs (hence guests) execute at once, so a host
//!   with hundreds of guests does not open hundreds of PVE connections.
//!
//! Shape: [`run_pass`] runs one scoped thread per vmid, fed by its own
//! `std::sync::mpsc` channel; every result comes back on one shared
//! channel. A dispatcher thread starts a lane's thread only when one of the
//! `max_parallel` permits is free, and the lane holds it until its last job
//! is done, so at most `max_parallel` lane threads exist at once (memory
//! stays flat on a host with hundreds of guests). Scoped threads let `exec`
//! borrow the engine's client and journal without `Arc`/`'static`. Jobs
//! given twice for a vmid are merged into that vmid's one lane, in the
//! order given.
//!
//! Failure within a lane: `exec` returns [`Step::Continue`] or
//! [`Step::StopLane`]. After `StopLane`, the lane's remaining jobs are not
//! run and come back as [`JobOutcome::LaneStopped`] (report `skipped`);
//! `Continue` after a failure lets independent jobs still run. The choice
//! belongs to `exec`, which knows whether the next job depends on this one.
//!
//! `exec` must not panic (jobs return results). If it does anyway, the
//! pass still ends: the lane's unreported jobs come back as
//! [`JobOutcome::Lost`] and the other lanes are unaffected. (Release builds
//! abort on panic: crash-only, and recovery resolves in-flight work.)

use std::collections::BTreeMap;
use std::sync::mpsc;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::thread;
use std::time::Duration;

/// What `exec` says after a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step<R> {
    /// Run the lane's next job.
    Continue(R),
    /// Do not run the lane's remaining jobs.
    StopLane(R),
}

/// What became of one submitted job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobOutcome<J, R> {
    Ran(R),
    /// An earlier job on the same lane returned [`Step::StopLane`].
    LaneStopped(J),
    /// The lane's thread could not be created; nothing ran on it.
    NoWorker(J),
    /// The lane's worker ended without reporting this job (`exec` panicked).
    Lost,
}

/// One lane's outcomes, in submit order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LaneReport<J, R> {
    pub vmid: u32,
    pub outcomes: Vec<JobOutcome<J, R>>,
}

/// Runs `jobs` with one lane per vmid, at most `max_parallel` (min 1)
/// executing at once. Returns one report per vmid, sorted by vmid.
pub fn run_pass<J, R, F>(
    jobs: Vec<(u32, Vec<J>)>,
    max_parallel: usize,
    exec: &F,
) -> Vec<LaneReport<J, R>>
where
    J: Send,
    R: Send,
    F: Fn(u32, J) -> Step<R> + Sync,
{
    run_pass_with_tick(jobs, max_parallel, exec, Duration::MAX, &mut || {})
}

/// [`run_pass`], calling `tick` about every `every` while lanes work (for
/// the systemd watchdog during long passes).
pub fn run_pass_with_tick<J, R, F>(
    jobs: Vec<(u32, Vec<J>)>,
    max_parallel: usize,
    exec: &F,
    every: Duration,
    tick: &mut dyn FnMut(),
) -> Vec<LaneReport<J, R>>
where
    J: Send,
    R: Send,
    F: Fn(u32, J) -> Step<R> + Sync,
{
    let lanes = merge_by_vmid(jobs);
    let mut slots: Slots<J, R> = lanes
        .iter()
        .map(|(vmid, js)| (*vmid, js.iter().map(|_| None).collect()))
        .collect();
    let permits = Semaphore::new(max_parallel.max(1));
    let (done_tx, done_rx) = mpsc::channel::<(usize, usize, JobOutcome<J, R>)>();
    thread::scope(|scope| {
        let permits = &permits;
        // The dispatcher starts a lane's thread only once a permit is free,
        // so at most `max_parallel` lane threads exist at any time.
        let dispatcher = thread::Builder::new()
            .name("lanes".into())
            .spawn_scoped(scope, move || {
                dispatch(scope, lanes, permits, &done_tx, exec)
            });
        let workers = match dispatcher {
            Ok(handle) => {
                collect(&done_rx, &mut slots, every, tick);
                handle.join().unwrap_or_default()
            }
            // No dispatcher thread: nothing ran; every job stays `Lost`.
            Err(_) => Vec::new(),
        };
        // Joined here so a panicked worker is observed, not re-raised.
        for handle in workers {
            let _ = handle.join();
        }
    });
    slots
        .into_iter()
        .map(|(vmid, outcomes)| LaneReport {
            vmid,
            outcomes: outcomes
                .into_iter()
                .map(|o| o.unwrap_or(JobOutcome::Lost))
                .collect(),
        })
        .collect()
}

type Done<J, R> = mpsc::Sender<(usize, usize, JobOutcome<J, R>)>;

/// Starts one worker per lane, each holding a permit for its whole lane;
/// returns the workers' handles for joining.
fn dispatch<'scope, 'env, J, R, F>(
    scope: &'scope thread::Scope<'scope, 'env>,
    lanes: Vec<(u32, Vec<J>)>,
    permits: &'scope Semaphore,
    done_tx: &Done<J, R>,
    exec: &'env F,
) -> Vec<thread::ScopedJoinHandle<'scope, ()>>
where
    J: Send + 'scope,
    R: Send + 'scope,
    F: Fn(u32, J) -> Step<R> + Sync,
{
    let mut workers = Vec::new();
    for (lane, (vmid, lane_jobs)) in lanes.into_iter().enumerate() {
        let permit = permits.acquire();
        join_finished(&mut workers);
        let (job_tx, job_rx) = mpsc::channel::<(usize, J)>();
        let done = done_tx.clone();
        let spawned = thread::Builder::new()
            .name(format!("lane-{vmid}"))
            .spawn_scoped(scope, move || {
                let _permit = permit;
                worker(vmid, lane, job_rx, done, exec)
            });
        match spawned {
            Ok(handle) => {
                workers.push(handle);
                for job in lane_jobs.into_iter().enumerate() {
                    // A send fails only if the worker died; its jobs are then Lost.
                    let _ = job_tx.send(job);
                }
            }
            Err(_) => {
                for (i, job) in lane_jobs.into_iter().enumerate() {
                    let _ = done_tx.send((lane, i, JobOutcome::NoWorker(job)));
                }
            }
        }
    }
    workers
}

/// Joins the workers that have ended. A scoped thread's stack is released
/// only when it is joined, so without this every lane of a pass would keep
/// its stack until the pass ends (memory growing with the guest count).
fn join_finished(workers: &mut Vec<thread::ScopedJoinHandle<'_, ()>>) {
    let mut i = 0;
    while i < workers.len() {
        if workers.get(i).is_some_and(|h| h.is_finished()) {
            let _ = workers.swap_remove(i).join();
        } else {
            i += 1;
        }
    }
}

fn merge_by_vmid<J>(jobs: Vec<(u32, Vec<J>)>) -> Vec<(u32, Vec<J>)> {
    let mut lanes: BTreeMap<u32, Vec<J>> = BTreeMap::new();
    for (vmid, js) in jobs {
        lanes.entry(vmid).or_default().extend(js);
    }
    lanes.into_iter().filter(|(_, js)| !js.is_empty()).collect()
}

type Slots<J, R> = Vec<(u32, Vec<Option<JobOutcome<J, R>>>)>;

/// Receives until every worker has dropped its sender.
fn collect<J, R>(
    rx: &mpsc::Receiver<(usize, usize, JobOutcome<J, R>)>,
    slots: &mut Slots<J, R>,
    every: Duration,
    tick: &mut dyn FnMut(),
) {
    loop {
        match rx.recv_timeout(every) {
            Ok((lane, i, outcome)) => {
                if let Some(slot) = slots.get_mut(lane).and_then(|(_, s)| s.get_mut(i)) {
                    *slot = Some(outcome);
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => tick(),
            Err(mpsc::RecvTimeoutError::Disconnected) => return,
        }
    }
}

fn worker<J, R, F>(
    vmid: u32,
    lane: usize,
    jobs: mpsc::Receiver<(usize, J)>,
    done: mpsc::Sender<(usize, usize, JobOutcome<J, R>)>,
    exec: &F,
) where
    F: Fn(u32, J) -> Step<R>,
{
    let mut stopped = false;
    for (i, job) in jobs {
        let outcome = if stopped {
            JobOutcome::LaneStopped(job)
        } else {
            match exec(vmid, job) {
                Step::Continue(r) => JobOutcome::Ran(r),
                Step::StopLane(r) => {
                    stopped = true;
                    JobOutcome::Ran(r)
                }
            }
        };
        if done.send((lane, i, outcome)).is_err() {
            return;
        }
    }
}

/// A counting semaphore (Mutex + Condvar); std has none.
struct Semaphore {
    free: Mutex<usize>,
    freed: Condvar,
}

struct Permit<'a>(&'a Semaphore);

impl Semaphore {
    fn new(permits: usize) -> Semaphore {
        Semaphore {
            free: Mutex::new(permits),
            freed: Condvar::new(),
        }
    }

    // A panicking `exec` poisons nothing we rely on: the count is restored
    // by `Permit::drop` during unwinding, so poison is ignored.
    fn lock(&self) -> MutexGuard<'_, usize> {
        self.free.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn acquire(&self) -> Permit<'_> {
        let mut free = self.lock();
        while *free == 0 {
            free = self.freed.wait(free).unwrap_or_else(|p| p.into_inner());
        }
        *free -= 1;
        Permit(self)
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        *self.0.lock() += 1;
        self.0.freed.notify_one();
    }
}
