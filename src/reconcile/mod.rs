//! `reconcile`: make the host's guests match the desired state, one pass at
//! a time, and touch nothing that is not listed.
//!
//! A pass, as data (DESIGN §2a):
//!
//! ```text
//! desired (provider) ──┐
//! actual (proxmox) ────┴→ normalize → plan (pure) → actions ─┐
//! queued signed ops (journal) → signed: verify ──────────────┤
//!                                  gate: classify → bind → approvals → decision (audit)
//!                                                            ▼ allowed
//!        lanes: one worker per vmid → execute (preflight → intent → verify_now
//!               → nonce → PVE call → task id → outcome) → report
//! ```
//!
//! Submodules, one responsibility each (the op vocabulary itself is
//! `crate::ops`):
//! - the pass: [`engine`] (the order of the steps), [`candidates`] (what is
//!   offered to the gate after the rotation barrier), [`dispatch`] (allowed
//!   actions into lanes, report rows), [`lanes`] (thread-per-guest workers,
//!   the per-guest serializer), [`report`] (the pass document and its exit
//!   code, CONTRACT §6), [`pending`] (actions held for a signature, with the
//!   blob to sign);
//! - what is wanted and what is: [`desired`] (the CONTRACT §5 document,
//!   providers, the last good copy), [`actual`] (this node's guests as PVE
//!   reports them), [`normalize`] (canonical forms, so a round trip through
//!   PVE never reads as drift), [`plan`] (the pure diff), [`action`] (one
//!   intended change);
//! - deciding: [`classify`] (benign or destructive, by provenance and by
//!   what PVE would do), [`gate`] (the only builder of an allowed
//!   decision), [`audit`] (one audit line and journal record per decision,
//!   standing decisions once), [`signed`] and [`queue`] (signed ops and
//!   their approvals, from `--submit` and hub jobs), [`verify_now`] (every
//!   signature verified again the instant before its nonce is consumed);
//! - doing: [`execute`] (the write-ahead executors), [`preflight`] (would
//!   PVE refuse this signed op now?), [`settle`] (judging power actions by
//!   the guest's state; lost answers), [`converge`] (writes PVE reads back
//!   differently are not resent), [`provision`] and [`txn`] (creations as
//!   journaled transactions with compensating rollback);
//! - after a crash: [`recover`] (in-flight ops, open transactions,
//!   interrupted rotations) and [`leftovers`] (temp files of files replaced
//!   whole).

pub mod action;
pub mod actual;
pub mod audit;
mod candidates;
pub mod classify;
pub mod converge;
pub mod desired;
mod dispatch;
pub mod engine;
pub mod execute;
pub mod gate;
pub mod lanes;
pub mod leftovers;
pub mod normalize;
pub mod pending;
pub mod plan;
pub mod preflight;
pub mod provision;
pub mod queue;
pub mod recover;
pub mod report;
pub mod settle;
pub mod signed;
pub mod txn;
pub mod verify_now;
