#!/usr/bin/env python3
"""The one-way house: reads the imports of zt-core and zt-tower and fails on an import circle of
more than two files or on an import that runs against the floors of docs/development.md
("Layout").

Only `crate::`, `super::` and `self::` paths count (in `use` items and in expressions), test
modules excluded (`#[cfg(test)] mod x { ... }` and files only declared under `#[cfg(test)]`).
A path that lands on a re-export (`pub use`) is followed to the file that defines the item, so
`crate::Reason` counts as an import of the file that defines `Reason`, not of lib.rs.

Usage: scripts/check-layers.py [--graph]   (exit 0 clean, 1 on a violation)
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# The floors, bottom first. A file may import its own floor or any floor below it. The key is a
# path relative to the crate's src/ (a folder ends in "/"); the longest key that matches wins.
FLOORS = {
    "zt-core": [
        ["util/"],
        ["codes.rs", "error/", "algorithm.rs"],
        ["config/"],
        ["token/", "jwks/", "dpop/", "credentials/"],
        ["posture.rs", "input/", "enforcement.rs", "policy/", "revocation/"],
        ["decision.rs", "request.rs", "http/"],
        ["log/", "replay.rs", "report/"],
        ["observe/"],
        ["authorizer/"],
        ["lib.rs", "internal.rs", "doctests.rs"],
    ],
    "zt-tower": [
        ["body.rs", "extract.rs", "response.rs"],
        ["future.rs"],
        ["service.rs", "layer.rs"],
        ["lib.rs"],
    ],
}
# Only these may import observe/ (a lower module exposes plain data, never the roll-up).
OBSERVE_IMPORTERS = ("authorizer/", "authorizer.rs", "lib.rs", "internal.rs", "observe/")

PATH_RE = re.compile(r"\b(crate|super|self)((?:::[A-Za-z_][A-Za-z0-9_]*)+)")


def strip_comments_and_strings(text: str) -> str:
    """Blank out comments, string and char literals (keeps line structure and braces of code)."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            i = j
            continue
        if text.startswith("/*", i):
            depth, j = 1, i + 2
            while j < n and depth:
                if text.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif text.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            out.append("\n" * text.count("\n", i, j))
            i = j
            continue
        m = re.match(r'b?r(#*)"', text[i:])
        if m and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_")):
            end = text.find('"' + m.group(1), i + m.end())
            end = n if end < 0 else end + 1 + len(m.group(1))
            out.append('""' + "\n" * text.count("\n", i, end))
            i = end
            continue
        if c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append('""' + "\n" * text.count("\n", i, j))
            i = j + 1
            continue
        if c == "'":
            m = re.match(r"'(\\.[^']*|[^\\'])'", text[i:])
            if m:
                out.append("' '")
                i += m.end()
                continue
        out.append(c)
        i += 1
    return "".join(out)


def drop_test_modules(code: str) -> tuple[str, set[str]]:
    """Removes `#[cfg(test)] mod x { ... }` bodies; returns the code and the names of test-only
    out-of-line modules (`#[cfg(test)] mod x;`)."""
    test_files = set()
    pattern = re.compile(r"#\[cfg\(test\)\]\s*(?:#\[[^\]]*\]\s*)*(?:pub(?:\([^)]*\))?\s+)?mod\s+(\w+)\s*([;{])")
    while True:
        m = pattern.search(code)
        if not m:
            return code, test_files
        if m.group(2) == ";":
            test_files.add(m.group(1))
            code = code[: m.start()] + code[m.end():]
            continue
        depth, j = 1, m.end()
        while j < len(code) and depth:
            depth += {"{": 1, "}": -1}.get(code[j], 0)
            j += 1
        code = code[: m.start()] + "\n" * code.count("\n", m.start(), j) + code[j:]


def expand_use(tree: str) -> list[str]:
    """`a::{b, c::{d, e}}` -> ["a::b", "a::c::d", "a::c::e"] (aliases dropped)."""
    tree = re.sub(r"\s+as\s+\w+", "", tree)  # aliases: the imported item is what counts
    tree = re.sub(r"\s+", "", tree)
    brace = tree.find("{")
    if brace < 0:
        return [tree]
    prefix, inner = tree[:brace], tree[brace + 1 : tree.rfind("}")]
    parts, depth, start = [], 0, 0
    for k, ch in enumerate(inner):
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(inner[start:k])
            start = k + 1
    parts.append(inner[start:])
    result = []
    for p in parts:
        if p:
            result.extend(prefix + q for q in expand_use(p))
    return result


class Crate:
    def __init__(self, name: str):
        self.name = name
        self.src = ROOT / name / "src"
        self.files: dict[str, str] = {}  # rel path -> code (comments, strings, tests removed)
        self.string_paths: dict[str, list[str]] = {}  # paths named in string literals (serde attrs)
        self.forbidden: list[str] = []  # constructs the checker cannot follow
        self.test_only: set[str] = set()
        self.reexports: dict[tuple[str, str], list[str]] = {}  # (file, name) -> module path
        self.defs: dict[str, set[str]] = {}
        self._load()

    # module path (list of segments from crate root) <-> file
    def module_of(self, rel: str) -> list[str]:
        parts = rel[:-3].split("/")
        if parts[-1] in ("lib", "mod"):
            parts = parts[:-1]
        return parts

    def file_of(self, module: list[str]) -> str | None:
        if not module:
            return "lib.rs"
        base = "/".join(module)
        for cand in (base + ".rs", base + "/mod.rs"):
            if cand in self.files:
                return cand
        return None

    def _load(self):
        for path in sorted(self.src.rglob("*.rs")):
            rel = path.relative_to(self.src).as_posix()
            raw = path.read_text()
            code = strip_comments_and_strings(raw)
            # Constructs that would hide an import from this checker are refused outright.
            for what, pattern in [
                ("#[path] module", r"#\[path\s*="),
                ("include! of Rust source", r"include!\s*\(\s*\"[^\"]*\.rs\""),
                ("#[macro_use]", r"#\[macro_use\]"),
                ("#[macro_export]", r"#\[macro_export\]"),
            ]:
                if re.search(pattern, code if what != "include! of Rust source" else raw):
                    self.forbidden.append(f"{self.name}/src/{rel}: {what} (hides imports from this check)")
            code, tests = drop_test_modules(code)
            # `#[serde(default = "crate::x::f")]` and the like name paths inside strings.
            self.string_paths[rel] = re.findall(
                r'#\[[^\]]*"((?:crate|super|self)(?:::\w+)+)"', drop_test_modules(raw)[0]
            )
            self.files[rel] = code
            folder = self.module_of(rel)
            for t in tests:
                for cand in ("/".join(folder + [t]) + ".rs", "/".join(folder + [t]) + "/mod.rs"):
                    self.test_only.add(cand)
        for rel in list(self.files):
            if rel in self.test_only or any(rel.startswith(t[:-6] + "/") for t in self.test_only if t.endswith("/mod.rs")):
                del self.files[rel]
        for rel, code in self.files.items():
            names = set(re.findall(r"\b(?:fn|struct|enum|trait|type|const|static|union|macro_rules!)\s+([A-Za-z_]\w*)", code))
            names |= set(re.findall(r"\bmod\s+([A-Za-z_]\w*)", code))
            self.defs[rel] = names
            for m in re.finditer(r"\bpub(?:\([^)]*\))?\s+use\s+([^;]+);", code):
                for full in expand_use(m.group(1)):
                    segs = full.split("::")
                    alias = segs[-1]
                    self.reexports[(rel, alias)] = segs

    def absolute(self, rel: str, segs: list[str]) -> list[str] | None:
        here = self.module_of(rel)
        if not segs:
            return None
        head, rest = segs[0], segs[1:]
        if head == "crate":
            base = []
        elif head == "self":
            base = here
        elif head == "super":
            base = here[:-1]
            while rest and rest[0] == "super":
                base, rest = base[:-1], rest[1:]
        else:
            # A `use` inside a module resolves relative to it (2018 paths: a child module name).
            base = here
            if self.file_of(here + [head]) is None:
                return None
        return base + rest if head in ("crate", "self", "super") else base + segs

    def resolve(self, module_path: list[str], seen=None) -> str | None:
        """The file that defines what `module_path` names (following re-exports)."""
        seen = seen or set()
        key = tuple(module_path)
        if key in seen:
            return None
        seen.add(key)
        # Longest prefix that is a module file.
        for k in range(len(module_path), -1, -1):
            f = self.file_of(module_path[:k])
            if f is None:
                continue
            rest = module_path[k:]
            if not rest:
                return f
            item = rest[0]
            if item in self.defs.get(f, set()) and (f, item) not in self.reexports:
                return f
            target = self.reexports.get((f, item))
            if target is not None:
                absolute = self.absolute(f, target)
                if absolute is not None:
                    r = self.resolve(absolute + rest[1:], seen)
                    if r is not None:
                        return r
            return f
        return None

    def edges(self) -> dict[str, dict[str, set[str]]]:
        graph: dict[str, dict[str, set[str]]] = {f: {} for f in self.files}
        for rel, code in self.files.items():
            paths = []
            here = self.module_of(rel)
            for m in re.finditer(r"(\bpub(?:\([^)]*\))?\s+)?\buse\s+([^;]+);", code):
                for full in expand_use(m.group(2)):
                    segs = full.split("::")
                    if m.group(1):
                        # A re-export of the file's own children is its public-interface block
                        # (followed when resolving); one from elsewhere is an import.
                        absolute = self.absolute(rel, [x for x in segs if x != "*"])
                        if absolute is None or absolute[: len(here)] == here:
                            continue
                    paths.append(segs)
            paths.extend(p.split("::") for p in self.string_paths.get(rel, []))
            for m in PATH_RE.finditer(re.sub(r"\buse\s+[^;]+;", "", code)):
                paths.append([m.group(1)] + m.group(2).split("::")[1:])
            for segs in paths:
                glob = bool(segs) and segs[-1] == "*"
                segs = [s for s in segs if s and s != "*"]
                if not segs or segs[0] not in ("crate", "self", "super"):
                    if not segs or self.file_of(self.module_of(rel) + [segs[0]]) is None:
                        continue
                absolute = self.absolute(rel, segs)
                if absolute is None:
                    continue
                target = self.resolve(absolute)
                if target is None or target == rel:
                    continue
                if glob:
                    # Everything the globbed module re-exports comes in too.
                    for (f, _name), tgt in self.reexports.items():
                        if f == target:
                            a2 = self.absolute(f, [x for x in tgt if x != "*"])
                            t2 = self.resolve(a2) if a2 is not None else None
                            if t2 is not None and t2 != rel:
                                graph[rel].setdefault(t2, set()).add("::".join(tgt))
                # A module declaring its children (`mod x;`/`pub use x::Y` in mod.rs) is not
                # an import of them in the direction sense: the parent re-exports.
                graph[rel].setdefault(target, set()).add("::".join(segs[1:]) or segs[0])
        return graph

    def floor(self, rel: str) -> int | None:
        best, best_len = None, -1
        for i, keys in enumerate(FLOORS[self.name]):
            for key in keys:
                hit = rel.startswith(key) if key.endswith("/") else rel == key
                if hit and len(key) > best_len:
                    best, best_len = i, len(key)
        return best


def sccs(graph: dict[str, dict[str, set[str]]]) -> list[list[str]]:
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, {}):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in graph:
        if v not in index:
            visit(v)
    return out


def main() -> int:
    show = "--graph" in sys.argv
    problems = []
    for name in FLOORS:
        crate = Crate(name)
        problems.extend(crate.forbidden)
        graph = crate.edges()
        for rel in crate.files:
            if crate.floor(rel) is None:
                problems.append(f"{name}/src/{rel}: on no floor of the layout (add it to FLOORS and the docs)")
        for src, targets in sorted(graph.items()):
            for dst, names in sorted(targets.items()):
                if show:
                    print(f"{name}/src/{src} -> {dst}: {', '.join(sorted(names))}")
                a, b = crate.floor(src), crate.floor(dst)
                if a is not None and b is not None and b > a:
                    problems.append(f"{name}/src/{src} (floor {a}) imports {dst} (floor {b}) against the direction: {', '.join(sorted(names))}")
                if name == "zt-core" and dst.startswith("observe/") and not src.startswith(OBSERVE_IMPORTERS):
                    problems.append(f"{name}/src/{src} imports {dst}: only authorizer/ and lib.rs import observe/")
        for comp in sccs(graph):
            if len(comp) > 2:
                problems.append(f"{name}: import circle of {len(comp)} files: {', '.join(comp)}")
    for p in problems:
        print(p)
    if problems:
        print(f"check-layers: {len(problems)} problem(s)")
        return 1
    print("check-layers: imports run one way, no circle of more than two files")
    return 0


if __name__ == "__main__":
    sys.exit(main())
