//! The sections of `agent.json` (`proxmox`, `tls`, `authz`, `hub`) and the
//! value rules shared by all keys. Every function reports problems at the
//! JSON path of the key it reads.

use super::json::Obj;
use super::secret::{SecretError, read_secret_file};
use super::url::Endpoint;
use super::{
    AuthzConfig, ConfigError, DEFAULT_HUB_CA, Env, HubConfig, MAX_NAME_LEN, MAX_SECONDS,
    ProxmoxConfig, TlsTrust,
};
use std::path::PathBuf;
use std::time::Duration;

pub(super) fn parse_proxmox(p: &mut Obj<'_>, env: &Env) -> Result<ProxmoxConfig, ConfigError> {
    let endpoint_text = p.str("endpoint")?;
    let endpoint =
        Endpoint::parse(endpoint_text).map_err(|e| p.error("endpoint", &e.to_string()))?;
    if !endpoint.is_https() {
        return Err(p.error("endpoint", "must be an https:// URL").into());
    }
    let node = name(p, "node")?;
    let token_name = p.str("token_file")?;
    let token =
        read_secret_file(token_name, env.credentials_directory.as_deref()).map_err(|error| {
            ConfigError::Secret {
                key: "proxmox.token_file",
                error,
            }
        })?;
    if !valid_token_shape(token.expose()) {
        return Err(ConfigError::Secret {
            key: "proxmox.token_file",
            error: SecretError::Shape("expected USER@REALM!TOKENID=SECRET"),
        });
    }
    let tls = parse_tls(&mut p.obj("tls")?)?;
    let timeout = Duration::from_secs(seconds(p, "timeout_seconds", 30, 1)?);
    let task_timeout = Duration::from_secs(seconds(p, "task_timeout_seconds", 600, 1)?);
    p.finish()?;
    Ok(ProxmoxConfig {
        endpoint,
        node,
        token,
        tls,
        timeout,
        task_timeout,
    })
}

fn parse_tls(t: &mut Obj<'_>) -> Result<TlsTrust, ConfigError> {
    let ca = t.opt_str("ca_file")?;
    let fp = t.opt_str("fingerprint")?;
    let trust = match (ca, fp) {
        (Some(ca), None) => TlsTrust::CaFile(absolute_path(t, "ca_file", ca)?),
        (None, Some(fp)) => TlsTrust::Fingerprint(parse_fingerprint(fp).ok_or_else(|| {
            t.error(
                "fingerprint",
                "expected 32 colon-separated hex bytes (openssl x509 -fingerprint -sha256)",
            )
        })?),
        (Some(_), Some(_)) => {
            return Err(t
                .error("", "exactly one of ca_file or fingerprint, not both")
                .into());
        }
        (None, None) => {
            return Err(t
                .error("", "exactly one of ca_file or fingerprint is required")
                .into());
        }
    };
    t.finish()?;
    Ok(trust)
}

pub(super) fn parse_authz(a: &mut Obj<'_>) -> Result<AuthzConfig, ConfigError> {
    let d = AuthzConfig::default();
    let signer_path = |a: &mut Obj<'_>, key: &str| -> Result<Option<PathBuf>, ConfigError> {
        match a.opt_str(key)? {
            Some(p) => Ok(Some(absolute_path(a, key, p)?)),
            None => Ok(None),
        }
    };
    let operational_signers = signer_path(a, "operational_signers")?;
    let recovery_signers = signer_path(a, "recovery_signers")?;
    let clock_skew_seconds = seconds(a, "clock_skew_seconds", d.clock_skew_seconds, 0)?;
    let max_validity_seconds = seconds(a, "max_validity_seconds", d.max_validity_seconds, 1)?;
    let require_user_presence = a
        .opt_bool("require_user_presence")?
        .unwrap_or(d.require_user_presence);
    let approvals = super::approvals::parse(a)?;
    a.finish()?;
    Ok(AuthzConfig {
        operational_signers,
        recovery_signers,
        clock_skew_seconds,
        max_validity_seconds,
        require_user_presence,
        approvals,
    })
}

pub(super) fn parse_hub(h: &mut Obj<'_>, env: &Env) -> Result<HubConfig, ConfigError> {
    let url_text = h.str("url")?;
    let url = Endpoint::parse(url_text).map_err(|e| h.error("url", &e.to_string()))?;
    if !url.is_https() && !url.is_loopback() {
        return Err(h
            .error("url", "must be https:// unless the host is loopback")
            .into());
    }
    let key_name = h.str("api_key_file")?;
    let api_key =
        read_secret_file(key_name, env.credentials_directory.as_deref()).map_err(|error| {
            ConfigError::Secret {
                key: "hub.api_key_file",
                error,
            }
        })?;
    if api_key.expose().is_empty() || !api_key.expose().bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ConfigError::Secret {
            key: "hub.api_key_file",
            error: SecretError::Shape("expected one line of printable ASCII"),
        });
    }
    let ca_file = match h.opt_str("ca_file")? {
        Some(p) => absolute_path(h, "ca_file", p)?,
        None => PathBuf::from(DEFAULT_HUB_CA),
    };
    let poll_seconds = seconds(h, "poll_seconds", 900, 1)?;
    let timeout = Duration::from_secs(seconds(h, "timeout_seconds", 30, 1)?);
    h.finish()?;
    Ok(HubConfig {
        url,
        api_key,
        ca_file,
        poll_seconds,
        timeout,
    })
}

pub(super) fn name(o: &mut Obj<'_>, key: &str) -> Result<String, ConfigError> {
    let v = o.str(key)?;
    let ok = !v.is_empty()
        && v.len() <= MAX_NAME_LEN
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.');
    if !ok {
        return Err(o
            .error(
                key,
                "must be 1-64 characters of A-Z, a-z, 0-9, '-', '_' or '.'",
            )
            .into());
    }
    Ok(v.to_string())
}

pub(super) fn seconds(
    o: &mut Obj<'_>,
    key: &str,
    default: u64,
    min: u64,
) -> Result<u64, ConfigError> {
    let v = o.opt_u64(key)?.unwrap_or(default);
    if v < min || v > MAX_SECONDS {
        return Err(o
            .error(key, &format!("must be between {min} and {MAX_SECONDS}"))
            .into());
    }
    Ok(v)
}

pub(super) fn absolute_path(o: &Obj<'_>, key: &str, p: &str) -> Result<PathBuf, ConfigError> {
    if !p.starts_with('/') || p.contains('\0') {
        return Err(o.error(key, "must be an absolute path").into());
    }
    Ok(PathBuf::from(p))
}

/// `metrics_file`: an absolute path naming a file (not a directory), with
/// no `.`/`..` components, that is none of the agent's own files (the state
/// directory's [`super::STATE_DIR_FILES`], the signer files, the desired
/// state file): the metrics writer replaces whatever the path names.
pub(super) fn metrics_file(
    o: &Obj<'_>,
    p: &str,
    state_dir: &std::path::Path,
    own_files: &[&std::path::Path],
) -> Result<PathBuf, ConfigError> {
    const KEY: &str = "metrics_file";
    let path = absolute_path(o, KEY, p)?;
    // Checked on the text: `Path::components` drops `.` and `//` silently.
    let plain = p
        .split('/')
        .skip(1)
        .all(|segment| !segment.is_empty() && segment != "." && segment != "..");
    if !plain || path.file_name().is_none() {
        return Err(o
            .error(
                KEY,
                "must name a file: no trailing '/', no empty, '.' or '..' component",
            )
            .into());
    }
    let in_state_dir = path.parent() == Some(state_dir);
    let reserved = in_state_dir
        && path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| super::STATE_DIR_FILES.contains(&n));
    if reserved || own_files.contains(&path.as_path()) {
        return Err(o
            .error(KEY, "must not be one of the agent's own files")
            .into());
    }
    Ok(path)
}

pub(super) fn validate_log_level(o: &Obj<'_>, level: &str) -> Result<(), ConfigError> {
    let ok = !level.is_empty()
        && level.len() <= 256
        && level
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_=:,-".contains(&b));
    if !ok {
        return Err(o
            .error(
                "log_level",
                "not an env_logger filter (e.g. info, debug, audit=info)",
            )
            .into());
    }
    Ok(())
}

/// `USER@REALM!TOKENID=SECRET`; the token id and secret are non-empty.
fn valid_token_shape(t: &str) -> bool {
    let Some((id, secret)) = t.split_once('=') else {
        return false;
    };
    let Some((user_realm, token_name)) = id.split_once('!') else {
        return false;
    };
    let Some((user, realm)) = user_realm.split_once('@') else {
        return false;
    };
    let printable = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_graphic());
    printable(user) && printable(realm) && printable(token_name) && printable(secret)
}

fn parse_fingerprint(s: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    let mut parts = s.split(':');
    for slot in out.iter_mut() {
        let part = parts.next()?;
        if part.len() != 2 {
            return None;
        }
        *slot = u8::from_str_radix(part, 16).ok()?;
    }
    parts.next().is_none().then_some(out)
}
