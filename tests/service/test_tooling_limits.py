"""Execution limits enforced exactly by ExecuteTool, on SQLite and on PostgreSQL: the windows
(tool calls a minute, tool calls a UTC day, DB_QUERY calls a minute) are counted in the
database, so two replicas on one database share them and a burst of concurrent calls is admitted
exactly up to the limit; allowed and blocked operations and tools; and the agent definition
cache of the ExecuteTool path (a replica sees its own change at once, the other after the TTL).
Time moves only by the injected clock."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
from google.protobuf.field_mask_pb2 import FieldMask
from sqlalchemy import select

from quarterdeck.tooling.v1 import agents_pb2 as apb
from quarterdeck.tooling.v1 import executions_pb2 as pb
from services.tooling.agents.models import AgentExecutionCounterRecord
from shared.json_values import dict_to_struct
from tests.support.clock import ManualClock
from tests.support.errors import rich_error
from tests.support.http_server import LocalServer, local_http_server
from tests.support.stack import Databases
from tests.support.tokens import TestIssuer
from tests.support.tooling import Tooling, create_agent, create_tool, failure, tooling_service

ISSUER = TestIssuer()
#: A second into a UTC day (so into a minute too).
DAY_START = 1_800_057_600
CLOCK = ManualClock(DAY_START + 1)


@dataclass
class Replicas:
    a: Tooling
    b: Tooling


@pytest.fixture(scope="module")
def server() -> Iterator[LocalServer]:
    with local_http_server() as local:
        yield local


@pytest.fixture(scope="module")
async def replicas(backend: str, databases: Databases) -> AsyncIterator[Replicas]:
    settings: dict[str, Any] = {"egress_allowed_hosts": "127.0.0.1", "clock": CLOCK}
    async with (
        tooling_service(databases, backend, "limits", ISSUER, **settings) as a,
        tooling_service(databases, backend, "limits", ISSUER, **settings) as b,
    ):
        yield Replicas(a, b)


@pytest.fixture(autouse=True)
def start_of_a_day() -> None:
    CLOCK.now = DAY_START + 1


@dataclass
class Setup:
    tenant: str
    member: list[tuple[str, str]]
    agent: str
    tool: str
    role: str


async def setup(tooling: Tooling, server: LocalServer, **limits: Any) -> Setup:
    tenant = str(uuid.uuid4())
    admin = ISSUER.member(tenant, "admin")
    role = f"limited-{uuid.uuid4().hex[:8]}"
    tool = await create_tool(tooling, admin, tenant_id=tenant, endpoint=f"{server.base}/echo/{{q}}")
    agent = (
        await create_agent(tooling, admin, tenant_id=tenant, role_name=role, tools=[(tool.id, 1)])
    ).agent
    await tooling.agents.SetExecutionLimits(
        apb.SetExecutionLimitsRequest(
            limits=apb.ExecutionLimits(agent_role=role, cost_tier="free", **limits)
        ),
        metadata=ISSUER.operator(),
    )
    return Setup(tenant, ISSUER.member(tenant, "member"), agent.id, tool.id, role)


def execute(s: Setup, q: str) -> pb.ExecuteToolRequest:
    return pb.ExecuteToolRequest(
        tenant_id=s.tenant, agent_id=s.agent, tool_id=s.tool, arguments=dict_to_struct({"q": q})
    )


async def attempt(tooling: Tooling, s: Setup, q: str) -> str:
    """OK, or the reason the call was refused."""
    try:
        reply = await tooling.executions.ExecuteTool(execute(s, q), metadata=s.member)
    except grpc.aio.AioRpcError as error:
        refused = error
    else:
        assert reply.tool_call.state == pb.TOOL_CALL_STATE_OK, reply.tool_call.error
        return "OK"
    assert refused.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, refused.details()
    return rich_error(refused).reason


async def calls(tooling: Tooling, s: Setup) -> list[pb.ToolCall]:
    listed = await tooling.executions.ListToolCalls(
        pb.ListToolCallsRequest(tenant_id=s.tenant, page_size=100), metadata=s.member
    )
    return list(listed.tool_calls)


async def test_a_burst_across_two_replicas_is_admitted_exactly_up_to_the_rate(
    replicas: Replicas, server: LocalServer
) -> None:
    s = await setup(replicas.a, server, rate_limit_per_minute=3)
    marker = uuid.uuid4().hex[:8]
    outcomes = await asyncio.gather(
        *(attempt(replicas.a if i % 2 else replicas.b, s, f"{marker}{i}") for i in range(8))
    )
    assert sorted(outcomes) == ["OK"] * 3 + ["TOOL_RATE_LIMITED"] * 5
    assert sum(server.hits(f"/echo/{marker}{i}") for i in range(8)) == 3
    recorded = await calls(replicas.a, s)
    # Each refusal is a call in state error saying why; nothing else was kept.
    assert (
        sorted(c.error_reason for c in recorded if c.state == pb.TOOL_CALL_STATE_ERROR)
        == ["TOOL_RATE_LIMITED"] * 5
    )
    assert len([c for c in recorded if c.state == pb.TOOL_CALL_STATE_OK]) == 3
    refused = await failure(
        replicas.b.executions.ExecuteTool(execute(s, "late"), metadata=s.member)
    )
    assert "3 tool calls a minute" in (refused.details() or "")
    # A second into the minute: the window ends in 59 seconds.
    assert rich_error(refused).metadata["retry_after_seconds"] == "59"
    # The next minute admits three again, on either replica.
    CLOCK.now += 60
    assert [await attempt(replicas.b, s, f"next{i}") for i in range(4)] == [
        "OK",
        "OK",
        "OK",
        "TOOL_RATE_LIMITED",
    ]


async def test_tool_calls_a_day_count_across_minutes_until_the_next_utc_day(
    replicas: Replicas, server: LocalServer
) -> None:
    s = await setup(replicas.a, server, rate_limit_per_minute=2, max_tool_calls_per_day=5)
    got = []
    for minute in range(4):
        CLOCK.now = DAY_START + 1 + 60 * minute
        got += [await attempt(replicas.a if minute % 2 else replicas.b, s, f"d{minute}")]
        got += [await attempt(replicas.b, s, f"e{minute}")]
    assert got == ["OK"] * 5 + ["CALLS_PER_DAY_EXCEEDED"] * 3
    listed = await replicas.a.agents.ListExecutionLimits(
        apb.ListExecutionLimitsRequest(agent_role=s.role), metadata=s.member
    )
    assert [x.max_tool_calls_per_day for x in listed.limits] == [5]
    CLOCK.now = DAY_START + 86_400 + 5
    assert await attempt(replicas.a, s, "tomorrow") == "OK"


async def test_an_unlimited_role_counts_nothing_and_a_refused_call_is_not_counted(
    replicas: Replicas, server: LocalServer
) -> None:
    s = await setup(replicas.a, server, rate_limit_per_minute=2)
    bad = await failure(
        replicas.a.executions.ExecuteTool(
            pb.ExecuteToolRequest(
                tenant_id=s.tenant,
                agent_id=s.agent,
                tool_id=s.tool,
                arguments=dict_to_struct({"q": "x" * 51}),
            ),
            metadata=s.member,
        )
    )
    assert bad.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert [await attempt(replicas.a, s, f"u{i}") for i in range(3)] == [
        "OK",
        "OK",
        "TOOL_RATE_LIMITED",
    ]
    async with replicas.a.running.context.database.reading() as session:
        counters = list(
            await session.scalars(
                select(AgentExecutionCounterRecord).where(
                    AgentExecutionCounterRecord.agent_id == uuid.UUID(s.agent)
                )
            )
        )
    # Only the minute is counted (no daily limit is set), and only the two admitted calls.
    assert [(c.kind.value, c.count) for c in counters] == [("calls_per_minute", 2)]


async def test_allowed_and_blocked_operations_and_tools(
    replicas: Replicas, server: LocalServer
) -> None:
    blocked_op = await setup(
        replicas.a, server, rate_limit_per_minute=9, blocked_operations=["http_get"]
    )
    refused = await failure(
        replicas.a.executions.ExecuteTool(execute(blocked_op, "b"), metadata=blocked_op.member)
    )
    assert refused.code() == grpc.StatusCode.PERMISSION_DENIED
    assert rich_error(refused).reason == "OPERATION_NOT_ALLOWED_BY_LIMITS"
    assert "HTTP_GET" in (refused.details() or "")
    only_post = await setup(
        replicas.a, server, rate_limit_per_minute=9, allowed_operations=["HTTP_POST", "MCP"]
    )
    refused = await failure(
        replicas.b.executions.ExecuteTool(execute(only_post, "p"), metadata=only_post.member)
    )
    assert rich_error(refused).reason == "OPERATION_NOT_ALLOWED_BY_LIMITS"
    allowed = await setup(
        replicas.a, server, rate_limit_per_minute=9, allowed_operations=["HTTP_GET"]
    )
    assert await attempt(replicas.a, allowed, "g") == "OK"
    other_tool = await setup(
        replicas.a, server, rate_limit_per_minute=9, allowed_tools=["some-other-tool"]
    )
    refused = await failure(
        replicas.a.executions.ExecuteTool(execute(other_tool, "t"), metadata=other_tool.member)
    )
    assert rich_error(refused).reason == "TOOL_NOT_ALLOWED_BY_LIMITS"
    for s, reason in (
        (blocked_op, "OPERATION_NOT_ALLOWED_BY_LIMITS"),
        (only_post, "OPERATION_NOT_ALLOWED_BY_LIMITS"),
        (other_tool, "TOOL_NOT_ALLOWED_BY_LIMITS"),
    ):
        assert [(c.state, c.error_reason) for c in await calls(replicas.a, s)] == [
            (pb.TOOL_CALL_STATE_ERROR, reason)
        ]
    assert [c.state for c in await calls(replicas.a, allowed)] == [pb.TOOL_CALL_STATE_OK]


async def test_bad_limits_name_the_field(replicas: Replicas) -> None:
    bad = await failure(
        replicas.a.agents.SetExecutionLimits(
            apb.SetExecutionLimitsRequest(
                limits=apb.ExecutionLimits(
                    agent_role="r", cost_tier="free", max_tool_calls_per_day=-1
                )
            ),
            metadata=ISSUER.operator(),
        )
    )
    assert bad.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "limits.max_tool_calls_per_day" in rich_error(bad).field_violations


async def test_an_agent_change_is_seen_at_once_where_made_and_after_the_ttl_elsewhere(
    replicas: Replicas, server: LocalServer
) -> None:
    s = await setup(replicas.a, server, rate_limit_per_minute=50)
    admin = ISSUER.member(s.tenant, "admin")
    assert await attempt(replicas.b, s, "cached") == "OK"  # b holds the definition now
    agent = (
        await replicas.a.agents.GetAgent(
            apb.GetAgentRequest(tenant_id=s.tenant, agent_id=s.agent), metadata=admin
        )
    ).agent
    await replicas.a.agents.UpdateAgent(
        apb.UpdateAgentRequest(
            agent=apb.Agent(
                id=s.agent,
                tenant_id=s.tenant,
                config_version=agent.config_version,
                requires_human_approval=True,
            ),
            update_mask=FieldMask(paths=["requires_human_approval"]),
        ),
        metadata=admin,
    )
    waiting = await replicas.a.executions.ExecuteTool(execute(s, "a"), metadata=s.member)
    assert waiting.tool_call.state == pb.TOOL_CALL_STATE_PENDING_APPROVAL
    assert waiting.tool_call.agent_config_version == agent.config_version + 1
    # Replica b trusts what it read for agent_cache_ttl_seconds (5 by default) ...
    stale = await replicas.b.executions.ExecuteTool(execute(s, "b"), metadata=s.member)
    assert stale.tool_call.state == pb.TOOL_CALL_STATE_OK
    assert stale.tool_call.agent_config_version == agent.config_version
    # ... and reads it again after.
    CLOCK.now += 6
    fresh = await replicas.b.executions.ExecuteTool(execute(s, "c"), metadata=s.member)
    assert fresh.tool_call.state == pb.TOOL_CALL_STATE_PENDING_APPROVAL
    archived = await replicas.b.agents.ArchiveAgent(
        apb.ArchiveAgentRequest(
            tenant_id=s.tenant, agent_id=s.agent, config_version=agent.config_version + 1
        ),
        metadata=admin,
    )
    assert archived.agent.status == apb.AGENT_STATUS_ARCHIVED
    refused = await failure(replicas.b.executions.ExecuteTool(execute(s, "d"), metadata=s.member))
    assert rich_error(refused).reason == "AGENT_NOT_ACTIVE"


async def test_new_limits_are_seen_at_once_where_set_and_after_the_ttl_elsewhere(
    replicas: Replicas, server: LocalServer
) -> None:
    s = await setup(replicas.a, server, rate_limit_per_minute=50)
    assert await attempt(replicas.b, s, "x") == "OK"
    await replicas.a.agents.SetExecutionLimits(
        apb.SetExecutionLimitsRequest(
            limits=apb.ExecutionLimits(
                agent_role=s.role,
                cost_tier="free",
                rate_limit_per_minute=50,
                blocked_operations=["HTTP_GET"],
            )
        ),
        metadata=ISSUER.operator(),
    )
    refused = await failure(replicas.a.executions.ExecuteTool(execute(s, "y"), metadata=s.member))
    assert rich_error(refused).reason == "OPERATION_NOT_ALLOWED_BY_LIMITS"
    assert await attempt(replicas.b, s, "z") == "OK"
    CLOCK.now += 6
    refused = await failure(replicas.b.executions.ExecuteTool(execute(s, "w"), metadata=s.member))
    assert rich_error(refused).reason == "OPERATION_NOT_ALLOWED_BY_LIMITS"


async def test_db_query_calls_count_against_their_own_minute(
    replicas: Replicas, server: LocalServer
) -> None:
    s = await setup(replicas.a, server, rate_limit_per_minute=10, max_db_queries_per_minute=1)
    admin = ISSUER.member(s.tenant, "admin")
    query = await create_tool(replicas.a, admin, tenant_id=s.tenant, base_type="DB_QUERY")
    await replicas.a.agents.SetAgentTool(
        apb.SetAgentToolRequest(tenant_id=s.tenant, agent_id=s.agent, tool_id=query.id, priority=2),
        metadata=admin,
    )

    def db_query() -> pb.ExecuteToolRequest:
        return pb.ExecuteToolRequest(
            tenant_id=s.tenant,
            agent_id=s.agent,
            tool_id=query.id,
            arguments=dict_to_struct({"q": "x"}),
        )

    # Admitted (and counted), though the tool names no registered database.
    first = await failure(replicas.a.executions.ExecuteTool(db_query(), metadata=s.member))
    assert rich_error(first).reason == "NO_DATABASE_CONFIGURED"
    second = await failure(replicas.b.executions.ExecuteTool(db_query(), metadata=s.member))
    assert second.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert rich_error(second).reason == "DB_QUERIES_PER_MINUTE_EXCEEDED"
    # Other tools have their own (wider) rate.
    assert await attempt(replicas.b, s, "http") == "OK"
    CLOCK.now += 60
    third = await failure(replicas.b.executions.ExecuteTool(db_query(), metadata=s.member))
    assert rich_error(third).reason == "NO_DATABASE_CONFIGURED"
