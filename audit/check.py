#!/usr/bin/env python3
"""Supply-chain policy check for felhom-agent. Offline; Python 3.11+ stdlib only.

    python3 audit/check.py            # check (the test command runs this)
    python3 audit/check.py --write    # regenerate audit/CRATES.md and audit/ADVISORIES.md

Checks, each failing the run:
  1. every Cargo.lock package comes from crates.io (no git, path or other registry);
  2. vendor/ holds exactly the Cargo.lock packages, each with the lock's checksum,
     and only crates never compiled on Linux are stubs;
  3. every compiled crate's license is on the allow list;
  4. no crate of the crypto stack is compiled in two major versions;
  5. no Cargo.lock version is affected by a (non-informational, non-withdrawn)
     advisory in the RustSec snapshot (../shared/rustsec-advisory-db, or
     $FELHOM_ADVISORY_DB);
  6. audit/CRATES.md and audit/ADVISORIES.md are current.
"""
import json
import os
import pathlib
import re
import subprocess
import sys
import tomllib

ROOT = pathlib.Path(__file__).resolve().parent.parent
VENDOR = ROOT / "vendor"
CRATES_IO = "registry+https://github.com/rust-lang/crates.io-index"
LINUX_TARGETS = ["x86_64-unknown-linux-gnu", "aarch64-unknown-linux-gnu"]

ALLOWED_LICENSES = {
    "MIT", "Apache-2.0", "Apache-2.0 WITH LLVM-exception", "BSD-2-Clause", "BSD-3-Clause",
    "ISC", "Unicode-3.0", "Unicode-DFS-2016", "Zlib", "CC0-1.0", "Unlicense", "0BSD",
}

# Crates whose duplication would mean two implementations of the same
# cryptography (or of the randomness and constant-time helpers under it).
CRYPTO_STACK = {
    "ed25519", "ed25519-dalek", "curve25519-dalek", "sha2", "digest", "signature", "ring",
    "rustls", "rustls-webpki", "rustls-pki-types", "ssh-key", "ssh-encoding", "ssh-cipher",
    "subtle", "zeroize", "rand_core", "crypto-common", "block-buffer", "cipher", "getrandom",
}

# Why each direct dependency is here (DESIGN §7). Transitive crates are
# explained by who pulls them in.
WHY = {
    "ureq": "HTTP client for the PVE API and the hub (rustls + ring, no bundled roots)",
    "rustls": "TLS; named directly only to implement the leaf-fingerprint pin verifier",
    "serde": "typed (de)serialization of config, API answers, journal records",
    "serde_json": "JSON parsing and canonical serialization",
    "ssh-key": "SSH public keys and SSHSIG structures of allowed_signers / signatures",
    "ed25519-dalek": "Ed25519 verify_strict for SSHSIG signatures",
    "sha2": "SHA-256/512: SSHSIG message hash, fingerprints, journal checksums and chain",
    "log": "logging facade (audit lines use target `audit`)",
    "env_logger": "stderr logger with env filter (no default features)",
}


def fail(msg):
    print(f"audit/check.py: FAIL: {msg}", file=sys.stderr)
    sys.exit(1)


def lock_packages():
    lock = tomllib.loads((ROOT / "Cargo.lock").read_text())
    return [p for p in lock["package"] if p["name"] != "felhom-agent"]


def cargo_tree(args):
    out = subprocess.run(["cargo", "tree", "--offline", "--locked", *args],
                         cwd=ROOT, check=True, capture_output=True, text=True).stdout
    return out


def compiled_set():
    names = set()
    for target in LINUX_TARGETS:
        out = cargo_tree(["--target", target, "-e", "normal,build,dev",
                          "--prefix", "none", "--format", "{p}"])
        for line in out.splitlines():
            parts = line.split()
            if len(parts) >= 2 and parts[1].startswith("v") and parts[0] != "felhom-agent":
                names.add((parts[0], parts[1][1:]))
    return names


def check_sources(packages):
    for p in packages:
        if p.get("source") != CRATES_IO:
            fail(f"{p['name']} {p['version']} comes from {p.get('source')!r}, not crates.io")


def check_vendor(packages, compiled):
    expected = {f"{p['name']}-{p['version']}": p for p in packages}
    present = {d.name for d in VENDOR.iterdir() if d.is_dir()}
    if present != set(expected):
        fail(f"vendor/ and Cargo.lock disagree: missing {sorted(set(expected) - present)}, "
             f"extra {sorted(present - set(expected))} (run bash audit/vendor.sh)")
    compiled_dirs = {f"{n}-{v}" for n, v in compiled}
    for name, p in expected.items():
        meta = json.loads((VENDOR / name / ".cargo-checksum.json").read_text())
        if meta.get("package") != p.get("checksum"):
            fail(f"vendor/{name} checksum differs from Cargo.lock (run bash audit/vendor.sh)")
        stub = not meta.get("files")
        if stub and name in compiled_dirs:
            fail(f"vendor/{name} is a stub but the build compiles it")
        if not stub and name not in compiled_dirs:
            fail(f"vendor/{name} is never compiled but is not stubbed (run bash audit/vendor.sh)")


def license_ok(expr):
    """Evaluates an SPDX expression (OR, AND, WITH, parentheses, legacy '/')."""
    tokens = re.findall(r"\(|\)|[^\s()]+", expr.replace("/", " OR "))
    pos = 0

    def atom():
        nonlocal pos
        tok = tokens[pos]
        pos += 1
        if tok == "(":
            v = disj()
            pos += 1
            return v
        if pos < len(tokens) and tokens[pos] == "WITH":
            tok = f"{tok} WITH {tokens[pos + 1]}"
            pos += 2
        return tok in ALLOWED_LICENSES

    def conj():
        nonlocal pos
        v = atom()
        while pos < len(tokens) and tokens[pos] == "AND":
            pos += 1
            v = atom() and v
        return v

    def disj():
        nonlocal pos
        v = conj()
        while pos < len(tokens) and tokens[pos] == "OR":
            pos += 1
            v = conj() or v
        return v

    return disj()


def manifest(name, version):
    return tomllib.loads((VENDOR / f"{name}-{version}" / "Cargo.toml").read_text())


def check_licenses(compiled):
    for name, version in sorted(compiled):
        lic = manifest(name, version).get("package", {}).get("license")
        if not lic or not license_ok(lic):
            fail(f"{name} {version}: license {lic!r} is not on the allow list")


def major(version):
    parts = version.split("+")[0].split("-")[0].split(".")
    return parts[0] if parts[0] != "0" else f"0.{parts[1]}"


def check_duplicates(compiled):
    seen = {}
    for name, version in compiled:
        seen.setdefault(name, set()).add(major(version))
    for name, majors in sorted(seen.items()):
        if len(majors) > 1 and name in CRYPTO_STACK:
            fail(f"crypto crate {name} is compiled in several major versions: {sorted(majors)}")


# --- RustSec -------------------------------------------------------------

def parse_version(v):
    core = v.split("+")[0]
    pre = ""
    if "-" in core:
        core, pre = core.split("-", 1)
    nums = [int(x) for x in core.split(".")] + [0, 0, 0]
    return (nums[0], nums[1], nums[2], pre == "", pre)


def req_matches(req, version):
    """One semver comparator list, e.g. '>= 1.2.3, < 2'."""
    v = parse_version(version)
    for comp in req.split(","):
        comp = comp.strip()
        m = re.match(r"^(>=|<=|>|<|=|\^|~)?\s*(.+)$", comp)
        op, ver = m.group(1) or "^", m.group(2)
        r = parse_version(ver)
        nparts = len(ver.split("-")[0].split("."))
        if op == ">=" and not v >= r:
            return False
        if op == ">" and not v > r:
            return False
        if op == "<=" and not v <= r:
            return False
        if op == "<" and not v < r:
            return False
        if op == "=" and v[:3] != r[:3]:
            return False
        if op == "^":
            if v < r:
                return False
            if r[0] > 0 or nparts == 1:
                upper = (r[0] + 1, 0, 0)
            elif r[1] > 0 or nparts == 2:
                upper = (0, r[1] + 1, 0)
            else:
                upper = (0, 0, r[2] + 1)
            if v[:3] >= upper:
                return False
        if op == "~":
            if v < r:
                return False
            upper = (r[0] + 1, 0, 0) if nparts == 1 else (r[0], r[1] + 1, 0)
            if v[:3] >= upper:
                return False
    return True


def advisory_db():
    env = os.environ.get("FELHOM_ADVISORY_DB")
    db = pathlib.Path(env) if env else ROOT.parent / "shared" / "rustsec-advisory-db"
    if not (db / "crates").is_dir():
        fail(f"RustSec advisory snapshot not found at {db} (set FELHOM_ADVISORY_DB)")
    return db


def advisories_for(db, name):
    d = db / "crates" / name
    if not d.is_dir():
        return []
    out = []
    for f in sorted(d.glob("*.md")):
        text = f.read_text()
        m = re.search(r"```toml\n(.*?)\n```", text, re.S)
        if not m:
            fail(f"cannot read advisory {f}")
        adv = tomllib.loads(m.group(1))
        title = text[m.end():].strip().splitlines()[0].lstrip("# ").strip() if text[m.end():].strip() else ""
        out.append((adv, title))
    return out


def affected(adv, version):
    vers = adv.get("versions", {})
    for req in vers.get("patched", []) + vers.get("unaffected", []):
        if req_matches(req, version):
            return False
    return True


def check_advisories(packages):
    db = advisory_db()
    informational = []
    for p in packages:
        for adv, title in advisories_for(db, p["name"]):
            a = adv["advisory"]
            if a.get("withdrawn") or not affected(adv, p["version"]):
                continue
            if a.get("informational"):
                informational.append((p["name"], p["version"], a["id"], a["informational"], title))
                continue
            fail(f"{p['name']} {p['version']} is affected by {a['id']}: {title}")
    return informational


# --- generated inventory -------------------------------------------------

def reverse_deps():
    out = cargo_tree(["-e", "normal,build", "--prefix", "depth", "--format", "{p}"])
    parents = {}
    stack = []
    for line in out.splitlines():
        m = re.match(r"^(\d+)(\S+) v(\S+)", line)
        if not m:
            continue
        depth, name = int(m.group(1)), m.group(2)
        stack = stack[:depth]
        if stack:
            parents.setdefault(name, set()).add(stack[-1])
        stack.append(name)
    return parents


def has_unsafe(name, version):
    d = VENDOR / f"{name}-{version}"
    for f in d.rglob("*.rs"):
        if re.search(r"\bunsafe\b", f.read_text(errors="replace")):
            return "yes"
    return "no"


def has_build_script(name, version):
    m = manifest(name, version)
    build = m.get("package", {}).get("build")
    if build is False:
        return "no"
    if isinstance(build, str) or (VENDOR / f"{name}-{version}" / "build.rs").exists():
        return "yes"
    return "no"


def crates_md(compiled):
    normal = cargo_tree(["-e", "normal", "--prefix", "none", "--format", "{p}"])
    runtime = {tuple(l.split()[:2]) for l in normal.splitlines() if l.strip()}
    runtime_count = len({n for n, _ in runtime if n != "felhom-agent"})
    parents = reverse_deps()
    rows = []
    for name, version in sorted(compiled):
        lic = manifest(name, version).get("package", {}).get("license", "?")
        who = ", ".join(sorted(parents.get(name, []))) or "-"
        why = WHY.get(name, f"dependency of {who}")
        kind = "runtime" if (name, f"v{version}") in runtime else "build-time"
        rows.append(f"| {name} | {version} | {lic} | {kind} | {why} | {who} | "
                    f"{has_unsafe(name, version)} | {has_build_script(name, version)} |")
    return "\n".join([
        "# Compiled crates",
        "",
        "Generated by `python3 audit/check.py --write`; the test command fails if it is stale.",
        "",
        f"- Crates linked into the binary (`cargo tree -e normal`, excluding felhom-agent): **{runtime_count}**",
        f"- Crates compiled for Linux including build-time (proc-macros, build scripts): **{len(compiled)}**",
        "- Crates in Cargo.lock that no Linux build compiles are vendored as inert stubs: "
        "see `audit/stubbed.txt`.",
        "",
        "| crate | version | license | kind | why | pulled in by | `unsafe` | build script |",
        "|---|---|---|---|---|---|---|---|",
        *rows,
        "",
    ])


def advisories_md(informational):
    lines = [
        "# Informational advisories",
        "",
        "Generated by `python3 audit/check.py --write` from the RustSec snapshot. These are not",
        "vulnerabilities (unmaintained, unsound-but-unreachable, notices); they are listed so a",
        "reviewer sees them. An advisory that is not informational fails the test command.",
        "",
    ]
    if not informational:
        lines.append("None affect a version in Cargo.lock.")
    for name, version, aid, kind, title in informational:
        lines.append(f"- {name} {version}: {aid} ({kind}) {title}")
    return "\n".join(lines) + "\n"


def main():
    write = "--write" in sys.argv[1:]
    packages = lock_packages()
    check_sources(packages)
    compiled = compiled_set()
    check_vendor(packages, compiled)
    check_licenses(compiled)
    check_duplicates(compiled)
    informational = check_advisories(packages)
    generated = {
        ROOT / "audit" / "CRATES.md": crates_md(compiled),
        ROOT / "audit" / "ADVISORIES.md": advisories_md(informational),
    }
    for path, text in generated.items():
        if write:
            path.write_text(text)
        elif not path.exists() or path.read_text() != text:
            fail(f"{path.relative_to(ROOT)} is stale (run python3 audit/check.py --write)")
    print(f"audit: {len(packages)} locked crates, {len(compiled)} compiled, all vendored and "
          f"checksummed, licenses allowed, no duplicate crypto majors, "
          f"no vulnerable versions ({len(informational)} informational advisories listed)")


if __name__ == "__main__":
    main()
