//! The daemon mode (no mode on the command line): builds the PVE and hub
//! clients (a trust anchor or key that does not load is a configuration
//! error, exit 78, before `READY=1`) and hands over to [`crate::daemon`].

use super::Context;
use crate::hub::{HubClient, HubError};

pub fn run(ctx: &Context) -> u8 {
    let client = match super::pve_client(ctx) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let hub = match ctx.config.hub.as_ref().map(HubClient::new).transpose() {
        Ok(h) => h,
        Err(e) => {
            log::error!("hub: {e}");
            return match e {
                HubError::CaFile { .. } | HubError::InsecureUrl | HubError::BadApiKey => {
                    crate::exit::CONFIG
                }
                _ => crate::exit::FAILURE,
            };
        }
    };
    crate::daemon::run(&ctx.config, &client, hub.as_ref())
}
