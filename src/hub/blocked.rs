//! `hub::blocked`: the hub's `blocked` flag, remembered across restarts.
//!
//! Owns: `<state_dir>/hub-blocked`, an empty file that exists while the
//! last envelope said `blocked: true`. The daemon writes it; one-shot
//! mutating modes, `--status` and the metrics file read it (here, so that
//! neither `daemon` nor `modes` imports the other).
//!
//! Why: a restart while the hub is unreachable must not lift a block the
//! hub set. The daemon starts with the remembered flag and only a later
//! envelope changes it. Writes are durable (file and directory synced)
//! before the daemon acts on the new value.

use std::fs::{self, File, OpenOptions};
use std::io::{self, ErrorKind};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// Name of the marker inside the state directory.
pub const MARKER: &str = "hub-blocked";

/// Whether the hub's last word was `blocked: true`. An unreadable state
/// directory reads as blocked (fail closed).
pub fn load(state_dir: &Path) -> bool {
    match fs::symlink_metadata(state_dir.join(MARKER)) {
        Ok(_) => true,
        Err(e) => e.kind() != ErrorKind::NotFound,
    }
}

/// Records `blocked` durably.
pub fn store(state_dir: &Path, blocked: bool) -> io::Result<()> {
    let path = state_dir.join(MARKER);
    if blocked {
        OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&path)?
            .sync_all()?;
    } else {
        match fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        }
    }
    File::open(state_dir)?.sync_all()
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

    #[test]
    fn the_flag_survives_a_restart_until_cleared() {
        let dir = std::env::temp_dir().join(format!("felhom-blocked-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        assert!(!load(&dir));
        store(&dir, true).unwrap();
        assert!(load(&dir));
        store(&dir, true).unwrap();
        assert!(load(&dir));
        store(&dir, false).unwrap();
        assert!(!load(&dir));
        store(&dir, false).unwrap();
        fs::remove_dir_all(&dir).unwrap();
    }
}
