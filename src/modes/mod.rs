//! One file per command-line mode. Each returns the process exit code
//! (see [`crate::exit`]) and prints its human or `--json` output.

mod check_config;
mod check_op;
mod daemon;
mod journal_verify;
mod pass;
mod pending;
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
    match mode {
        Mode::Daemon => daemon::run(ctx),
        Mode::ReconcileNow => pass::run(ctx, pass::Kind::ReconcileNow),
        Mode::Plan => pass::run(ctx, pass::Kind::Plan),
        Mode::CheckConfig => check_config::run(ctx),
        Mode::Pending => pending::run(ctx),
        Mode::CheckOp { blob, sig } => check_op::run(ctx, blob, sig),
        Mode::Submit { blob, sig } => submit::run(ctx, blob, sig),
        Mode::JournalVerify => journal_verify::run(ctx),
        Mode::Version | Mode::Help => crate::exit::OK,
    }
}

/// Modes whose capability has not landed yet say so and fail (exit 1).
fn not_yet(what: &str) -> u8 {
    log::error!("{what} is not available in this build yet");
    crate::exit::FAILURE
}

/// Prints a JSON document on stdout (the one document `--json` promises).
pub fn print_json(doc: &serde_json::Value) {
    println!("{doc}");
}
