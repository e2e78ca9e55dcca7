"""Tooling appends each call it runs to telemetry's mcp_tool_usage with the trace it ran in,
using its own internal token (exchanged with identity), on SQLite and on PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags
from sqlalchemy import select

from quarterdeck.tooling.v1 import executions_pb2 as pb
from services.telemetry.tool_usage.models import ToolUsageRecord
from services.tooling.executions.models import ToolCallRecord
from shared.identity_link import internal_client_entry
from shared.json_values import dict_to_struct
from shared.server import RunningService
from tests.support.http_server import LocalServer, local_http_server
from tests.support.stack import (
    TENANCY_INTERNAL_SECRET,
    Databases,
    feed_stack,
)
from tests.support.tokens import TestIssuer
from tests.support.tooling import Tooling, create_agent, create_tool, tooling_service

ISSUER = TestIssuer()
TOOLING_INTERNAL_SECRET = "tooling-internal-secret-for-tests"


@dataclass
class Platform:
    tooling: Tooling
    telemetry: RunningService[Any, Any]


@pytest.fixture(scope="module")
def server() -> Iterator[LocalServer]:
    with local_http_server() as local:
        yield local


@pytest.fixture(scope="module")
async def platform(backend: str, databases: Databases) -> AsyncIterator[Platform]:
    clients = ",".join(
        [
            internal_client_entry("tenancy", TENANCY_INTERNAL_SECRET),
            internal_client_entry("tooling", TOOLING_INTERNAL_SECRET),
        ]
    )
    async with (
        feed_stack(
            databases,
            backend,
            "tooling-usage",
            reporting=(),
            identity_overrides={"internal_clients": clients},
        ) as stack,
        # Callers' tokens come from the test issuer; tooling's own internal token from identity.
        tooling_service(
            databases,
            backend,
            "tooling-usage",
            ISSUER,
            identity_target=stack.identity.target,
            internal_secret=TOOLING_INTERNAL_SECRET,
            telemetry_target=stack.telemetry.target,
            egress_allowed_hosts="127.0.0.1",
        ) as tooling,
    ):
        yield Platform(tooling, stack.telemetry)


async def test_a_run_call_reaches_tool_usage_with_its_trace(
    platform: Platform, server: LocalServer
) -> None:
    tenant = str(uuid.uuid4())
    admin = ISSUER.member(tenant, "admin")
    tooling = platform.tooling
    tool = await create_tool(tooling, admin, tenant_id=tenant, endpoint=f"{server.base}/echo/{{q}}")
    agent = (await create_agent(tooling, admin, tenant_id=tenant, tools=[(tool.id, 1)])).agent
    parent = SpanContext(
        trace_id=0x4BF92F3577B34DA6A3CE929D0E0E4736,
        span_id=0x00F067AA0BA902B7,
        is_remote=False,
        trace_flags=TraceFlags(TraceFlags.SAMPLED),
    )
    with trace.use_span(NonRecordingSpan(parent)):
        call = (
            await tooling.executions.ExecuteTool(
                pb.ExecuteToolRequest(
                    tenant_id=tenant,
                    agent_id=agent.id,
                    tool_id=tool.id,
                    arguments=dict_to_struct({"q": "traced"}),
                ),
                metadata=admin,
            )
        ).tool_call
    assert call.state == pb.TOOL_CALL_STATE_OK
    assert call.trace_id == "4bf92f3577b34da6a3ce929d0e0e4736"
    await tooling.running.context.state.tool_usage.drain(10)
    async with platform.telemetry.context.database.reading() as session:
        rows = list(
            await session.scalars(
                select(ToolUsageRecord).where(ToolUsageRecord.tenant_id == tenant)
            )
        )
    assert [(r.tool_name, str(r.status), r.trace_id) for r in rows] == [
        (tool.name, "ok", call.trace_id)
    ]
    assert rows[0].latency_ms == call.latency_ms


async def test_a_retried_call_and_a_resent_append_store_one_usage_row(
    platform: Platform, server: LocalServer
) -> None:
    tenant = str(uuid.uuid4())
    admin = ISSUER.member(tenant, "admin")
    tooling = platform.tooling
    tool = await create_tool(tooling, admin, tenant_id=tenant, endpoint=f"{server.base}/echo/{{q}}")
    agent = (await create_agent(tooling, admin, tenant_id=tenant, tools=[(tool.id, 1)])).agent
    request = pb.ExecuteToolRequest(
        tenant_id=tenant,
        agent_id=agent.id,
        tool_id=tool.id,
        arguments=dict_to_struct({"q": "once"}),
        request_id=f"retry-{uuid.uuid4().hex}",
    )
    parent = SpanContext(
        trace_id=uuid.uuid4().int,
        span_id=0x00F067AA0BA902B7,
        is_remote=False,
        trace_flags=TraceFlags(TraceFlags.SAMPLED),
    )
    with trace.use_span(NonRecordingSpan(parent)):
        calls = [(await tooling.executions.ExecuteTool(request, metadata=admin)).tool_call]
        calls += [(await tooling.executions.ExecuteTool(request, metadata=admin)).tool_call]
    assert {c.id for c in calls} == {calls[0].id}
    link = tooling.running.context.state.tool_usage
    await link.drain(10)
    # The append itself is sent again (as BackgroundCalls does after a lost answer).
    async with tooling.running.context.database.reading() as session:
        stored = await session.get(ToolCallRecord, uuid.UUID(calls[0].id))
    assert stored is not None
    link.record(stored, {"again": True})
    link.record(stored, None)
    await link.drain(10)
    async with platform.telemetry.context.database.reading() as session:
        rows = list(
            await session.scalars(
                select(ToolUsageRecord).where(ToolUsageRecord.tenant_id == tenant)
            )
        )
    assert [(r.request_id, r.trace_id, r.span_id) for r in rows] == [
        (calls[0].id, calls[0].trace_id, calls[0].span_id)
    ]
    assert rows[0].trace_id and rows[0].span_id
