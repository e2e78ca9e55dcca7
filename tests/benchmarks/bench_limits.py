"""Reserve-then-Settle throughput beside a raw gRPC call, measured the same way in the same run.

Run: ``uv run python -m tests.benchmarks.bench_limits [--seconds 5] [--callers 50]
[--database-url URL]``. Tenancy runs in a child process (a migrated SQLite file unless a URL is
given) with a test token issuer and one tenant whose limits never bind; this process drives
``--callers`` concurrent callers over one channel, first against ``grpc.health.v1.Health/Check``
(no auth, no database), then against pairs of ``Reserve`` (token check, one read, two
conditional upserts, one insert) and ``Settle`` (one locked read, one refund, one update), and
prints pairs per second and their ratio to Check. Not collected by pytest (the name is bench_*).
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import tempfile
import uuid
from multiprocessing.connection import Connection
from pathlib import Path

from grpc_health.v1 import health_pb2, health_pb2_grpc

from quarterdeck.tenancy.v1 import limits_pb2 as pb
from quarterdeck.tenancy.v1.limits_pb2_grpc import LimitsServiceStub
from services.registry import spec_for
from services.tenancy.models import TenantRecord
from services.tenancy.models_model_configs import TenantModelConfigRecord
from services.tenancy.seed_catalogue import model_id
from shared.db import Database
from shared.grpc_client import open_channel
from shared.migrations import upgrade_to_head
from tests.benchmarks.bench_pricing import _measure
from tests.support.stack import running_service
from tests.support.tokens import TestIssuer

UNBOUNDED = 2_000_000_000


async def _serve(database_url: str, pipe: Connection) -> None:
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
    async with running_service("tenancy", database_url, authenticator=issuer.authenticator()) as s:
        pipe.send((s.target, str(tenant_id), issuer.internal("conversation")))
        await asyncio.get_running_loop().run_in_executor(None, pipe.recv)


def _server_main(database_url: str, pipe: Connection) -> None:
    asyncio.run(_serve(database_url, pipe))


async def _drive(
    target: str, tenant_id: str, metadata: list[tuple[str, str]], callers: int, seconds: float
) -> None:
    async with open_channel(target) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        stub = LimitsServiceStub(channel)
        check = health_pb2.HealthCheckRequest(service="")

        async def pair() -> None:
            made = await stub.Reserve(
                pb.ReserveRequest(tenant_id=tenant_id, tokens=1000), metadata=metadata
            )
            await stub.Settle(
                pb.SettleRequest(
                    tenant_id=tenant_id, reservation_id=made.reservation.id, actual_tokens=700
                ),
                metadata=metadata,
            )

        raw, raw_n = await _measure(lambda: health.Check(check), callers, seconds)
        pairs, pairs_n = await _measure(pair, callers, seconds)
    print(f"callers: {callers}, seconds per measurement: {seconds}")
    print(f"grpc.health.v1 Check  : {raw:9.0f} calls/s ({raw_n} calls)")
    print(f"Reserve+Settle pairs  : {pairs:9.0f} pairs/s ({pairs_n} pairs)")
    print(f"ratio pairs/Check     : {pairs / raw:.3f}")


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
            target, tenant_id, metadata = ours.recv()
            print(f"tenancy at {target} on {url.split(':', 1)[0]}")
            asyncio.run(_drive(target, tenant_id, metadata, args.callers, args.seconds))
        finally:
            ours.send("stop")
            server.join(timeout=10)
            if server.is_alive():
                server.terminate()


if __name__ == "__main__":
    main()
