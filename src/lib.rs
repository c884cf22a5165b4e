#![forbid(unsafe_code)]
pub fn x() {}
