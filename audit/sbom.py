"""A CycloneDX 1.5 SBOM of felhom-agent, generated from Cargo.lock and vendor/.

Owns: the text of audit/sbom.cdx.json (check.py writes it with --write and fails
when it is stale, like CRATES.md).

Format (CycloneDX 1.5 JSON, https://cyclonedx.org/docs/1.5/json/):
  - metadata.component: felhom-agent itself;
  - components: every crate in Cargo.lock (= every vendored crate), with name,
    version, purl (`pkg:cargo/NAME@VERSION`), the license expression of its
    Cargo.toml, the SHA-256 of its .crate file (Cargo.lock's checksum, which
    vendor/ is checked against), and `felhom:kind` = `runtime` (linked into the
    binary, scope `required`), `build-time` (proc-macro or build script) or
    `stub` (never compiled on Linux), both scope `excluded`;
  - dependencies: the lock's dependency graph.
Deterministic: no timestamp; the serial number is derived from Cargo.lock's
bytes, so the same lock always gives the same document.
"""
import hashlib
import json
import re
import tomllib
import uuid


def purl(name, version):
    return f"pkg:cargo/{name}@{version}"


def spdx(expr):
    return re.sub(r"\s*/\s*", " OR ", expr)


def resolve(dep, by_name):
    """A Cargo.lock dependency entry: `name` or `name version [(source)]`."""
    parts = dep.split()
    candidates = by_name.get(parts[0], [])
    if len(parts) > 1:
        candidates = [v for v in candidates if v == parts[1]]
    if len(candidates) != 1:
        raise ValueError(f"cannot resolve Cargo.lock dependency {dep!r}")
    return purl(parts[0], candidates[0])


def render(root, kinds):
    """kinds: {(name, version): 'runtime' | 'build-time' | 'stub'}."""
    lock_bytes = (root / "Cargo.lock").read_bytes()
    lock = tomllib.loads(lock_bytes.decode())
    by_name = {}
    for p in lock["package"]:
        by_name.setdefault(p["name"], []).append(p["version"])
    own = next(p for p in lock["package"] if p["name"] == "felhom-agent")
    own_manifest = tomllib.loads((root / "Cargo.toml").read_text())["package"]
    components, dependencies = [], []
    for p in lock["package"]:
        ref = purl(p["name"], p["version"])
        dependencies.append({"ref": ref, "dependsOn": sorted(
            resolve(d, by_name) for d in p.get("dependencies", []))})
        if p["name"] == "felhom-agent":
            continue
        manifest = tomllib.loads(
            (root / "vendor" / f"{p['name']}-{p['version']}" / "Cargo.toml").read_text())
        kind = kinds[(p["name"], p["version"])]
        components.append({
            "type": "library",
            "bom-ref": ref,
            "name": p["name"],
            "version": p["version"],
            "scope": "required" if kind == "runtime" else "excluded",
            "licenses": [{"expression": spdx(manifest["package"]["license"])}],
            "hashes": [{"alg": "SHA-256", "content": p["checksum"]}],
            "purl": ref,
            "externalReferences": [{
                "type": "distribution",
                "url": f"https://crates.io/api/v1/crates/{p['name']}/{p['version']}/download"}],
            "properties": [{"name": "felhom:kind", "value": kind}],
        })
    serial = uuid.uuid5(uuid.NAMESPACE_URL, "felhom-agent:Cargo.lock:sha256:"
                        + hashlib.sha256(lock_bytes).hexdigest())
    doc = {
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "serialNumber": f"urn:uuid:{serial}",
        "version": 1,
        "metadata": {
            "tools": {"components": [{"type": "application", "name": "audit/check.py"}]},
            "component": {
                "type": "application",
                "bom-ref": purl("felhom-agent", own["version"]),
                "name": "felhom-agent",
                "version": own["version"],
                "description": own_manifest.get("description", ""),
                "licenses": [{"expression": own_manifest["license"]}],
                "purl": purl("felhom-agent", own["version"]),
            },
        },
        "components": sorted(components, key=lambda c: (c["name"], c["version"])),
        "dependencies": sorted(dependencies, key=lambda d: d["ref"]),
    }
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
