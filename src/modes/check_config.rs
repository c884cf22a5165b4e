//! `--check-config`: the config, its secrets and the signer files are valid;
//! print the effective settings with secrets redacted.
//!
//! The PVE trust anchor (CA file) must load. Signer files are parsed here exactly as the daemon parses them; the first
//! bad line is reported as `file:line: reason` and the exit is 78.
//!
//! The journal is read too (read-only, without the lock, never changed):
//! damage is exit 65 as in every mode (CONTRACT §6), so a host whose
//! daemon would refuse to start is never reported fine. A journal this
//! user cannot read (the state dir belongs to the agent's user) is logged
//! as not checked; it says nothing about the configuration.

use super::Context;
use crate::authz::Signers;

pub fn run(ctx: &Context) -> u8 {
    if let Err(e) = crate::proxmox::tls::check(&ctx.config.proxmox.tls) {
        return refuse(ctx, &format!("proxmox.tls: {e}"), crate::exit::CONFIG);
    }
    let signers = match Signers::load(&ctx.config.authz) {
        Ok(s) => s,
        Err(e) => return refuse(ctx, &e.to_string(), crate::exit::CONFIG),
    };
    match crate::journal::open_read_only(&ctx.config.state_dir) {
        Ok(_) => {}
        Err(e @ crate::journal::JournalError::Damaged { .. }) => {
            return refuse(ctx, &format!("journal: {e}"), crate::exit::DATA_ERR);
        }
        Err(e) => log::warn!("journal not checked: {e}"),
    }
    let settings = ctx.config.redacted_json();
    if ctx.json {
        super::print_json(&serde_json::json!({
            "valid": true,
            "config": settings,
            "signers": signers.lines().len(),
        }));
    } else {
        println!("configuration OK: {}", ctx.config_path.display());
        println!("signer lines: {}", signers.lines().len());
        println!(
            "{}",
            serde_json::to_string_pretty(&settings).unwrap_or_default()
        );
    }
    crate::exit::OK
}

/// Reports `error` (`{"valid": false, "error"}` with `--json`) and exits
/// with `code`.
fn refuse(ctx: &Context, error: &str, code: u8) -> u8 {
    log::error!("{error}");
    if ctx.json {
        super::print_json(&serde_json::json!({"valid": false, "error": error}));
    }
    code
}
