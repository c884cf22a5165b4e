//! The power-cut trials: scenarios ([`Scenario`]) and the loop that cuts
//! each one at its cut points, with the invariants every scenario shares
//! ([`run_scenario`]).
//!
//! A trial: build a fresh world, boot the disk, arm the cut, run the action
//! (the real binary), and at the cut SIGKILL it and cut the power. Then,
//! on the image the cut left: the journal opens (a torn tail at most, never
//! damage: the disk damaged nothing durable), and every file the agent
//! replaces whole is its old or its new version. Then the restart (the
//! scenario's), and on the restarted host: `--journal-verify` exits 0 with
//! no torn tail, no temp file is left, no PVE mutation of the world's
//! guests was sent twice, and the scenario's own checks (nonces, the pass
//! converging).
//!
//! Adding a scenario (creation transactions and approvals are natural next
//! ones): write its five functions (setup: a `World` and its durable state;
//! action: the process to cut; cuts: from the operation counts of an uncut
//! run; kept: the files replaced whole and their allowed versions, or a
//! test that recognizes a complete new version; restart: bring the host
//! back and check), put them in a `Scenario` and call [`run_scenario`] from
//! a `#[test]`. Examples: `tests/*_powercut.rs`.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use crate::fakepve::{FakePve, Options};
use crate::powercut::{self, Policy, Trigger};
use crate::powercut_world::{Agent, Ctx, Run, World};
use crate::stub_hub::StubHub;
use felhom_agent::journal;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

/// A correct agent is far quicker; this only bounds a hung trial.
const GIVE_UP: Duration = Duration::from_secs(60);

/// Where a trial cuts the power.
#[derive(Debug, Clone)]
pub enum CutAt {
    /// At a file-system operation.
    Fs(Trigger),
    /// Once PVE has received this many mutating requests for the world's
    /// guests (the agent is killed first, then the power goes).
    PveRequest(u64),
    /// After the action ended (or was done): its unsynced writes are lost.
    End,
    /// The action is SIGKILLed at the first trigger (the power stays on,
    /// the page cache keeps its unsynced writes), started again, and the
    /// power is cut at the second trigger.
    CrashThenCut(Trigger, Trigger),
}

#[derive(Debug, Clone)]
pub struct Cut {
    pub at: CutAt,
    pub policy: Policy,
}

/// A file the agent replaces whole, and the versions it may hold after a
/// cut (`None`: absent). A new version whose bytes cannot be known ahead
/// (a timestamp in it) is recognized by `whole` instead: it holds for a
/// complete version, never for an empty or partial one.
pub struct Kept {
    pub path: &'static str,
    pub versions: Vec<Option<Vec<u8>>>,
    pub whole: Option<fn(&[u8]) -> bool>,
}

impl Kept {
    /// A file whose every allowed version is known.
    pub fn exactly(path: &'static str, versions: Vec<Option<Vec<u8>>>) -> Kept {
        Kept {
            path,
            versions,
            whole: None,
        }
    }
}

/// What a trial's cut interrupted.
pub struct Interrupted {
    /// Where the trigger fired (`None`: the action ended first).
    pub at: Option<String>,
    /// The action's stderr up to the cut.
    pub log: String,
}

/// One scenario. To add one: write these functions (see
/// `tests/journal_powercut.rs` for examples) and call [`run_scenario`]
/// from a `#[test]`.
pub struct Scenario {
    pub name: &'static str,
    /// A fresh world and its durable state before the action.
    pub setup: fn(&Ctx) -> World,
    /// The process the cut interrupts.
    pub action: fn(&World) -> Agent,
    /// For actions that never end (the daemon): whether it has done its
    /// part. One-shot actions: `|_, _, _| false`.
    pub done: fn(&World, &Ctx, &Agent) -> bool,
    /// The cut points, from the operations an uncut action made (two cuts
    /// after the action's end are added to every scenario).
    pub cuts: fn(&BTreeMap<String, u64>) -> Vec<Cut>,
    /// Files replaced whole and their allowed versions.
    pub kept: fn(&World) -> Vec<Kept>,
    /// The restart (the disk is mounted) and the scenario's checks.
    pub restart: fn(&World, &Ctx, &Interrupted),
}

/// Runs the scenario uncut once to count its operations, then one trial
/// per cut point.
pub fn run_scenario(s: &Scenario, ctx: &Ctx) {
    powercut::check_tools();
    let w = (s.setup)(ctx);
    let mut m = w.disk.mount();
    let mut agent = (s.action)(&w);
    let start = Instant::now();
    while !agent.exited() && !(s.done)(&w, ctx, &agent) {
        assert!(
            start.elapsed() < GIVE_UP,
            "{}: the uncut action hangs",
            s.name
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    agent.kill();
    let counts = m.counts();
    m.shutdown();
    let mut cuts = (s.cuts)(&counts);
    // Every scenario also loses power once its action is over, before the
    // kernel wrote anything back: what was not synced is gone.
    for policy in [Policy::Drop, Policy::Prefix] {
        cuts.push(Cut {
            at: CutAt::End,
            policy,
        });
    }
    assert!(!cuts.is_empty(), "{}: no cut points in {counts:?}", s.name);
    eprintln!("{}: {} cut points from {counts:?}", s.name, cuts.len());
    for (i, cut) in cuts.iter().enumerate() {
        let seed = ((i as u64 + 1) * 0x9E37_79B9) ^ s.name.len() as u64;
        trial(s, ctx, cut, seed);
    }
}

fn trial(s: &Scenario, ctx: &Ctx, cut: &Cut, seed: u64) {
    let w = (s.setup)(ctx);
    let what = format!(
        "{}: cut {:?} policy {:?} seed {seed}",
        s.name, cut.at, cut.policy
    );
    let kept = (s.kept)(&w);
    let mut m = w.disk.mount();
    match &cut.at {
        CutAt::Fs(t) | CutAt::CrashThenCut(t, _) => m.arm(t),
        CutAt::PveRequest(_) | CutAt::End => {}
    }
    let mut agent = (s.action)(&w);
    if let CutAt::CrashThenCut(_, then) = &cut.at {
        let start = Instant::now();
        // (An action that ends first, its syncs being fewer this time,
        // simply runs again.)
        while m.triggered(Duration::from_millis(10)).is_none() && !agent.exited() {
            assert!(
                start.elapsed() < GIVE_UP,
                "{what}: the crash point never came"
            );
        }
        agent.signal_kill();
        m.resume();
        agent.kill();
        m.arm(then);
        agent = (s.action)(&w);
    }
    let start = Instant::now();
    loop {
        assert!(
            start.elapsed() < GIVE_UP,
            "{what}: neither the cut nor the end came"
        );
        match &cut.at {
            CutAt::Fs(_) | CutAt::CrashThenCut(..) => {
                if m.triggered(Duration::from_millis(10)).is_some() {
                    break;
                }
            }
            CutAt::PveRequest(n) => {
                if count_requests(ctx, &w.vmids) >= *n {
                    agent.kill();
                    m.freeze();
                    break;
                }
                std::thread::sleep(Duration::from_millis(2));
            }
            CutAt::End => std::thread::sleep(Duration::from_millis(10)),
        }
        if agent.exited() || (s.done)(&w, ctx, &agent) {
            break;
        }
    }
    agent.signal_kill();
    let (at, unsynced) = m.cut(cut.policy, seed);
    agent.kill();
    let interrupted = Interrupted {
        at: at.clone(),
        log: agent.log(),
    };
    eprintln!(
        "{what}: power cut at {}, unsynced {unsynced:?}",
        at.as_deref().unwrap_or("the end")
    );
    check_image(&w, &kept, &what);
    w.mounted(|w| {
        (s.restart)(w, ctx, &interrupted);
        let verify = w.run(&["--journal-verify", "--json"]);
        assert_eq!(
            verify.code, 0,
            "{what}: --journal-verify after the restart: {verify:?}"
        );
        assert_eq!(
            verify.json()["torn_tail"],
            Value::Null,
            "{what}: torn tail not repaired"
        );
    });
    check_no_temp_files(&w.disk.backing, &what);
    check_no_mutation_twice(ctx, &w, &what);
}

/// The journal image opens (never damage) and kept files are old or new.
fn check_image(w: &World, kept: &[Kept], what: &str) {
    let journal = w.image("state/journal");
    if journal.exists()
        && let Err(e) = journal::verify_file(&journal)
    {
        panic!("{what}: the power cut left a journal the agent refuses: {e}");
    }
    for k in kept {
        let now = std::fs::read(w.image(k.path)).ok();
        let whole = match (&now, k.whole) {
            (Some(bytes), Some(whole)) => whole(bytes),
            _ => false,
        };
        assert!(
            k.versions.contains(&now) || whole,
            "{what}: {} is neither its old nor its new version: {:?}",
            k.path,
            now.map(|b| String::from_utf8_lossy(&b).into_owned())
        );
    }
}

fn check_no_temp_files(dir: &Path, what: &str) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().into_string().unwrap();
        let is_temp = name == journal::TEMP_FILE
            || name.starts_with('.')
                && name
                    .rsplit_once(".tmp.")
                    .is_some_and(|(_, pid)| pid.bytes().all(|b| b.is_ascii_digit()));
        assert!(
            !is_temp,
            "{what}: temp file {} left behind",
            entry.path().display()
        );
        if entry.file_type().unwrap().is_dir() {
            check_no_temp_files(&entry.path(), what);
        }
    }
}

fn count_requests(ctx: &Ctx, vmids: &[u32]) -> u64 {
    if vmids.is_empty() {
        return 0;
    }
    ctx.pve
        .command(json!({"op": "count_requests", "vmids": vmids}))
        .as_u64()
        .unwrap()
}

/// PVE saw each mutation of the world's guests at most once (tasks finish
/// at once at time scale 0, so a re-planned action never repeats one).
fn check_no_mutation_twice(ctx: &Ctx, w: &World, what: &str) {
    let mut seen = BTreeMap::new();
    for (method, path) in ctx.pve.requests() {
        let ours = w.vmids.iter().any(|v| {
            let seg = format!("/{v}");
            path.contains(&format!("{seg}/")) || path.ends_with(&seg)
        });
        if method != "GET" && ours {
            *seen.entry((method, path)).or_insert(0u32) += 1;
        }
    }
    for (req, n) in seen {
        assert!(n <= 1, "{what}: PVE received {req:?} {n} times");
    }
}

/// A pass after the restart: exit code as the scenario expects, and no
/// action executed (the host had converged).
pub fn assert_converged(w: &World, what: &str, code: i32) {
    let run = w.run(&["--reconcile-now", "--json"]);
    assert_eq!(
        run.code, code,
        "{what}: the pass after the restart: {run:?}"
    );
    let doc = run.json();
    let executed: Vec<&Value> = doc["actions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["outcome"] == json!("succeeded") || a["outcome"] == json!("failed"))
        .collect();
    assert!(executed.is_empty(), "{what}: not converged: {doc}");
}

/// The restart pass: any exit but 65 (damage) or a crash.
pub fn restart_pass(w: &World, what: &str) -> Run {
    let run = w.run(&["--reconcile-now", "--json"]);
    assert!(
        [0, 1, 4].contains(&run.code),
        "{what}: the restart pass exited {}: {}",
        run.code,
        run.stderr
    );
    run
}

/// Cut points: `n` of 1..=`total` spread evenly (first and last included),
/// alternating before/after and the policies.
pub fn spread(kind: &str, name: Option<&str>, total: u64, n: usize) -> Vec<Cut> {
    let picks: Vec<u64> = if total as usize <= n {
        (1..=total).collect()
    } else {
        (0..n)
            .map(|i| 1 + (i as u64 * (total - 1)) / (n as u64 - 1).max(1))
            .collect()
    };
    picks
        .into_iter()
        .enumerate()
        .map(|(i, k)| {
            let t = if i % 2 == 0 {
                Trigger::before(kind, k)
            } else {
                Trigger::after(kind, k)
            };
            Cut {
                at: CutAt::Fs(match name {
                    Some(f) => t.named(f),
                    None => t,
                }),
                policy: Policy::CUTS[i % Policy::CUTS.len()],
            }
        })
        .collect()
}

/// The count of `key` in an uncut run's counts.
pub fn count(counts: &BTreeMap<String, u64>, key: &str) -> u64 {
    counts.get(key).copied().unwrap_or(0)
}

/// A fresh fakepve (no sample guests, tasks finish at once) and stub hub.
pub fn ctx() -> Ctx {
    powercut::check_tools();
    Ctx {
        pve: FakePve::start_with(Options {
            qemu: 0,
            lxc: 0,
            time_scale: 0.0,
            ..Options::default()
        }),
        hub: StubHub::start(),
    }
}

/// [`run_scenario`] with a fresh [`ctx`].
pub fn run(s: &Scenario) {
    run_scenario(s, &ctx());
}

/// `done` of an action that ends by itself.
pub fn one_shot_done(_: &World, _: &Ctx, _: &Agent) -> bool {
    false
}

/// The action `--reconcile-now --json`.
pub fn pass(w: &World) -> Agent {
    w.spawn(&["--reconcile-now", "--json"], "action")
}

/// `kept` of a scenario that replaces no file whole.
pub fn nothing_kept(_: &World) -> Vec<Kept> {
    Vec::new()
}

pub fn cut(at: CutAt, policy: Policy) -> Cut {
    Cut { at, policy }
}

/// Bytes as text, for failure messages.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Names a trial in failure messages.
pub fn what(w: &World, i: &Interrupted) -> String {
    format!("{} (cut at {:?})", w.root.path().display(), i.at)
}
