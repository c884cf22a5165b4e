"""The Debian package's `copyright` file (DEP-5), generated from vendor/.

Owns: the text of dist/debian/copyright (check.py writes it with --write and
fails when it is stale, like CRATES.md). One `Files:` paragraph per compiled
crate, with the license expression of its Cargo.toml translated to DEP-5
syntax and the copyright holders found in its license files and `authors`;
one paragraph for the inert stubs; a standalone `License:` paragraph with the
full text (from audit/licenses/) for every license named, except those Debian
ships in /usr/share/common-licenses, which are referenced.

Trusts: the vendored manifests and license files (checksummed by cargo).
"""
import pathlib
import re
import tomllib

AUDIT = pathlib.Path(__file__).resolve().parent
LICENSES = AUDIT / "licenses"

# SPDX identifier -> DEP-5 short name (copyright-format 1.0, "License specification").
DEP5_NAME = {"MIT": "Expat", "BSD-3-Clause": "BSD-3-clause", "BSD-2-Clause": "BSD-2-clause"}
# Texts Debian's base-files ships; the copyright file refers to them.
COMMON_LICENSES = {"Apache-2.0": "Apache License, Version 2.0", "CC0-1.0": "CC0 1.0 Universal"}


class CopyrightError(Exception):
    pass


def spdx_tree(expr):
    """Parses an SPDX expression (OR, AND, WITH, parentheses, legacy '/')."""
    tokens = re.findall(r"\(|\)|[^\s()]+", expr.replace("/", " OR "))
    pos = 0

    def atom():
        nonlocal pos
        tok = tokens[pos]
        pos += 1
        if tok == "(":
            node = disj()
            pos += 1
            return node
        if pos < len(tokens) and tokens[pos] == "WITH":
            tok = f"{tok} WITH {tokens[pos + 1]}"
            pos += 2
        return tok

    def chain(op, sub):
        nonlocal pos
        items = [sub()]
        while pos < len(tokens) and tokens[pos] == op:
            pos += 1
            items.append(sub())
        return items[0] if len(items) == 1 else (op, items)

    def conj():
        return chain("AND", atom)

    def disj():
        return chain("OR", conj)

    return disj()


def leaves(node):
    return [node] if isinstance(node, str) else [x for c in node[1] for x in leaves(c)]


def dep5_name(spdx):
    if " WITH " in spdx:
        base, exception = spdx.split(" WITH ")
        return f"{DEP5_NAME.get(base, base)} with {exception.removesuffix('-exception')} exception"
    return DEP5_NAME.get(spdx, spdx)


def dep5(node, top=True):
    """DEP-5 syntax: `and` binds tighter than `or`; a comma lowers the
    precedence of the operator after it ("A or B, and C" = (A or B) and C)."""
    if isinstance(node, str):
        return dep5_name(node)
    op, items = node
    parts = [dep5(i, False) for i in items]
    if op == "OR":
        return " or ".join(parts)
    if any(not isinstance(i, str) and i[0] == "OR" for i in items):
        if not top:
            raise CopyrightError("license expression nested too deeply for DEP-5")
        return ", and ".join(parts)
    return " and ".join(parts)


def holders(crate_dir, manifest):
    found = []
    for f in sorted(crate_dir.iterdir()):
        if not f.is_file() or not re.match(r"(?i)(licen[cs]e|copying|copyright)", f.name):
            continue
        for line in f.read_text(errors="replace").splitlines():
            line = line.strip()
            if re.match(r"(?i)copyright\b.*\d{4}", line) and not re.search(r"[\[{<]yyyy", line):
                found.append(re.sub(r"(?i)^copyright\s*(\(c\)|©)?\s*", "", line))
    found += manifest.get("package", {}).get("authors", [])
    if not found:
        found = [f"the {manifest['package']['name']} authors"]
    return list(dict.fromkeys(found))


def field(name, values):
    return f"{name}: " + "\n ".join(values)


def crate_paragraph(vendor, name, version, kind):
    d = vendor / f"{name}-{version}"
    manifest = tomllib.loads((d / "Cargo.toml").read_text())
    tree = spdx_tree(manifest["package"]["license"])
    para = "\n".join([f"Files: vendor/{name}-{version}/*", field("Copyright", holders(d, manifest)),
                      f"License: {dep5(tree)}", f"Comment: {kind}"])
    return para, set(leaves(tree))


def stubs_paragraph(vendor, stubs):
    for name, version in stubs:
        manifest = tomllib.loads((vendor / f"{name}-{version}" / "Cargo.toml").read_text())
        tree = spdx_tree(manifest["package"]["license"])
        alternatives = tree[1] if not isinstance(tree, str) and tree[0] == "OR" else [tree]
        if not {"MIT", "Apache-2.0"} <= set(alternatives):
            raise CopyrightError(f"stub {name} {version} is not offered under MIT or Apache-2.0")
    files = [f"vendor/{n}-{v}/*" for n, v in stubs]
    return "\n".join([
        field("Files", files), "Copyright: their authors (see each Cargo.toml)",
        "License: Expat or Apache-2.0",
        "Comment: crates Cargo.lock names that no Linux build compiles, vendored as inert",
        " stubs (their Cargo.toml and empty files). Each is offered under MIT or",
        " Apache-2.0, among other choices; nothing of them is in the binary."])


def license_paragraph(spdx):
    name = dep5_name(spdx)
    if spdx in COMMON_LICENSES:
        return (f"License: {name}\n On Debian systems, the complete text of the "
                f"{COMMON_LICENSES[spdx]} can be found in\n \"/usr/share/common-licenses/{spdx}\".")
    path = LICENSES / f"{name}.txt"
    if not path.is_file():
        raise CopyrightError(f"no text for license {name}: add audit/licenses/{name}.txt")
    body = [f" {line}" if line.strip() else " ." for line in path.read_text().rstrip().splitlines()]
    return "\n".join([f"License: {name}", *body])


def render(vendor, crates, stubs, version):
    """crates: [(name, version, kind)] compiled; stubs: [(name, version)]."""
    header = "\n".join([
        "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/",
        "Upstream-Name: felhom-agent",
        "Comment: /usr/bin/felhom-agent is one statically linked Rust binary. Besides the",
        " agent's own code it contains the crates below that are marked \"linked into the",
        " binary\", vendored in the source tree under vendor/ and compiled offline, and",
        " the Rust standard library (the Rust Project Developers; Expat or Apache-2.0).",
        " Crates marked \"build-time\" run only during the build (proc-macros, build",
        " scripts).",
        " .",
        f" Generated for felhom-agent {version} by python3 audit/check.py --write from",
        " Cargo.lock and vendor/; the test command fails when it is stale."])
    used = {"Apache-2.0", "MIT", "CC0-1.0"}
    paragraphs = [header,
                  "Files: *\nCopyright: the felhom-agent authors\nLicense: Apache-2.0",
                  "Files: audit/advisory-db/*\n"
                  "Copyright: the RustSec advisory database contributors\n"
                  "License: CC0-1.0\n"
                  "Comment: advisories copied from https://github.com/rustsec/advisory-db"]
    for name, ver, kind in crates:
        para, names = crate_paragraph(vendor, name, ver, kind)
        paragraphs.append(para)
        used |= names
    if stubs:
        paragraphs.append(stubs_paragraph(vendor, stubs))
    paragraphs += [license_paragraph(s) for s in sorted(used, key=dep5_name)]
    return "\n\n".join(paragraphs) + "\n"
