#!/usr/bin/env python3
"""Refresh the carried RustSec snapshot (audit/advisory-db/) from a full checkout.

    python3 audit/refresh_advisories.py PATH-TO-advisory-db [--commit ID --date YYYY-MM-DD]
    python3 audit/check.py --write      # ADVISORIES.md, CRATES.md, SBOM, copyright

PATH is a checkout (or export) of https://github.com/rustsec/advisory-db. In the
project's build environment one is at ../shared/rustsec-advisory-db (an export:
its SNAPSHOT.txt names the commit); this script is the only place that path
may be named, because everything the tests read must be in the repository.

It copies, byte for byte, every advisory filed under the name of a crate in
Cargo.lock (any version: check.py decides which versions are affected) and
records in audit/advisory-db/SNAPSHOT.json:
  - the source commit and its date, and how they were identified:
    `git rev-parse HEAD` / the commit date when PATH is a git checkout;
    else the SNAPSHOT.txt line of an export ("... commit ID of YYYY-MM-DD ...");
    else --commit and --date as given by whoever exported it;
  - the crate names it covered (check.py fails on a locked crate not among them);
  - the sha256 of each copied file (check.py fails on a hand edit).
Python 3.11+ stdlib only; offline.
"""
import argparse
import hashlib
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tomllib

ROOT = pathlib.Path(__file__).resolve().parent.parent
OUT = ROOT / "audit" / "advisory-db"
SOURCE = "https://github.com/rustsec/advisory-db"


def die(msg):
    print(f"audit/refresh_advisories.py: {msg}", file=sys.stderr)
    sys.exit(1)


def locked_names():
    lock = tomllib.loads((ROOT / "Cargo.lock").read_text())
    return sorted({p["name"] for p in lock["package"] if p["name"] != "felhom-agent"})


def git_identity(db):
    def git(*args):
        return subprocess.run(["git", "-C", str(db), *args], check=True, capture_output=True,
                              text=True, env={**os.environ, "TZ": "UTC"}).stdout.strip()
    commit = git("rev-parse", "--verify", "HEAD^{commit}")
    date = git("log", "-1", "--format=%cd", "--date=format-local:%Y-%m-%d", commit)
    return commit, date, "git rev-parse HEAD and its commit date (UTC) in the checkout"


def export_identity(db):
    text = (db / "SNAPSHOT.txt").read_text()
    m = re.search(r"commit ([0-9a-f]{40}) of (\d{4}-\d{2}-\d{2})", text)
    if not m:
        die(f"{db}/SNAPSHOT.txt names no 'commit <40 hex> of YYYY-MM-DD'")
    return m.group(1), m.group(2), (
        "the export has no git metadata; its SNAPSHOT.txt names the commit and date: "
        + " ".join(text.split()))


def identify(db, commit, date):
    if commit or date:
        if not (commit and date and re.fullmatch(r"[0-9a-f]{40}", commit)
                and re.fullmatch(r"\d{4}-\d{2}-\d{2}", date)):
            die("--commit needs 40 hex digits and --date YYYY-MM-DD, both")
        return commit, date, "given on the command line by whoever exported the database"
    if (db / ".git").exists():
        return git_identity(db)
    if (db / "SNAPSHOT.txt").is_file():
        return export_identity(db)
    die(f"cannot tell which commit {db} is: not a git checkout, no SNAPSHOT.txt; "
        "pass --commit and --date")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("db", type=pathlib.Path, help="full RustSec advisory-db checkout")
    ap.add_argument("--commit", help="source commit, when PATH carries no metadata")
    ap.add_argument("--date", help="source commit date YYYY-MM-DD, with --commit")
    args = ap.parse_args()
    db = args.db.resolve()
    if not (db / "crates").is_dir():
        die(f"{db} has no crates/ directory: not a RustSec advisory-db checkout")
    commit, date, how = identify(db, args.commit, args.date)

    names = locked_names()
    if OUT.exists():
        shutil.rmtree(OUT)
    (OUT / "crates").mkdir(parents=True)
    manifest = {}
    for name in names:
        for src in sorted((db / "crates" / name).glob("*.md")):
            rel = f"crates/{name}/{src.name}"
            dst = OUT / rel
            dst.parent.mkdir(exist_ok=True)
            dst.write_bytes(src.read_bytes())
            manifest[rel] = hashlib.sha256(dst.read_bytes()).hexdigest()
    for lic in ("LICENSE.txt", "LICENSE"):
        if (db / lic).is_file():
            (OUT / "LICENSE.txt").write_bytes((db / lic).read_bytes())
            break
    meta = {
        "source": SOURCE,
        "commit": commit,
        "date": date,
        "identified_by": how,
        "license": "CC0-1.0",
        "covered_crates": names,
        "advisories": dict(sorted(manifest.items())),
    }
    (OUT / "SNAPSHOT.json").write_text(json.dumps(meta, indent=2) + "\n")
    print(f"audit/advisory-db: {len(manifest)} advisories for {len(names)} locked crate names, "
          f"advisory-db {commit[:12]} of {date}; now run python3 audit/check.py --write")


if __name__ == "__main__":
    main()
