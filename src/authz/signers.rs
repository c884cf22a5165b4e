//! The two signer files: OpenSSH `allowed_signers` (ssh-keygen(1), ALLOWED
//! SIGNERS) in the subset of CONTRACT §3. The file a key is in is its role.
//!
//! Owns: both files as sets of signer lines, roles, finding the line that
//! admits a key (stage 3), and checking a `key_rotation`'s new set.
//! Trusts: the signer files themselves (root- or agent-owned config), once
//! `signer_file` has checked their modes. The line syntax is `signer_line`.
//!
//! Invariants: any line outside the subset rejects the whole file with
//! `file:line: reason`; a key is its Ed25519 point (an `sk-ssh-ed25519`
//! line with a recovery key's point is the recovery key), and a key in both
//! files is an error; a key may appear on several lines of one file, and
//! the first line that admits it wins (preferring its exact encoding).

use super::key::PublicKey;
use super::options::SignerOptions;
use super::pattern::{self, ListMatch};
use super::signer_file;
use super::signer_line::{parse_file, parse_line};
use std::fmt;

/// Largest signer file read: thousands of lines, far beyond any real team.
pub const MAX_FILE_LEN: usize = 256 * 1024;
/// Longest line: an sk key with options is well under 1 KiB.
pub const MAX_LINE_LEN: usize = 8 * 1024;
/// Most signer lines over both files (bounds the stage-3 scan).
pub const MAX_SIGNERS: usize = 1024;

/// Which file a key came from, and so what it may sign.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Operational,
    Recovery,
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::Operational => "operational",
            Role::Recovery => "recovery",
        })
    }
}

/// A rejected signer file: `file:line: reason` (line 0: the whole file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignerFileError {
    pub file: String,
    pub line: usize,
    pub reason: String,
}

impl fmt::Display for SignerFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.file, self.line, self.reason)
    }
}

impl std::error::Error for SignerFileError {}

/// One accepted signer line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignerLine {
    pub principals: String,
    pub key: PublicKey,
    pub options: SignerOptions,
    pub role: Role,
    pub file: String,
    pub line: usize,
}

impl SignerLine {
    /// The signer's id: the first element of the principal list.
    pub fn first_principal(&self) -> &str {
        self.principals.split(',').next().unwrap_or_default()
    }

    /// Whether this line admits a signature in `namespace` at `now`
    /// (OpenSSH: `valid-after <= now <= valid-before`, inclusive).
    pub fn admits(&self, namespace: &str, now: i64) -> bool {
        let ns_ok = self.options.namespaces.as_ref().is_none_or(|list| {
            pattern::match_list(namespace.as_bytes(), list.as_bytes()) == ListMatch::Positive
        });
        ns_ok
            && self.options.valid_after.is_none_or(|t| now >= t)
            && self.options.valid_before.is_none_or(|t| now <= t)
    }
}

/// Both signer files, parsed.
#[derive(Debug, Clone, Default)]
pub struct Signers {
    lines: Vec<SignerLine>,
}

impl Signers {
    /// Reads (see `signer_file`: size, UTF-8, modes) and parses the files
    /// named in the config; a `None` path contributes no signer.
    pub fn load(cfg: &crate::config::AuthzConfig) -> Result<Signers, SignerFileError> {
        let op = cfg
            .operational_signers
            .as_deref()
            .map(signer_file::read)
            .transpose()?;
        let rec = cfg
            .recovery_signers
            .as_deref()
            .map(signer_file::read)
            .transpose()?;
        Signers::from_texts(
            op.as_ref().map(|(n, t)| (n.as_str(), t.as_str())),
            rec.as_ref().map(|(n, t)| (n.as_str(), t.as_str())),
        )
    }

    /// Parses file contents; each is `(name for errors, text)`.
    pub fn from_texts(
        operational: Option<(&str, &str)>,
        recovery: Option<(&str, &str)>,
    ) -> Result<Signers, SignerFileError> {
        let mut lines = Vec::new();
        if let Some((name, text)) = operational {
            lines.extend(parse_file(name, text, Role::Operational)?);
        }
        if let Some((name, text)) = recovery {
            let recovery_lines = parse_file(name, text, Role::Recovery)?;
            reject_shared_keys(&lines, &recovery_lines)?;
            lines.extend(recovery_lines);
        }
        if lines.len() > MAX_SIGNERS {
            return Err(err(
                "signer files",
                0,
                format!("more than {MAX_SIGNERS} signer lines"),
            ));
        }
        Ok(Signers { lines })
    }

    /// Validates a `key_rotation` payload: every element one signer line.
    pub fn parse_operational_lines(lines: &[String]) -> Result<Vec<SignerLine>, SignerFileError> {
        if lines.len() > MAX_SIGNERS {
            return Err(err(
                "key_rotation",
                0,
                format!("more than {MAX_SIGNERS} lines"),
            ));
        }
        let mut out = Vec::with_capacity(lines.len());
        for (i, text) in lines.iter().enumerate() {
            let n = i + 1;
            if text.contains('\n') || text.contains('\r') {
                return Err(err("key_rotation", n, "line contains a line break".into()));
            }
            match parse_line("key_rotation", n, text, Role::Operational)? {
                Some(line) => out.push(line),
                None => return Err(err("key_rotation", n, "not a signer line".into())),
            }
        }
        Ok(out)
    }

    /// Errors if any of `candidate` uses a recovery key's Ed25519 point,
    /// under any encoding.
    pub fn check_no_recovery_keys(&self, candidate: &[SignerLine]) -> Result<(), SignerFileError> {
        reject_shared_keys(&self.recovery_lines(), candidate)
    }

    /// A `key_rotation`'s new operational set, checked exactly as the
    /// executor will write it and `load` will read it back beside the
    /// current recovery file: every element one signer line, no recovery
    /// key's point, and a file within [`MAX_SIGNERS`] and [`MAX_FILE_LEN`].
    /// Stage 5 and the executor both call this (one definition).
    pub fn check_rotation(&self, lines: &[String]) -> Result<Vec<SignerLine>, SignerFileError> {
        let parsed = Signers::parse_operational_lines(lines)?;
        let recovery = self.recovery_lines();
        reject_shared_keys(&recovery, &parsed)?;
        if parsed.len().saturating_add(recovery.len()) > MAX_SIGNERS {
            return Err(err(
                "key_rotation",
                0,
                format!("with the recovery file, more than {MAX_SIGNERS} signer lines"),
            ));
        }
        if operational_file_text(lines).len() > MAX_FILE_LEN {
            return Err(err(
                "key_rotation",
                0,
                format!("the new file would be larger than {MAX_FILE_LEN} bytes"),
            ));
        }
        Ok(parsed)
    }

    fn recovery_lines(&self) -> Vec<SignerLine> {
        self.lines
            .iter()
            .filter(|l| l.role == Role::Recovery)
            .cloned()
            .collect()
    }

    /// Stage 3: a line with this key's Ed25519 point that admits it. Among
    /// several, the first whose encoding equals `key` exactly (the one the
    /// signature can verify under, as OpenSSH would pick), else the first.
    pub fn find(&self, key: &PublicKey, namespace: &str, now: i64) -> Option<&SignerLine> {
        let mut admitting = self
            .lines
            .iter()
            .filter(|l| l.key.point() == key.point() && l.admits(namespace, now));
        let first = admitting.clone().next()?;
        Some(admitting.find(|l| l.key == *key).unwrap_or(first))
    }

    pub fn lines(&self) -> &[SignerLine] {
        &self.lines
    }
}

/// The operational file a `key_rotation` writes: a header comment, then
/// one signer line per element.
pub fn operational_file_text(lines: &[String]) -> String {
    let mut text = String::from("# operational signers, written by a signed key_rotation\n");
    for line in lines {
        text.push_str(line);
        text.push('\n');
    }
    text
}

pub(super) fn err(file: &str, line: usize, reason: String) -> SignerFileError {
    SignerFileError {
        file: file.to_string(),
        line,
        reason,
    }
}

/// A key is its Ed25519 point: the same point in `a` and `b`, under any
/// key type or sk application, is the same key in two roles. The error
/// names the line of `b`, and where in `a` the key already is.
fn reject_shared_keys(a: &[SignerLine], b: &[SignerLine]) -> Result<(), SignerFileError> {
    for line in b {
        if let Some(other) = a.iter().find(|o| o.key.point() == line.key.point()) {
            let encoding = if other.key == line.key {
                String::new()
            } else {
                format!(
                    " (there as {} {})",
                    other.key.type_name(),
                    other.key.fingerprint()
                )
            };
            return Err(err(
                &line.file,
                line.line,
                format!(
                    "key {} is also in {}:{} ({}){encoding}; the same Ed25519 point is the same \
                     key whatever its encoding, and a key has exactly one role",
                    line.key.fingerprint(),
                    other.file,
                    other.line,
                    other.role
                ),
            ));
        }
    }
    Ok(())
}
