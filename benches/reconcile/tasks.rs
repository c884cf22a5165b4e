//! Lanes at realistic task durations: fakepve at time scale 1 (a PVE second
//! is a real second; tasks run concurrently in fakepve's event loop while
//! it answers other requests), [`GUESTS`] stopped qemu guests whose start
//! task takes [`START_SECS`] s each, all desired `running`.
//!
//! Two identical fresh hosts, one pass each through
//! `engine::run_pass_with_lanes`: one lane, then `MAX_PARALLEL_GUESTS`
//! lanes. Figures: the speed-up (budget >= 6x; the ideal is 8x) and the
//! 8-lane pass's wall time against the ideal, the total task time divided
//! by 8.
//!
//! Why 32 guests of 2 s: 64 would make the one-lane reference alone take
//! over 2 minutes; 32 is still four full rounds of eight lanes, so the
//! ratio measures the same overlap, and 2 s tasks keep the agent's task
//! polling (100 ms, doubling to 1 s) a modest share of each task as on a
//! real host.

use super::fakepve::{self, FakePve};
use super::{Host, host_on, library_pass};
use felhom_agent::reconcile::engine::MAX_PARALLEL_GUESTS;
use serde_json::{Value, json};
use std::time::Duration;

const GUESTS: u32 = 32;
const START_SECS: u32 = 2;
const BUDGET: f64 = 6.0;

fn host(tag: &str) -> Host {
    let pve = FakePve::start_with(fakepve::Options {
        qemu: 0,
        lxc: 0,
        time_scale: 1.0,
        ..Default::default()
    });
    let vmids: Vec<u32> = (0..GUESTS)
        .map(|_| pve.add_qemu("stopped", json!({"cores": 1, "memory": 512})))
        .collect();
    for v in &vmids {
        pve.set_guest(*v, "start_secs", json!(START_SECS));
    }
    let guests: Vec<Value> = vmids
        .iter()
        .map(|v| json!({"vmid": v, "state": "running"}))
        .collect();
    let doc = json!({"generation": 1, "desired_state": {"guests": guests}});
    host_on(pve, tag, &doc)
}

pub fn run() {
    println!(
        "{GUESTS} qemu guests, each start task {START_SECS} s (fakepve time scale 1: real durations)"
    );
    let one = host("tasks-one");
    let (t1, ok1) = library_pass(&one, 1);
    drop(one);
    let lanes = host("tasks-lanes");
    let (tl, okl) = library_pass(&lanes, MAX_PARALLEL_GUESTS);
    drop(lanes);
    assert_eq!(ok1, okl, "both passes did the same work");
    assert_eq!(okl, GUESTS as usize, "every start succeeded");
    let ratio = t1.as_secs_f64() / tl.as_secs_f64().max(1e-9);
    let ideal = Duration::from_secs(u64::from(GUESTS * START_SECS)) / MAX_PARALLEL_GUESTS as u32;
    println!(
        "pass of {okl} starts: 1 lane {:.2} s, {MAX_PARALLEL_GUESTS} lanes {:.2} s, speed-up {ratio:.2}x \
         (budget >= {BUDGET}x, ideal {MAX_PARALLEL_GUESTS}x) {}",
        t1.as_secs_f64(),
        tl.as_secs_f64(),
        if ratio >= BUDGET { "OK" } else { "OVER BUDGET" }
    );
    println!(
        "{MAX_PARALLEL_GUESTS}-lane pass {:.2} s against the ideal {:.2} s (total task time / \
         {MAX_PARALLEL_GUESTS}): {:.2}x the ideal",
        tl.as_secs_f64(),
        ideal.as_secs_f64(),
        tl.as_secs_f64() / ideal.as_secs_f64()
    );
}
