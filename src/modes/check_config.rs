//! `--check-config`: the config, its secrets and the signer files are valid;
//! print the effective settings with secrets redacted.
//!
//! Signer files are parsed here exactly as the daemon parses them; the first
//! bad line is reported as `file:line: reason` and the exit is 78.

use super::Context;
use crate::authz::Signers;

pub fn run(ctx: &Context) -> u8 {
    let signers = match Signers::load(&ctx.config.authz) {
        Ok(s) => s,
        Err(e) => {
            log::error!("{e}");
            if ctx.json {
                super::print_json(&serde_json::json!({"valid": false, "error": e.to_string()}));
            } else {
                eprintln!("{e}");
            }
            return crate::exit::CONFIG;
        }
    };
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
