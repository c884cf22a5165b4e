use super::Context;

pub enum Kind {
    Plan,
    ReconcileNow,
}

pub fn run(_ctx: &Context, kind: Kind) -> u8 {
    match kind {
        Kind::Plan => super::not_yet("--plan (reconcile engine)"),
        Kind::ReconcileNow => super::not_yet("--reconcile-now (reconcile engine)"),
    }
}
