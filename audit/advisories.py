"""The carried RustSec advisory snapshot, and which locked versions it flags.

Owns: reading `audit/advisory-db/` (written only by `audit/refresh_advisories.py`):

    audit/advisory-db/SNAPSHOT.json     provenance and manifest (format below)
    audit/advisory-db/LICENSE.txt       the advisory database's license (CC0)
    audit/advisory-db/crates/NAME/RUSTSEC-YYYY-NNNN.md
                                        advisories copied verbatim from a full
                                        advisory-db checkout, for every crate
                                        name in Cargo.lock (any version)

SNAPSHOT.json:

    {"source": "https://github.com/rustsec/advisory-db",
     "commit": "<40 hex>", "date": "YYYY-MM-DD", "identified_by": "<how>",
     "covered_crates": ["name", ...],            # Cargo.lock names at refresh time
     "advisories": {"crates/NAME/ID.md": "<sha256 of the file>", ...}}

Trusts: the snapshot's content (it is what a reviewer refreshed and committed).
Invariants checked here, each failing the run:
  - every crate name in Cargo.lock is in `covered_crates`, so adding a
    dependency forces a refresh (an uncovered crate would look advisory-free);
  - the files under `crates/` are exactly the manifest's, with its hashes, so a
    hand-deleted or hand-edited advisory is caught.
"""
import hashlib
import json
import pathlib
import re
import tomllib

SNAPSHOT_DIR = pathlib.Path(__file__).resolve().parent / "advisory-db"
REFRESH_HINT = ("run python3 audit/refresh_advisories.py PATH-TO-advisory-db, "
                "then python3 audit/check.py --write")


class SnapshotError(Exception):
    pass


def sha256(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def load_snapshot(locked_names, root=SNAPSHOT_DIR):
    """The snapshot's metadata, after checking coverage and integrity."""
    meta_path = root / "SNAPSHOT.json"
    if not meta_path.is_file():
        raise SnapshotError(f"no RustSec snapshot at {meta_path} ({REFRESH_HINT})")
    meta = json.loads(meta_path.read_text())
    covered = set(meta.get("covered_crates", []))
    missing = sorted(set(locked_names) - covered)
    if missing:
        raise SnapshotError(
            f"Cargo.lock crates not covered by the RustSec snapshot of {meta.get('date')}: "
            f"{', '.join(missing)} ({REFRESH_HINT})")
    manifest = meta.get("advisories", {})
    on_disk = {p.relative_to(root).as_posix(): p for p in (root / "crates").rglob("*")
               if p.is_file()}
    if set(on_disk) != set(manifest):
        raise SnapshotError(
            f"audit/advisory-db/crates differs from SNAPSHOT.json: missing "
            f"{sorted(set(manifest) - set(on_disk))}, extra {sorted(set(on_disk) - set(manifest))} "
            f"({REFRESH_HINT})")
    for rel, digest in sorted(manifest.items()):
        if sha256(on_disk[rel]) != digest:
            raise SnapshotError(f"audit/advisory-db/{rel} was changed by hand ({REFRESH_HINT})")
    for key in ("commit", "date", "identified_by"):
        if not meta.get(key):
            raise SnapshotError(f"SNAPSHOT.json lacks {key!r} ({REFRESH_HINT})")
    return meta


def parse_advisory(path):
    text = path.read_text()
    m = re.search(r"```toml\n(.*?)\n```", text, re.S)
    if not m:
        raise SnapshotError(f"cannot read advisory {path}")
    adv = tomllib.loads(m.group(1))
    rest = text[m.end():].strip()
    title = rest.splitlines()[0].lstrip("# ").strip() if rest else ""
    return adv, title


def advisories_for(name, root=SNAPSHOT_DIR):
    d = root / "crates" / name
    if not d.is_dir():
        return []
    return [parse_advisory(f) for f in sorted(d.glob("*.md"))]


# --- semver requirements as RustSec writes them ------------------------------

def parse_version(v):
    core = v.split("+")[0]
    pre = ""
    if "-" in core:
        core, pre = core.split("-", 1)
    nums = [int(x) for x in core.split(".")] + [0, 0, 0]
    return (nums[0], nums[1], nums[2], pre == "", pre)


def caret_upper(r, nparts):
    if r[0] > 0 or nparts == 1:
        return (r[0] + 1, 0, 0)
    if r[1] > 0 or nparts == 2:
        return (0, r[1] + 1, 0)
    return (0, 0, r[2] + 1)


def comparator_holds(op, v, r, nparts):
    if op == ">=":
        return v >= r
    if op == ">":
        return v > r
    if op == "<=":
        return v <= r
    if op == "<":
        return v < r
    if op == "=":
        return v[:3] == r[:3]
    if op == "^":
        return v >= r and v[:3] < caret_upper(r, nparts)
    if op == "~":
        upper = (r[0] + 1, 0, 0) if nparts == 1 else (r[0], r[1] + 1, 0)
        return v >= r and v[:3] < upper
    raise SnapshotError(f"unknown version comparator {op!r}")


def req_matches(req, version):
    """One semver comparator list, e.g. '>= 1.2.3, < 2'."""
    v = parse_version(version)
    for comp in req.split(","):
        m = re.match(r"^(>=|<=|>|<|=|\^|~)?\s*(.+)$", comp.strip())
        if not m:
            raise SnapshotError(f"cannot read version requirement {req!r}")
        op, ver = m.group(1) or "^", m.group(2)
        if not comparator_holds(op, v, parse_version(ver), len(ver.split("-")[0].split("."))):
            return False
    return True


def affected(adv, version):
    vers = adv.get("versions", {})
    return not any(req_matches(req, version)
                   for req in vers.get("patched", []) + vers.get("unaffected", []))


def findings(packages, root=SNAPSHOT_DIR):
    """(vulnerable, informational): lists of (name, version, id, kind, title)."""
    vulnerable, informational = [], []
    for p in packages:
        for adv, title in advisories_for(p["name"], root):
            a = adv["advisory"]
            if a.get("withdrawn") or not affected(adv, p["version"]):
                continue
            row = (p["name"], p["version"], a["id"], a.get("informational"), title)
            (informational if a.get("informational") else vulnerable).append(row)
    return vulnerable, informational
