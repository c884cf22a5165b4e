//! One file per command-line mode. Each returns the process exit code
//! (see [`crate::exit`]) and prints its human or `--json` output.

mod check_config;
mod check_op;
mod daemon;
mod journal_verify;
mod pass;
mod pending;
mod status;
mod submit;

use crate::cli::Mode;
use crate::config::Config;
use std::path::PathBuf;

/// What every mode gets: the validated config and the output format.
pub struct Context {
    pub config: Config,
    pub config_path: PathBuf,
    pub json: bool,
}

pub fn dispatch(ctx: &Context, mode: &Mode) -> u8 {
    if uses_signers(mode)
        && let Err(e) = crate::authz::Signers::load(&ctx.config.authz)
    {
        // CONTRACT §3: a signer file that does not load rejects the
        // configuration, in every mode that would verify signatures.
        log::error!("signer file invalid: {e}");
        if ctx.json && *mode == Mode::CheckConfig {
            print_json(&serde_json::json!({"valid": false, "error": e.to_string()}));
        }
        return crate::exit::CONFIG;
    }
    match mode {
        Mode::Daemon => daemon::run(ctx),
        Mode::ReconcileNow => pass::run(ctx, pass::Kind::ReconcileNow),
        Mode::Plan => pass::run(ctx, pass::Kind::Plan),
        Mode::CheckConfig => check_config::run(ctx),
        Mode::Pending => pending::run(ctx),
        Mode::CheckOp { blob, sig } => check_op::run(ctx, blob, sig),
        Mode::Submit { blob, sig } => submit::run(ctx, blob, sig),
        Mode::JournalVerify => journal_verify::run(ctx),
        Mode::Status => status::run(ctx),
        Mode::Version | Mode::Help => crate::exit::OK,
    }
}

/// Modes that verify signatures, or whose pass would: they refuse to start
/// on signer files that do not load. `--journal-verify`, `--help` and
/// `--version` do not read them; `--status` reads them only to name the
/// signers of queued ops, and answers without them when they do not load.
fn uses_signers(mode: &Mode) -> bool {
    match mode {
        Mode::Daemon
        | Mode::ReconcileNow
        | Mode::Plan
        | Mode::CheckConfig
        | Mode::Pending
        | Mode::CheckOp { .. }
        | Mode::Submit { .. } => true,
        Mode::JournalVerify | Mode::Status | Mode::Version | Mode::Help => false,
    }
}

/// The exit code for a journal that cannot be opened or written.
pub fn journal_exit(e: &crate::journal::JournalError) -> u8 {
    use crate::journal::JournalError;
    log::error!("journal: {e}");
    match e {
        JournalError::Locked { .. } => crate::exit::TEMP_FAIL,
        JournalError::Damaged { .. } => crate::exit::DATA_ERR,
        _ => crate::exit::FAILURE,
    }
}

/// Opens the journal for writing (waiting for the state lock).
pub fn open_journal(ctx: &Context) -> Result<crate::journal::Journal, u8> {
    crate::journal::Journal::open(&ctx.config.state_dir, crate::journal::LOCK_WAIT)
        .map_err(|e| journal_exit(&e))
}

/// The PVE client; a trust anchor that does not load is a config error.
pub fn pve_client(ctx: &Context) -> Result<crate::proxmox::Client, u8> {
    crate::proxmox::Client::new(&ctx.config.proxmox).map_err(|e| {
        log::error!("proxmox: {e}");
        match e {
            crate::proxmox::PveError::Config(_) => crate::exit::CONFIG,
            _ => crate::exit::FAILURE,
        }
    })
}

/// Prints a JSON document on stdout (the one document `--json` promises).
pub fn print_json(doc: &serde_json::Value) {
    println!("{doc}");
}
