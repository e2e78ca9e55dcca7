"""Count 6-line windows repeated in more than one file under services/ and shared/.

Lines are stripped; blank lines, comments and import lines are skipped; generated stubs and
migrations are left out. Prints how many distinct windows occur in two or more files, and how many
of those span two or more areas (shared/ or a service folder).
Usage: python .ci/duplicate_windows.py [--normalize] [--show N] [--root DIR]
"""

from __future__ import annotations

import keyword
import re
import sys
from collections import defaultdict
from pathlib import Path

WINDOW = 6
ROOT = (
    Path(sys.argv[sys.argv.index("--root") + 1]).resolve()
    if "--root" in sys.argv
    else Path(__file__).resolve().parent.parent
)


def _lines(path: Path) -> list[str]:
    kept = []
    in_import = False
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if in_import:  # the names of a parenthesized import
            in_import = not line.startswith(")")
            continue
        if line.startswith(("import ", "from ")):
            in_import = line.endswith("(")
            continue
        if not line or line.startswith("#") or line in {")", "]", "}", '"""'}:
            continue
        kept.append(line)
    return kept


_TOKEN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|\d[\d_.]*|\"[^\"]*\"|'[^']*'")


def _shape(line: str) -> str:
    """With --normalize: names, numbers and strings become placeholders (keywords stay), so
    copies that differ only in their names count as repeats (what a clone detector calls type-2)."""

    def placeholder(match: re.Match[str]) -> str:
        token = match.group(0)
        if keyword.iskeyword(token):
            return token
        return "0" if token[0].isdigit() else ("S" if token[0] in "\"'" else "N")

    return _TOKEN.sub(placeholder, line)


def _area(path: Path) -> str:
    parts = path.relative_to(ROOT).parts
    return parts[0] if parts[0] == "shared" else "/".join(parts[:2])


def main() -> None:
    seen: dict[tuple[str, ...], set[Path]] = defaultdict(set)
    for folder in ("services", "shared"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            if "_pb2" in path.name or "migrations" in path.parts:
                continue
            lines = _lines(path)
            if "--normalize" in sys.argv:
                lines = [_shape(line) for line in lines]
            for start in range(len(lines) - WINDOW + 1):
                seen[tuple(lines[start : start + WINDOW])].add(path)
    repeated = {window: paths for window, paths in seen.items() if len(paths) > 1}
    across = {w: p for w, p in repeated.items() if len({_area(path) for path in p}) > 1}
    print(f"6-line windows in 2+ files: {len(repeated)}; across 2+ areas: {len(across)}")
    if "--show" in sys.argv:
        limit = int(sys.argv[sys.argv.index("--show") + 1])
        for window, paths in list(across.items())[:limit]:
            print("--", ", ".join(str(p.relative_to(ROOT)) for p in sorted(paths)))
            print("   " + "\n   ".join(window))


if __name__ == "__main__":
    main()
