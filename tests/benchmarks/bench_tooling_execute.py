"""ExecuteTool throughput for a no-op HTTP tool beside a raw gRPC health check and a raw httpx
call to the same local HTTP server, measured the same way in the same run.

Run: ``uv run python -m tests.benchmarks.bench_tooling_execute [--seconds 5] [--callers 20]
[--database-url URL]``. Tooling runs in a child process (a migrated SQLite file unless a URL is
given, 127.0.0.1 allowed for egress) and the HTTP server in another; this process drives
``--callers`` concurrent callers: ``grpc.health.v1.Health/Check``, a raw ``httpx`` GET of the
tool's endpoint, and ``ExecuteTool`` (token check, agent/tool/permission reads, schema check,
the guarded HTTP call, the tool_calls and tool_results rows). Prints calls per second and the
ratios. Not collected by pytest (the name is bench_*).
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import tempfile
import uuid
from multiprocessing.connection import Connection
from pathlib import Path

import httpx
from grpc_health.v1 import health_pb2, health_pb2_grpc

from quarterdeck.tooling.v1 import executions_pb2 as pb
from quarterdeck.tooling.v1.agents_pb2_grpc import AgentServiceStub
from quarterdeck.tooling.v1.executions_pb2_grpc import ExecutionServiceStub
from quarterdeck.tooling.v1.tools_pb2_grpc import ToolServiceStub
from services.registry import spec_for
from shared.db import Database
from shared.grpc_client import open_channel
from shared.json_values import dict_to_struct
from shared.migrations import upgrade_to_head
from tests.benchmarks.bench_pricing import _measure
from tests.support.http_server import local_http_server
from tests.support.stack import running_service
from tests.support.tokens import TestIssuer
from tests.support.tooling import Tooling, create_agent, create_tool


async def _serve(database_url: str, pipe: Connection) -> None:
    database = Database(database_url)
    try:
        await upgrade_to_head(database, spec_for("tooling").migrations_dir)
    finally:
        await database.dispose()
    issuer = TestIssuer()
    tenant = str(uuid.uuid4())
    async with running_service(
        "tooling",
        database_url,
        authenticator=issuer.authenticator(),
        egress_allowed_hosts="127.0.0.1",
    ) as service:
        pipe.send((service.target, tenant, issuer.member(tenant, "admin")))
        await asyncio.get_running_loop().run_in_executor(None, pipe.recv)


def _tooling_main(database_url: str, pipe: Connection) -> None:
    asyncio.run(_serve(database_url, pipe))


def _http_main(pipe: Connection) -> None:
    with local_http_server() as server:
        pipe.send(server.port)
        pipe.recv()


async def _drive(
    target: str, tenant: str, admin: list[tuple[str, str]], port: int, callers: int, seconds: float
) -> None:
    endpoint = f"http://127.0.0.1:{port}/echo/{{q}}"
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
        health = health_pb2_grpc.HealthStub(channel)
        check = health_pb2.HealthCheckRequest(service="")
        url = endpoint.replace("{q}", "noop")
        checks, checks_n = await _measure(lambda: health.Check(check), callers, seconds)
        raw, raw_n = await _measure(lambda: raw_http.get(url), callers, seconds)
        executed, executed_n = await _measure(
            lambda: stubs.executions.ExecuteTool(request, metadata=admin), callers, seconds
        )
    print(f"callers: {callers}, seconds per measurement: {seconds}")
    print(f"grpc.health.v1 Check : {checks:9.0f} calls/s ({checks_n} calls)")
    print(f"raw httpx GET        : {raw:9.0f} calls/s ({raw_n} calls)")
    print(f"ExecuteTool          : {executed:9.0f} calls/s ({executed_n} calls)")
    print(f"ratio ExecuteTool/httpx: {executed / raw:.3f}")
    print(f"ratio ExecuteTool/Check: {executed / checks:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--callers", type=int, default=20)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    context = multiprocessing.get_context("spawn")
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite+aiosqlite:///{Path(tmp) / 'tooling-bench.db'}"
        tooling_ours, tooling_theirs = context.Pipe()
        http_ours, http_theirs = context.Pipe()
        children = [
            context.Process(target=_tooling_main, args=(url, tooling_theirs), daemon=True),
            context.Process(target=_http_main, args=(http_theirs,), daemon=True),
        ]
        for child in children:
            child.start()
        try:
            target, tenant, admin = tooling_ours.recv()
            port = http_ours.recv()
            print(f"tooling at {target} on {url.split(':', 1)[0]}; HTTP server on {port}")
            asyncio.run(_drive(target, tenant, admin, port, args.callers, args.seconds))
        finally:
            for pipe in (tooling_ours, http_ours):
                pipe.send("stop")
            for child in children:
                child.join(timeout=10)
                if child.is_alive():
                    child.terminate()


if __name__ == "__main__":
    main()
