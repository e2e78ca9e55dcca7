"""Reserve-then-Settle throughput beside a raw gRPC call, measured the same way in the same run,
with the rpm/tpm counters in the database and in Redis.

Run: ``uv run python -m tests.benchmarks.bench_limits [--seconds 5] [--callers 50]
[--database-url URL] [--redis-url URL|none]``. Tenancy runs in a child process (a migrated
SQLite file unless a URL is given) twice over the same database: once with the database
backend, once with the Redis one (under a key prefix of its own, deleted afterwards), with a
test token issuer and one tenant whose limits never bind; this process drives ``--callers``
concurrent callers over one channel, first against ``grpc.health.v1.Health/Check`` (no auth, no
database), then against pairs of ``Reserve`` (token check, the cached limits, then with the
database counters one statement on PostgreSQL, the insert and one upsert on SQLite; with Redis
one Lua script, then the reservation's insert, one statement) and ``Settle`` (one statement on
PostgreSQL, the claim and the refund on SQLite; with Redis the claim, one statement, then one
Lua script), and prints pairs per second and their ratio to Check. On PostgreSQL the callers'
statements arriving together are one statement per group (services/tenancy/limits/grouping.py). Not collected by pytest (the name is bench_*).
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import tempfile
import uuid
from contextlib import AsyncExitStack
from multiprocessing.connection import Connection
from pathlib import Path

import redis.asyncio as aioredis
from grpc_health.v1 import health_pb2, health_pb2_grpc

from quarterdeck.tenancy.v1 import limits_pb2 as pb
from quarterdeck.tenancy.v1.limits_pb2_grpc import LimitsServiceStub
from services.registry import spec_for
from services.tenancy.model_configs.models import TenantModelConfigRecord
from services.tenancy.pricing.seed_catalogue import model_id
from services.tenancy.tenants.models import TenantRecord
from shared.db import Database
from shared.grpc_client import open_channel
from shared.migrations import upgrade_to_head
from tests.benchmarks.bench_pricing import Measured, measure, run_as_served
from tests.support.stack import running_service
from tests.support.tokens import TestIssuer

UNBOUNDED = 2_000_000_000


async def _serve(database_url: str, redis_url: str | None, pipe: Connection) -> None:
    database = Database(database_url)
    tenant_id = uuid.uuid4()
    try:
        await upgrade_to_head(database, spec_for("tenancy").migrations_dir)
        async with database.transaction() as session:
            session.add(TenantRecord(id=tenant_id, slug=f"bench-{tenant_id.hex[:8]}", name="B"))
            await session.flush()
            session.add(
                TenantModelConfigRecord(
                    tenant_id=tenant_id,
                    llm_model_id=model_id("anthropic", "claude-sonnet-4-20250514"),
                    encrypted_api_key=b"bench",
                    api_key_hint="abcd",
                    key_version="bench",
                    rate_limit_rpm=UNBOUNDED,
                    rate_limit_tpm=UNBOUNDED,
                )
            )
    finally:
        await database.dispose()
    issuer = TestIssuer()
    metadata = issuer.internal("conversation")
    prefix = f"qd:bench:{uuid.uuid4().hex[:12]}:"
    async with AsyncExitStack() as stack:
        targets = {}
        on_database = await stack.enter_async_context(
            running_service("tenancy", database_url, authenticator=issuer.authenticator())
        )
        targets["database"] = on_database.target
        if redis_url is not None:
            on_redis = await stack.enter_async_context(
                running_service(
                    "tenancy",
                    database_url,
                    authenticator=issuer.authenticator(),
                    limits_backend="redis",
                    limits_redis_url=redis_url,
                    limits_redis_key_prefix=prefix,
                )
            )
            targets["redis"] = on_redis.target
        pipe.send((targets, str(tenant_id), metadata))
        await asyncio.get_running_loop().run_in_executor(None, pipe.recv)
    if redis_url is not None:
        client = aioredis.from_url(redis_url)
        keys = [key async for key in client.scan_iter(match=f"{prefix}*", count=1000)]
        if keys:
            await client.delete(*keys)
        await client.aclose()


def _server_main(database_url: str, redis_url: str | None, pipe: Connection) -> None:
    run_as_served(_serve(database_url, redis_url, pipe))


async def _pairs(
    target: str,
    tenant_id: str,
    metadata: list[tuple[str, str]],
    callers: int,
    seconds: float,
    pid: int,
) -> Measured:
    async with open_channel(target) as channel:
        stub = LimitsServiceStub(channel)

        async def pair() -> None:
            # With a request_id, as the conversation worker reserves (one per turn step).
            made = await stub.Reserve(
                pb.ReserveRequest(tenant_id=tenant_id, tokens=1000, request_id=uuid.uuid4().hex),
                metadata=metadata,
            )
            await stub.Settle(
                pb.SettleRequest(
                    tenant_id=tenant_id, reservation_id=made.reservation.id, actual_tokens=700
                ),
                metadata=metadata,
            )

        return await measure(pair, callers, seconds, pid)


async def _drive(
    targets: dict[str, str],
    tenant_id: str,
    metadata: list[tuple[str, str]],
    callers: int,
    seconds: float,
    pid: int,
) -> None:
    async with open_channel(targets["database"]) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        check = health_pb2.HealthCheckRequest(service="")
        raw = await measure(lambda: health.Check(check), callers, seconds, pid)
    print(f"callers: {callers}, seconds per measurement: {seconds}")
    print(f"grpc.health.v1 Check            : {raw.line()}")
    for backend, target in targets.items():
        pairs = await _pairs(target, tenant_id, metadata, callers, seconds, pid)
        print(
            f"Reserve+Settle pairs, {backend:8} : {pairs.line('pairs')}, "
            f"ratio to Check {pairs.rate / raw.rate:.3f}"
        )
    if "redis" not in targets:
        print("Reserve+Settle pairs, redis    : not measured (--redis-url none)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--callers", type=int, default=50)
    parser.add_argument("--database-url", default="")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    args = parser.parse_args()
    redis_url = None if args.redis_url.lower() == "none" else args.redis_url
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite+aiosqlite:///{Path(tmp) / 'tenancy-bench.db'}"
        context = multiprocessing.get_context("spawn")
        ours, theirs = context.Pipe()
        server = context.Process(target=_server_main, args=(url, redis_url, theirs), daemon=True)
        server.start()
        try:
            targets, tenant_id, metadata = ours.recv()
            print(f"tenancy at {', '.join(targets.values())} on {url.split(':', 1)[0]}")
            assert server.pid is not None
            asyncio.run(
                _drive(targets, tenant_id, metadata, args.callers, args.seconds, server.pid)
            )
        finally:
            ours.send("stop")
            server.join(timeout=10)
            if server.is_alive():
                server.terminate()


if __name__ == "__main__":
    main()
