//! Storage replication jobs (`GET /cluster/replication`): PVE refuses to
//! destroy a guest that has one unless `purge` is set (pve-guest-common
//! `PVE/ReplicationConfig.pm` check_for_existing_jobs, called by qemu-server
//! and pve-container `destroy_vm`), so a signed destroy checks first.
//!
//! Trusts nothing in the answer: a bounded list of objects whose `guest` is
//! a vmid and whose `id` is a short job id (`<vmid>-<n>`). PVE lists only
//! the jobs of guests the token may audit (pve-manager
//! `PVE/API2/ReplicationConfig.pm` index), which includes the agent's.

use serde_json::Value;

use super::Client;
use super::error::PveError;
use super::normalize::u64_value;

/// More jobs than any cluster configures.
const MAX_JOBS: usize = 100_000;
/// Job ids are `<vmid>-<jobnum>`.
const MAX_JOB_ID_CHARS: usize = 32;

/// One replication job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicationJob {
    pub id: String,
    pub guest: u32,
}

/// `GET /cluster/replication`.
pub fn decode_replication(data: &Value) -> Result<Vec<ReplicationJob>, PveError> {
    let list = data
        .as_array()
        .ok_or_else(|| PveError::Decode("replication jobs is not a list".into()))?;
    if list.len() > MAX_JOBS {
        return Err(PveError::Decode("replication job list is too long".into()));
    }
    list.iter()
        .map(|item| {
            let guest = item
                .get("guest")
                .and_then(u64_value)
                .and_then(|g| u32::try_from(g).ok())
                .ok_or_else(|| PveError::Decode("replication job has no guest".into()))?;
            let id = item
                .get("id")
                .and_then(Value::as_str)
                .filter(|id| id.len() <= MAX_JOB_ID_CHARS)
                .unwrap_or("?")
                .to_string();
            Ok(ReplicationJob { id, guest })
        })
        .collect()
}

impl Client {
    /// The cluster's replication jobs.
    pub fn replication_jobs(&self) -> Result<Vec<ReplicationJob>, PveError> {
        decode_replication(&self.transport.get("/cluster/replication", &[])?)
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
    use serde_json::json;

    #[test]
    fn jobs_are_decoded_and_bad_shapes_refused() {
        let jobs = decode_replication(&json!([
            {"id": "100-0", "guest": 100, "target": "pve2", "type": "local", "jobnum": 0},
            {"id": "101-1", "guest": "101"}
        ]))
        .unwrap();
        assert_eq!(
            jobs,
            vec![
                ReplicationJob {
                    id: "100-0".into(),
                    guest: 100
                },
                ReplicationJob {
                    id: "101-1".into(),
                    guest: 101
                }
            ]
        );
        assert!(decode_replication(&json!({})).is_err());
        assert!(decode_replication(&json!([{"id": "x"}])).is_err());
        assert!(decode_replication(&json!([{"guest": -1}])).is_err());
        let long = decode_replication(&json!([{"guest": 5, "id": "x".repeat(99)}])).unwrap();
        assert_eq!(long[0].id, "?");
    }
}
