"""MCP tools through tooling, on SQLite and on PostgreSQL: a real MCP server built with the
official SDK is listed and its tools imported as tool configs, then called through ExecuteTool;
tool errors, hangs, garbage and refused destinations end as clear errors; a server's tools/list
answer is cached (TTL on the injected clock, refresh on request); a stdio server built with the
SDK runs only as the command the operators registered."""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import grpc
import pytest

from quarterdeck.tooling.v1 import executions_pb2 as pb
from quarterdeck.tooling.v1 import permissions_pb2 as ppb
from quarterdeck.tooling.v1 import tools_pb2 as tpb
from shared.json_values import dict_to_struct, value_to_python
from tests.support import mcp_stdio_server
from tests.support.clock import ManualClock
from tests.support.errors import failure, rich_error
from tests.support.http_server import LocalServer, local_http_server
from tests.support.mcp_server import LocalMcpServer, local_mcp_server
from tests.support.stack import Databases
from tests.support.tokens import TestIssuer
from tests.support.tooling import Tooling, create_agent, tooling_service

ISSUER = TestIssuer()
CLOCK = ManualClock()


@pytest.fixture(scope="module")
def mcp() -> Iterator[LocalMcpServer]:
    with local_mcp_server() as server:
        yield server


@pytest.fixture(scope="module")
def http() -> Iterator[LocalServer]:
    with local_http_server() as server:
        yield server


@pytest.fixture(scope="module")
def stdio_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("mcp-stdio") / "shelf.log"


@pytest.fixture(scope="module")
async def tooling(backend: str, databases: Databases, stdio_log: Path) -> AsyncIterator[Tooling]:
    # What an operator registers: the one command tooling may run, by name.
    shelf = [sys.executable, mcp_stdio_server.__file__, str(stdio_log)]
    async with tooling_service(
        databases,
        backend,
        "mcp",
        ISSUER,
        egress_allowed_hosts="127.0.0.1",
        mcp_stdio_servers=json.dumps({"shelf": shelf}),
        clock=CLOCK,
    ) as service:
        yield service


async def import_tools(
    tooling: Tooling, tenant: str, url: str, call_seconds: float = 10.0
) -> dict[str, tpb.ToolConfig]:
    response = await tooling.tools.ImportMcpTools(
        tpb.ImportMcpToolsRequest(
            tenant_id=tenant, server_url=url, name_prefix="inv.", timeout_seconds=call_seconds
        ),
        metadata=ISSUER.member(tenant, "admin"),
    )
    return {tool.name: tool for tool in response.tools}


async def test_an_mcp_servers_tools_are_imported_and_called(
    tooling: Tooling, mcp: LocalMcpServer
) -> None:
    tenant = str(uuid.uuid4())
    admin = ISSUER.member(tenant, "admin")
    tools = await import_tools(tooling, tenant, mcp.url)
    assert set(tools) == {"inv.stock", "inv.broken", "inv.stuck"}
    stock = tools["inv.stock"]
    assert stock.base_tool_type == "MCP"
    assert value_to_python(stock.input_schema)["required"] == ["sku"]
    again = await import_tools(tooling, tenant, mcp.url)
    assert again["inv.stock"].id == stock.id  # refreshed, not duplicated

    agent = (
        await create_agent(
            tooling,
            admin,
            tenant_id=tenant,
            tools=[(t.id, i) for i, t in enumerate(tools.values())],
        )
    ).agent
    call = (
        await tooling.executions.ExecuteTool(
            pb.ExecuteToolRequest(
                tenant_id=tenant,
                agent_id=agent.id,
                tool_name="inv.stock",
                arguments=dict_to_struct({"sku": "A-1"}),
            ),
            metadata=admin,
        )
    ).tool_call
    assert call.state == pb.TOOL_CALL_STATE_OK, call.error
    assert value_to_python(call.result) == {"sku": "A-1", "units": 4}
    assert "stock:A-1" in mcp.calls

    invalid = await failure(
        tooling.executions.ExecuteTool(
            pb.ExecuteToolRequest(tenant_id=tenant, agent_id=agent.id, tool_name="inv.stock"),
            metadata=admin,
        )
    )
    assert invalid.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "arguments" in rich_error(invalid).field_violations

    broken = (
        await tooling.executions.ExecuteTool(
            pb.ExecuteToolRequest(tenant_id=tenant, agent_id=agent.id, tool_name="inv.broken"),
            metadata=admin,
        )
    ).tool_call
    assert broken.state == pb.TOOL_CALL_STATE_ERROR
    assert broken.error_reason == "MCP_TOOL_ERROR"
    assert "warehouse system is down" in broken.error


async def test_an_mcp_server_that_hangs_times_out(tooling: Tooling, mcp: LocalMcpServer) -> None:
    tenant = str(uuid.uuid4())
    admin = ISSUER.member(tenant, "admin")
    tools = await import_tools(tooling, tenant, mcp.url, call_seconds=0.5)
    agent = (
        await create_agent(tooling, admin, tenant_id=tenant, tools=[(tools["inv.stuck"].id, 1)])
    ).agent
    call = (
        await tooling.executions.ExecuteTool(
            pb.ExecuteToolRequest(tenant_id=tenant, agent_id=agent.id, tool_name="inv.stuck"),
            metadata=admin,
        )
    ).tool_call
    assert call.state == pb.TOOL_CALL_STATE_TIMEOUT


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/mcp",
        "http://[::ffff:127.0.0.1]/mcp",
        "http://localhost:{port}/mcp",  # loopback by a name the operators did not allow
    ],
)
async def test_mcp_servers_at_private_addresses_are_refused(
    tooling: Tooling, mcp: LocalMcpServer, url: str
) -> None:
    tenant = str(uuid.uuid4())
    calls_before = list(mcp.calls)
    error = await failure(import_tools(tooling, tenant, url.format(port=mcp.port)))
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED
    assert rich_error(error).reason == "EGRESS_DENIED"
    assert mcp.calls == calls_before


async def test_a_server_answering_garbage_is_a_clear_error(
    tooling: Tooling, http: LocalServer
) -> None:
    tenant = str(uuid.uuid4())
    error = await failure(import_tools(tooling, tenant, f"{http.base}/echo/not-mcp"))
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert rich_error(error).reason in {"MCP_ERROR", "MCP_TIMEOUT"}
    assert rich_error(error).message


async def test_a_servers_tools_list_is_cached_until_the_ttl_or_a_refresh(
    tooling: Tooling, mcp: LocalMcpServer
) -> None:
    tenant = str(uuid.uuid4())
    await import_tools(tooling, tenant, mcp.url)
    listed = mcp.lists
    other = str(uuid.uuid4())
    tools = await import_tools(tooling, other, mcp.url)  # another tenant, the same server
    assert "inv.stock" in tools
    assert mcp.lists == listed
    refreshed = await tooling.tools.ImportMcpTools(
        tpb.ImportMcpToolsRequest(tenant_id=other, server_url=mcp.url, refresh=True),
        metadata=ISSUER.member(other, "admin"),
    )
    assert "stock" in {t.name for t in refreshed.tools}
    assert mcp.lists == listed + 1
    CLOCK.now += 301  # past mcp_tools_cache_seconds (300 by default)
    await import_tools(tooling, tenant, mcp.url)
    assert mcp.lists == listed + 2


async def test_a_registered_stdio_server_is_imported_by_operators_and_called(
    tooling: Tooling, stdio_log: Path
) -> None:
    operator = ISSUER.operator()
    imported = await tooling.tools.ImportMcpTools(
        tpb.ImportMcpToolsRequest(
            server_url="stdio:shelf", name_prefix=f"s{uuid.uuid4().hex[:6]}.", refresh=True
        ),
        metadata=operator,
    )
    [tool] = imported.tools
    assert tool.name.endswith(".shelf_count") and not tool.tenant_id
    assert value_to_python(tool.input_schema)["required"] == ["item"]
    tenant = str(uuid.uuid4())
    admin = ISSUER.member(tenant, "admin")
    await tooling.permissions.SetToolPermission(
        ppb.SetToolPermissionRequest(
            permission=ppb.ToolPermission(tenant_id=tenant, tool_id=tool.id, enabled=True)
        ),
        metadata=admin,
    )
    agent = (await create_agent(tooling, admin, tenant_id=tenant, tools=[(tool.id, 1)])).agent
    call = (
        await tooling.executions.ExecuteTool(
            pb.ExecuteToolRequest(
                tenant_id=tenant,
                agent_id=agent.id,
                tool_id=tool.id,
                arguments=dict_to_struct({"item": "bolts"}),
            ),
            metadata=admin,
        )
    ).tool_call
    assert call.state == pb.TOOL_CALL_STATE_OK, call.error
    assert value_to_python(call.result) == {"item": "bolts", "count": 5}
    assert "call:bolts" in (await asyncio.to_thread(stdio_log.read_text)).split()

    unregistered = await failure(
        tooling.tools.ImportMcpTools(
            tpb.ImportMcpToolsRequest(server_url="stdio:bash"), metadata=operator
        )
    )
    assert unregistered.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "server_url" in rich_error(unregistered).field_violations
    by_a_tenant = await failure(
        tooling.tools.ImportMcpTools(
            tpb.ImportMcpToolsRequest(tenant_id=tenant, server_url="stdio:shelf"), metadata=admin
        )
    )
    assert by_a_tenant.code() == grpc.StatusCode.PERMISSION_DENIED
    assert rich_error(by_a_tenant).reason == "MCP_STDIO_OPERATORS_ONLY"
    # A tenant cannot point a tool of its own at a stdio server either.
    own = await failure(
        tooling.tools.CreateToolConfig(
            tpb.CreateToolConfigRequest(
                tool=tpb.ToolConfig(
                    tenant_id=tenant,
                    name=f"own-{uuid.uuid4().hex[:6]}",
                    base_tool_id=tool.base_tool_id,
                    config=dict_to_struct({"server_url": "stdio:shelf", "tool_name": "x"}),
                )
            ),
            metadata=admin,
        )
    )
    assert own.code() == grpc.StatusCode.INVALID_ARGUMENT
