//! `state_file`: whole-file replacement for the small files the agent keeps
//! besides the journal (operational signers, the last good desired state,
//! and whatever else lives in the state dir).
//!
//! Owns: the one way such a file is replaced. Trusts: the kernel's answers.
//!
//! Steps: write `.<name>.tmp.<pid>` in the same directory (mode 0600 unless
//! the caller asks for another), `fsync` it, `rename` it over the target,
//! `fsync` the directory. A crash or power cut at any instant leaves the old
//! or the new file, never an empty or partial one: the rename is atomic, and
//! the data is durable before the name points at it. A crash before the
//! rename can leave the temp file; [`remove_stale_temps`] deletes such
//! leftovers at start.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// Marker between a file's name and the writer's pid in temp names.
const TEMP_MARK: &str = ".tmp.";

/// The temp file this process uses to replace `path`.
fn temp_path(path: &Path) -> io::Result<PathBuf> {
    let dir = path.parent().unwrap_or_else(|| Path::new("/"));
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "path has no file name"))?
        .to_string_lossy()
        .into_owned();
    Ok(dir.join(format!(".{name}{TEMP_MARK}{}", std::process::id())))
}

/// Replaces `path` with `bytes`, durably and atomically, with file mode
/// `mode`.
pub fn write_atomically(path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    let dir = path.parent().unwrap_or_else(|| Path::new("/"));
    let tmp = temp_path(path)?;
    let written = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(&tmp)?;
        // `mode` at creation is filtered by the umask; set it exactly.
        use std::os::unix::fs::PermissionsExt;
        f.set_permissions(std::fs::Permissions::from_mode(mode))?;
        f.write_all(bytes)?;
        f.sync_all()
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    if let Err(e) = std::fs::rename(&tmp, path) {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    File::open(dir)?.sync_all()
}

/// Deletes temp files that [`write_atomically`] left in `dir` for `name`
/// (any writer pid): they are never the live file. Returns how many it
/// removed.
pub fn remove_stale_temps(dir: &Path, name: &str) -> io::Result<usize> {
    let prefix = format!(".{name}{TEMP_MARK}");
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    let mut removed = 0;
    for entry in entries {
        let entry = entry?;
        let file_name = entry.file_name();
        let Some(s) = file_name.to_str() else {
            continue;
        };
        let is_temp = s
            .strip_prefix(&prefix)
            .is_some_and(|pid| !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()));
        if is_temp {
            std::fs::remove_file(entry.path())?;
            removed += 1;
        }
    }
    Ok(removed)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn tempdir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!(
            "felhom-state-file-{tag}-{}-{}",
            std::process::id(),
            crate::time::now_unix()
        ));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn replacement_has_the_new_bytes_and_the_requested_mode() {
        let d = tempdir("mode");
        let p = d.join("signers");
        std::fs::write(&p, b"old").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o666)).unwrap();
        write_atomically(&p, b"new", 0o600).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"new");
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(
            std::fs::read_dir(&d).unwrap().count(),
            1,
            "no temp file left"
        );
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn stale_temps_of_that_name_only_are_removed() {
        let d = tempdir("stale");
        std::fs::write(d.join(".signers.tmp.123"), b"x").unwrap();
        std::fs::write(d.join(".signers.tmp.9"), b"x").unwrap();
        std::fs::write(d.join(".signers.tmp.abc"), b"keep").unwrap();
        std::fs::write(d.join(".other.tmp.1"), b"keep").unwrap();
        std::fs::write(d.join("signers"), b"live").unwrap();
        assert_eq!(remove_stale_temps(&d, "signers").unwrap(), 2);
        let mut left: Vec<_> = std::fs::read_dir(&d)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        assert_eq!(left, [".other.tmp.1", ".signers.tmp.abc", "signers"]);
        std::fs::remove_dir_all(&d).unwrap();
    }
}
