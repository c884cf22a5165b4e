#!/usr/bin/env bash
# Checks that the build is reproducible (CONTRACT §13): the same commit, built
# twice from fresh clones in different directories, at different times, with a
# different home, umask and locale, gives a byte-identical binary and .deb.
#
#   bash dist/repro.sh [COMMIT]       # default: HEAD; two full release builds
#
# Runs in the test command only with FELHOM_SLOW_TESTS=1. On success it prints
# both digests and removes its clones; on a difference it keeps them and says
# where (compare them with diffoscope).
set -euo pipefail
cd "$(dirname "$0")/.."
SRC=$(pwd -P)
die() { echo "dist/repro.sh: $*" >&2; exit 1; }
command -v git >/dev/null 2>&1 || die "missing git (apt-get install git)"
[ "$(git rev-parse --show-toplevel 2>/dev/null)" = "$SRC" ] || die "not a git checkout: $SRC"
COMMIT=$(git rev-parse --verify "${1:-HEAD}^{commit}")

# Keep the toolchain the caller uses, whatever HOME the builds get.
export CARGO_HOME=${CARGO_HOME:-$HOME/.cargo}
export RUSTUP_HOME=${RUSTUP_HOME:-$HOME/.rustup}
unset SOURCE_DATE_EPOCH

WORK=$(mktemp -d "${TMPDIR:-/tmp}/felhom-repro.XXXXXX")
A="$WORK/a/felhom-agent"
B="$WORK/second-build/somewhere/deeper/src"
for dir in "$A" "$B"; do
  git clone --quiet --no-checkout "$SRC" "$dir"
  git -C "$dir" checkout --quiet --detach "$COMMIT"
done

build() { # DIR HOME UMASK LANG
  mkdir -p "$2"
  (cd "$1" && umask "$3" && HOME="$2" LANG="$4" LC_ALL="$4" bash dist/deb.sh) >"$1.log" 2>&1 ||
    { tail -n 30 "$1.log" >&2; die "build in $1 failed (log: $1.log)"; }
}
started=$(date +%s)
echo "== build 1 of $COMMIT in $A" >&2
build "$A" "$WORK/home-a" 0022 C.UTF-8
sleep 2 # a different wall clock for the second build, whatever the first took
echo "== build 2 in $B" >&2
build "$B" "$WORK/home-b/user" 0077 C
elapsed=$(($(date +%s) - started))

status=0
deb=$(tail -n 1 "$A.log")
for rel in target/debian/build/release/felhom-agent "target/debian/${deb##*/}"; do
  a=$(cd "$A" && sha256sum "$rel") || die "build 1 produced no $rel"
  b=$(cd "$B" && sha256sum "$rel") || die "build 2 produced no $rel"
  if [ "$a" = "$b" ]; then
    echo "identical  $a" >&2
  else
    echo "DIFFERENT  $a" >&2
    echo "           $b" >&2
    status=1
  fi
done
if [ "$status" = 0 ]; then
  rm -rf "$WORK"
  echo "reproducible: commit $COMMIT, two builds in ${elapsed}s" >&2
else
  die "not reproducible; builds kept in $WORK (diffoscope $A/target/debian/*.deb $B/target/debian/*.deb)"
fi
