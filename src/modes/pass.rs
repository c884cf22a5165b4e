//! `--plan` and `--reconcile-now`: one pass, printed as a table or as the
//! CONTRACT §6 document; the exit code is the pass's (0, 1 or 4).
//!
//! `--reconcile-now` records its pass for `--status` and the metrics file
//! (as the daemon's passes do) before it releases the state lock; `--plan`
//! writes nothing.

use super::Context;
use crate::journal;
use crate::reconcile::engine::{self, JournalView, PassInputs};

pub enum Kind {
    Plan,
    ReconcileNow,
}

pub fn run(ctx: &Context, kind: Kind) -> u8 {
    let client = match super::pve_client(ctx) {
        Ok(c) => c,
        Err(code) => return code,
    };
    // A block set by the hub (and remembered by the daemon) holds for
    // one-shot passes too: no mutation until the hub clears it. Read again
    // before each mutation, so a block the daemon records meanwhile stops
    // this pass's lanes too.
    let state_dir = ctx.config.state_dir.clone();
    let blocked = move || crate::hub::blocked::load(&state_dir);
    if blocked() {
        log::warn!("the hub has blocked this host: no mutation this pass");
    }
    let mut tick = || {};
    let inputs = PassInputs {
        config: &ctx.config,
        client: &client,
        blocked: &blocked,
        tick: &mut tick,
    };
    let output = match kind {
        Kind::Plan => match journal::open_read_only(&ctx.config.state_dir) {
            Ok(index) => engine::run_pass(inputs, JournalView::Read(Box::new(index))),
            Err(e) => return super::journal_exit(&e),
        },
        Kind::ReconcileNow => match super::open_journal(ctx) {
            Ok(j) => {
                let at = crate::time::now_unix();
                let started = std::time::Instant::now();
                let output = engine::run_pass(inputs, JournalView::Write(&j));
                if let Ok(o) = &output {
                    crate::status::record_pass(&ctx.config, &j, o, at, started.elapsed());
                }
                output
            }
            Err(code) => return code,
        },
    };
    let output = match output {
        Ok(o) => o,
        Err(e) => return super::journal_exit(&e),
    };
    for e in &output.report.errors {
        log::warn!("{e}");
    }
    if ctx.json {
        super::print_json(&output.report.to_json());
    } else {
        print!("{}", output.report.render());
    }
    output.report.exit_code()
}
