//! PVE tasks: status decoding, the log tail, and waiting for completion.
//!
//! A mutating call's HTTP 200 only means PVE started a worker; the outcome
//! is the task's `exitstatus` once `status` is `stopped`. `OK` and
//! `WARNINGS: n` are success; anything else is a failure, reported with the
//! last [`LOG_TAIL_LINES`] lines of the task log.
//!
//! Status is read from the node named in the UPID
//! (`GET /nodes/{node}/tasks/{upid}/status`). PVE answers a task id it has
//! no log file for with 400 and `errors.upid = "no such task"` (pve-manager
//! `PVE/API2/Tasks.pm`; older fakes said 500): that is
//! [`PveError::TaskUnknown`]. Right after a task starts the cluster
//! filesystem may not have propagated it yet, so [`Client::wait_task`]
//! tolerates up to [`UNKNOWN_TOLERANCE`] such answers in a row, as it does
//! transient read errors; a single read ([`Client::task_status_once`],
//! recovery) reports it at once.
//!
//! The log tail is the log's real end: the first page's `total` (PVE's
//! line count, `Tasks.pm` read_task_log) says where the last
//! [`LOG_TAIL_LINES`] lines start.

use std::time::{Duration, Instant};

use serde_json::Value;

use super::Client;
use super::error::{PveError, bounded};
use super::guests::opt_str;
use super::upid::Upid;

/// Lines of the task log attached to a failure.
pub const LOG_TAIL_LINES: usize = 20;
/// A `total` beyond this is not a task log line count.
const MAX_LOG_LINES: u64 = 1 << 40;
/// Consecutive "unknown task" or transient answers tolerated while polling.
pub const UNKNOWN_TOLERANCE: u32 = 5;
/// Polling starts fast (most guest tasks take about a second) and slows to
/// at most one request per second per waiting lane.
const POLL_FIRST: Duration = Duration::from_millis(100);
const POLL_MAX: Duration = Duration::from_secs(1);
/// Exit statuses are one line in PVE.
const MAX_EXITSTATUS_CHARS: usize = 512;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskState {
    Running,
    Stopped { ok: bool, exitstatus: String },
}

/// A task that finished successfully.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskOutcome {
    pub upid: Upid,
    /// `OK` or `WARNINGS: n`.
    pub exitstatus: String,
    pub warnings: u32,
}

/// `Some(warnings)` if `exitstatus` means success.
pub fn success(exitstatus: &str) -> Option<u32> {
    if exitstatus == "OK" {
        return Some(0);
    }
    let n = exitstatus.strip_prefix("WARNINGS: ")?;
    (!n.is_empty() && n.len() <= 9 && n.bytes().all(|b| b.is_ascii_digit()))
        .then(|| n.parse().ok())
        .flatten()
}

/// `GET /nodes/{node}/tasks/{upid}/status`.
pub fn decode_task_status(data: &Value) -> Result<TaskState, PveError> {
    let o = data
        .as_object()
        .ok_or_else(|| PveError::Decode("task status is not an object".into()))?;
    match o.get("status").and_then(Value::as_str) {
        Some("running") => Ok(TaskState::Running),
        Some("stopped") => {
            let exitstatus = opt_str(o, "exitstatus", MAX_EXITSTATUS_CHARS)?
                .ok_or_else(|| PveError::Decode("stopped task has no exitstatus".into()))?;
            Ok(TaskState::Stopped {
                ok: success(&exitstatus).is_some(),
                exitstatus,
            })
        }
        _ => Err(PveError::Decode(
            "task status is neither running nor stopped".into(),
        )),
    }
}

/// `GET /nodes/{node}/tasks/{upid}/log`: the text of each line, in order.
pub fn decode_task_log(data: &Value) -> Result<Vec<String>, PveError> {
    let list = data
        .as_array()
        .ok_or_else(|| PveError::Decode("task log is not a list".into()))?;
    list.iter()
        .map(|line| {
            line.get("t")
                .and_then(Value::as_str)
                .map(bounded)
                .ok_or_else(|| PveError::Decode("task log line has no text".into()))
        })
        .collect()
}

/// A UPID answered by a mutating call.
pub fn decode_upid(data: &Value) -> Result<Upid, PveError> {
    let text = data
        .as_str()
        .ok_or_else(|| PveError::Decode("expected a task id (UPID)".into()))?;
    Upid::parse(text).map_err(|e| PveError::Decode(e.to_string()))
}

/// The UPID as a URL path segment (`!` and anything unusual percent-encoded).
fn upid_segment(upid: &Upid) -> String {
    let mut out = String::with_capacity(upid.as_str().len() + 8);
    for b in upid.as_str().bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b':' | b'@') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn task_path(upid: &Upid, leaf: &str) -> String {
    format!("/nodes/{}/tasks/{}/{leaf}", upid.node(), upid_segment(upid))
}

/// PVE's answers for a UPID it does not know: 400 with `errors.upid`
/// "no such task" (Tasks.pm), or a 500 naming the UPID (older fakes).
fn is_unknown_task(e: &PveError) -> bool {
    match e {
        PveError::TaskUnknown { .. } => true,
        PveError::Http {
            status: 400,
            errors,
            ..
        } => errors
            .get("upid")
            .is_some_and(|why| why.contains("no such task")),
        PveError::Http {
            status: 500,
            message,
            ..
        } => message.contains("upid") || message.contains("no such task"),
        _ => false,
    }
}

impl Client {
    /// One status read (recovery after a restart): a task PVE does not
    /// know is [`PveError::TaskUnknown`].
    pub fn task_status_once(&self, upid: &Upid) -> Result<TaskState, PveError> {
        match self.transport.get(&task_path(upid, "status"), &[]) {
            Ok(data) => decode_task_status(&data),
            Err(e) if is_unknown_task(&e) => Err(PveError::TaskUnknown {
                upid: upid.as_str().to_string(),
            }),
            Err(e) => Err(e),
        }
    }

    /// The last [`LOG_TAIL_LINES`] lines of a task's log: one page from the
    /// start, and, when its `total` says the log is longer, the last page.
    pub fn task_log_tail(&self, upid: &Upid) -> Result<Vec<String>, PveError> {
        let path = task_path(upid, "log");
        let page = |start: u64| {
            let query = [
                ("start", start.to_string()),
                ("limit", LOG_TAIL_LINES.to_string()),
            ];
            self.transport.get_paged(&path, &query)
        };
        let (first, total) = page(0)?;
        let mut lines = decode_task_log(&first)?;
        let total = total.filter(|t| *t <= MAX_LOG_LINES).unwrap_or(0);
        let tail = LOG_TAIL_LINES as u64;
        if total > tail && lines.len() as u64 == tail {
            let (last, _) = page(total - tail)?;
            lines = decode_task_log(&last)?;
        }
        let skip = lines.len().saturating_sub(LOG_TAIL_LINES);
        Ok(lines.split_off(skip))
    }

    /// Polls until the task stops or `deadline` (from now) passes.
    pub fn wait_task(&self, upid: &Upid, deadline: Duration) -> Result<TaskOutcome, PveError> {
        let until = Instant::now() + deadline;
        let mut pause = POLL_FIRST;
        let mut misses = 0u32;
        loop {
            match self.task_status_once(upid) {
                Ok(TaskState::Stopped { exitstatus, .. }) => {
                    return self.finished(upid, exitstatus);
                }
                Ok(TaskState::Running) => misses = 0,
                Err(e)
                    if (is_unknown_task(&e) || e.is_transient()) && misses < UNKNOWN_TOLERANCE =>
                {
                    log::debug!("task {upid}: {e}; polling again");
                    misses += 1;
                }
                Err(e) => return Err(e),
            }
            let now = Instant::now();
            if now >= until {
                return Err(PveError::TaskTimeout {
                    upid: upid.as_str().to_string(),
                });
            }
            std::thread::sleep(pause.min(until - now));
            pause = (pause * 2).min(POLL_MAX);
        }
    }

    fn finished(&self, upid: &Upid, exitstatus: String) -> Result<TaskOutcome, PveError> {
        if let Some(warnings) = success(&exitstatus) {
            return Ok(TaskOutcome {
                upid: upid.clone(),
                exitstatus,
                warnings,
            });
        }
        let log_tail = self.task_log_tail(upid).unwrap_or_else(|e| {
            log::warn!("task {upid}: cannot read its log: {e}");
            Vec::new()
        });
        Err(PveError::TaskFailed {
            upid: upid.as_str().to_string(),
            exitstatus: self.transport.scrub(&exitstatus),
            log_tail: log_tail.iter().map(|l| self.transport.scrub(l)).collect(),
        })
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
    fn ok_and_warnings_succeed_everything_else_fails() {
        assert_eq!(success("OK"), Some(0));
        assert_eq!(success("WARNINGS: 3"), Some(3));
        assert_eq!(success("WARNINGS: "), None);
        assert_eq!(success("WARNINGS: x"), None);
        assert_eq!(success("ok"), None);
        assert_eq!(success("VM is locked (backup)"), None);
        assert_eq!(success("unexpected status"), None);
    }

    #[test]
    fn task_status_shapes() {
        assert_eq!(
            decode_task_status(&json!({"status": "running"})).unwrap(),
            TaskState::Running
        );
        assert_eq!(
            decode_task_status(&json!({"status": "stopped", "exitstatus": "WARNINGS: 1"})).unwrap(),
            TaskState::Stopped {
                ok: true,
                exitstatus: "WARNINGS: 1".into()
            }
        );
        assert!(decode_task_status(&json!({"status": "stopped"})).is_err());
        assert!(decode_task_status(&json!({"status": "weird"})).is_err());
    }

    #[test]
    fn upid_path_segment_encodes_the_token_separator() {
        let u = Upid::parse("UPID:pve1:000003E8:00001B58:6B025D56:qmstart:100:a@pve!t:").unwrap();
        assert_eq!(
            task_path(&u, "status"),
            "/nodes/pve1/tasks/UPID:pve1:000003E8:00001B58:6B025D56:qmstart:100:a@pve%21t:/status"
        );
    }
}
