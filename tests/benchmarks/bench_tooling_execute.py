"""ExecuteTool throughput for a no-op HTTP tool beside a raw gRPC health check and a raw httpx
call to the same local HTTP server, measured the same way in the same run.

Run: ``uv run python -m tests.benchmarks.bench_tooling_execute [--seconds 5] [--callers 20]
[--database-url URL]``. Tooling runs in a child process (a migrated SQLite file unless a URL is
given, 127.0.0.1 allowed for egress), the HTTP server in another, and telemetry with the
identity and tenancy it needs (SQLite files) in a third, as deployed: tooling exchanges its
internal key with identity and appends every call to telemetry's mcp_tool_usage. This process
drives ``--callers`` concurrent callers: ``grpc.health.v1.Health/Check``, a raw ``httpx`` GET of
the tool's endpoint, and ``ExecuteTool`` (token check, agent/tool/permission reads, schema check,
the guarded HTTP call, the tool_calls and tool_results rows, the telemetry append). Prints calls
per second, the ratios and each server process's CPU ms per call (from ``/proc/<pid>/stat``),
then waits for every append to land and counts telemetry's rows against the calls made. Not
collected by pytest (the name is bench_*).
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from multiprocessing.connection import Connection
from pathlib import Path

import httpx
from grpc_health.v1 import health_pb2, health_pb2_grpc
from sqlalchemy import func, select

from quarterdeck.tooling.v1 import executions_pb2 as pb
from quarterdeck.tooling.v1.agents_pb2_grpc import AgentServiceStub
from quarterdeck.tooling.v1.executions_pb2_grpc import ExecutionServiceStub
from quarterdeck.tooling.v1.tools_pb2_grpc import ToolServiceStub
from services.registry import spec_for
from services.telemetry.tool_usage.models import ToolUsageRecord
from shared.db import Database
from shared.grpc_client import open_channel
from shared.identity_link import internal_client_entry
from shared.json_values import dict_to_struct
from shared.migrations import upgrade_to_head
from tests.support.http_server import local_http_server
from tests.support.stack import (
    IDENTITY_TEST_SETTINGS,
    TENANCY_INTERNAL_SECRET,
    free_port,
    running_service,
)
from tests.support.tokens import TestIssuer
from tests.support.tooling import Tooling, create_agent, create_tool

TOOLING_INTERNAL_SECRET = "tooling-internal-secret-for-the-bench"
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


async def _migrated(url: str, service: str) -> str:
    database = Database(url)
    try:
        await upgrade_to_head(database, spec_for(service).migrations_dir)
    finally:
        await database.dispose()
    return url


async def _serve_tooling(database_url: str, platform: tuple[str, str], pipe: Connection) -> None:
    identity_target, telemetry_target = platform
    issuer = TestIssuer()
    tenant = str(uuid.uuid4())
    async with running_service(
        "tooling",
        await _migrated(database_url, "tooling"),
        authenticator=issuer.authenticator(),
        egress_allowed_hosts="127.0.0.1",
        identity_target=identity_target,
        internal_secret=TOOLING_INTERNAL_SECRET,
        telemetry_target=telemetry_target,
    ) as service:
        pipe.send((service.target, tenant, issuer.member(tenant, "admin")))
        await asyncio.get_running_loop().run_in_executor(None, pipe.recv)  # "drain"
        await service.context.state.tool_usage.drain(120)
        pipe.send("drained")
        await asyncio.get_running_loop().run_in_executor(None, pipe.recv)  # "stop"


def _tooling_main(database_url: str, platform: tuple[str, str], pipe: Connection) -> None:
    asyncio.run(_serve_tooling(database_url, platform, pipe))


async def _serve_platform(tmp: str, pipe: Connection) -> None:
    """Telemetry, and the identity (with tenancy) that signs the internal tokens it checks."""
    identity_port = free_port()
    clients = ",".join(
        [
            internal_client_entry("tenancy", TENANCY_INTERNAL_SECRET),
            internal_client_entry("tooling", TOOLING_INTERNAL_SECRET),
        ]
    )
    telemetry_url = await _migrated(f"sqlite+aiosqlite:///{tmp}/telemetry.db", "telemetry")
    async with (
        running_service(
            "telemetry",
            telemetry_url,
            identity_target=f"127.0.0.1:{identity_port}",
        ) as telemetry,
        running_service(
            "tenancy",
            await _migrated(f"sqlite+aiosqlite:///{tmp}/tenancy.db", "tenancy"),
            identity_target=f"127.0.0.1:{identity_port}",
            internal_secret=TENANCY_INTERNAL_SECRET,
            billing_advance_interval_seconds=0,
            stripe_dispatch_interval_seconds=0,
        ) as tenancy,
        running_service(
            "identity",
            await _migrated(f"sqlite+aiosqlite:///{tmp}/identity.db", "identity"),
            port=identity_port,
            tenancy_target=tenancy.target,
            **{**IDENTITY_TEST_SETTINGS, "internal_clients": clients},
        ),
    ):
        pipe.send((f"127.0.0.1:{identity_port}", telemetry.target, telemetry_url))
        await asyncio.get_running_loop().run_in_executor(None, pipe.recv)


def _platform_main(tmp: str, pipe: Connection) -> None:
    asyncio.run(_serve_platform(tmp, pipe))


def _http_main(pipe: Connection) -> None:
    with local_http_server() as server:
        pipe.send(server.port)
        pipe.recv()


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS  # utime + stime


async def _measure(
    call: Callable[[], Awaitable[object]], callers: int, seconds: float, pids: dict[str, int]
) -> tuple[float, int, dict[str, float]]:
    """Calls per second, calls made and each process's CPU ms per call over ``seconds``."""
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
    cpu_before = {name: _cpu_seconds(pid) for name, pid in pids.items()}
    started = time.perf_counter()
    deadline = started + seconds
    await asyncio.gather(*(caller() for _ in range(callers)))
    elapsed = time.perf_counter() - started
    cpu = {
        name: (_cpu_seconds(pid) - cpu_before[name]) * 1000 / max(done, 1)
        for name, pid in pids.items()
    }
    return done / elapsed, done, cpu


def _cpu_text(cpu: dict[str, float]) -> str:
    return ", ".join(f"{name} {ms:.2f}" for name, ms in cpu.items())


async def _drive(
    target: str,
    tenant: str,
    admin: list[tuple[str, str]],
    port: int,
    callers: int,
    seconds: float,
    pids: dict[str, int],
) -> int:
    """Measures the three rows; returns how many ExecuteTool calls were made in all."""
    endpoint = f"http://127.0.0.1:{port}/echo/{{q}}"
    executed_total = 0
    async with open_channel(target) as channel, httpx.AsyncClient(trust_env=False) as raw_http:
        stubs = Tooling(
            None,  # type: ignore[arg-type]
            AgentServiceStub(channel),
            ToolServiceStub(channel),
            None,  # type: ignore[arg-type]
            ExecutionServiceStub(channel),
            None,  # type: ignore[arg-type]
            None,  # type: ignore[arg-type]
        )
        tool = await create_tool(stubs, admin, tenant_id=tenant, endpoint=endpoint)
        agent = (await create_agent(stubs, admin, tenant_id=tenant, tools=[(tool.id, 1)])).agent
        request = pb.ExecuteToolRequest(
            tenant_id=tenant,
            agent_id=agent.id,
            tool_id=tool.id,
            arguments=dict_to_struct({"q": "noop"}),
        )
        first = await stubs.executions.ExecuteTool(request, metadata=admin)
        assert first.tool_call.state == pb.TOOL_CALL_STATE_OK, first.tool_call.error

        async def execute() -> None:
            nonlocal executed_total
            executed_total += 1
            await stubs.executions.ExecuteTool(request, metadata=admin)

        health = health_pb2_grpc.HealthStub(channel)
        check = health_pb2.HealthCheckRequest(service="")
        url = endpoint.replace("{q}", "noop")
        checks, checks_n, checks_cpu = await _measure(
            lambda: health.Check(check), callers, seconds, pids
        )
        raw, raw_n, raw_cpu = await _measure(lambda: raw_http.get(url), callers, seconds, pids)
        executed, executed_n, executed_cpu = await _measure(execute, callers, seconds, pids)
    print(f"callers: {callers}, seconds per measurement: {seconds}, load {os.getloadavg()[0]:.1f}")
    print("                       calls/s    calls   CPU ms per call")
    print(f"grpc.health.v1 Check : {checks:7.0f} {checks_n:8d}   {_cpu_text(checks_cpu)}")
    print(f"raw httpx GET        : {raw:7.0f} {raw_n:8d}   {_cpu_text(raw_cpu)}")
    print(f"ExecuteTool          : {executed:7.0f} {executed_n:8d}   {_cpu_text(executed_cpu)}")
    print(f"ratio ExecuteTool/httpx: {executed / raw:.3f}")
    print(f"ratio ExecuteTool/Check: {executed / checks:.3f}")
    return executed_total + 1


async def _usage_rows(telemetry_url: str, tenant: str) -> int:
    database = Database(telemetry_url)
    try:
        async with database.reading() as session:
            count = await session.scalar(
                select(func.count())
                .select_from(ToolUsageRecord)
                .where(ToolUsageRecord.tenant_id == tenant)
            )
    finally:
        await database.dispose()
    return int(count or 0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--callers", type=int, default=20)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    context = multiprocessing.get_context("spawn")
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite+aiosqlite:///{Path(tmp) / 'tooling-bench.db'}"
        platform_ours, platform_theirs = context.Pipe()
        tooling_ours, tooling_theirs = context.Pipe()
        http_ours, http_theirs = context.Pipe()
        platform = context.Process(target=_platform_main, args=(tmp, platform_theirs), daemon=True)
        http = context.Process(target=_http_main, args=(http_theirs,), daemon=True)
        children = [platform, http]
        for child in children:
            child.start()
        try:
            identity_target, telemetry_target, telemetry_url = platform_ours.recv()
            tooling = context.Process(
                target=_tooling_main,
                args=(url, (identity_target, telemetry_target), tooling_theirs),
                daemon=True,
            )
            children.append(tooling)
            tooling.start()
            target, tenant, admin = tooling_ours.recv()
            port = http_ours.recv()
            print(
                f"tooling at {target} on {url.split(':', 1)[0]}, telemetry at {telemetry_target}; "
                f"HTTP server on {port}; pids: tooling {tooling.pid}, telemetry {platform.pid}",
                flush=True,
            )
            pids = {"tooling": tooling.pid or 0, "telemetry+identity": platform.pid or 0}
            calls = asyncio.run(
                _drive(target, tenant, admin, port, args.callers, args.seconds, pids)
            )
            tooling_ours.send("drain")
            tooling_ours.recv()
            rows = asyncio.run(_usage_rows(telemetry_url, tenant))
            print(f"telemetry mcp_tool_usage rows: {rows} of {calls} ExecuteTool calls")
        finally:
            for pipe in (tooling_ours, http_ours, platform_ours):
                pipe.send("stop")
            for child in children:
                child.join(timeout=10)
                if child.is_alive():
                    child.terminate()


if __name__ == "__main__":
    main()
