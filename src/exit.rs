//! Process exit codes (CONTRACT §6). One place, so every mode agrees.

/// Success; nothing awaits a signature.
pub const OK: u8 = 0;
/// An action failed, or a runtime error (Proxmox or hub unreachable, ...).
pub const FAILURE: u8 = 1;
/// Usage error.
pub const USAGE: u8 = 2;
/// Finished; some actions await an operator signature.
pub const PENDING: u8 = 4;
/// Op rejected (`--check-op`, `--submit`); journal damaged (any mode).
pub const DATA_ERR: u8 = 65;
/// State lock held by another process past the wait.
pub const TEMP_FAIL: u8 = 75;
/// Configuration invalid.
pub const CONFIG: u8 = 78;
