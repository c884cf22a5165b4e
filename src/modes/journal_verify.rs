//! `--journal-verify`: read-only check of the journal's framing, checksums,
//! hash chain and record decoding. Never takes the lock, never writes.
//!
//! Exit: 0 when the journal validates (a torn tail alone is reported: the
//! next mutating open truncates it, nothing in it was acknowledged) or does
//! not exist yet; 65 when damaged; 1 when it cannot be read.
//! `--json`: `{"ok", "records", "torn_tail": null|{"offset","bytes"},
//! "chain_head": hex|null, "error": null|message}`.

use super::Context;
use crate::journal::{self, JournalError, VerifyReport};

pub fn run(ctx: &Context) -> u8 {
    let path = ctx.config.journal_path();
    let result = if path.exists() {
        journal::verify_file(&path)
    } else {
        if !ctx.json {
            println!(
                "no journal yet at {} (created at the first mutating start)",
                path.display()
            );
        }
        Ok(VerifyReport {
            records: 0,
            torn_tail: None,
            chain_head: [0u8; 32],
            prev_head: [0u8; 32],
            first_seq: 1,
        })
    };
    let code = match &result {
        Ok(_) => crate::exit::OK,
        Err(JournalError::Damaged { .. }) => crate::exit::DATA_ERR,
        Err(_) => crate::exit::FAILURE,
    };
    if ctx.json {
        super::print_json(&json_report(&result));
    } else {
        print_human(&path, &result);
    }
    code
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn json_report(result: &Result<VerifyReport, JournalError>) -> serde_json::Value {
    match result {
        Ok(r) => serde_json::json!({
            "ok": true,
            "records": r.records,
            "torn_tail": r.torn_tail.map(|(offset, bytes)| serde_json::json!({"offset": offset, "bytes": bytes})),
            "chain_head": hex(&r.chain_head),
            "error": null,
        }),
        Err(e) => serde_json::json!({
            "ok": false,
            "records": null,
            "torn_tail": null,
            "chain_head": null,
            "error": e.to_string(),
        }),
    }
}

fn print_human(path: &std::path::Path, result: &Result<VerifyReport, JournalError>) {
    match result {
        Ok(r) => {
            println!("journal OK: {}", path.display());
            println!("records: {} (first seq {})", r.records, r.first_seq);
            println!("chain head: {}", hex(&r.chain_head));
            if r.prev_head != [0u8; 32] {
                println!("compacted from chain head: {}", hex(&r.prev_head));
            }
            match r.torn_tail {
                None => println!("torn tail: none"),
                Some((offset, bytes)) => println!(
                    "torn tail: {bytes} bytes at offset {offset} (an unfinished append; truncated at the next mutating open)"
                ),
            }
        }
        Err(e) => println!("journal NOT OK: {}: {e}", path.display()),
    }
}
