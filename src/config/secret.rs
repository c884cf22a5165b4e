//! Secrets: the PVE API token and the hub key.
//!
//! A secret is read from a file that only its owner can read (mode `0?00`);
//! a relative name is resolved in `$CREDENTIALS_DIRECTORY`, where systemd's
//! `LoadCredential=` puts it. The value lives only inside [`Secret`], whose
//! `Debug` and `Display` print `[redacted]`; errors name the file, never its
//! content.

use std::fmt;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Secret files are one line; anything larger is a mistake.
const MAX_SECRET_BYTES: u64 = 4096;

/// A secret value. Never printed; use [`Secret::expose`] at the one place it
/// goes on the wire.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: String) -> Secret {
        Secret(value)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

#[derive(Debug)]
pub enum SecretError {
    /// A relative name but no `$CREDENTIALS_DIRECTORY`.
    NoCredentialsDirectory {
        name: String,
    },
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    /// Group or others may read it.
    Permissions {
        path: PathBuf,
        mode: u32,
    },
    TooLarge {
        path: PathBuf,
    },
    NotUtf8 {
        path: PathBuf,
    },
    /// The content has the wrong shape (the message says which shape).
    Shape(&'static str),
}

impl fmt::Display for SecretError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretError::NoCredentialsDirectory { name } => write!(
                f,
                "secret file {name:?} is relative but $CREDENTIALS_DIRECTORY is not set \
                 (use an absolute path, or LoadCredential= in the unit)"
            ),
            SecretError::Read { path, error } => {
                write!(f, "cannot read secret file {}: {error}", path.display())
            }
            SecretError::Permissions { path, mode } => write!(
                f,
                "secret file {} has mode {mode:04o}; group and others must have no access \
                 (chmod 0600)",
                path.display()
            ),
            SecretError::TooLarge { path } => {
                write!(
                    f,
                    "secret file {} is larger than {MAX_SECRET_BYTES} bytes",
                    path.display()
                )
            }
            SecretError::NotUtf8 { path } => {
                write!(f, "secret file {} is not UTF-8 text", path.display())
            }
            SecretError::Shape(expected) => write!(f, "secret has the wrong format: {expected}"),
        }
    }
}

impl std::error::Error for SecretError {}

/// Resolves `name` (absolute, or relative to the credentials directory) and
/// reads it as one trimmed line.
pub fn read_secret_file(name: &str, credentials_dir: Option<&Path>) -> Result<Secret, SecretError> {
    let path = if name.starts_with('/') {
        PathBuf::from(name)
    } else {
        let dir = credentials_dir.ok_or_else(|| SecretError::NoCredentialsDirectory {
            name: name.to_string(),
        })?;
        dir.join(name)
    };
    let read_err = |error| SecretError::Read {
        path: path.clone(),
        error,
    };
    let file = std::fs::File::open(&path).map_err(read_err)?;
    let meta = file.metadata().map_err(read_err)?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(SecretError::Permissions { path, mode });
    }
    if meta.len() > MAX_SECRET_BYTES {
        return Err(SecretError::TooLarge { path });
    }
    let mut bytes = Vec::new();
    file.take(MAX_SECRET_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(read_err)?;
    let text = String::from_utf8(bytes).map_err(|_| SecretError::NotUtf8 { path: path.clone() })?;
    let value = text.trim();
    if value.is_empty() || value.contains(['\n', '\r']) {
        return Err(SecretError::Shape("exactly one non-empty line"));
    }
    Ok(Secret(value.to_string()))
}
