#!/usr/bin/env bash
# Regenerates vendor/ from Cargo.lock, reproducibly (needs the crates.io registry).
#
#   bash audit/vendor.sh
#
# 1. `cargo vendor --locked --versioned-dirs` copies every crate in Cargo.lock.
# 2. Crates that are in Cargo.lock but never compiled for a Linux target
#    (windows*, wasi, and optional crates that Cargo.lock lists only because of
#    weak `dep?/feature` references) are replaced by stubs: the original
#    Cargo.toml is kept (so `--locked` resolution is unchanged), every target
#    file it names becomes an empty file, and the file checksums are dropped.
#    A stub cannot compile into anything; `audit/check.py` proves none is built.
set -euo pipefail
cd "$(dirname "$0")/.."
rm -rf vendor
CARGO_NET_OFFLINE=false cargo vendor --locked --versioned-dirs vendor >/dev/null
python3 audit/stub_vendor.py
echo "vendor/ regenerated: $(ls vendor | wc -l) crates, $(du -sh vendor | cut -f1)"
