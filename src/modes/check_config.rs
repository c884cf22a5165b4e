//! `--check-config`: the config, its secrets and the signer files are valid;
//! print the effective settings with secrets redacted.

use super::Context;

pub fn run(ctx: &Context) -> u8 {
    let settings = ctx.config.redacted_json();
    if ctx.json {
        super::print_json(&serde_json::json!({"valid": true, "config": settings}));
    } else {
        println!("configuration OK: {}", ctx.config_path.display());
        println!(
            "{}",
            serde_json::to_string_pretty(&settings).unwrap_or_default()
        );
    }
    crate::exit::OK
}
