//! The shipped unit, checked with the real `systemd-analyze`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::process::Command;

const UNIT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/dist/felhom-agent.service");

fn unit_lines() -> Vec<String> {
    std::fs::read_to_string(UNIT)
        .unwrap()
        .lines()
        .map(|l| l.trim().to_string())
        .collect()
}

#[test]
fn unit_exposure_is_at_most_1_0() {
    let out = Command::new("systemd-analyze")
        .args(["security", "--offline=yes", "--no-pager", UNIT])
        .output()
        .unwrap_or_else(|e| {
            panic!("systemd-analyze not runnable ({e}); install it: apt-get install systemd")
        });
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.contains("Overall exposure level"))
        .unwrap_or_else(|| panic!("no exposure line in: {text}"));
    let score: f64 = line
        .split(':')
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("cannot read score from {line:?}"));
    assert!(score <= 1.0, "exposure {score} > 1.0:\n{text}");
}

#[test]
fn unit_has_the_contract_settings() {
    let lines = unit_lines();
    for needed in [
        "Type=notify",
        "StateDirectory=felhom-agent",
        "ConfigurationDirectory=felhom-agent",
        "CapabilityBoundingSet=",
        "ProtectSystem=strict",
        "SystemCallFilter=@system-service",
        "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX",
        "IPAddressDeny=any",
        "NoNewPrivileges=yes",
        // A host without a hub has no hub-key file; systemd fails a unit
        // whose LoadCredential= file is missing unless SetCredential= gives
        // a default.
        "SetCredential=hub-key:",
    ] {
        assert!(lines.iter().any(|l| l == needed), "unit lacks {needed}");
    }
    for prefix in [
        // The binary's path in the Debian package (CONTRACT §13), which ships
        // this file unchanged.
        "ExecStart=/usr/bin/felhom-agent ",
        "WatchdogSec=",
        "User=",
        "LoadCredential=pve-token:",
        "LoadCredential=hub-key:",
    ] {
        assert!(
            lines.iter().any(|l| l.starts_with(prefix)),
            "unit lacks {prefix}"
        );
    }
    assert!(
        !lines.iter().any(|l| l.starts_with("User=root")),
        "must not run as root"
    );
}
