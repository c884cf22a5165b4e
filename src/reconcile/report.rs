//! The pass document (`--plan`, `--reconcile-now`; CONTRACT §6), its human
//! rendering and its exit code.
//!
//! JSON shape (keys exactly these):
//!
//! ```json
//! {"generation": 12 | null,
//!  "actions": [{"vmid", "op", "class", "params", "source", "decision", "outcome", "reason"}],
//!  "unmanaged": [vmid], "missing": [vmid], "errors": ["..."],
//!  "recovery": {"examined", "resolved", "rolled_back", "unresolved"}}
//! ```
//!
//! - `generation`: the desired-state generation in force, `null` if none.
//! - `class`: `benign | destructive`; `decision`: `allowed |
//!   pending_signature | refused`; `outcome`: `planned | succeeded |
//!   failed | skipped`; `source`: `desired_state | job | agent`;
//!   `reason`: a string or `null`.
//! - `errors`: one operator-readable line each (a rejected desired-state
//!   document, a locked guest, PVE unreachable, ...). Any error means the
//!   pass did not converge.
//! - `recovery` is an extension of the CONTRACT §6 document: what start-up
//!   recovery found in the journal for this pass (zeros if nothing).
//!
//! Exit code: 1 if any action failed or any error; else 4 if any action is
//! `pending_signature`; else 0.

use crate::exit;
use crate::reconcile::action::{Action, Source};
use serde_json::{Map, Value};
use std::fmt::Write as _;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    Benign,
    Destructive,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allowed,
    PendingSignature,
    Refused,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Planned,
    Succeeded,
    Failed,
    Skipped,
}

impl Class {
    pub fn as_str(self) -> &'static str {
        match self {
            Class::Benign => "benign",
            Class::Destructive => "destructive",
        }
    }
}

impl Decision {
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Allowed => "allowed",
            Decision::PendingSignature => "pending_signature",
            Decision::Refused => "refused",
        }
    }
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Planned => "planned",
            Outcome::Succeeded => "succeeded",
            Outcome::Failed => "failed",
            Outcome::Skipped => "skipped",
        }
    }
}

/// One row of `actions`.
#[derive(Debug, Clone, PartialEq)]
pub struct ActionEntry {
    pub vmid: u32,
    pub op: String,
    pub class: Class,
    pub params: Value,
    pub source: Source,
    pub decision: Decision,
    pub outcome: Outcome,
    pub reason: Option<String>,
}

impl ActionEntry {
    /// A gated action, not yet executed (`outcome: planned`).
    pub fn planned(action: &Action, class: Class, decision: Decision) -> ActionEntry {
        ActionEntry {
            vmid: action.vmid,
            op: action.op.name().to_string(),
            class,
            params: action.op.params(),
            source: action.source,
            decision,
            outcome: Outcome::Planned,
            reason: None,
        }
    }
}

/// What start-up recovery did (an extension of the CONTRACT §6 document).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RecoveryCounts {
    pub examined: u64,
    pub resolved: u64,
    pub rolled_back: u64,
    pub unresolved: u64,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct PassReport {
    pub generation: Option<u64>,
    pub actions: Vec<ActionEntry>,
    pub unmanaged: Vec<u32>,
    pub missing: Vec<u32>,
    pub errors: Vec<String>,
    pub recovery: RecoveryCounts,
}

impl PassReport {
    /// CONTRACT §6 exit code for this pass.
    pub fn exit_code(&self) -> u8 {
        let failed = self.actions.iter().any(|a| a.outcome == Outcome::Failed);
        let pending = self
            .actions
            .iter()
            .any(|a| a.decision == Decision::PendingSignature);
        if failed || !self.errors.is_empty() {
            exit::FAILURE
        } else if pending {
            exit::PENDING
        } else {
            exit::OK
        }
    }

    /// Copies the plan's lists: `unmanaged`, `missing`, and an error for
    /// each locked guest, each change PVE would refuse (`held`), and each
    /// guest whose power state PVE did not report.
    pub fn add_plan_lists(&mut self, plan: &crate::reconcile::plan::Plan) {
        self.unmanaged.clone_from(&plan.unmanaged);
        self.missing.clone_from(&plan.missing);
        for (vmid, lock) in &plan.skipped_locked {
            self.errors.push(format!(
                "guest {vmid} is locked in Proxmox ({lock}); skipped, retried next pass"
            ));
        }
        for (vmid, why) in &plan.held {
            self.errors.push(format!("guest {vmid}: {why}; not sent"));
        }
        for vmid in &plan.unknown_power {
            self.errors.push(format!(
                "guest {vmid}: Proxmox did not report its power state; no power action taken"
            ));
        }
    }

    /// The `--json` document.
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert(
            "generation".into(),
            self.generation.map_or(Value::Null, Value::from),
        );
        m.insert(
            "actions".into(),
            self.actions.iter().map(entry_json).collect(),
        );
        m.insert(
            "unmanaged".into(),
            self.unmanaged.iter().copied().map(Value::from).collect(),
        );
        m.insert(
            "missing".into(),
            self.missing.iter().copied().map(Value::from).collect(),
        );
        m.insert(
            "errors".into(),
            self.errors
                .iter()
                .map(|e| Value::from(e.as_str()))
                .collect(),
        );
        m.insert("recovery".into(), recovery_json(&self.recovery));
        Value::Object(m)
    }

    /// A compact table for a terminal. Untrusted text (params, reasons,
    /// errors) is shown with control characters escaped.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let generation = self
            .generation
            .map_or("none".to_string(), |g| g.to_string());
        let _ = writeln!(out, "desired generation: {generation}");
        if self.actions.is_empty() {
            let _ = writeln!(out, "no actions");
        } else {
            let _ = writeln!(
                out,
                "{:>9}  {:<17} {:<11} {:<13} {:<17} {:<9} PARAMS / REASON",
                "VMID", "OP", "CLASS", "SOURCE", "DECISION", "OUTCOME"
            );
        }
        for a in &self.actions {
            let _ = writeln!(
                out,
                "{:>9}  {:<17} {:<11} {:<13} {:<17} {:<9} {}{}",
                a.vmid,
                printable(&a.op, MAX_CELL),
                a.class.as_str(),
                a.source.as_str(),
                a.decision.as_str(),
                a.outcome.as_str(),
                printable(&a.params.to_string(), MAX_CELL),
                a.reason
                    .as_deref()
                    .map_or(String::new(), |r| format!(" — {}", printable(r, MAX_CELL))),
            );
        }
        list_line(&mut out, "unmanaged", &self.unmanaged);
        list_line(&mut out, "missing", &self.missing);
        let r = &self.recovery;
        if *r != RecoveryCounts::default() {
            let _ = writeln!(
                out,
                "recovery: examined {}, resolved {}, rolled back {}, unresolved {}",
                r.examined, r.resolved, r.rolled_back, r.unresolved
            );
        }
        for e in &self.errors {
            let _ = writeln!(out, "error: {}", printable(e, MAX_ERROR));
        }
        out
    }
}

/// Widest params/reason cell in the table; the JSON output has it all.
const MAX_CELL: usize = 80;
/// Errors get more room: they tell the operator what to fix.
const MAX_ERROR: usize = 400;

fn entry_json(a: &ActionEntry) -> Value {
    let mut m = Map::new();
    m.insert("vmid".into(), a.vmid.into());
    m.insert("op".into(), a.op.as_str().into());
    m.insert("class".into(), a.class.as_str().into());
    m.insert("params".into(), a.params.clone());
    m.insert("source".into(), a.source.as_str().into());
    m.insert("decision".into(), a.decision.as_str().into());
    m.insert("outcome".into(), a.outcome.as_str().into());
    m.insert(
        "reason".into(),
        a.reason.as_deref().map_or(Value::Null, Value::from),
    );
    Value::Object(m)
}

fn recovery_json(r: &RecoveryCounts) -> Value {
    let mut m = Map::new();
    m.insert("examined".into(), r.examined.into());
    m.insert("resolved".into(), r.resolved.into());
    m.insert("rolled_back".into(), r.rolled_back.into());
    m.insert("unresolved".into(), r.unresolved.into());
    Value::Object(m)
}

fn list_line(out: &mut String, label: &str, vmids: &[u32]) {
    if !vmids.is_empty() {
        let list: Vec<String> = vmids.iter().map(u32::to_string).collect();
        let _ = writeln!(out, "{label}: {}", list.join(", "));
    }
}

/// `text` with control characters and bidi overrides escaped, cut to `max`
/// characters: outside text that cannot break or reorder a terminal line
/// (the pass report and `--status`).
pub fn printable(text: &str, max: usize) -> String {
    let mut out = String::new();
    for (n, c) in text.chars().enumerate() {
        if n == max {
            out.push('…');
            break;
        }
        // Bidi overrides can make a terminal line read differently.
        if c.is_control() || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}') {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
mod tests;
