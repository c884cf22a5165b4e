//! `authz.approvals` (CONTRACT §11): how many distinct signers each
//! destructive op needs. The two-person rule's configuration only; what
//! counts as an approval is `authz::approvals`, the decision is the gate's.
//!
//! Format: `{"guest_destroy": 2, "restore_overwrite": 2, "key_rotation": 2}`.
//! Keys are ops a signature authorizes on this host (`crate::ops`:
//! supported and destructive); values are integers 1..=5. An op not named
//! needs 1. Anything else (a benign or unknown op, a count out of range, a
//! non-integer, `null`) is an error at `authz.approvals.<op>`: a typo here
//! would silently weaken the rule, so it stops the agent (exit 78).

use super::ConfigError;
use super::json::{Obj, PathError};
use std::collections::BTreeMap;

/// Most signers an op may require: beyond five, a quorum is a process
/// problem, not something a host agent should wait for.
pub const MAX_REQUIRED_APPROVALS: u32 = 5;

/// Distinct signers required per op. Built only by parsing (or empty).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequiredApprovals {
    by_op: BTreeMap<String, u32>,
}

impl RequiredApprovals {
    /// Distinct signers `op` needs (1 unless the config names it).
    pub fn required(&self, op: &str) -> u32 {
        self.by_op.get(op).copied().unwrap_or(1)
    }

    /// The configured ops and counts, for `--check-config`.
    pub fn to_json(&self) -> serde_json::Value {
        self.by_op
            .iter()
            .map(|(op, k)| (op.clone(), serde_json::Value::from(*k)))
            .collect::<serde_json::Map<_, _>>()
            .into()
    }
}

/// `authz.approvals`, walked by `a` (the `authz` object).
pub(super) fn parse(a: &mut Obj<'_>) -> Result<RequiredApprovals, ConfigError> {
    let Some(mut o) = a.opt_obj("approvals")? else {
        return Ok(RequiredApprovals::default());
    };
    let mut by_op = BTreeMap::new();
    for op in o.keys() {
        if !crate::ops::requires_signature(op) {
            return Err(o
                .error(
                    op,
                    "not an op that needs a signature on this host (guest_destroy, \
                     restore_overwrite, key_rotation)",
                )
                .into());
        }
        let count = o.opt_u64(op)?;
        by_op.insert(op.to_string(), count_in_range(&o, op, count)?);
    }
    o.finish()?;
    Ok(RequiredApprovals { by_op })
}

fn count_in_range(o: &Obj<'_>, op: &str, count: Option<u64>) -> Result<u32, PathError> {
    count
        .and_then(|k| u32::try_from(k).ok())
        .filter(|k| (1..=MAX_REQUIRED_APPROVALS).contains(k))
        .ok_or_else(|| {
            o.error(
                op,
                &format!(
                    "must be an integer from 1 to {MAX_REQUIRED_APPROVALS} (distinct signers)"
                ),
            )
        })
}
