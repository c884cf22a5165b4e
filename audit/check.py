#!/usr/bin/env python3
"""Supply-chain policy check for felhom-agent. Offline; Python 3.11+ stdlib only.

    python3 audit/check.py            # check (the test command runs this)
    python3 audit/check.py --write    # regenerate the generated files (6. below)

Checks, each failing the run:
  1. every Cargo.lock package comes from crates.io (no git, path or other registry);
  2. vendor/ holds exactly the Cargo.lock packages, each with the lock's checksum,
     and only crates never compiled on Linux are stubs;
  3. every compiled crate's license is on the allow list;
  4. no crate of the crypto stack is compiled in two major versions;
  5. the RustSec snapshot carried in audit/advisory-db/ covers every crate name
     in Cargo.lock and is intact (advisories.py), and no Cargo.lock version is
     affected by a (non-informational, non-withdrawn) advisory in it;
  6. the generated files are current: audit/CRATES.md, audit/ADVISORIES.md,
     audit/sbom.cdx.json (CycloneDX, sbom.py) and dist/debian/copyright
     (DEP-5, debcopyright.py).
"""
import json
import pathlib
import re
import subprocess
import sys
import tomllib

import advisories
import debcopyright
import sbom

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


def check_advisories(packages):
    try:
        meta = advisories.load_snapshot({p["name"] for p in packages})
        vulnerable, informational = advisories.findings(packages)
    except advisories.SnapshotError as e:
        fail(str(e))
    for name, version, aid, _, title in vulnerable:
        fail(f"{name} {version} is affected by {aid}: {title}")
    return meta, informational


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


def runtime_set():
    """(name, version) of the crates linked into the binary."""
    normal = cargo_tree(["-e", "normal,no-proc-macro", "--prefix", "none", "--format", "{p}"])
    return {(l.split()[0], l.split()[1][1:]) for l in normal.splitlines()
            if len(l.split()) >= 2 and l.split()[0] != "felhom-agent"}


def kinds(packages, compiled, runtime):
    return {(p["name"], p["version"]):
            "runtime" if (p["name"], p["version"]) in runtime
            else "build-time" if (p["name"], p["version"]) in compiled else "stub"
            for p in packages}


def crates_md(compiled, runtime):
    runtime_count = len({n for n, _ in runtime})
    parents = reverse_deps()
    rows = []
    for name, version in sorted(compiled):
        lic = manifest(name, version).get("package", {}).get("license", "?")
        who = ", ".join(sorted(parents.get(name, []))) or "-"
        why = WHY.get(name, f"dependency of {who}")
        kind = "runtime" if (name, version) in runtime else "build-time"
        rows.append(f"| {name} | {version} | {lic} | {kind} | {why} | {who} | "
                    f"{has_unsafe(name, version)} | {has_build_script(name, version)} |")
    return "\n".join([
        "# Compiled crates",
        "",
        "Generated by `python3 audit/check.py --write`; the test command fails if it is stale.",
        "",
        f"- Crates linked into the binary (`cargo tree -e normal,no-proc-macro`, excluding felhom-agent): **{runtime_count}**",
        f"- Crates compiled for Linux including build-time (proc-macros, build scripts): **{len(compiled)}**",
        "- Crates in Cargo.lock that no Linux build compiles are vendored as inert stubs: "
        "see `audit/stubbed.txt`.",
        "",
        "| crate | version | license | kind | why | pulled in by | `unsafe` | build script |",
        "|---|---|---|---|---|---|---|---|",
        *rows,
        "",
    ])


def advisories_md(meta, informational):
    lines = [
        "# Informational advisories",
        "",
        "Generated by `python3 audit/check.py --write` from the RustSec snapshot carried in",
        f"`audit/advisory-db/` (advisory-db commit `{meta['commit']}` of {meta['date']}).",
        "These are not vulnerabilities (unmaintained, unsound-but-unreachable, notices); they",
        "are listed so a reviewer sees them. An advisory that is not informational fails the",
        "test command.",
        "",
    ]
    if not informational:
        lines.append("None affect a version in Cargo.lock.")
    for name, version, aid, kind, title in informational:
        lines.append(f"- {name} {version}: {aid} ({kind}) {title}")
    return "\n".join(lines) + "\n"


def copyright_text(packages, compiled, runtime):
    kind_of = kinds(packages, compiled, runtime)
    labels = {"runtime": "linked into the binary",
              "build-time": "build-time (proc-macro or build script), not linked"}
    crates = [(n, v, labels[k]) for (n, v), k in sorted(kind_of.items()) if k != "stub"]
    stubs = [(n, v) for (n, v), k in sorted(kind_of.items()) if k == "stub"]
    version = tomllib.loads((ROOT / "Cargo.toml").read_text())["package"]["version"]
    try:
        return debcopyright.render(VENDOR, crates, stubs, version)
    except debcopyright.CopyrightError as e:
        fail(f"dist/debian/copyright: {e}")


def main():
    write = "--write" in sys.argv[1:]
    packages = lock_packages()
    check_sources(packages)
    meta, informational = check_advisories(packages)
    compiled = compiled_set()
    runtime = runtime_set()
    check_vendor(packages, compiled)
    check_licenses(compiled)
    check_duplicates(compiled)
    generated = {
        ROOT / "audit" / "CRATES.md": crates_md(compiled, runtime),
        ROOT / "audit" / "ADVISORIES.md": advisories_md(meta, informational),
        ROOT / "audit" / "sbom.cdx.json": sbom.render(ROOT, kinds(packages, compiled, runtime)),
        ROOT / "dist" / "debian" / "copyright": copyright_text(packages, compiled, runtime),
    }
    for path, text in generated.items():
        if write:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        elif not path.exists() or path.read_text() != text:
            fail(f"{path.relative_to(ROOT)} is stale (run python3 audit/check.py --write)")
    print(f"audit: {len(packages)} locked crates, {len(compiled)} compiled, all vendored and "
          f"checksummed, licenses allowed, no duplicate crypto majors, no vulnerable versions "
          f"in the carried advisory snapshot (advisory-db {meta['commit'][:12]} of "
          f"{meta['date']}; {len(informational)} informational advisories listed); "
          f"CRATES.md, ADVISORIES.md, sbom.cdx.json and dist/debian/copyright current")


if __name__ == "__main__":
    main()
