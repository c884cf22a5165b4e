#!/usr/bin/env bash
# The test command (README): installs what the tests need, then runs them all.
#
#   bash tests/run.sh
#
# Needs: Rust (cargo, rustfmt, clippy), Python 3 with venv/pip, OpenSSH (ssh-keygen).
# Installs: fakepve[crypto]==0.5.0 into target/test-venv (from PyPI).
set -euo pipefail
cd "$(dirname "$0")/.."
# Files the tests create must not be group/other-writable (signer files and
# their directories are refused otherwise, CONTRACT §3), whatever the caller's umask.
umask 022

need() {
  command -v "$1" >/dev/null 2>&1 || { echo "tests/run.sh: missing $1 — $2" >&2; exit 1; }
}
need cargo "install Rust (rustup)"
need python3 "install Python 3 (apt-get install python3 python3-venv)"
need ssh-keygen "install OpenSSH (apt-get install openssh-client)"
if ! command -v systemd-analyze >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "== installing systemd-analyze (apt-get install systemd)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq systemd >/dev/null
  fi
  need systemd-analyze "install systemd (apt-get install systemd) for the unit's security score"
fi

if ! command -v openssl >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "== installing openssl (TLS test certificates for the hub client tests)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssl >/dev/null
  fi
  need openssl "install OpenSSL (apt-get install openssl) for the hub TLS tests"
fi

venv=target/test-venv
if ! "$venv/bin/python3" -c 'import fakepve' >/dev/null 2>&1; then
  echo "== installing fakepve[crypto]==0.5.0 into $venv"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check 'fakepve[crypto]==0.5.0'
fi
export FELHOM_TEST_PYTHON="$PWD/$venv/bin/python3"

echo "== supply chain: vendor/ matches Cargo.lock, licenses, advisories"
python3 audit/check.py

echo "== format and lints"
cargo fmt --check
cargo clippy --offline --locked --all-targets -- -D warnings

echo "== tests"
cargo test --offline --locked 2>&1 | tee target/test-output.txt
