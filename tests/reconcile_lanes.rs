//! Lanes: proved from recorded event order, not from durations.
//!
//! Every job records a start and an end tick from one global atomic
//! counter, so ticks give a total order of events. From them: jobs of one
//! guest never overlap and run in submit order; jobs of different guests
//! do overlap; never more than `max_parallel` jobs run at once.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use felhom_agent::reconcile::lanes::{JobOutcome, LaneReport, Step, run_pass, run_pass_with_tick};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::Duration;

/// Liveness guard for the rendezvous below: a correct implementation
/// meets it at once; a serialized one would wait forever without it.
const RENDEZVOUS_GIVE_UP: Duration = Duration::from_secs(20);

const LINGER: Duration = Duration::from_millis(20);

#[derive(Debug, Clone, Copy)]
struct Event {
    vmid: u32,
    seq: usize,
    start: u64,
    end: u64,
}

#[derive(Default)]
struct Recorder {
    clock: AtomicU64,
    running: AtomicUsize,
    peak: AtomicUsize,
    events: Mutex<Vec<Event>>,
    /// Distinct guests that have started a job, for the rendezvous.
    started: Mutex<usize>,
    started_cv: Condvar,
}

impl Recorder {
    fn run(&self, vmid: u32, seq: usize, wait_for_guests: usize) -> Event {
        let start = self.clock.fetch_add(1, Ordering::SeqCst);
        let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak.fetch_max(now, Ordering::SeqCst);
        if seq == 0 {
            // First job of each guest: wait until `wait_for_guests` guests
            // are inside a job together, which forces a real overlap.
            let mut started = self.started.lock().unwrap();
            *started += 1;
            self.started_cv.notify_all();
            let (guard, _) = self
                .started_cv
                .wait_timeout_while(started, RENDEZVOUS_GIVE_UP, |n| *n < wait_for_guests)
                .unwrap();
            drop(guard);
            // Linger, so an implementation that let more jobs in than
            // allowed would show it in `peak`; a correct one is unaffected.
            std::thread::sleep(LINGER);
        }
        std::thread::yield_now();
        self.running.fetch_sub(1, Ordering::SeqCst);
        let end = self.clock.fetch_add(1, Ordering::SeqCst);
        let e = Event {
            vmid,
            seq,
            start,
            end,
        };
        self.events.lock().unwrap().push(e);
        e
    }
}

fn jobs(guests: u32, per_guest: usize) -> Vec<(u32, Vec<usize>)> {
    (1..=guests)
        .map(|vmid| (vmid * 100, (0..per_guest).collect()))
        .collect()
}

fn ran<R: Clone + std::fmt::Debug>(lane: &LaneReport<usize, R>) -> Vec<R> {
    lane.outcomes
        .iter()
        .map(|o| match o {
            JobOutcome::Ran(r) => r.clone(),
            other => panic!("vmid {}: {other:?}", lane.vmid),
        })
        .collect()
}

fn overlaps(a: &Event, b: &Event) -> bool {
    a.start < b.end && b.start < a.end
}

#[test]
fn one_guest_in_order_different_guests_overlap_bounded_by_max_parallel() {
    let rec = Recorder::default();
    let max_parallel = 3;
    let exec = |vmid: u32, seq: usize| Step::Continue(rec.run(vmid, seq, max_parallel));
    let reports = run_pass(jobs(12, 4), max_parallel, &exec);

    let vmids: Vec<u32> = reports.iter().map(|r| r.vmid).collect();
    assert_eq!(vmids, (1..=12).map(|v| v * 100).collect::<Vec<_>>());
    for lane in &reports {
        let events = ran(lane);
        let seqs: Vec<usize> = events.iter().map(|e| e.seq).collect();
        assert_eq!(seqs, vec![0, 1, 2, 3], "results in submit order");
        for pair in events.windows(2) {
            assert!(
                pair[0].end < pair[1].start,
                "same guest overlapped: {pair:?}"
            );
        }
    }
    let all = rec.events.lock().unwrap().clone();
    assert_eq!(all.len(), 48);
    let cross = all
        .iter()
        .any(|a| all.iter().any(|b| a.vmid != b.vmid && overlaps(a, b)));
    assert!(cross, "no two guests ever ran at the same time");
    let peak = rec.peak.load(Ordering::SeqCst);
    assert_eq!(
        peak, max_parallel,
        "the bound is reached and never exceeded"
    );
    // The same bound, from the event order alone.
    let mut ticks: Vec<(u64, i32)> = all
        .iter()
        .flat_map(|e| [(e.start, 1), (e.end, -1)])
        .collect();
    ticks.sort();
    let mut level = 0;
    for (_, d) in ticks {
        level += d;
        assert!(level <= max_parallel as i32);
    }
}

#[test]
fn max_parallel_one_runs_everything_strictly_one_at_a_time() {
    let rec = Recorder::default();
    let exec = |vmid: u32, seq: usize| Step::Continue(rec.run(vmid, seq, 1));
    let reports = run_pass(jobs(6, 3), 1, &exec);
    assert_eq!(rec.peak.load(Ordering::SeqCst), 1);
    let all: Vec<Event> = reports.iter().flat_map(ran).collect();
    for a in &all {
        assert!(all.iter().all(|b| std::ptr::eq(a, b) || !overlaps(a, b)));
    }
    // Zero is clamped to one rather than deadlocking.
    let none = run_pass(jobs(2, 1), 0, &|_, seq: usize| Step::Continue(seq));
    assert_eq!(none.len(), 2);
}

#[test]
fn stop_lane_skips_only_that_lanes_remaining_jobs() {
    let exec = |vmid: u32, seq: usize| {
        if vmid == 200 && seq == 1 {
            Step::StopLane(seq)
        } else {
            Step::Continue(seq)
        }
    };
    let reports = run_pass(jobs(3, 4), 2, &exec);
    let stopped = &reports[1];
    assert_eq!(stopped.vmid, 200);
    assert_eq!(
        stopped.outcomes,
        vec![
            JobOutcome::Ran(0),
            JobOutcome::Ran(1),
            JobOutcome::LaneStopped(2),
            JobOutcome::LaneStopped(3)
        ]
    );
    assert_eq!(ran(&reports[0]), vec![0, 1, 2, 3]);
    assert_eq!(ran(&reports[2]), vec![0, 1, 2, 3]);
}

#[test]
fn jobs_given_twice_for_a_guest_share_one_lane_in_order() {
    let rec = Recorder::default();
    let exec = |vmid: u32, seq: usize| Step::Continue(rec.run(vmid, seq, 1));
    let input = vec![(7, vec![0, 1]), (3, vec![0]), (7, vec![2, 3]), (9, vec![])];
    let reports = run_pass(input, 4, &exec);
    let vmids: Vec<u32> = reports.iter().map(|r| r.vmid).collect();
    assert_eq!(vmids, vec![3, 7], "empty lanes dropped, lanes sorted");
    let lane7 = ran(&reports[1]);
    assert_eq!(
        lane7.iter().map(|e| e.seq).collect::<Vec<_>>(),
        vec![0, 1, 2, 3]
    );
    for pair in lane7.windows(2) {
        assert!(pair[0].end < pair[1].start);
    }
}

#[test]
fn a_panicking_job_loses_its_lane_but_the_pass_ends_and_others_finish() {
    let exec = |vmid: u32, seq: usize| {
        if vmid == 100 && seq == 1 {
            panic!("deliberate panic in a lane");
        }
        Step::Continue(seq * 10)
    };
    let reports = run_pass(jobs(3, 3), 2, &exec);
    assert_eq!(
        reports[0].outcomes,
        vec![JobOutcome::Ran(0), JobOutcome::Lost, JobOutcome::Lost]
    );
    assert_eq!(ran(&reports[1]), vec![0, 10, 20]);
    assert_eq!(ran(&reports[2]), vec![0, 10, 20]);
}

#[test]
fn tick_runs_while_lanes_work() {
    let ticks = AtomicUsize::new(0);
    let gate = (Mutex::new(false), Condvar::new());
    let exec = |_: u32, _: usize| {
        // Hold the lane until the collector has ticked at least twice.
        let (lock, cv) = &gate;
        let g = lock.lock().unwrap();
        let _ = cv
            .wait_timeout_while(g, RENDEZVOUS_GIVE_UP, |open| !*open)
            .unwrap();
        Step::Continue(())
    };
    let mut tick = || {
        if ticks.fetch_add(1, Ordering::SeqCst) + 1 >= 2 {
            *gate.0.lock().unwrap() = true;
            gate.1.notify_all();
        }
    };
    let reports = run_pass_with_tick(jobs(1, 1), 1, &exec, Duration::from_millis(5), &mut tick);
    assert_eq!(reports[0].outcomes, vec![JobOutcome::Ran(())]);
    assert!(ticks.load(Ordering::SeqCst) >= 2);
}

#[test]
fn five_hundred_guests_complete_with_bounded_parallelism() {
    let running = AtomicUsize::new(0);
    let peak = AtomicUsize::new(0);
    let exec = |vmid: u32, seq: usize| {
        let now = running.fetch_add(1, Ordering::SeqCst) + 1;
        peak.fetch_max(now, Ordering::SeqCst);
        std::thread::yield_now();
        running.fetch_sub(1, Ordering::SeqCst);
        Step::Continue((vmid, seq))
    };
    let reports = run_pass(jobs(500, 2), 8, &exec);
    assert_eq!(reports.len(), 500);
    for lane in &reports {
        assert_eq!(ran(lane), vec![(lane.vmid, 0), (lane.vmid, 1)]);
    }
    assert!(peak.load(Ordering::SeqCst) <= 8);
}
