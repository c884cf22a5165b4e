//! One `allowed_signers` line (ssh-keygen(1), ALLOWED SIGNERS) in the
//! subset of CONTRACT §3, and a whole file as its lines.
//!
//! Owns: the line syntax. Trusts: nothing; a file's text is read here
//! before anything in it is believed.
//!
//! Line format (one signer per line; `#` comments and blank lines skipped;
//! leading blanks ignored; a trailing CR is dropped):
//!
//! ```text
//! PRINCIPALS [OPTIONS] KEYTYPE BASE64 [COMMENT]
//! alice@example.com,ops-* namespaces="felhom-op-v1",valid-before="20270101Z" ssh-ed25519 AAAA... alice
//! "name with spaces" sk-ssh-ed25519@openssh.com AAAA...
//! ```
//!
//! - PRINCIPALS: a pattern list (see `pattern`), optionally double-quoted,
//!   without negated (`!`) patterns. The agent never matches it (there is
//!   no `-I`): a line admits its key for any principal, so an exclusion
//!   could not be honoured, and a line carrying one is refused (OpenSSH
//!   would refuse the signature for the negated name). Its first element is
//!   the signer's id in audit.
//! - OPTIONS: see `options`. KEYTYPE: `ssh-ed25519` or
//!   `sk-ssh-ed25519@openssh.com`, equal to the type inside the blob.
//!
//! Stricter than OpenSSH, beyond `options`: other key types; negated
//! principals; a quote inside an unquoted principal list or text glued to a
//! closing quote; empty sub-patterns; a public key that is not a valid
//! Ed25519 point; a file that is not UTF-8. OpenSSH skips a bad line while
//! looking for a principal; here it is fatal at load.

use super::key::{ED25519, PublicKey, SK_ED25519};
use super::options::{self, SignerOptions};
use super::pattern;
use super::signers::{MAX_FILE_LEN, MAX_LINE_LEN, Role, SignerFileError, SignerLine, err};

pub(super) fn parse_file(
    name: &str,
    text: &str,
    role: Role,
) -> Result<Vec<SignerLine>, SignerFileError> {
    if text.len() > MAX_FILE_LEN {
        return Err(err(name, 0, format!("larger than {MAX_FILE_LEN} bytes")));
    }
    let mut out = Vec::new();
    for (i, raw) in text.split('\n').enumerate() {
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        if let Some(signer) = parse_line(name, i + 1, line, role)? {
            out.push(signer);
        }
    }
    Ok(out)
}

/// One line: `Ok(None)` for a blank or comment line.
pub(super) fn parse_line(
    file: &str,
    n: usize,
    line: &str,
    role: Role,
) -> Result<Option<SignerLine>, SignerFileError> {
    let fail = |reason: String| err(file, n, reason);
    if line.len() > MAX_LINE_LEN {
        return Err(fail(format!("line longer than {MAX_LINE_LEN} bytes")));
    }
    let rest = line.trim_start_matches([' ', '\t']);
    if rest.is_empty() || rest.starts_with('#') {
        return Ok(None);
    }
    if rest.chars().any(|c| c.is_control() && c != '\t') {
        return Err(fail("control character in line".into()));
    }
    let (principals, rest) = principals(rest).map_err(fail)?;
    let (first, rest) = token(rest);
    let (opts, key_type, rest) = if first == ED25519 || first == SK_ED25519 {
        (SignerOptions::default(), first, rest)
    } else if first.contains('=') || first.eq_ignore_ascii_case("cert-authority") {
        let opts = options::parse(first).map_err(fail)?;
        let (key_type, rest) = token(rest);
        (opts, key_type, rest)
    } else {
        (SignerOptions::default(), first, rest)
    };
    let key = key(key_type, rest).map_err(fail)?;
    Ok(Some(SignerLine {
        principals: principals.to_string(),
        key,
        options: opts,
        role,
        file: file.to_string(),
        line: n,
    }))
}

/// The principal list (bare or double-quoted) and the text after it.
fn principals(s: &str) -> Result<(&str, &str), String> {
    let (list, rest) = if let Some(quoted) = s.strip_prefix('"') {
        let close = quoted.find('"').ok_or("principals: no closing quote")?;
        let rest = quoted.get(close + 1..).unwrap_or_default();
        if !rest.is_empty() && !rest.starts_with([' ', '\t']) {
            return Err("principals: text directly after the closing quote".into());
        }
        (quoted.get(..close).unwrap_or_default(), rest)
    } else {
        let end = s.find([' ', '\t']).unwrap_or(s.len());
        let list = s.get(..end).unwrap_or_default();
        if list.contains('"') {
            return Err("principals: a quote inside an unquoted list".into());
        }
        (list, s.get(end..).unwrap_or_default())
    };
    if !pattern::list_is_well_formed(list.as_bytes()) {
        return Err(format!("principals {list:?} is not a pattern list"));
    }
    if let Some(negated) = list.split(',').find(|p| p.starts_with('!')) {
        return Err(format!(
            "principals: negated pattern {negated:?} is not supported (the agent does not \
             match principals, so it cannot honour an exclusion; list only the names that \
             may sign)"
        ));
    }
    let rest = rest.trim_start_matches([' ', '\t']);
    if rest.is_empty() {
        return Err("missing key after the principals".into());
    }
    Ok((list, rest))
}

/// The next blank-delimited token (quotes keep blanks inside), and the rest
/// with leading blanks removed.
fn token(s: &str) -> (&str, &str) {
    let mut quoted = false;
    let end = s
        .char_indices()
        .find(|&(_, c)| {
            if c == '"' {
                quoted = !quoted;
            }
            !quoted && (c == ' ' || c == '\t')
        })
        .map_or(s.len(), |(i, _)| i);
    let (tok, rest) = s.split_at(end);
    (tok, rest.trim_start_matches([' ', '\t']))
}

/// `KEYTYPE BASE64 [COMMENT]`.
fn key(key_type: &str, rest: &str) -> Result<PublicKey, String> {
    if key_type.is_empty() {
        return Err("missing key".into());
    }
    if key_type != ED25519 && key_type != SK_ED25519 {
        return Err(format!(
            "key type {key_type:?} is not supported (only {ED25519} and {SK_ED25519})"
        ));
    }
    let (b64, _comment) = token(rest);
    if b64.is_empty() {
        return Err(format!("missing base64 key after {key_type}"));
    }
    let blob = crate::base64::decode(b64.as_bytes()).map_err(|e| format!("key: {e}"))?;
    let key = PublicKey::from_blob(&blob).map_err(|e| e.to_string())?;
    if key.type_name() != key_type {
        return Err(format!(
            "key blob is {} but the line says {key_type}",
            key.type_name()
        ));
    }
    if !key.point_is_valid() {
        return Err("public key is not a valid Ed25519 point".into());
    }
    Ok(key)
}
