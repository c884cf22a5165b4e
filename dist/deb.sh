#!/usr/bin/env bash
# Builds the Debian package, offline from vendor/, reproducibly (CONTRACT §13):
#
#   bash dist/deb.sh        # -> target/debian/felhom-agent_VERSION_ARCH.deb
#
# Needs: cargo (Rust), dpkg-deb, gzip. No debhelper, no network.
#
# Layout (dist/debian/ holds the packaging files):
#   /usr/bin/felhom-agent                          the release binary
#   /usr/lib/systemd/system/felhom-agent.service   dist/felhom-agent.service
#   /usr/lib/sysusers.d/felhom-agent.conf          dist/debian/felhom-agent.sysusers
#   /etc/felhom-agent/agent.json                   dist/agent.json (conffile)
#   /usr/share/doc/felhom-agent/                   files listed in dist/debian/docs,
#     examples/                                    dist/debian/examples,
#     copyright, changelog.Debian.gz               dist/debian/copyright, changelog
#   DEBIAN/{control,conffiles,md5sums,postinst,prerm,postrm}
#
# Reproducible: the same commit gives the same binary and .deb in any directory,
# at any time, for any user:
#   - SOURCE_DATE_EPOCH is the last commit's time (without git: the changelog's
#     date), unless the caller sets it; every mtime in the package is clamped to it;
#   - --remap-path-prefix hides the source dir (vendor/ and the target dir are
#     inside it), the cargo home and the home directory; -ffile-prefix-map does
#     the same for the C and assembly of ring; the binary is checked for them;
#   - fixed modes, root:root owners (--root-owner-group), sorted members
#     (dpkg-deb sorts), one compressor thread (xz output must not depend on the
#     number of cores), Installed-Size from file sizes only (not from a file
#     system's directory sizes).
# dist/repro.sh proves it by building twice.
set -euo pipefail
cd "$(dirname "$0")/.."
SRC=$(pwd -P)

die() { echo "dist/deb.sh: $*" >&2; exit 1; }
need() { command -v "$1" >/dev/null 2>&1 || die "missing $1 — $2"; }
need cargo "install Rust (rustup)"
need dpkg-deb "install dpkg (apt-get install dpkg)"
need gzip "install gzip (apt-get install gzip)"

# --- version, architecture, time -------------------------------------------
DEBVER=$(sed -n '1s/^felhom-agent (\([^)]*\)).*/\1/p' dist/debian/changelog)
CRATEVER=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n1)
[ -n "$DEBVER" ] || die "cannot read the version from dist/debian/changelog"
[ "${DEBVER%-*}" = "$CRATEVER" ] ||
  die "dist/debian/changelog is at $DEBVER but Cargo.toml at $CRATEVER: add a changelog entry"
ARCH=$(dpkg --print-architecture)

if [ -z "${SOURCE_DATE_EPOCH:-}" ]; then
  if [ "$(git rev-parse --show-toplevel 2>/dev/null)" = "$SRC" ]; then
    SOURCE_DATE_EPOCH=$(git log -1 --format=%ct)
  else
    SOURCE_DATE_EPOCH=$(date -d "$(sed -n 's/^ -- .*>  //p' dist/debian/changelog | head -n1)" +%s)
  fi
fi
export SOURCE_DATE_EPOCH
export TZ=UTC LC_ALL=C

# --- the binary ------------------------------------------------------------
BUILD="$SRC/target/debian/build"
CARGO_HOME_DIR=${CARGO_HOME:-${HOME:-}/.cargo}
# rustc applies the last matching prefix, so the most specific comes last.
sep=$'\x1f'
CARGO_ENCODED_RUSTFLAGS=""
case "${HOME:-/}" in
/) ;;
*) CARGO_ENCODED_RUSTFLAGS+="--remap-path-prefix=$HOME=/home/build${sep}" ;;
esac
CARGO_ENCODED_RUSTFLAGS+="--remap-path-prefix=$CARGO_HOME_DIR=/cargo${sep}"
CARGO_ENCODED_RUSTFLAGS+="--remap-path-prefix=$SRC=/usr/src/felhom-agent"
export CARGO_ENCODED_RUSTFLAGS
unset RUSTFLAGS CARGO_BUILD_RUSTFLAGS
export CFLAGS="-ffile-prefix-map=$SRC=/usr/src/felhom-agent"
export CARGO_TARGET_DIR="$BUILD"
echo "== cargo build --release (SOURCE_DATE_EPOCH=$SOURCE_DATE_EPOCH)" >&2
cargo build --release --offline --locked --bin felhom-agent
BIN="$BUILD/release/felhom-agent"
for leak in "$SRC" "$CARGO_HOME_DIR"; do
  if grep -q -a -F -- "$leak" "$BIN"; then
    die "the binary contains the build path $leak (not reproducible)"
  fi
done

# Runtime dependencies from the shared libraries the binary needs, with the
# highest symbol version it uses (what dpkg-shlibdeps would find for them).
needed=$(grep -a -o -E 'lib[a-z_0-9.-]+\.so\.[0-9]+' "$BIN" | sort -u)
depends=""
for lib in $needed; do
  case "$lib" in
  libc.so.6 | ld-linux-*.so.* | libm.so.6 | libpthread.so.0 | libdl.so.2 | librt.so.1 | libutil.so.1)
    ;;
  libgcc_s.so.1)
    v=$(grep -a -o -E 'GCC_[0-9]+(\.[0-9]+)+' "$BIN" | sed 's/^GCC_//' | sort -V | tail -n1)
    depends+="libgcc-s1 (>= ${v:-3.0}), " ;;
  *) die "the binary needs $lib: add its Debian package to dist/deb.sh" ;;
  esac
done
glibc=$(grep -a -o -E 'GLIBC_[0-9]+(\.[0-9]+)+' "$BIN" | sed 's/^GLIBC_//' | sort -V | tail -n1)
[ -n "$glibc" ] || die "cannot find the glibc version the binary needs"
depends="libc6 (>= $glibc), ${depends%, }"
depends=${depends%, }

# --- the package tree --------------------------------------------------------
ROOT="$SRC/target/debian/root"
DOC="$ROOT/usr/share/doc/felhom-agent"
rm -rf "$ROOT"
install -d "$ROOT/DEBIAN" "$ROOT/usr/bin" "$ROOT/usr/lib/systemd/system" \
  "$ROOT/usr/lib/sysusers.d" "$ROOT/etc/felhom-agent" "$DOC/examples" \
  "$ROOT/usr/share/man/man8" "$ROOT/usr/share/lintian/overrides"
install -m 0755 "$BIN" "$ROOT/usr/bin/felhom-agent"
install -m 0644 dist/felhom-agent.service "$ROOT/usr/lib/systemd/system/felhom-agent.service"
install -m 0644 dist/debian/felhom-agent.sysusers "$ROOT/usr/lib/sysusers.d/felhom-agent.conf"
install -m 0644 dist/agent.json "$ROOT/etc/felhom-agent/agent.json"

# felhom-agent(8): NAME, SYNOPSIS, the --help text verbatim, FILES, SEE ALSO.
manpage() {
  local date
  date=$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%d)
  printf '.TH FELHOM\\-AGENT 8 "%s" "felhom-agent %s" "System Administration"\n' "$date" "$DEBVER"
  printf '.SH NAME\nfelhom\\-agent \\- hardened Proxmox VE host agent (guest reconciler)\n'
  printf '.SH SYNOPSIS\n.B felhom\\-agent\n[\\fB\\-\\-config\\fR \\fIPATH\\fR] [\\fIMODE\\fR] [\\fB\\-\\-json\\fR]\n'
  printf '.SH DESCRIPTION\n.nf\n'
  "$1" --help | sed -e 's/\\/\\e/g' -e 's/-/\\-/g' -e "s/^\([.']\)/\\\\\&\1/"
  printf '.fi\n.SH FILES\n.TP\n/etc/felhom\\-agent/agent.json\nconfiguration (a conffile)\n'
  printf '.TP\n/var/lib/felhom\\-agent\nstate directory: the journal, the operational signers (kept on purge)\n'
  printf '.TP\n/usr/lib/systemd/system/felhom\\-agent.service\nthe systemd unit\n'
  printf '.SH SEE ALSO\n/usr/share/doc/felhom\\-agent/README.md,\n.BR ssh\\-keygen (1),\n.BR systemd.exec (5)\n'
}

# One repository path a line (comments and blank lines skipped) -> DIR/basename.
install_listed() {
  local list=$1 dir=$2 path
  while IFS= read -r path; do
    case "$path" in '' | '#'*) continue ;; esac
    [ -f "$path" ] || die "$list names $path, which does not exist"
    install -m 0644 "$path" "$dir/$(basename "$path")"
  done <"$list"
}
install_listed dist/debian/docs "$DOC"
install_listed dist/debian/examples "$DOC/examples"
install -m 0644 dist/debian/copyright "$DOC/copyright"
install -m 0644 dist/debian/lintian-overrides "$ROOT/usr/share/lintian/overrides/felhom-agent"
# The manual page is the binary's own --help, so it cannot fall behind it.
manpage "$BIN" | gzip -9 -n >"$ROOT/usr/share/man/man8/felhom-agent.8.gz"
chmod 0644 "$ROOT/usr/share/man/man8/felhom-agent.8.gz"
gzip -9 -n <dist/debian/changelog >"$DOC/changelog.Debian.gz"
chmod 0644 "$DOC/changelog.Debian.gz"

for script in postinst prerm postrm; do
  install -m 0755 "dist/debian/$script" "$ROOT/DEBIAN/$script"
done
printf '%s\n' /etc/felhom-agent/agent.json >"$ROOT/DEBIAN/conffiles"
(cd "$ROOT" && find . -path ./DEBIAN -prune -o -type f -printf '%P\n' | sort |
  xargs -d '\n' md5sum) >"$ROOT/DEBIAN/md5sums"
# dpkg-gencontrol's rule: KiB per file rounded up, plus 1 per other entry.
size=$(cd "$ROOT" && find . -path ./DEBIAN -prune -o -mindepth 1 -printf '%y %s\n' |
  awk '{ n += ($1 == "f") ? int(($2 + 1023) / 1024) : 1 } END { print n }')
sed -e "s/@VERSION@/$DEBVER/" -e "s/@ARCH@/$ARCH/" -e "s/@INSTALLED_SIZE@/$size/" \
  -e "s/@DEPENDS@/$depends/" dist/debian/control >"$ROOT/DEBIAN/control"
chmod 0644 "$ROOT/DEBIAN/control" "$ROOT/DEBIAN/conffiles" "$ROOT/DEBIAN/md5sums"
find "$ROOT" -type d -exec chmod 0755 {} +
find "$ROOT" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +

DEB="$SRC/target/debian/felhom-agent_${DEBVER}_${ARCH}.deb"
dpkg-deb --root-owner-group --threads-max=1 -Zxz -z6 --build "$ROOT" "$DEB" >/dev/null
echo "== $(sha256sum "$BIN" | cut -d' ' -f1)  target/debian/build/release/felhom-agent" >&2
echo "== $(sha256sum "$DEB" | cut -d' ' -f1)  ${DEB#"$SRC"/}" >&2
echo "$DEB"
