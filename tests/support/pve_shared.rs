//! One fakepve per test binary and the client helpers the proxmox test files
//! share. Include beside `support/fakepve.rs` (as module `fakepve`).
#![allow(dead_code)]

use super::fakepve;
use felhom_agent::proxmox::{Client, GuestRef, Kind, PveError};
use std::sync::OnceLock;
use std::time::Duration;

pub const TASK_DEADLINE: Duration = Duration::from_secs(30);

/// The test binary's fakepve, started on first use.
pub fn pve() -> &'static fakepve::FakePve {
    static PVE: OnceLock<fakepve::FakePve> = OnceLock::new();
    PVE.get_or_init(fakepve::FakePve::start)
}

pub fn client() -> Client {
    Client::new(&pve().proxmox_config()).unwrap()
}

/// The secret half of the agent token.
pub fn secret() -> String {
    let token = std::fs::read_to_string(&pve().token_file).unwrap();
    token.trim().split_once('=').unwrap().1.to_string()
}

/// An error's Display and Debug never carry the token secret.
pub fn assert_clean(e: &PveError) {
    let s = secret();
    assert!(!format!("{e}").contains(&s), "secret in Display: {e}");
    assert!(!format!("{e:?}").contains(&s), "secret in Debug: {e:?}");
}

pub fn gref(vmid: u32, kind: Kind) -> GuestRef {
    GuestRef {
        vmid,
        node: pve().node.clone(),
        kind,
    }
}

/// A new guest of `kind` with `status` and `config` on the test fakepve.
pub fn add_guest(kind: Kind, status: &str, config: serde_json::Value) -> (u32, GuestRef) {
    let id = match kind {
        Kind::Qemu => pve().add_qemu(status, config),
        Kind::Lxc => pve().add_lxc(status, config),
    };
    (id, gref(id, kind))
}
