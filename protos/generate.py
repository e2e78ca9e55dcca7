"""Regenerate the committed Python stubs from the .proto files, or check that they match.

Usage: ``uv run python protos/generate.py`` writes ``*_pb2.py``, ``*_pb2.pyi`` and
``*_pb2_grpc.py`` beside each .proto file; ``--check`` regenerates into a scratch folder and
exits 1 listing every stub that differs from the committed one.
"""

from __future__ import annotations

import argparse
import filecmp
import sys
import tempfile
from importlib import resources
from pathlib import Path

from grpc_tools import protoc

PROTO_ROOT = Path(__file__).resolve().parent
PACKAGE_ROOT = PROTO_ROOT / "quarterdeck"
STUB_SUFFIXES = ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py")


def proto_files() -> list[Path]:
    return sorted(PACKAGE_ROOT.rglob("*.proto"))


def generate(out_dir: Path) -> None:
    well_known = resources.files("grpc_tools") / "_proto"
    for proto in proto_files():
        relative = proto.relative_to(PROTO_ROOT)
        args = [
            "grpc_tools.protoc",
            f"--proto_path={PROTO_ROOT}",
            f"--proto_path={well_known}",
            f"--python_out={out_dir}",
            f"--pyi_out={out_dir}",
            f"--grpc_python_out={out_dir}",
            str(relative),
        ]
        if protoc.main(args) != 0:
            raise SystemExit(f"protoc failed on {relative}")
    # Every folder on the way down is a regular package, so imports need no path tricks.
    for folder in [
        out_dir / "quarterdeck",
        *(p for p in (out_dir / "quarterdeck").rglob("*") if p.is_dir()),
    ]:
        (folder / "__init__.py").touch()


def stubs_under(root: Path) -> set[Path]:
    return {
        p.relative_to(root)
        for p in (root / "quarterdeck").rglob("*")
        if p.name.endswith(STUB_SUFFIXES) or p.name == "__init__.py"
    }


def check() -> int:
    with tempfile.TemporaryDirectory() as scratch:
        fresh_root = Path(scratch)
        generate(fresh_root)
        fresh, committed = stubs_under(fresh_root), stubs_under(PROTO_ROOT)
        problems = [f"missing: {p}" for p in sorted(fresh - committed)]
        problems += [f"stale (no .proto): {p}" for p in sorted(committed - fresh)]
        problems += [
            f"differs: {p}"
            for p in sorted(fresh & committed)
            if not filecmp.cmp(fresh_root / p, PROTO_ROOT / p, shallow=False)
        ]
    for line in problems:
        print(line, file=sys.stderr)
    if problems:
        print("Stubs are out of date: run `uv run python protos/generate.py`.", file=sys.stderr)
        return 1
    print(f"stubs up to date ({len(fresh)} files)")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="only compare, write nothing")
    if parser.parse_args().check:
        return check()
    generate(PROTO_ROOT)
    print(f"generated stubs for {len(proto_files())} proto files")
    return 0


if __name__ == "__main__":
    sys.exit(main())
