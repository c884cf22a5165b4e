//! felhom-agent: a hardened Proxmox VE host agent.
//!
//! The agent converges one host's guests toward a desired state and refuses,
//! by construction, to destroy or overwrite customer data unless an operator
//! signed for exactly that action with an SSH key. See `README.md` for the
//! operator's view and `SECURITY.md` for the threat model. Read a module's
//! header first: what it owns, what it trusts, its invariants.
//!
//! Module map. Each line lists what a module uses (`crate::NAME`); the
//! graph has no cycle (`tests/module_graph.rs`). `authz` and `journal` know
//! nothing of Proxmox; `proxmox` knows nothing of signatures.
//!
//! ```text
//! main      ─→ modes, cli, config, exit, logging
//! modes     ─→ daemon, status, reconcile, hub, authz, journal, proxmox, config, cli, exit, time
//! daemon    ─→ status, reconcile, hub, systemd, authz, journal, proxmox, config, exit, time
//! status    ─→ reconcile, metrics, hub, authz, journal, config, state_file, time
//! reconcile ─→ authz, journal, proxmox, config, ops, logging, state_file, exit, time
//! authz     ─→ config, ops, base64, time
//! hub       ─→ config, base64, time
//! proxmox   ─→ config, ops
//! config    ─→ ops
//! metrics   ─→ state_file ─→ time;   journal ─→ time;   logging ─→ time
//! ops, cli, exit, systemd, time, base64: use no other module
//! ```
//!
//! | module | owns |
//! |---|---|
//! | `cli`, `exit` | the command line (CONTRACT §6) and its exit codes |
//! | `modes` | one file per mode: pass, pending, check-op, submit, check-config, journal-verify, status, daemon |
//! | `daemon` | the long-running agent: reconcile and hub loops, hub jobs, the HostReport, the watchdog |
//! | `status` | `--status` and the files it reads (`status.json`, `hub-status.json`); feeds `metrics` |
//! | `metrics` | the Prometheus text file (`metrics_file`) |
//! | `reconcile` | one pass: desired × actual → plan → gate → lanes → report (submodules below) |
//! | `authz` | SSHSIG, signer files, the op blob, verification stages 1-9, the two-person rule (`approvals`) |
//! | `ops` | the op vocabulary and each op's params, defined once for stage 5 and execution |
//! | `journal` | the append-only journal: format, group commit, replay, compaction, the state lock, transactions |
//! | `proxmox` | the PVE REST client: TLS trust, token, typed errors, tasks, provisioning calls |
//! | `hub` | the hub protocol client and the remembered `hub-blocked` flag |
//! | `config` | `agent.json`, secrets, `provision` and `authz.approvals`, validation, redaction |
//! | `state_file` | whole-file replacement (temp, fsync, rename, directory fsync) and stale temp cleanup |
//! | `systemd`, `logging`, `time`, `base64` | sd_notify and credentials; escaped log lines; clock and RFC 3339; strict base64 |
//!
//! `reconcile`, one responsibility per submodule:
//!
//! | submodule | owns |
//! |---|---|
//! | `engine` | one pass, as a readable sequence of steps (DESIGN §2a) |
//! | `recover`, `leftovers` | start-up recovery of in-flight entries; stale temp files |
//! | `desired`, `actual`, `normalize` | the §5 document and its providers; PVE's view; canonical forms |
//! | `plan`, `candidates`, `provision` | the pure diff; pairing with signed ops after the rotation barrier; which creations a pass attempts |
//! | `queue`, `signed` | signed ops entering the journal's queue (`--submit`, hub jobs) and read back from it |
//! | `classify`, `gate`, `audit`, `pending` | benign or destructive; the decision (only it builds `Allowed`); audit lines and standing decisions; blobs to sign |
//! | `verify_now` | verification again at the moment an op runs; the only path to consuming a nonce |
//! | `lanes`, `dispatch`, `execute` | one worker per guest; running allowed actions; the write-ahead executors |
//! | `preflight`, `settle`, `converge` | would PVE refuse this signed op now; judging power actions and lost answers; read-backs that never converge |
//! | `txn` | a creation as one journaled transaction: steps, compensating rollback, recovery |
//! | `action`, `report` | an intended change to a guest; the pass document and its exit code |
#![forbid(unsafe_code)]

pub mod authz;
pub mod base64;
pub mod cli;
pub mod config;
pub mod daemon;
pub mod exit;
pub mod hub;
pub mod journal;
pub mod logging;
pub mod metrics;
pub mod modes;
pub mod ops;
pub mod proxmox;
pub mod reconcile;
pub mod state_file;
pub mod status;
pub mod systemd;
pub mod time;
