//! `status::view`: the `--status` document (CONTRACT §12) and its
//! rendering for a person.
//!
//! Owns: the document's shape, exactly:
//!
//! ```json
//! {"host_id", "agent_version", "desired_generation_applied",
//!  "last_pass": {"at", "actions", "failed", "pending", "errors"} | null,
//!  "pending": [{"vmid", "op", "approvals", "approvals_required"}],
//!  "queued": [{"nonce", "op", "guest_id", "signers", "approvals", "approvals_required",
//!              "expires_at", "source"}],
//!  "in_flight": [{"vmid", "op", "since"}],
//!  "journal": {"bytes", "records", "chain_head"},
//!  "hub": {"configured", "blocked", "last_contact_at", "last_error"}}
//! ```
//!
//! Times are RFC 3339 UTC strings; `since` is `null` for an intent journaled
//! before intents carried their time; `last_pass.errors` is a count (the
//! lines are in the human rendering); `chain_head` is lowercase hex, `null`
//! while there is no journal; `guest_id` is the blob's (`""` for a
//! host-scoped op). `pending` and `last_pass` are the last mutating pass's;
//! `queued`, `in_flight`, `journal` and `desired_generation_applied` are the
//! journal's as read now; `hub.blocked` is the remembered hub flag.
//! Trusts: its inputs; text from outside (PVE and hub messages) is escaped
//! in the human rendering.

use super::approvals;
use super::files::{HubStatus, PassStatus};
use crate::authz::{Signers, VerifyPolicy};
use crate::config::Config;
use crate::journal::ReadOnlySnapshot;
use crate::time::format_rfc3339;
use serde::Serialize;
use std::fmt::Write as _;

/// What the document is built from.
pub struct Facts<'a> {
    pub config: &'a Config,
    pub journal: &'a ReadOnlySnapshot,
    pub pass: Option<&'a PassStatus>,
    pub hub: &'a HubStatus,
    pub blocked: bool,
    pub signers: &'a Signers,
    pub policy: &'a VerifyPolicy,
}

#[derive(Debug, Serialize)]
pub struct StatusDoc {
    pub host_id: String,
    pub agent_version: String,
    pub desired_generation_applied: Option<u64>,
    pub last_pass: Option<LastPass>,
    pub pending: Vec<Pending>,
    pub queued: Vec<Queued>,
    pub in_flight: Vec<InFlight>,
    pub journal: JournalFacts,
    pub hub: Hub,
}

#[derive(Debug, Serialize)]
pub struct LastPass {
    pub at: String,
    pub actions: u64,
    pub failed: u64,
    pub pending: u64,
    pub errors: u64,
}

#[derive(Debug, Serialize)]
pub struct Pending {
    pub vmid: u32,
    pub op: String,
    pub approvals: u32,
    pub approvals_required: u32,
}

#[derive(Debug, Serialize)]
pub struct Queued {
    pub nonce: String,
    pub op: String,
    pub guest_id: String,
    pub signers: Vec<String>,
    pub approvals: u32,
    pub approvals_required: u32,
    pub expires_at: String,
    pub source: String,
}

#[derive(Debug, Serialize)]
pub struct InFlight {
    pub vmid: u32,
    pub op: String,
    pub since: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct JournalFacts {
    pub bytes: u64,
    pub records: u64,
    pub chain_head: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct Hub {
    pub configured: bool,
    pub blocked: bool,
    pub last_contact_at: Option<String>,
    pub last_error: Option<String>,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `op` and `target.guest_id` of a queued blob (verified when it was
/// queued; read defensively all the same).
fn blob_facts(blob: &str) -> (String, String) {
    let v: serde_json::Value = serde_json::from_str(blob).unwrap_or_default();
    let text = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_string();
    let op = v.get("op").map(text).unwrap_or_default();
    let guest = v
        .get("target")
        .and_then(|t| t.get("guest_id"))
        .map(text)
        .unwrap_or_default();
    (op, guest)
}

/// The §12 document.
pub fn document(f: &Facts<'_>) -> StatusDoc {
    let index = &f.journal.index;
    let queued = index
        .queued
        .iter()
        .map(|q| {
            let (op, guest_id) = blob_facts(&q.blob);
            let signers = approvals::queued_signers(f.signers, f.policy, index, q);
            Queued {
                nonce: q.nonce.clone(),
                approvals: approvals::held_by_queued(&signers),
                approvals_required: approvals::required(f.config, &op),
                op,
                guest_id,
                signers,
                expires_at: format_rfc3339(q.expires_at),
                source: q.source.clone(),
            }
        })
        .collect();
    let hub = f.config.hub.is_some().then_some(f.hub);
    StatusDoc {
        host_id: f.config.host_id.clone(),
        agent_version: crate::hub::AGENT_VERSION.to_string(),
        desired_generation_applied: index.last_generation,
        last_pass: f.pass.map(|p| LastPass {
            at: format_rfc3339(p.at),
            actions: p.actions,
            failed: p.failed,
            pending: p.pending,
            errors: p.errors,
        }),
        pending: f
            .pass
            .map(|p| p.pending_actions.as_slice())
            .unwrap_or_default()
            .iter()
            .map(|a| Pending {
                vmid: a.vmid,
                approvals: approvals::held_by_pending(a),
                approvals_required: approvals::required(f.config, &a.op),
                op: a.op.clone(),
            })
            .collect(),
        queued,
        in_flight: index
            .in_flight
            .values()
            .map(|i| InFlight {
                vmid: i.vmid,
                op: i.op.clone(),
                since: i.since.map(format_rfc3339),
            })
            .collect(),
        journal: JournalFacts {
            bytes: f.journal.bytes,
            records: f.journal.records,
            chain_head: f.journal.chain_head.as_ref().map(|h| hex(h)),
        },
        hub: Hub {
            configured: hub.is_some(),
            blocked: f.blocked,
            last_contact_at: hub.and_then(|h| h.last_contact_at).map(format_rfc3339),
            last_error: hub.and_then(|h| h.last_error.clone()),
        },
    }
}

/// Text from outside on one line: control characters and bidi overrides
/// escaped, as in the pass report.
fn printable(text: &str) -> String {
    crate::reconcile::report::printable(text, usize::MAX)
}

/// `12 s`, `5 min`, `3 h`, `2 d`.
fn span(seconds: i64) -> String {
    let s = seconds.max(0);
    match s {
        0..=119 => format!("{s} s"),
        120..=7199 => format!("{} min", s / 60),
        7200..=172_799 => format!("{} h", s / 3600),
        _ => format!("{} d", s / 86_400),
    }
}

/// `(3 min ago)` or `(in 3 min)`.
fn relative(at: i64, now: i64) -> String {
    if at <= now {
        format!("({} ago)", span(now.saturating_sub(at)))
    } else {
        format!("(in {})", span(at.saturating_sub(now)))
    }
}

/// The same facts for a person: a few lines, most important first.
pub fn render(doc: &StatusDoc, f: &Facts<'_>, now: i64) -> String {
    let mut out = String::new();
    let generation = doc
        .desired_generation_applied
        .map_or_else(|| "none".to_string(), |g| g.to_string());
    let _ = writeln!(
        out,
        "felhom-agent {} on host {}: desired-state generation {generation} applied",
        doc.agent_version, doc.host_id
    );
    match f.pass {
        None => out.push_str("last pass: none recorded yet\n"),
        Some(p) => {
            let _ = writeln!(
                out,
                "last pass: {} {}, took {:.1} s: {} actions, {} failed, {} pending signature, {} errors",
                format_rfc3339(p.at),
                relative(p.at, now),
                std::time::Duration::from_millis(p.duration_ms).as_secs_f64(),
                p.actions,
                p.failed,
                p.pending,
                p.errors
            );
            for e in &p.error_messages {
                let _ = writeln!(out, "  error: {}", printable(e));
            }
            if p.errors > u64::try_from(p.error_messages.len()).unwrap_or(u64::MAX) {
                let _ = writeln!(out, "  (more errors not kept)");
            }
        }
    }
    let _ = writeln!(out, "awaiting signature: {}", doc.pending.len());
    for p in &doc.pending {
        let _ = writeln!(
            out,
            "  guest {} {}: {} of {} approvals (felhom-agent --pending prints the blob to sign)",
            p.vmid, p.op, p.approvals, p.approvals_required
        );
    }
    let _ = writeln!(out, "queued signed ops: {}", doc.queued.len());
    for (q, raw) in doc.queued.iter().zip(&f.journal.index.queued) {
        let guest = if q.guest_id.is_empty() {
            "host".to_string()
        } else {
            format!("guest {}", printable(&q.guest_id))
        };
        let _ = writeln!(
            out,
            "  {} {guest}, nonce {}: {} of {} approvals ({}), expires {} {}, from {}",
            printable(&q.op),
            q.nonce,
            q.approvals,
            q.approvals_required,
            if q.signers.is_empty() {
                "no signer verifies now".to_string()
            } else {
                printable(&q.signers.join(", "))
            },
            q.expires_at,
            relative(raw.expires_at, now),
            printable(&q.source)
        );
    }
    let _ = writeln!(out, "in flight: {}", doc.in_flight.len());
    for (i, raw) in doc.in_flight.iter().zip(f.journal.index.in_flight.values()) {
        let since = match (&i.since, raw.since) {
            (Some(text), Some(at)) => format!("since {text} {}", relative(at, now)),
            _ => "since before this agent version recorded times".to_string(),
        };
        let _ = writeln!(out, "  guest {} {}: {since}", i.vmid, printable(&i.op));
    }
    let _ = writeln!(
        out,
        "journal: {} bytes, {} records, chain head {}",
        doc.journal.bytes,
        doc.journal.records,
        doc.journal
            .chain_head
            .as_deref()
            .unwrap_or("(no journal yet)")
    );
    out.push_str(&hub_line(&doc.hub, f.hub, now));
    out
}

fn hub_line(doc: &Hub, raw: &HubStatus, now: i64) -> String {
    let blocked = if doc.blocked {
        "BLOCKED: no mutation until the hub clears it"
    } else {
        "not blocked"
    };
    if !doc.configured {
        return format!("hub: not configured; {blocked}\n");
    }
    let contact = match (&doc.last_contact_at, raw.last_contact_at) {
        (Some(text), Some(at)) => format!("last contact {text} {}", relative(at, now)),
        _ => "never contacted".to_string(),
    };
    let error = match &doc.last_error {
        Some(e) => format!("; error: {}", printable(e)),
        None => String::new(),
    };
    format!("hub: {contact}; {blocked}{error}\n")
}

#[cfg(test)]
mod tests {
    #[test]
    fn outside_text_cannot_reorder_or_break_a_status_line() {
        assert_eq!(
            super::printable("ok\u{202E}evil\u{2066}\nnext"),
            "ok\\u{202e}evil\\u{2066}\\nnext"
        );
    }
}
