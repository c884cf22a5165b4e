//! `cli`: the command line of CONTRACT §6, parsed with std only.
//!
//! ```text
//! felhom-agent [--config PATH] [MODE] [--json]
//! ```
//!
//! At most one mode; `--json` only with modes that print a document;
//! `--config` at most once. Anything else is a usage error (exit 2).

use std::ffi::OsString;
use std::fmt;
use std::path::PathBuf;

/// What `--version` prints: the release, and the commit the binary was built
/// from (`FELHOM_BUILD_SOURCE`, set by `build.rs`: `git commit <id>`, or
/// `not built from a git checkout`).
pub const VERSION: &str = concat!(
    "felhom-agent ",
    env!("CARGO_PKG_VERSION"),
    " (",
    env!("FELHOM_BUILD_SOURCE"),
    ")"
);

pub const HELP: &str = "\
felhom-agent: converge this Proxmox VE host's guests toward a desired state;
destroy or overwrite customer data only with an operator's SSH signature.

USAGE:
    felhom-agent [--config PATH] [MODE] [--json]

MODES:
    (none)               run the daemon (systemd Type=notify)
    --reconcile-now      one pass: recover, read desired and actual state, plan,
                         gate, execute, report
    --plan               the same pass, changing nothing and consuming no nonce
    --check-config       validate config, secrets and signer files; print the
                         effective settings (secrets redacted)
    --pending            list actions awaiting a signature, each with a
                         ready-to-sign canonical blob and the ssh-keygen command
    --check-op BLOB SIG  verify a signed op (stages 1-9) without consuming its
                         nonce; print the verdict
    --submit BLOB SIG    as --check-op, then queue the op durably for the next pass
    --journal-verify     check the journal's framing, checksums and hash chain
    --status             what the agent holds now: last pass, actions awaiting
                         signatures, queued and in-flight ops, journal, hub
                         (read-only: never waits for the state lock)
    --version            print the version and the git commit it was built from
    --help               print this help

OPTIONS:
    --config PATH        config file (default /etc/felhom-agent/agent.json,
                         or $FELHOM_AGENT_CONFIG)
    --json               print one JSON document on stdout (logs go to stderr);
                         for --reconcile-now, --plan, --check-config, --pending,
                         --check-op, --submit, --journal-verify, --status

BLOB is the op blob file, SIG the armored signature that
`ssh-keygen -Y sign -f KEY -n felhom-op-v1 BLOB` writes beside it (BLOB.sig).

ENVIRONMENT:
    FELHOM_AGENT_CONFIG  config path when --config is not given
    FELHOM_AGENT_LOG     log filter (env_logger syntax), overrides log_level
    STATE_DIRECTORY      state dir (set by systemd StateDirectory=)
    CREDENTIALS_DIRECTORY  where relative secret file names are looked up

EXIT CODES:
    0   success; nothing awaits a signature
    1   an action failed, or a runtime error (Proxmox or hub unreachable, ...)
    2   usage error
    4   finished; some actions await an operator signature
    65  op rejected (--check-op, --submit); journal damaged (any mode)
    75  state lock held by another process past the wait
    78  configuration invalid
";

/// What the process was asked to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    Daemon,
    ReconcileNow,
    Plan,
    CheckConfig,
    Pending,
    CheckOp { blob: PathBuf, sig: PathBuf },
    Submit { blob: PathBuf, sig: PathBuf },
    JournalVerify,
    Status,
    Version,
    Help,
}

impl Mode {
    /// Whether `--json` means something for this mode.
    fn accepts_json(&self) -> bool {
        !matches!(self, Mode::Daemon | Mode::Version | Mode::Help)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Args {
    pub config: Option<PathBuf>,
    pub mode: Mode,
    pub json: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UsageError {
    UnknownArgument(String),
    MissingValue(&'static str),
    Repeated(&'static str),
    TwoModes,
    JsonWithoutDocument,
    NotUtf8,
}

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UsageError::UnknownArgument(a) => write!(f, "unknown argument {a:?}"),
            UsageError::MissingValue(flag) => write!(f, "{flag} needs its argument(s)"),
            UsageError::Repeated(flag) => write!(f, "{flag} given more than once"),
            UsageError::TwoModes => write!(f, "give at most one mode"),
            UsageError::JsonWithoutDocument => {
                write!(f, "--json is only for modes that print a document")
            }
            UsageError::NotUtf8 => write!(f, "arguments must be UTF-8"),
        }
    }
}

/// Parses the arguments after the program name.
pub fn parse<I: IntoIterator<Item = OsString>>(args: I) -> Result<Args, UsageError> {
    let mut args = args.into_iter();
    let mut config = None;
    let mut mode = None;
    let mut json = false;
    let next_string = |args: &mut I::IntoIter, flag| -> Result<String, UsageError> {
        args.next()
            .ok_or(UsageError::MissingValue(flag))?
            .into_string()
            .map_err(|_| UsageError::NotUtf8)
    };
    while let Some(arg) = args.next() {
        let arg = arg.into_string().map_err(|_| UsageError::NotUtf8)?;
        let new_mode = match arg.as_str() {
            "--config" => {
                if config.is_some() {
                    return Err(UsageError::Repeated("--config"));
                }
                config = Some(PathBuf::from(next_string(&mut args, "--config")?));
                continue;
            }
            "--json" => {
                if json {
                    return Err(UsageError::Repeated("--json"));
                }
                json = true;
                continue;
            }
            "--reconcile-now" => Mode::ReconcileNow,
            "--plan" => Mode::Plan,
            "--check-config" => Mode::CheckConfig,
            "--pending" => Mode::Pending,
            "--journal-verify" => Mode::JournalVerify,
            "--status" => Mode::Status,
            "--version" | "-V" => Mode::Version,
            "--help" | "-h" => Mode::Help,
            "--check-op" | "--submit" => {
                let flag = if arg == "--submit" {
                    "--submit"
                } else {
                    "--check-op"
                };
                let blob = PathBuf::from(next_string(&mut args, flag)?);
                let sig = PathBuf::from(next_string(&mut args, flag)?);
                if arg == "--submit" {
                    Mode::Submit { blob, sig }
                } else {
                    Mode::CheckOp { blob, sig }
                }
            }
            _ => return Err(UsageError::UnknownArgument(arg)),
        };
        if mode.is_some() {
            return Err(UsageError::TwoModes);
        }
        mode = Some(new_mode);
    }
    let mode = mode.unwrap_or(Mode::Daemon);
    if json && !mode.accepts_json() {
        return Err(UsageError::JsonWithoutDocument);
    }
    Ok(Args { config, mode, json })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(args: &[&str]) -> Result<Args, UsageError> {
        parse(args.iter().map(OsString::from))
    }

    #[test]
    fn no_arguments_runs_the_daemon() {
        assert_eq!(p(&[]).map(|a| a.mode), Ok(Mode::Daemon));
    }

    #[test]
    fn flags_in_any_order() {
        let a = p(&["--json", "--plan", "--config", "/x.json"]);
        assert_eq!(
            a,
            Ok(Args {
                config: Some("/x.json".into()),
                mode: Mode::Plan,
                json: true
            })
        );
    }

    #[test]
    fn check_op_takes_two_paths() {
        assert_eq!(
            p(&["--check-op", "b", "b.sig"]).map(|a| a.mode),
            Ok(Mode::CheckOp {
                blob: "b".into(),
                sig: "b.sig".into()
            })
        );
        assert_eq!(
            p(&["--check-op", "b"]),
            Err(UsageError::MissingValue("--check-op"))
        );
    }

    #[test]
    fn status_is_a_mode_that_prints_json_on_request() {
        assert_eq!(
            p(&["--status", "--json"]),
            Ok(Args {
                config: None,
                mode: Mode::Status,
                json: true
            })
        );
        assert_eq!(p(&["--status", "--plan"]), Err(UsageError::TwoModes));
    }

    #[test]
    fn usage_errors_are_distinct() {
        assert_eq!(p(&["--plan", "--pending"]), Err(UsageError::TwoModes));
        assert_eq!(
            p(&["--bogus"]),
            Err(UsageError::UnknownArgument("--bogus".into()))
        );
        assert_eq!(p(&["--json"]), Err(UsageError::JsonWithoutDocument));
        assert_eq!(p(&["--config"]), Err(UsageError::MissingValue("--config")));
        assert_eq!(
            p(&["--config", "a", "--config", "b"]),
            Err(UsageError::Repeated("--config"))
        );
    }
}
