//! `--pending`: every action held for a signature, each with the canonical
//! blob that authorizes exactly it and the command to sign and submit it.
//! Read-only (like `--plan`). Exit 0 when the listing succeeded, whatever
//! it lists; 1 when the actions could not be computed (PVE unreadable).

use super::Context;
use crate::journal;
use crate::reconcile::engine::{self, JournalView, PassInputs};
use serde_json::json;

pub fn run(ctx: &Context) -> u8 {
    let client = match super::pve_client(ctx) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let index = match journal::open_read_only(&ctx.config.state_dir) {
        Ok(i) => i,
        Err(e) => return super::journal_exit(&e),
    };
    let mut tick = || {};
    let inputs = PassInputs {
        config: &ctx.config,
        client: &client,
        blocked: &|| false,
        tick: &mut tick,
    };
    let output = match engine::run_pass(inputs, JournalView::Read(Box::new(index))) {
        Ok(o) => o,
        Err(e) => return super::journal_exit(&e),
    };
    for e in &output.report.errors {
        log::warn!("{e}");
    }
    if !output.actual_read {
        return crate::exit::FAILURE;
    }
    if ctx.json {
        let items: Vec<_> = output.pending.iter().map(|p| p.to_json()).collect();
        super::print_json(&json!({ "pending": items }));
    } else if output.pending.is_empty() {
        println!("nothing awaits a signature");
    } else {
        for p in &output.pending {
            println!("guest {} {} {}", p.vmid, p.op, p.params);
            println!("  {} of {} approvals", p.approvals, p.approvals_required);
            println!("  blob: {}", p.blob);
            println!("  sign and submit: {}", p.sign_command);
        }
    }
    crate::exit::OK
}
