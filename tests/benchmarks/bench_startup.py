"""How long `quarterdeck up` takes to print its banner, cold (a new data directory: secrets made,
every database created and migrated) and warm (the same directory again), and how long each
process took from its start to serving; then what each process imports before it can serve.

Run: ``uv run python -m tests.benchmarks.bench_startup [--runs 1]``. Every run starts the
platform on free local ports in a temporary directory, waits for the banner, stops it with
SIGTERM and waits for it to exit. Per-process times come from the banner's ``ready in`` column
(printed by the supervisor, measured from each process's spawn). Import times are each entry
point imported in a fresh interpreter (``python -c``), beside a bare interpreter's start.
Not collected by pytest (the name is bench_*).
"""

from __future__ import annotations

import argparse
import re
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from services.registry import GATEWAY, SERVICE_NAMES
from tests.support.processes import free_port_block, quarterdeck

BANNER_END = "Press Ctrl-C to stop."
READY = re.compile(r"^\s+(\w+)\s.*ready in ([0-9.]+) s")
#: What each process imports before its first line of work.
ENTRY_POINTS = {
    **{
        name: f"from services.registry import spec_for; spec_for({name!r})"
        for name in SERVICE_NAMES
    },
    GATEWAY: "import services.gateway.main",
    "cli": "import services.cli",
}


def time_to_banner(data_dir: Path) -> tuple[float, dict[str, float]]:
    base = free_port_block(6)
    command = quarterdeck(
        "up",
        "--data-dir",
        str(data_dir),
        "--base-port",
        str(base),
        "--http-port",
        str(base + 5),
    )
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert process.stdout is not None
    ready: dict[str, float] = {}
    lines = []
    try:
        for line in process.stdout:
            lines.append(line)
            if match := READY.match(line):
                ready[match.group(1)] = float(match.group(2))
            if BANNER_END in line:
                return time.perf_counter() - started, ready
        raise RuntimeError("quarterdeck up exited before its banner:\n" + "".join(lines))
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def import_seconds(code: str) -> tuple[float, float]:
    """Wall-clock and CPU (user + system) seconds of a fresh interpreter running ``code``: on a
    busy machine the CPU figure is the steadier one."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=1, help="cold+warm pairs to measure")
    args = parser.parse_args()
    if sys.flags.dont_write_bytecode:
        # Measured on one machine: a process whose modules have no cached bytecode spends about
        # 2.5 s more CPU compiling them at every start than importing them (1.0-1.6 s).
        print(
            "note: PYTHONDONTWRITEBYTECODE is set: modules without bytecode cached already are "
            "compiled afresh at every start, which dominates these figures"
        )
    cold, warm = [], []
    per_process: dict[str, list[float]] = {}
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory(prefix="qd-bench-up-") as tmp:
            data_dir = Path(tmp) / "data"
            seconds, _ready = time_to_banner(data_dir)
            cold.append(seconds)
            seconds, ready = time_to_banner(data_dir)
            warm.append(seconds)
            for name, value in ready.items():
                per_process.setdefault(name, []).append(value)
    print(f"time to banner, cold (new data dir): {statistics.median(cold):6.2f} s  {cold}")
    print(f"time to banner, warm (same data dir): {statistics.median(warm):6.2f} s  {warm}")
    for name, values in per_process.items():
        print(f"  {name:<13} serving {statistics.median(values):5.2f} s after its start (warm)")
    bare_wall, bare_cpu = import_seconds("pass")
    print(
        "imports in a fresh interpreter, wall and CPU "
        f"(a bare interpreter takes {bare_wall:.2f} s, {bare_cpu:.2f} s CPU):"
    )
    for name, code in ENTRY_POINTS.items():
        wall, cpu = import_seconds(code)
        print(f"  {name:<13} {wall:5.2f} s  {cpu:5.2f} s CPU")


if __name__ == "__main__":
    main()
