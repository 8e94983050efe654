#!/usr/bin/env python3
"""The project's one version, kept in step everywhere it must be written down.

The source is `[workspace.package] version` in Cargo.toml. Every crate inherits it, the Python
package takes it from Cargo (maturin, `dynamic = ["version"]`; `zt.__version__` is the crate's
`CARGO_PKG_VERSION`); these copies must repeat it:

- the `version = "=X"` requirements on `zt-core` and `zt-tower` in `[workspace.dependencies]`
  (crates.io needs a version on a path dependency),
- zt-node/package.json and zt-node/package-lock.json,
- the newest release heading of CHANGELOG.md (below its `## Unreleased` heading; `set` turns
  the unreleased entries into the new version's and leaves an empty `## Unreleased` above).

    scripts/version.py check        # exit 1 naming every copy out of step (the test command runs it)
    scripts/version.py show         # the version
    scripts/version.py set 0.2.0    # write the new version everywhere (then `cargo update -w`)
"""

import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CARGO = ROOT / "Cargo.toml"
PACKAGE = ROOT / "zt-node" / "package.json"
LOCK = ROOT / "zt-node" / "package-lock.json"
CHANGELOG = ROOT / "CHANGELOG.md"

# X.Y.Z only: a pre-release would need its PEP 440 spelling for the wheel (0.2.0rc1) and its
# semver one for Cargo and npm (0.2.0-rc.1); not supported until a release needs it.
SEMVER = re.compile(r"^\d+\.\d+\.\d+$")
WORKSPACE_VERSION = re.compile(r'(\[workspace\.package\][^\[]*?\nversion = ")([^"]+)(")', re.S)
PATH_DEP = re.compile(r'^(zt-(?:core|tower) = \{ path = "[^"]+", version = "=)([^"]+)(" \})$', re.M)
RELEASE = re.compile(r"^## \[?(\d+\.\d+\.\d+[^\]\s]*)(?:\]|\s|$)", re.M)


def workspace_version(text):
    m = WORKSPACE_VERSION.search(text)
    if not m:
        sys.exit("version.py: no `version` in [workspace.package] of Cargo.toml")
    return m.group(2)


def copies():
    """(where, version) for every copy of the version."""
    cargo = CARGO.read_text()
    out = [("Cargo.toml [workspace.package]", workspace_version(cargo))]
    deps = PATH_DEP.findall(cargo)
    if len(deps) != 2:
        sys.exit("version.py: expected zt-core and zt-tower with `version = \"=X\"` in "
                 "[workspace.dependencies]")
    out += [("Cargo.toml [workspace.dependencies] " + ("zt-core", "zt-tower")[i], d[1])
            for i, d in enumerate(deps)]
    out.append(("zt-node/package.json", json.loads(PACKAGE.read_text())["version"]))
    lock = json.loads(LOCK.read_text())
    out.append(("zt-node/package-lock.json", lock["version"]))
    out.append(('zt-node/package-lock.json packages[""]', lock["packages"][""]["version"]))
    release = RELEASE.search(CHANGELOG.read_text())
    out.append(("CHANGELOG.md (newest release)", release.group(1) if release else "none"))
    return out


def check():
    found = copies()
    want = found[0][1]
    wrong = [f"{where}: {v}" for where, v in found if v != want]
    if wrong:
        print(f"version.py: the version is {want} (Cargo.toml); out of step:", *wrong, sep="\n  ")
        print("run `scripts/version.py set X.Y.Z`")
        return 1
    print(f"version ok: {want} in {len(found)} places")
    return 0


def set_version(new):
    if not SEMVER.match(new):
        sys.exit(f"version.py: `{new}` is not a release version (X.Y.Z)")
    text = CHANGELOG.read_text()
    heading = re.compile(rf"^## \[?{re.escape(new)}(?:\]|\s|$)", re.M)
    if not heading.search(text):
        if not re.search(r"^## Unreleased$", text, re.M):
            sys.exit("version.py: CHANGELOG.md has neither `## Unreleased` nor a heading for "
                     f"{new}: add the entries first (nothing was written)")
        text = re.sub(r"^## Unreleased$", f"## Unreleased\n\n## {new}", text, count=1, flags=re.M)
    cargo = CARGO.read_text()
    cargo = WORKSPACE_VERSION.sub(lambda m: m.group(1) + new + m.group(3), cargo, count=1)
    cargo = PATH_DEP.sub(lambda m: m.group(1) + new + m.group(3), cargo)
    CARGO.write_text(cargo)
    for path in (PACKAGE, LOCK):
        data = json.loads(path.read_text())
        data["version"] = new
        if path == LOCK:
            data["packages"][""]["version"] = new
        path.write_text(json.dumps(data, indent=2) + "\n")
    CHANGELOG.write_text(text)
    print(f"version set to {new}; now run `cargo update -w` and review CHANGELOG.md")
    return check()


def main(argv):
    if argv[1:] == ["check"]:
        return check()
    if argv[1:] == ["show"]:
        print(workspace_version(CARGO.read_text()))
        return 0
    if len(argv) == 3 and argv[1] == "set":
        return set_version(argv[2])
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
