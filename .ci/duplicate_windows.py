"""Count 6-line windows repeated in more than one file under services/ and shared/.

Lines are stripped; blank lines, comments and import lines are skipped; generated stubs and
migrations are left out. Prints how many distinct windows occur in two or more files, and how many
of those span two or more areas (shared/ or a service folder).
Usage: python .ci/duplicate_windows.py [--show N]
"""

from __future__ import annotations

import sys
from collections import defaultdict
from pathlib import Path

WINDOW = 6
ROOT = Path(__file__).resolve().parent.parent


def _lines(path: Path) -> list[str]:
    kept = []
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", "import ", "from ")) or line in {")", "]", "}", '"""'}:
            continue
        kept.append(line)
    return kept


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
