"""CPU per call of the three usage writes an agent turn makes (tenancy's BillingService.RecordUsage
and tooling's AgentService.RecordAgentUsage, each with a new request_id, and telemetry's
UsageService.RecordUsage with a new event id), one kind after another, against the turn's
in-process services.

Run: ``uv run python -m tests.benchmarks.bench_usage_writes [--backend sqlite|postgresql]
[--calls 1000] [--callers 4]``. CPU is this one process's (the services and their clients alike,
``time.process_time``) per call, after a warm-up, so compare A against B on the same machine in
the same window rather than reading it as the server's alone. Not collected by pytest (the name
is bench_*).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

from quarterdeck.telemetry.v1 import usage_pb2 as upb
from quarterdeck.tenancy.v1 import billing_pb2 as bpb
from quarterdeck.tooling.v1 import agents_pb2 as apb
from tests.support.conversation_turn import Tenant, TurnStack, new_tenant, turn_stack
from tests.support.postgres import PostgresServer, postgres_server
from tests.support.stack import Databases


async def _cpu_ms_per_call(
    call: Callable[[], Awaitable[object]], calls: int, callers: int
) -> tuple[float, float]:
    """CPU ms per call and calls per second of ``calls`` calls by ``callers`` at once."""
    await asyncio.gather(*(call() for _ in range(callers * 4)))  # warm-up, not counted
    left = calls

    async def caller() -> None:
        nonlocal left
        while left > 0:
            left -= 1
            await call()

    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(caller() for _ in range(callers)))
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return cpu * 1000 / calls, calls / wall


def _writes(stack: TurnStack, tenants: list[Tenant]) -> dict[str, Callable[[], Awaitable[object]]]:
    """Each write as a call of its own, for the tenants in turn, with a new id each time."""
    turn = itertools.cycle(tenants)
    user_id = str(uuid.uuid4())

    def billing() -> Awaitable[object]:
        tenant = next(turn)
        return stack.billing.RecordUsage(
            bpb.RecordUsageRequest(
                tenant_id=tenant.id,
                user_id=user_id,
                input_tokens=10,
                output_tokens=5,
                requests=1,
                request_id=f"run:{uuid.uuid4().hex}",
            ),
            metadata=stack.internal,
        )

    def agent() -> Awaitable[object]:
        tenant = next(turn)
        return stack.tooling.agents.RecordAgentUsage(
            apb.RecordAgentUsageRequest(
                tenant_id=tenant.id,
                agent_id=tenant.agent_id,
                tokens_used=15,
                request_id=f"run:{uuid.uuid4().hex}",
            ),
            metadata=stack.internal,
        )

    def telemetry() -> Awaitable[object]:
        tenant = next(turn)
        return stack.usage.RecordUsage(
            upb.RecordUsageRequest(
                tenant_id=tenant.id,
                record=upb.UsageRecord(
                    event_id=f"run:{uuid.uuid4().hex}",
                    event_type="agent_run",
                    model_used="bench-model",
                    provider="bench",
                    input_tokens=10,
                    output_tokens=5,
                    service_name="conversation",
                ),
            ),
            metadata=stack.internal,
        )

    return {
        "BillingService.RecordUsage": billing,
        "AgentService.RecordAgentUsage": agent,
        "UsageService.RecordUsage": telemetry,
    }


async def main(postgres: PostgresServer, backend: str, calls: int, callers: int) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        databases = Databases(Path(scratch), postgres)
        try:
            async with turn_stack(databases, backend, "usagewrites") as stack:
                tenants = [await new_tenant(stack) for _ in range(4)]
                print(f"backend: {backend}; {calls} calls of each, {callers} at once")
                load = os.getloadavg()[0]
                for name, call in _writes(stack, tenants).items():
                    cpu_ms, rate = await _cpu_ms_per_call(call, calls, callers)
                    print(f"{name:30s} {cpu_ms:6.2f} CPU ms/call  {rate:7.1f} calls/s")
                print(f"load average {load:.2f} -> {os.getloadavg()[0]:.2f}")
        finally:
            await databases.drop_all()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="postgresql")
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--callers", type=int, default=4)
    args = parser.parse_args()
    with postgres_server() as server:  # it probes with its own event loop: outside ours
        asyncio.run(main(server, args.backend, args.calls, args.callers))
