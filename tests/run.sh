#!/usr/bin/env bash
# The test command (README): installs what the tests need, then runs them all.
#
#   bash tests/run.sh
#
# Needs: Rust (cargo, rustfmt, clippy), Python 3 with venv/pip, OpenSSH (ssh-keygen),
#        git, dpkg-deb; /dev/fuse (the power-cut tests mount a FUSE file system);
#        systemd-analyze, openssl, lintian, promtool and fuse3 (installed with apt-get when
#        run as root).
# Installs: fakepve[crypto]==0.5.0 and mfusepy==3.1.1 into target/test-venv (from PyPI).
#
# Builds the Debian package once (bash dist/deb.sh, a release build: about a
# minute, less when only the agent changed) for tests/package_*.rs. With
# FELHOM_SLOW_TESTS=1 it also checks that the build is reproducible
# (bash dist/repro.sh: two more full builds, about five minutes on two cores).
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
need git "install git (apt-get install git): the fresh-clone check clones the repository"
need dpkg-deb "install dpkg (apt-get install dpkg): the Debian package is built with dpkg-deb"
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

if ! command -v lintian >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "== installing lintian (checks the Debian package)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq lintian >/dev/null
  fi
  need lintian "install lintian (apt-get install lintian) to check the Debian package"
fi

if ! command -v promtool >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "== installing promtool (apt-get install prometheus) for the metrics and alert-rule tests"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null
  fi
  need promtool "install Prometheus' promtool (apt-get install prometheus) for the metrics and alert-rule tests"
fi

if ! command -v fusermount3 >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "== installing fuse3 (the power-cut tests' FUSE file system)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fuse3 >/dev/null
  fi
  need fusermount3 "install FUSE 3 (apt-get install fuse3) for the power-cut tests"
fi
[ -e /dev/fuse ] || { echo "tests/run.sh: /dev/fuse missing — the power-cut tests need FUSE (modprobe fuse; in a container: --device /dev/fuse --cap-add SYS_ADMIN)" >&2; exit 1; }

venv=target/test-venv
if ! "$venv/bin/python3" -c 'import fakepve' >/dev/null 2>&1; then
  echo "== installing fakepve[crypto]==0.5.0 into $venv"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check 'fakepve[crypto]==0.5.0'
fi
if ! "$venv/bin/python3" -c 'import mfusepy' >/dev/null 2>&1; then
  echo "== installing mfusepy==3.1.1 into $venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check 'mfusepy==3.1.1'
fi
export FELHOM_TEST_PYTHON="$PWD/$venv/bin/python3"

echo "== supply chain: vendor/ matches Cargo.lock, licenses, advisories"
python3 audit/check.py

echo "== format and lints"
cargo fmt --check
cargo clippy --offline --locked --all-targets -- -D warnings

echo "== Debian package (bash dist/deb.sh)"
FELHOM_TEST_DEB=$(bash dist/deb.sh)
export FELHOM_TEST_DEB

if [ "${FELHOM_SLOW_TESTS:-}" = 1 ]; then
  echo "== reproducible build (bash dist/repro.sh, FELHOM_SLOW_TESTS=1)"
  bash dist/repro.sh
fi

echo "== tests"
cargo test --offline --locked 2>&1 | tee target/test-output.txt
