use super::Context;
use std::path::Path;

pub fn run(_ctx: &Context, _blob: &Path, _sig: &Path) -> u8 {
    super::not_yet("--check-op")
}
