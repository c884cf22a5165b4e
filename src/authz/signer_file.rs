//! Reading one signer file from disk (CONTRACT §3).
//!
//! Owns: the checks made before a signer file's text is trusted: the file
//! and the directory holding it are not writable by group or others, the
//! file is a regular file of at most [`MAX_FILE_LEN`] bytes, and it is
//! UTF-8. Trusts: the kernel's answers about modes.
//!
//! Why modes: whoever can write a signer file, or the directory holding it
//! (and so replace the file), chooses who may sign destructive ops. Secret
//! files get the same kind of check (`config::secret`). The file's mode is
//! read from the opened descriptor, so it is the mode of the bytes read.
//! The holding directory is checked as named in the config and, when the
//! path leads through a symlink, where the file really is. Owners are not
//! checked: the recovery file is root's, the operational file the agent's.
//! Any failure is a `file:0: reason` error, exit 78 in every mode that
//! loads signers.

use super::signers::{MAX_FILE_LEN, SignerFileError, err};
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Mode bits that let group or others write.
const GROUP_OTHER_WRITE: u32 = 0o022;

/// Reads `path` as `(name for errors, text)` after the checks above.
pub fn read(path: &Path) -> Result<(String, String), SignerFileError> {
    let name = path.display().to_string();
    let file = std::fs::File::open(path).map_err(|e| err(&name, 0, format!("cannot open: {e}")))?;
    let meta = file
        .metadata()
        .map_err(|e| err(&name, 0, format!("cannot read its mode: {e}")))?;
    if !meta.is_file() {
        return Err(err(&name, 0, "not a regular file".into()));
    }
    let mode = meta.permissions().mode() & 0o7777;
    if mode & GROUP_OTHER_WRITE != 0 {
        return Err(err(
            &name,
            0,
            format!(
                "writable by group or others (mode {mode:04o}): anyone who can write it \
                 chooses who may sign; chmod go-w {name}"
            ),
        ));
    }
    for dir in holding_dirs(path) {
        check_dir(&name, &dir)?;
    }
    let mut bytes = Vec::new();
    file.take(u64::try_from(MAX_FILE_LEN).unwrap_or(u64::MAX) + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| err(&name, 0, format!("cannot read: {e}")))?;
    if bytes.len() > MAX_FILE_LEN {
        return Err(err(&name, 0, format!("larger than {MAX_FILE_LEN} bytes")));
    }
    match String::from_utf8(bytes) {
        Ok(text) => Ok((name, text)),
        Err(e) => {
            let upto = e
                .as_bytes()
                .get(..e.utf8_error().valid_up_to())
                .unwrap_or_default();
            let line = upto.iter().filter(|&&c| c == b'\n').count() + 1;
            Err(err(&name, line, "not valid UTF-8".into()))
        }
    }
}

/// The directory named in `path`, and the one the file really is in when a
/// symlink leads elsewhere.
fn holding_dirs(path: &Path) -> Vec<PathBuf> {
    let named = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or_else(|| Path::new("."))
        .to_path_buf();
    let mut dirs = vec![named];
    if let Some(real) = std::fs::canonicalize(path)
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
        && !dirs.contains(&real)
    {
        dirs.push(real);
    }
    dirs
}

fn check_dir(name: &str, dir: &Path) -> Result<(), SignerFileError> {
    let meta = std::fs::metadata(dir).map_err(|e| {
        err(
            name,
            0,
            format!(
                "cannot read the mode of its directory {}: {e}",
                dir.display()
            ),
        )
    })?;
    let mode = meta.permissions().mode() & 0o7777;
    if mode & GROUP_OTHER_WRITE != 0 {
        return Err(err(
            name,
            0,
            format!(
                "its directory {} is writable by group or others (mode {mode:04o}): anyone \
                 who can write there can replace the file; chmod go-w {}",
                dir.display(),
                dir.display()
            ),
        ));
    }
    Ok(())
}
