//! `reconcile::leftovers`: temp files a crash or power cut left beside the
//! files the agent replaces whole.
//!
//! Owns: deleting the `.<name>.tmp.<pid>` files of
//! [`crate::state_file::write_atomically`] at start (CONTRACT §8: no temp
//! file is left behind for long). Trusts: the config for where those files
//! live (the operational signer file may be outside the state dir).
//!
//! A temp file is deleted only at a moment when no live writer can be in
//! the middle of it, or the writer's rename would fail:
//! - the operational signer file is written only by a `key_rotation`,
//!   inside a pass that holds the state lock: cleaned at the start of every
//!   mutating pass (the caller holds the lock);
//! - the last good desired state is written by a pass (file provider, under
//!   the lock) or by the daemon's hub loop (hub provider, without the
//!   lock): cleaned at every pass in the first case, only at daemon
//!   start-up (before the hub loop runs) in the second;
//! - the last pass's `status.json` and the read-back memory
//!   (`readback.json`, `converge`) are written only by a pass, under the
//!   lock: cleaned at every pass (so a host that only runs one-shot passes
//!   does not keep one). The other status files (`hub-status.json`, the
//!   metrics file) are also written by the hub loop, without the lock: the
//!   status module cleans them at daemon start-up.
//!
//! To add a file: name it in [`Files::at`] with the moments it is safe at.

use crate::config::{Config, DesiredSource};
use crate::reconcile::converge::READBACK_FILE;
use crate::reconcile::desired::LAST_GOOD_FILE;
use std::path::{Path, PathBuf};

/// The last pass's status file in the state dir (`status::files` owns it;
/// named here, as in `config::STATE_DIR_FILES`, because `status` builds on
/// `reconcile`).
pub const PASS_STATUS_FILE: &str = "status.json";

/// When the cleanup runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Moment {
    /// The start of a mutating pass, under the state lock.
    Pass,
    /// Daemon start-up, under the state lock, before its loops run.
    DaemonStart,
}

/// Where the files replaced whole live, and who writes them.
struct Files<'a> {
    operational_signers: Option<&'a Path>,
    state_dir: &'a Path,
    /// The last good desired state is written by passes (file provider),
    /// not by the hub loop.
    desired_by_passes: bool,
}

impl Files<'_> {
    /// `(directory, file name)` of every file whose temps are safe to
    /// delete at `moment`.
    fn at(&self, moment: Moment) -> Vec<(PathBuf, String)> {
        let mut out = Vec::new();
        let mut add = |path: &Path| {
            if let (Some(dir), Some(name)) = (path.parent(), path.file_name()) {
                out.push((dir.to_path_buf(), name.to_string_lossy().into_owned()));
            }
        };
        if let Some(signers) = self.operational_signers {
            add(signers);
        }
        if self.desired_by_passes || moment == Moment::DaemonStart {
            add(&self.state_dir.join(LAST_GOOD_FILE));
        }
        add(&self.state_dir.join(PASS_STATUS_FILE));
        add(&self.state_dir.join(READBACK_FILE));
        out
    }
}

/// Deletes the stale temp files of every file replaced whole that is safe
/// at `moment`; a failure is logged, never fatal (a leftover temp file is
/// never read).
pub fn remove_stale_temps(config: &Config, moment: Moment) {
    let files = Files {
        operational_signers: config.authz.operational_signers.as_deref(),
        state_dir: &config.state_dir,
        desired_by_passes: matches!(config.desired_state, DesiredSource::File(_)),
    };
    remove_in(&files, moment);
}

fn remove_in(files: &Files<'_>, moment: Moment) {
    for (dir, name) in files.at(moment) {
        match crate::state_file::remove_stale_temps(&dir, &name) {
            Ok(0) => {}
            Ok(n) => log::warn!(
                "removed {n} temporary file(s) of {} left by an interrupted write",
                dir.join(&name).display()
            ),
            Err(e) => log::warn!(
                "cannot remove temporary files of {} in {}: {e}",
                name,
                dir.display()
            ),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn the_files_named_here_are_state_dir_files() {
        assert!(crate::config::STATE_DIR_FILES.contains(&PASS_STATUS_FILE));
        assert!(crate::config::STATE_DIR_FILES.contains(&READBACK_FILE));
    }

    #[test]
    fn signer_status_and_readback_temps_go_at_every_pass_and_hub_desired_temps_only_at_daemon_start()
     {
        let dir = std::env::temp_dir().join(format!("felhom-leftovers-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("signers")).unwrap();
        let signer_temp = dir.join("signers").join(".operational.tmp.4242");
        let desired_temp = dir.join(format!(".{LAST_GOOD_FILE}.tmp.4242"));
        let status_temp = dir.join(format!(".{PASS_STATUS_FILE}.tmp.4242"));
        let readback_temp = dir.join(format!(".{READBACK_FILE}.tmp.4242"));
        let plant = || {
            std::fs::write(&signer_temp, b"x").unwrap();
            std::fs::write(&desired_temp, b"x").unwrap();
            std::fs::write(&status_temp, b"x").unwrap();
            std::fs::write(&readback_temp, b"x").unwrap();
        };
        let signers = dir.join("signers").join("operational");
        let files = |desired_by_passes| Files {
            operational_signers: Some(&signers),
            state_dir: &dir,
            desired_by_passes,
        };
        plant();
        remove_in(&files(false), Moment::Pass);
        assert!(!signer_temp.exists() && !status_temp.exists() && !readback_temp.exists());
        assert!(desired_temp.exists(), "the hub loop may be writing it");
        remove_in(&files(false), Moment::DaemonStart);
        assert!(!desired_temp.exists());
        plant();
        remove_in(&files(true), Moment::Pass);
        assert!(!signer_temp.exists() && !desired_temp.exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
