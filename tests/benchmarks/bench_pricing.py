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
import tempfile
import time
from collections.abc import Awaitable, Callable
from multiprocessing.connection import Connection
from pathlib import Path

from grpc_health.v1 import health_pb2, health_pb2_grpc

from quarterdeck.tenancy.v1 import pricing_pb2 as pb
from quarterdeck.tenancy.v1.pricing_pb2_grpc import ModelCatalogServiceStub
from services.registry import spec_for
from services.tenancy.pricing.seed_catalogue import model_id
from shared.db import Database
from shared.grpc_client import open_channel
from shared.migrations import upgrade_to_head
from tests.support.stack import running_service
from tests.support.tokens import TestIssuer


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


def _server_main(database_url: str, pipe: Connection) -> None:
    asyncio.run(_serve(database_url, pipe))


async def _measure(
    call: Callable[[], Awaitable[object]], callers: int, seconds: float
) -> tuple[float, int]:
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
    started = time.perf_counter()
    deadline = started + seconds
    await asyncio.gather(*(caller() for _ in range(callers)))
    elapsed = time.perf_counter() - started
    return done / elapsed, done


async def _drive(
    target: str, metadata: list[tuple[str, str]], callers: int, seconds: float
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
        raw, raw_n = await _measure(lambda: health.Check(check), callers, seconds)
        priced, priced_n = await _measure(
            lambda: catalog.PriceUsage(request, metadata=metadata), callers, seconds
        )
    print(f"callers: {callers}, seconds per measurement: {seconds}")
    print(f"grpc.health.v1 Check : {raw:9.0f} calls/s ({raw_n} calls)")
    print(f"PriceUsage           : {priced:9.0f} calls/s ({priced_n} calls)")
    print(f"ratio PriceUsage/Check: {priced / raw:.3f}")


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
            asyncio.run(_drive(target, metadata, args.callers, args.seconds))
        finally:
            ours.send("stop")
            server.join(timeout=10)
            if server.is_alive():
                server.terminate()


if __name__ == "__main__":
    main()
