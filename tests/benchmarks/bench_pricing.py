"""PriceUsage throughput beside a raw gRPC call, measured the same way in the same run.

Run: ``uv run python -m tests.benchmarks.bench_pricing [--seconds 5] [--callers 50]
[--database-url URL]``. Tenancy runs in a child process (a migrated SQLite file unless a URL is
given) with a test token issuer; this process drives ``--callers`` concurrent callers over one
channel, first against ``grpc.health.v1.Health/Check`` (no auth, no database), then against
``PriceUsage`` (token check, one indexed read, the exact arithmetic), and prints calls per
second and their ratio. Not collected by pytest (the name is bench_*).
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import tempfile
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from grpc_health.v1 import health_pb2, health_pb2_grpc

from quarterdeck.tenancy.v1 import pricing_pb2 as pb
from quarterdeck.tenancy.v1.pricing_pb2_grpc import ModelCatalogServiceStub
from services.registry import spec_for
from services.tenancy.config import TenancySettings
from services.tenancy.pricing.seed_catalogue import model_id
from shared.config import load_settings
from shared.db import Database
from shared.event_loop import run_event_loop
from shared.grpc_client import open_channel
from shared.migrations import upgrade_to_head
from shared.tracing import configure_logging, configure_tracing, shutdown_tracing
from tests.support.stack import running_service
from tests.support.tokens import TestIssuer

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


async def _serve(database_url: str, pipe: Connection) -> None:
    database = Database(database_url)
    try:
        await upgrade_to_head(database, spec_for("tenancy").migrations_dir)
    finally:
        await database.dispose()
    issuer = TestIssuer()
    async with running_service("tenancy", database_url, authenticator=issuer.authenticator()) as s:
        pipe.send((s.target, issuer.member("00000000-0000-0000-0000-000000000001", "member")))
        await asyncio.get_running_loop().run_in_executor(None, pipe.recv)


def run_as_served(main: Coroutine[Any, Any, None]) -> None:
    """Runs a benchmark's server the way ``quarterdeck serve tenancy`` runs it: logging,
    tracing (server spans; exported nowhere here) and the event loop (uvloop where installed);
    its log lines, one per call at INFO as deployed, go nowhere."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    configure_logging(load_settings(TenancySettings).log_level)
    configure_tracing("tenancy")
    try:
        run_event_loop(main)
    finally:
        shutdown_tracing()


def _server_main(database_url: str, pipe: Connection) -> None:
    run_as_served(_serve(database_url, pipe))


def cpu_seconds(pid: int) -> float:
    """The CPU (user + system) a process has used, from ``/proc/<pid>/stat``."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS


@dataclass(frozen=True)
class Measured:
    rate: float
    calls: int
    #: Tenancy's CPU (the server process's, read from /proc) per call, in milliseconds.
    cpu_ms: float

    def line(self, unit: str = "calls") -> str:
        return (
            f"{self.rate:9.0f} {unit}/s ({self.calls} {unit}), "
            f"tenancy CPU {self.cpu_ms:5.2f} ms per {unit[:-1]}"
        )


async def _measure(
    call: Callable[[], Awaitable[object]], callers: int, seconds: float
) -> tuple[float, int]:
    """Calls per second of ``callers`` concurrent callers, and the calls counted."""
    measured = await measure(call, callers, seconds, None)
    return measured.rate, measured.calls


async def measure(
    call: Callable[[], Awaitable[object]], callers: int, seconds: float, pid: int | None
) -> Measured:
    """As ``_measure``, with the CPU process ``pid`` (the server) spent per call."""
    deadline = 0.0
    done = 0

    async def caller() -> None:
        nonlocal done
        while time.perf_counter() < deadline:
            await call()
            done += 1

    deadline = time.perf_counter() + min(1.0, seconds / 5)  # warm-up, not counted
    await asyncio.gather(*(caller() for _ in range(callers)))
    done = 0
    cpu_before = cpu_seconds(pid) if pid is not None else 0.0
    started = time.perf_counter()
    deadline = started + seconds
    await asyncio.gather(*(caller() for _ in range(callers)))
    elapsed = time.perf_counter() - started
    cpu_ms = (cpu_seconds(pid) - cpu_before) * 1000 / max(done, 1) if pid is not None else 0.0
    return Measured(done / elapsed, done, cpu_ms)


async def _drive(
    target: str, metadata: list[tuple[str, str]], callers: int, seconds: float, pid: int
) -> None:
    async with open_channel(target) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        catalog = ModelCatalogServiceStub(channel)
        check = health_pb2.HealthCheckRequest(service="")
        request = pb.PriceUsageRequest(
            model_id=str(model_id("anthropic", "claude-sonnet-4-20250514")),
            token_convention=pb.TOKEN_CONVENTION_INPUT_EXCLUDES_CACHED,
            input_tokens=1234,
            output_tokens=567,
            cache_creation_tokens=89,
            cache_read_tokens=10_000,
            web_search_requests=1,
        )
        first = await catalog.PriceUsage(request, metadata=metadata)
        print(
            f"sample PriceUsage total: {first.cost.total.amount} {first.cost.total.currency_code}"
        )
        raw = await measure(lambda: health.Check(check), callers, seconds, pid)
        priced = await measure(
            lambda: catalog.PriceUsage(request, metadata=metadata), callers, seconds, pid
        )
    print(f"callers: {callers}, seconds per measurement: {seconds}")
    print(f"grpc.health.v1 Check : {raw.line()}")
    print(f"PriceUsage           : {priced.line()}")
    print(f"ratio PriceUsage/Check: {priced.rate / raw.rate:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--callers", type=int, default=50)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite+aiosqlite:///{Path(tmp) / 'tenancy-bench.db'}"
        context = multiprocessing.get_context("spawn")
        ours, theirs = context.Pipe()
        server = context.Process(target=_server_main, args=(url, theirs), daemon=True)
        server.start()
        try:
            target, metadata = ours.recv()
            print(f"tenancy at {target} on {url.split(':', 1)[0]}")
            assert server.pid is not None
            asyncio.run(_drive(target, metadata, args.callers, args.seconds, server.pid))
        finally:
            ours.send("stop")
            server.join(timeout=10)
            if server.is_alive():
                server.terminate()


if __name__ == "__main__":
    main()
