"""Tooling's one rule for an empty tenant_id (shared.tenant_scope): the caller's own tenant.
Operators, who have none, read only global rows with it, and must name the tenant where a call
acts on one tenant's data. Over a real in-process server, on SQLite and on PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import grpc
import pytest

from quarterdeck.tooling.v1 import agents_pb2 as apb
from quarterdeck.tooling.v1 import executions_pb2 as epb
from quarterdeck.tooling.v1 import memory_pb2 as mpb
from quarterdeck.tooling.v1 import tools_pb2 as tpb
from shared.json_values import python_to_value
from tests.support.errors import rich_error
from tests.support.stack import Databases
from tests.support.tokens import TestIssuer
from tests.support.tooling import Tooling, create_agent, create_tool, failure, tooling_service

ISSUER = TestIssuer()


@pytest.fixture(scope="module")
async def tooling(backend: str, databases: Databases) -> AsyncIterator[Tooling]:
    async with tooling_service(databases, backend, "tenant-scope", ISSUER) as service:
        yield service


async def test_an_empty_tenant_id_reads_the_callers_own_tenant(tooling: Tooling) -> None:
    tenant = str(uuid.uuid4())
    admin, viewer = ISSUER.member(tenant, "admin"), ISSUER.member(tenant, "viewer")
    own = (await create_agent(tooling, admin, tenant_id=tenant)).agent
    global_agent = (await create_agent(tooling, ISSUER.operator())).agent
    own_tool = await create_tool(tooling, admin, tenant_id=tenant)

    listed = await tooling.agents.ListAgents(apb.ListAgentsRequest(page_size=1000), metadata=viewer)
    assert {own.id, global_agent.id} <= {a.id for a in listed.agents}
    got = await tooling.agents.GetAgent(apb.GetAgentRequest(agent_id=own.id), metadata=viewer)
    assert got.agent.id == own.id
    tool = await tooling.tools.GetToolConfig(
        tpb.GetToolConfigRequest(tool_id=own_tool.id), metadata=viewer
    )
    assert tool.tool.tenant_id == tenant
    calls = await tooling.executions.ListToolCalls(epb.ListToolCallsRequest(), metadata=viewer)
    assert list(calls.tool_calls) == []

    # An operator without a tenant_id reads global rows only.
    operator_view = await tooling.agents.ListAgents(
        apb.ListAgentsRequest(page_size=1000), metadata=ISSUER.operator()
    )
    assert own.id not in {a.id for a in operator_view.agents}
    assert global_agent.id in {a.id for a in operator_view.agents}


async def test_an_empty_tenant_id_writes_the_callers_own_tenant(tooling: Tooling) -> None:
    tenant = str(uuid.uuid4())
    member = ISSUER.member(tenant, "member")
    stored = await tooling.memory.UpsertMemory(
        mpb.UpsertMemoryRequest(
            entry=mpb.MemoryEntry(
                scope=mpb.MEMORY_SCOPE_GLOBAL, key="tone", value=python_to_value("formal")
            )
        ),
        metadata=member,
    )
    assert stored.entry.tenant_id == tenant
    created = await tooling.agents.CreateAgent(
        apb.CreateAgentRequest(agent=apb.Agent(name="Scoped", role_name="support")),
        metadata=ISSUER.member(tenant, "admin"),
    )
    assert created.agent.tenant_id == tenant and not created.agent.is_global

    # Operators name the tenant; a viewer still may not write.
    error = await failure(
        tooling.memory.GetMemory(
            mpb.GetMemoryRequest(scope=mpb.MEMORY_SCOPE_GLOBAL, key="tone"),
            metadata=ISSUER.operator(),
        )
    )
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "tenant_id" in rich_error(error).field_violations
    error = await failure(
        tooling.memory.DeleteMemory(
            mpb.DeleteMemoryRequest(scope=mpb.MEMORY_SCOPE_GLOBAL, key="tone"),
            metadata=ISSUER.member(tenant, "viewer"),
        )
    )
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED
