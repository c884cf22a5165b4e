#!/usr/bin/env bash
# The agent's main job, demonstrated against fakepve on loopback (README's first command).
#   bash dist/demo.sh
# Needs Rust, Python 3 (venv) and OpenSSH; installs fakepve[crypto]==0.5.0 into target/test-venv.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v ssh-keygen >/dev/null || { echo "demo: install OpenSSH (ssh-keygen)" >&2; exit 1; }
cargo build --release --offline --locked --quiet
venv=target/test-venv
if ! "$venv/bin/python3" -c 'import fakepve' >/dev/null 2>&1; then
  echo "== installing fakepve[crypto]==0.5.0 into $venv"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check 'fakepve[crypto]==0.5.0'
fi
exec "$venv/bin/python3" dist/demo.py
