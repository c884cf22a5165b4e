//! `config`: the agent's configuration file (`agent.json`), the environment
//! overlay, the secret files, validation and redaction.
//!
//! Owns: turning untrusted-shape JSON into a fully validated [`Config`].
//! Trusts: root-owned files (the config, the secret files it names).
//!
//! Invariants:
//! - Every problem is reported with the JSON path of the offending key
//!   (`proxmox.tls.ca_file`); unknown keys, wrong types and missing required
//!   keys are errors, never ignored. The caller maps every [`ConfigError`] to
//!   exit 78.
//! - Secrets (the PVE API token, the hub key) are read from files that no
//!   group or other user can read, and live only inside [`Secret`], whose
//!   `Debug` and `Display` print `[redacted]`. No error message carries a
//!   secret's content.
//! - There is no setting that disables TLS verification.
//!
//! The schema is CONTRACT §2; the walker in `json.rs` enforces it.

mod approvals;
mod json;
mod provision;
mod secret;
mod sections;
mod url;

pub use approvals::{MAX_REQUIRED_APPROVALS, RequiredApprovals};
pub use provision::{ProvisionConfig, valid_storage_id};
pub use secret::{Secret, SecretError, read_secret_file};
pub use url::{Endpoint, UrlError};

use json::{Obj, PathError};
use sections::{
    absolute_path, metrics_file, name, parse_authz, parse_hub, parse_proxmox, seconds,
    validate_log_level,
};
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Default location of the configuration file.
pub const DEFAULT_CONFIG_PATH: &str = "/etc/felhom-agent/agent.json";
/// Default state directory when neither `$STATE_DIRECTORY` nor `state_dir` is set.
pub const DEFAULT_STATE_DIR: &str = "/var/lib/felhom-agent";
/// Default CA bundle for the hub.
pub const DEFAULT_HUB_CA: &str = "/etc/ssl/certs/ca-certificates.crt";

/// The files the agent keeps in its state directory, by name. `metrics_file`
/// may not be one of them (a typo must not let the metrics writer replace
/// the journal). Each owning module's constant is checked against this list
/// by a test in `status`.
pub const STATE_DIR_FILES: &[&str] = &[
    "journal",
    "journal.lock",
    "journal.tmp",
    "desired-state.json",
    "hub-blocked",
    "status.json",
    "hub-status.json",
    "readback.json",
];

/// A config file larger than this is not a config file.
const MAX_CONFIG_BYTES: u64 = 256 * 1024;
/// Upper bound on every `*_seconds` setting: one week. Larger values are
/// almost certainly typos (milliseconds) and would stall the agent.
const MAX_SECONDS: u64 = 7 * 24 * 3600;
/// `host_id`, `node`: PVE node names are DNS labels; we allow a little more
/// but keep them printable and short because they land in URLs and blobs.
const MAX_NAME_LEN: usize = 64;

/// The validated configuration. Built only by [`Config::load`] / [`Config::parse`].
#[derive(Debug, Clone)]
pub struct Config {
    pub host_id: String,
    pub log_level: String,
    pub state_dir: PathBuf,
    pub reconcile_interval: Duration,
    pub proxmox: ProxmoxConfig,
    pub authz: AuthzConfig,
    pub desired_state: DesiredSource,
    pub hub: Option<HubConfig>,
    /// Prometheus text file rewritten after every pass and hub round
    /// (CONTRACT §12); `None`: no metrics.
    pub metrics_file: Option<PathBuf>,
    /// `provision` (CONTRACT §10); `None`: nothing is ever created.
    pub provision: Option<ProvisionConfig>,
}

#[derive(Debug, Clone)]
pub struct ProxmoxConfig {
    pub endpoint: Endpoint,
    pub node: String,
    /// `USER@REALM!TOKENID=SECRET`, validated in shape.
    pub token: Secret,
    pub tls: TlsTrust,
    pub timeout: Duration,
    pub task_timeout: Duration,
}

/// How the PVE server's certificate is trusted. Exactly one; no "insecure".
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsTrust {
    /// A PEM file of CA certificates (e.g. `/etc/pve/pve-root-ca.pem`).
    CaFile(PathBuf),
    /// SHA-256 of the server's leaf certificate (DER).
    Fingerprint([u8; 32]),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthzConfig {
    pub operational_signers: Option<PathBuf>,
    pub recovery_signers: Option<PathBuf>,
    pub clock_skew_seconds: u64,
    pub max_validity_seconds: u64,
    pub require_user_presence: bool,
    /// `authz.approvals` (CONTRACT §11): distinct signers per op.
    pub approvals: RequiredApprovals,
}

impl Default for AuthzConfig {
    fn default() -> Self {
        AuthzConfig {
            operational_signers: None,
            recovery_signers: None,
            clock_skew_seconds: 120,
            max_validity_seconds: 86_400,
            require_user_presence: true,
            approvals: RequiredApprovals::default(),
        }
    }
}

/// Where desired state comes from: at most one source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DesiredSource {
    /// No desired state: zero mutations.
    None,
    File(PathBuf),
    Hub,
}

#[derive(Debug, Clone)]
pub struct HubConfig {
    pub url: Endpoint,
    pub api_key: Secret,
    pub ca_file: PathBuf,
    pub poll_seconds: u64,
    pub timeout: Duration,
}

/// Why the configuration was rejected. `Display` names the JSON path.
#[derive(Debug)]
pub enum ConfigError {
    /// The config file could not be read.
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    /// The config file is larger than [`MAX_CONFIG_BYTES`].
    TooLarge { path: PathBuf },
    /// Not JSON at all.
    Syntax {
        line: usize,
        column: usize,
        message: String,
    },
    /// A schema problem at a JSON path.
    Invalid(PathError),
    /// A secret file named at a JSON path could not be used.
    Secret {
        key: &'static str,
        error: SecretError,
    },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Read { path, error } => {
                write!(f, "cannot read config {}: {error}", path.display())
            }
            ConfigError::TooLarge { path } => write!(
                f,
                "config {} is larger than {MAX_CONFIG_BYTES} bytes",
                path.display()
            ),
            ConfigError::Syntax {
                line,
                column,
                message,
            } => {
                write!(
                    f,
                    "config is not valid JSON (line {line}, column {column}): {message}"
                )
            }
            ConfigError::Invalid(e) => write!(f, "{e}"),
            ConfigError::Secret { key, error } => write!(f, "{key}: {error}"),
        }
    }
}

impl std::error::Error for ConfigError {}

impl From<PathError> for ConfigError {
    fn from(e: PathError) -> Self {
        ConfigError::Invalid(e)
    }
}

/// Process environment that the config depends on, passed explicitly so
/// parsing is a pure function of its inputs (and testable).
#[derive(Debug, Clone, Default)]
pub struct Env {
    pub state_directory: Option<PathBuf>,
    pub credentials_directory: Option<PathBuf>,
    pub log_override: Option<String>,
}

impl Env {
    /// Reads `STATE_DIRECTORY`, `CREDENTIALS_DIRECTORY` and `FELHOM_AGENT_LOG`.
    pub fn from_process() -> Env {
        let non_empty = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
        // systemd may pass several colon-separated state directories; the
        // first is ours.
        let state_directory = non_empty("STATE_DIRECTORY").map(|v| {
            let s = v.to_string_lossy().into_owned();
            PathBuf::from(s.split(':').next().unwrap_or_default())
        });
        Env {
            state_directory,
            credentials_directory: non_empty("CREDENTIALS_DIRECTORY").map(PathBuf::from),
            log_override: std::env::var("FELHOM_AGENT_LOG")
                .ok()
                .filter(|v| !v.is_empty()),
        }
    }
}

impl Config {
    /// Reads and validates the config file at `path`, including its secrets.
    pub fn load(path: &Path, env: &Env) -> Result<Config, ConfigError> {
        let read_err = |error| ConfigError::Read {
            path: path.to_path_buf(),
            error,
        };
        let file = std::fs::File::open(path).map_err(read_err)?;
        let len = file.metadata().map_err(read_err)?.len();
        if len > MAX_CONFIG_BYTES {
            return Err(ConfigError::TooLarge {
                path: path.to_path_buf(),
            });
        }
        let text = std::fs::read(path).map_err(read_err)?;
        Config::parse(&text, env)
    }

    /// Validates config text. Secret files are read here too.
    pub fn parse(text: &[u8], env: &Env) -> Result<Config, ConfigError> {
        let value: serde_json::Value =
            serde_json::from_slice(text).map_err(|e| ConfigError::Syntax {
                line: e.line(),
                column: e.column(),
                message: strip_position(&e.to_string()),
            })?;
        let mut root = Obj::root(&value)?;
        let host_id = name(&mut root, "host_id")?;
        let configured = root.opt_str("log_level")?.unwrap_or("info").to_string();
        let log_level = env.log_override.clone().unwrap_or(configured);
        validate_log_level(&root, &log_level)?;
        let state_dir = match (&env.state_directory, root.opt_str("state_dir")?) {
            (_, Some(dir)) => absolute_path(&root, "state_dir", dir)?,
            (Some(dir), None) => dir.clone(),
            (None, None) => PathBuf::from(DEFAULT_STATE_DIR),
        };
        let reconcile_interval =
            Duration::from_secs(seconds(&mut root, "reconcile_interval_seconds", 60, 1)?);
        let proxmox = parse_proxmox(&mut root.obj("proxmox")?, env)?;
        let authz = match root.opt_obj("authz")? {
            Some(mut a) => parse_authz(&mut a)?,
            None => AuthzConfig::default(),
        };
        let desired_file = root
            .opt_str("desired_state_file")?
            .map(|p| absolute_path(&root, "desired_state_file", p))
            .transpose()?;
        let hub = root
            .opt_obj("hub")?
            .map(|mut h| parse_hub(&mut h, env))
            .transpose()?;
        let desired_state = match (desired_file, &hub) {
            (Some(_), Some(_)) => {
                return Err(root
                    .error(
                        "hub",
                        "at most one desired-state source: desired_state_file or hub",
                    )
                    .into());
            }
            (Some(file), None) => DesiredSource::File(file),
            (None, Some(_)) => DesiredSource::Hub,
            (None, None) => DesiredSource::None,
        };
        let metrics_file = root
            .opt_str("metrics_file")?
            .map(|p| {
                let mut own: Vec<&Path> = vec![];
                own.extend(authz.operational_signers.as_deref());
                own.extend(authz.recovery_signers.as_deref());
                if let DesiredSource::File(f) = &desired_state {
                    own.push(f);
                }
                metrics_file(&root, p, &state_dir, &own)
            })
            .transpose()?;
        let provision = root
            .opt_obj("provision")?
            .map(|mut p| provision::parse_provision(&mut p))
            .transpose()?;
        root.finish()?;
        Ok(Config {
            host_id,
            log_level,
            state_dir,
            reconcile_interval,
            proxmox,
            authz,
            desired_state,
            hub,
            metrics_file,
            provision,
        })
    }

    /// The journal lives in the state directory.
    pub fn journal_path(&self) -> PathBuf {
        self.state_dir.join("journal")
    }

    /// The effective settings, secrets redacted, as `--check-config` prints them.
    pub fn redacted_json(&self) -> serde_json::Value {
        let path = |p: &Option<PathBuf>| p.as_ref().map(|p| p.display().to_string());
        let tls = match &self.proxmox.tls {
            TlsTrust::CaFile(p) => serde_json::json!({"ca_file": p.display().to_string()}),
            TlsTrust::Fingerprint(fp) => serde_json::json!({"fingerprint": fingerprint_hex(fp)}),
        };
        let desired_file = match &self.desired_state {
            DesiredSource::File(p) => Some(p.display().to_string()),
            _ => None,
        };
        serde_json::json!({
            "host_id": self.host_id,
            "log_level": self.log_level,
            "state_dir": self.state_dir.display().to_string(),
            "journal": self.journal_path().display().to_string(),
            "reconcile_interval_seconds": self.reconcile_interval.as_secs(),
            "proxmox": {
                "endpoint": self.proxmox.endpoint.as_str(),
                "node": self.proxmox.node,
                "token": self.proxmox.token.to_string(),
                "token_id": token_id(&self.proxmox.token),
                "tls": tls,
                "timeout_seconds": self.proxmox.timeout.as_secs(),
                "task_timeout_seconds": self.proxmox.task_timeout.as_secs(),
            },
            "authz": {
                "operational_signers": path(&self.authz.operational_signers),
                "recovery_signers": path(&self.authz.recovery_signers),
                "clock_skew_seconds": self.authz.clock_skew_seconds,
                "max_validity_seconds": self.authz.max_validity_seconds,
                "require_user_presence": self.authz.require_user_presence,
                "approvals": self.authz.approvals.to_json(),
            },
            "desired_state_file": desired_file,
            "hub": self.hub.as_ref().map(|h| serde_json::json!({
                "url": h.url.as_str(),
                "api_key": h.api_key.to_string(),
                "ca_file": h.ca_file.display().to_string(),
                "poll_seconds": h.poll_seconds,
                "timeout_seconds": h.timeout.as_secs(),
            })),
            "metrics_file": self.metrics_file.as_ref().map(|p| p.display().to_string()),
            "provision": self.provision.as_ref().map(ProvisionConfig::to_json),
        })
    }
}

/// The public half of the PVE token (`USER@REALM!TOKENID`): not a secret,
/// and what an operator needs to find the token in `pveum`.
pub fn token_id(token: &Secret) -> String {
    token
        .expose()
        .split('=')
        .next()
        .unwrap_or_default()
        .to_string()
}

/// Colon-separated uppercase hex, as `openssl x509 -fingerprint -sha256` prints.
pub fn fingerprint_hex(fp: &[u8; 32]) -> String {
    fp.iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// serde_json appends " at line L column C"; we report those separately.
fn strip_position(msg: &str) -> String {
    match msg.rfind(" at line ") {
        Some(i) => msg.get(..i).unwrap_or(msg).to_string(),
        None => msg.to_string(),
    }
}

#[cfg(test)]
mod tests;
