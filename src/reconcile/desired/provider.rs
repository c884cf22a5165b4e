//! Where the desired state comes from, and the last good document.
//!
//! Owns: `<state_dir>/desired-state.json`, the last document that parsed
//! and passed the generation rule, kept so a restart reconciles without the
//! hub and a rejected document never leaves the host without a target.
//! Trusts: nothing read here; every byte goes through [`super::parse`].
//!
//! Providers (config `desired_state_file` / `hub`, at most one):
//! - `None`: no desired state, zero mutations.
//! - `File(path)`: the file is read every pass. A missing or rejected file
//!   is an error for the pass (reported, exit 1), and the last good
//!   document stays in force.
//! - `Hub`: the daemon fetches bytes from the hub and hands them to
//!   [`ingest_hub_document`]; a pass reads the last good document.
//!
//! Writes are atomic: temp file, write, fsync, rename, fsync the directory.
//! A crash leaves either the old or the new document, never a mix.

use super::{DesiredError, DesiredState, MAX_DOCUMENT_BYTES, accept, parse};
use crate::config::{Config, DesiredSource};
use std::fs::File;
use std::io::{ErrorKind, Read};
use std::path::{Path, PathBuf};

/// Name of the last good document inside the state directory.
pub const LAST_GOOD_FILE: &str = "desired-state.json";

/// A desired-state source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Provider {
    None,
    File(PathBuf),
    /// Documents arrive through [`ingest_hub_document`]; passes read the
    /// last good copy in the state directory.
    Hub,
}

/// What a pass reconciles toward, and what went wrong getting it.
#[derive(Debug)]
pub struct Resolution {
    /// `None`: no desired state, so the pass makes no mutation.
    pub in_force: Option<DesiredState>,
    /// Each makes the pass unconverged (reported in `errors`, exit 1).
    pub errors: Vec<DesiredError>,
}

impl Provider {
    pub fn from_config(config: &Config) -> Provider {
        match &config.desired_state {
            DesiredSource::None => Provider::None,
            DesiredSource::File(path) => Provider::File(path.clone()),
            DesiredSource::Hub => Provider::Hub,
        }
    }

    /// The provider's current document, parsed (the generation rule is
    /// [`accept`]'s job). `File`: a missing file is an error. `Hub`: the
    /// last good document in `state_dir`, `Ok(None)` before the first one.
    pub fn load(&self, state_dir: &Path) -> Result<Option<DesiredState>, DesiredError> {
        match self {
            Provider::None => Ok(None),
            Provider::File(path) => read_file_document(path).map(|(doc, _)| Some(doc)),
            Provider::Hub => load_last_good(state_dir),
        }
    }

    /// The document a pass reconciles toward: the provider's, if it parses
    /// and passes the generation rule (a file's is then saved as the last
    /// good one); otherwise the last good one, with the reason in `errors`.
    pub fn resolve(&self, state_dir: &Path, last_applied: Option<u64>) -> Resolution {
        self.resolve_with(state_dir, last_applied, true)
    }

    /// As [`Provider::resolve`], but never writes the last good document
    /// (for read-only passes: `--plan`, `--pending`).
    pub fn resolve_read_only(&self, state_dir: &Path, last_applied: Option<u64>) -> Resolution {
        self.resolve_with(state_dir, last_applied, false)
    }

    fn resolve_with(
        &self,
        state_dir: &Path,
        last_applied: Option<u64>,
        persist: bool,
    ) -> Resolution {
        let mut errors = Vec::new();
        if let Provider::File(path) = self {
            match read_file_document(path).and_then(|(doc, b)| Ok((accept(doc, last_applied)?, b)))
            {
                Ok((doc, bytes)) => {
                    if persist && let Err(e) = save_if_changed(state_dir, &bytes) {
                        errors.push(e);
                    }
                    let in_force = Some(doc);
                    return Resolution { in_force, errors };
                }
                Err(e) => errors.push(e),
            }
        }
        let in_force = match self {
            Provider::None => None,
            Provider::File(_) | Provider::Hub => last_good_in_force(state_dir, last_applied)
                .unwrap_or_else(|e| {
                    errors.push(e);
                    None
                }),
        };
        Resolution { in_force, errors }
    }
}

fn last_good_in_force(
    state_dir: &Path,
    last_applied: Option<u64>,
) -> Result<Option<DesiredState>, DesiredError> {
    load_last_good(state_dir)?
        .map(|doc| accept(doc, last_applied))
        .transpose()
}

fn read_file_document(path: &Path) -> Result<(DesiredState, Vec<u8>), DesiredError> {
    let bytes = read_bounded(path)?.ok_or_else(|| DesiredError::FileMissing {
        path: path.to_path_buf(),
    })?;
    Ok((parse(&bytes)?, bytes))
}

/// Reads at most one byte more than the document limit; `None` if absent.
fn read_bounded(path: &Path) -> Result<Option<Vec<u8>>, DesiredError> {
    let read_err = |error| DesiredError::Read {
        path: path.to_path_buf(),
        error,
    };
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(read_err(e)),
    };
    let cap = u64::try_from(MAX_DOCUMENT_BYTES)
        .unwrap_or(u64::MAX)
        .saturating_add(1);
    let mut bytes = Vec::new();
    file.take(cap).read_to_end(&mut bytes).map_err(read_err)?;
    if bytes.len() > MAX_DOCUMENT_BYTES {
        return Err(DesiredError::TooLarge {
            size: bytes.len(),
            limit: MAX_DOCUMENT_BYTES,
        });
    }
    Ok(Some(bytes))
}

/// The last good document, or `None` if none was ever saved.
pub fn load_last_good(state_dir: &Path) -> Result<Option<DesiredState>, DesiredError> {
    match read_bounded(&state_dir.join(LAST_GOOD_FILE))? {
        None => Ok(None),
        Some(bytes) => parse(&bytes).map(Some),
    }
}

/// Atomically replaces the last good document with `bytes`.
/// Callers pass only bytes that [`parse`] and [`accept`] took.
pub fn save_last_good(state_dir: &Path, bytes: &[u8]) -> Result<(), DesiredError> {
    let target = state_dir.join(LAST_GOOD_FILE);
    crate::state_file::write_atomically(&target, bytes, 0o600).map_err(|error| {
        DesiredError::Write {
            path: target.clone(),
            error,
        }
    })
}

fn save_if_changed(state_dir: &Path, bytes: &[u8]) -> Result<(), DesiredError> {
    let current = read_bounded(&state_dir.join(LAST_GOOD_FILE))?;
    if current.as_deref() == Some(bytes) {
        return Ok(());
    }
    save_last_good(state_dir, bytes)
}

/// The hub seam: parses bytes fetched from the hub, applies the generation
/// rule, and on success saves them as the last good document. On error the
/// last good document is untouched (it stays in force).
pub fn ingest_hub_document(
    state_dir: &Path,
    bytes: &[u8],
    last_applied: Option<u64>,
) -> Result<DesiredState, DesiredError> {
    let doc = accept(parse(bytes)?, last_applied)?;
    save_last_good(state_dir, bytes)?;
    Ok(doc)
}
