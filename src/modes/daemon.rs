use super::Context;

pub fn run(_ctx: &Context) -> u8 {
    super::not_yet("the daemon")
}
