#!/usr/bin/env python3
"""Replace vendored crates that no Linux build compiles with inert stubs.

Used by audit/vendor.sh. The compiled set is what `cargo tree -e normal,build`
reports for the Linux targets the agent supports; everything else in vendor/
keeps only its Cargo.toml plus empty files at the paths that manifest names.
"""
import json
import pathlib
import shutil
import subprocess
import tomllib

ROOT = pathlib.Path(__file__).resolve().parent.parent
VENDOR = ROOT / "vendor"
TARGETS = ["x86_64-unknown-linux-gnu", "aarch64-unknown-linux-gnu"]


def compiled_set():
    names = set()
    for target in TARGETS:
        out = subprocess.run(
            ["cargo", "tree", "--offline", "--locked", "--target", target,
             "-e", "normal,build,dev", "--prefix", "none", "--format", "{p}"],
            cwd=ROOT, check=True, capture_output=True, text=True).stdout
        for line in out.splitlines():
            parts = line.split()
            if len(parts) >= 2 and parts[1].startswith("v"):
                names.add(f"{parts[0]}-{parts[1][1:]}")
    return names


def target_paths(manifest):
    paths = []
    lib = manifest.get("lib", {})
    paths.append(lib.get("path", "src/lib.rs"))
    build = manifest.get("package", {}).get("build")
    if isinstance(build, str):
        paths.append(build)
    for kind in ("bin", "example", "test", "bench"):
        for t in manifest.get(kind, []):
            if "path" in t:
                paths.append(t["path"])
    for key in ("readme", "license-file"):
        value = manifest.get("package", {}).get(key)
        if isinstance(value, str):
            paths.append(value)
    return paths


def stub(crate_dir):
    manifest_text = (crate_dir / "Cargo.toml").read_text()
    manifest = tomllib.loads(manifest_text)
    checksum = json.loads((crate_dir / ".cargo-checksum.json").read_text())
    shutil.rmtree(crate_dir)
    crate_dir.mkdir()
    (crate_dir / "Cargo.toml").write_text(manifest_text)
    for rel in target_paths(manifest):
        path = crate_dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("// stub: not compiled on the agent's platforms (audit/vendor.sh)\n"
                        if rel.endswith(".rs") else "")
    (crate_dir / ".cargo-checksum.json").write_text(
        json.dumps({"files": {}, "package": checksum.get("package")}))


def main():
    keep = compiled_set()
    stubbed = []
    for crate_dir in sorted(VENDOR.iterdir()):
        if crate_dir.is_dir() and crate_dir.name not in keep:
            stub(crate_dir)
            stubbed.append(crate_dir.name)
    (ROOT / "audit" / "stubbed.txt").write_text("\n".join(stubbed) + "\n")
    print(f"stubbed {len(stubbed)} crates not compiled for {', '.join(TARGETS)}")


if __name__ == "__main__":
    main()
