//! `--status [--json]`: what the agent holds now (CONTRACT §12).
//!
//! Read-only: the journal is read without the state lock and never
//! written (a torn tail, such as a running pass's append in progress, is
//! ignored, not truncated), so it answers at once beside a running pass.
//! Nothing is created in the state directory.
//!
//! Exit: 0; 65 when the journal is damaged (left untouched); 1 when the
//! journal cannot be read (e.g. permission denied).

use super::Context;
use crate::authz::Signers;
use crate::status::view::{self, Facts};

pub fn run(ctx: &Context) -> u8 {
    let config = &ctx.config;
    let journal = match crate::journal::snapshot_read_only(&config.state_dir) {
        Ok(s) => s,
        Err(e) => return super::journal_exit(&e),
    };
    let pass = crate::status::last_pass(&config.state_dir);
    let hub = crate::status::hub_status(&config.state_dir);
    let signers = Signers::load(&config.authz).unwrap_or_else(|e| {
        log::warn!("signer files unusable ({e}); queued ops are listed without signers");
        Signers::default()
    });
    let now = crate::time::now_unix();
    let policy = crate::reconcile::signed::policy(config, now);
    let facts = Facts {
        config,
        journal: &journal,
        pass: pass.as_ref(),
        hub: &hub,
        blocked: crate::hub::blocked::load(&config.state_dir),
        signers: &signers,
        policy: &policy,
    };
    let doc = view::document(&facts);
    if ctx.json {
        match serde_json::to_value(&doc) {
            Ok(v) => super::print_json(&v),
            Err(e) => {
                log::error!("cannot encode the status document: {e}");
                return crate::exit::FAILURE;
            }
        }
    } else {
        print!("{}", view::render(&doc, &facts, now));
    }
    crate::exit::OK
}
