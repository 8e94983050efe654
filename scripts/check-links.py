#!/usr/bin/env python3
"""Every relative link in the READMEs and docs/ resolves: the target file exists, and a
`#anchor` names a heading of the target (GitHub's slugs: lowercase, punctuation other than `-`
and `_` dropped, spaces to `-`, `-1`, `-2`, ... for repeated headings).

Checked: README.md, docs/*.md, benches/README.md and the package READMEs (zt-*/README.md).
Links inside fenced code blocks and inline code are not links and are skipped; absolute URLs
(`https:`, `mailto:`, ...) are not checked.

Usage: python3 scripts/check-links.py   (exit 0 when every link resolves, 1 with a list otherwise)
"""

from __future__ import annotations

import re
import sys
import unicodedata
from pathlib import Path
from urllib.parse import unquote

ROOT = Path(__file__).resolve().parent.parent

# [text](target) and [text](target "title"); images too. Reference definitions: [id]: target
INLINE = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REFDEF = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$")
HTML_HREF = re.compile(r"""<a\s[^>]*href=["']([^"']+)["']""", re.IGNORECASE)
HTML_ANCHOR = re.compile(r"""<a\s[^>]*(?:name|id)=["']([^"']+)["']""", re.IGNORECASE)
FENCE = re.compile(r"^\s{0,3}(`{3,}|~{3,})")
HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


def files_to_check() -> list[Path]:
    files = [ROOT / "README.md", ROOT / "benches" / "README.md"]
    files += sorted((ROOT / "docs").glob("*.md"))
    files += sorted(ROOT.glob("zt-*/README.md"))
    return [f for f in files if f.is_file()]


def prose_lines(text: str):
    """(line number, line) outside fenced code blocks."""
    fence: str | None = None
    for number, line in enumerate(text.splitlines(), 1):
        m = FENCE.match(line)
        if m:
            marker = m.group(1)
            if fence is None:
                fence = marker[0] * len(marker)
                continue
            if marker.startswith(fence) and line.strip() == marker:
                fence = None
                continue
        if fence is None:
            yield number, line


def strip_inline_code(line: str) -> str:
    return re.sub(r"(`+)(?:(?!\1).)+?\1", lambda m: " " * len(m.group(0)), line)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading's text."""
    text = re.sub(r"<[^>]+>", "", heading)  # inline HTML
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", text)  # links keep their text
    text = text.lower()
    out = []
    for ch in text:
        if ch in "-_" or ch == " ":
            out.append("-" if ch == " " else ch)
        elif unicodedata.category(ch)[0] in "LNM":  # letters, digits, marks
            out.append(ch)
        # everything else (punctuation, symbols such as backticks) is dropped
    return "".join(out)


_anchor_cache: dict[Path, set[str]] = {}


def anchors(path: Path) -> set[str]:
    if path not in _anchor_cache:
        seen: dict[str, int] = {}
        result: set[str] = set()
        text = path.read_text(encoding="utf-8")
        for _, line in prose_lines(text):
            m = HEADING.match(line)
            if m:
                base = slug(m.group(2))
                n = seen.get(base, 0)
                seen[base] = n + 1
                result.add(base if n == 0 else f"{base}-{n}")
            for a in HTML_ANCHOR.findall(line):
                result.add(a)
        _anchor_cache[path] = result
    return _anchor_cache[path]


def links(text: str):
    for number, line in prose_lines(text):
        plain = strip_inline_code(line)
        for target in INLINE.findall(plain):
            yield number, target
        m = REFDEF.match(plain)
        if m:
            yield number, m.group(1)
        for target in HTML_HREF.findall(plain):
            yield number, target


def check(path: Path) -> list[str]:
    problems = []
    rel = path.relative_to(ROOT)
    for number, target in links(path.read_text(encoding="utf-8")):
        if SCHEME.match(target) or target.startswith("//"):
            continue
        file_part, _, anchor = target.partition("#")
        file_part = unquote(file_part)
        dest = path if not file_part else (path.parent / file_part).resolve()
        where = f"{rel}:{number}: {target}"
        if not dest.exists():
            problems.append(f"{where}: no such file")
            continue
        try:
            dest.relative_to(ROOT)
        except ValueError:
            problems.append(f"{where}: points outside the repository")
            continue
        if anchor:
            if dest.is_dir() or dest.suffix.lower() != ".md":
                problems.append(f"{where}: an anchor into a file that is not Markdown")
            elif unquote(anchor) not in anchors(dest):
                problems.append(f"{where}: no heading `#{anchor}` in {dest.relative_to(ROOT)}")
    return problems


def main() -> int:
    files = files_to_check()
    problems = [p for f in files for p in check(f)]
    if problems:
        print(f"{len(problems)} broken relative link(s):", file=sys.stderr)
        for p in problems:
            print(f"  {p}", file=sys.stderr)
        return 1
    count = sum(1 for f in files for _ in links(f.read_text(encoding="utf-8")))
    print(f"links ok: {count} links in {len(files)} files")
    return 0


if __name__ == "__main__":
    sys.exit(main())
