"""ExecuteTool over a real in-process gRPC server, on SQLite and on PostgreSQL, against a local
HTTP server that operators allowed by name (127.0.0.1): every check before a tool runs, the
recorded calls, approval that runs a call exactly once, idempotent retries, and the egress
guard's refusals as the calls' errors."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
from cryptography.fernet import Fernet
from google.protobuf.field_mask_pb2 import FieldMask

from quarterdeck.tooling.v1 import agents_pb2 as apb
from quarterdeck.tooling.v1 import executions_pb2 as pb
from quarterdeck.tooling.v1 import permissions_pb2 as ppb
from quarterdeck.tooling.v1 import tools_pb2 as tpb
from services.tooling.tools.models import ToolConfigRecord
from services.tooling.tools.seed_catalogue import base_tool_id, output_format_id
from shared.json_values import dict_to_struct, value_to_python
from tests.support.clock import ManualClock
from tests.support.errors import rich_error
from tests.support.http_server import LocalServer, local_http_server
from tests.support.stack import Databases
from tests.support.tokens import TestIssuer
from tests.support.tooling import Tooling, create_agent, create_tool, failure, tooling_service

ISSUER = TestIssuer()
#: Limits count in fixed windows of the service's clock: held still, so no test meets a minute's
#: end between two of its calls.
CLOCK = ManualClock()


@pytest.fixture(scope="module")
def server() -> Iterator[LocalServer]:
    with local_http_server() as local:
        yield local


@pytest.fixture(scope="module")
async def tooling(backend: str, databases: Databases) -> AsyncIterator[Tooling]:
    async with tooling_service(
        databases,
        backend,
        "executions",
        ISSUER,
        egress_allowed_hosts="127.0.0.1",
        secret_encryption_keys=Fernet.generate_key().decode(),
        clock=CLOCK,
    ) as service:
        yield service


@dataclass
class Setup:
    tenant: str
    admin: list[tuple[str, str]]
    member: list[tuple[str, str]]
    agent: apb.Agent
    tool: tpb.ToolConfig


async def setup(
    tooling: Tooling,
    endpoint: str,
    *,
    base_type: str = "HTTP_GET",
    agent_fields: dict[str, Any] | None = None,
    **tool_fields: Any,
) -> Setup:
    tenant = str(uuid.uuid4())
    admin = ISSUER.member(tenant, "admin")
    tool = await create_tool(
        tooling, admin, tenant_id=tenant, endpoint=endpoint, base_type=base_type, **tool_fields
    )
    agent = (
        await create_agent(
            tooling, admin, tenant_id=tenant, tools=[(tool.id, 1)], **(agent_fields or {})
        )
    ).agent
    return Setup(tenant, admin, ISSUER.member(tenant, "member"), agent, tool)


def execute(s: Setup, arguments: dict[str, Any], **fields: Any) -> pb.ExecuteToolRequest:
    return pb.ExecuteToolRequest(
        tenant_id=s.tenant,
        agent_id=s.agent.id,
        tool_id=fields.pop("tool_id", s.tool.id),
        arguments=dict_to_struct(arguments),
        **fields,
    )


async def calls_in_state(tooling: Tooling, s: Setup, state: int) -> list[pb.ToolCall]:
    listed = await tooling.executions.ListToolCalls(
        pb.ListToolCallsRequest(tenant_id=s.tenant, state=state),
        metadata=s.admin,  # type: ignore[arg-type]
    )
    return list(listed.tool_calls)


async def test_a_call_runs_and_is_recorded(tooling: Tooling, server: LocalServer) -> None:
    s = await setup(tooling, f"{server.base}/echo/{{q}}")
    response = await tooling.executions.ExecuteTool(
        execute(s, {"q": "42/../x?y", "extra": 7}, run_id="run-1"), metadata=s.member
    )
    call = response.tool_call
    assert call.state == pb.TOOL_CALL_STATE_OK, call.error
    result = value_to_python(call.result)
    # The path parameter is escaped whole; the other arguments go to the query string.
    assert result["path"] == "/echo/42%2F..%2Fx%3Fy"
    assert result["query"] == {"extra": "7"}
    assert result["host"] == f"127.0.0.1:{server.port}"
    assert result["authorization"] is None  # nothing of the caller's is forwarded
    assert call.agent_config_version == s.agent.config_version
    got = await tooling.executions.GetToolCall(
        pb.GetToolCallRequest(tenant_id=s.tenant, tool_call_id=call.id), metadata=s.member
    )
    assert got.tool_call == call
    listed = await tooling.executions.ListToolCalls(
        pb.ListToolCallsRequest(tenant_id=s.tenant, run_id="run-1"), metadata=s.member
    )
    assert [c.id for c in listed.tool_calls] == [call.id]


async def test_a_retried_request_id_never_runs_the_tool_twice(
    tooling: Tooling, server: LocalServer
) -> None:
    s = await setup(tooling, f"{server.base}/echo/{{q}}")
    marker = uuid.uuid4().hex
    request = execute(s, {"q": marker}, request_id=f"call_{marker}")
    first = await tooling.executions.ExecuteTool(request, metadata=s.member)
    again = await asyncio.gather(
        *(tooling.executions.ExecuteTool(request, metadata=s.member) for _ in range(3))
    )
    assert {r.tool_call.id for r in again} == {first.tool_call.id}
    assert server.hits(f"/echo/{marker}") == 1
    reused = await failure(
        tooling.executions.ExecuteTool(
            execute(s, {"q": "other"}, request_id=f"call_{marker}"), metadata=s.member
        )
    )
    assert reused.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "request_id" in rich_error(reused).field_violations


async def test_arguments_failing_the_schema_name_the_json_path(
    tooling: Tooling, server: LocalServer
) -> None:
    s = await setup(tooling, f"{server.base}/echo/{{q}}")
    error = await failure(
        tooling.executions.ExecuteTool(execute(s, {"q": "x" * 51}), metadata=s.member)
    )
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "arguments.q" in rich_error(error).field_violations
    missing = await failure(tooling.executions.ExecuteTool(execute(s, {}), metadata=s.member))
    assert "arguments" in rich_error(missing).field_violations
    refused = await calls_in_state(tooling, s, pb.TOOL_CALL_STATE_ERROR)
    assert [c.error_reason for c in refused] == ["INVALID_ARGUMENTS", "INVALID_ARGUMENTS"]


async def test_every_permission_is_checked_before_a_tool_runs(
    tooling: Tooling, server: LocalServer
) -> None:
    s = await setup(tooling, f"{server.base}/echo/{{q}}")
    other_tool = await create_tool(tooling, s.admin, tenant_id=s.tenant)
    not_offered = await failure(
        tooling.executions.ExecuteTool(
            execute(s, {"q": "a"}, tool_id=other_tool.id), metadata=s.member
        )
    )
    assert not_offered.code() == grpc.StatusCode.PERMISSION_DENIED
    assert rich_error(not_offered).reason == "TOOL_NOT_OFFERED"

    await tooling.permissions.SetToolPermission(
        ppb.SetToolPermissionRequest(
            permission=ppb.ToolPermission(tenant_id=s.tenant, tool_id=s.tool.id, enabled=False)
        ),
        metadata=s.admin,
    )
    tool_off = await failure(
        tooling.executions.ExecuteTool(execute(s, {"q": "a"}), metadata=s.member)
    )
    assert rich_error(tool_off).reason == "TOOL_NOT_ENABLED"

    await tooling.permissions.SetAgentPermission(
        ppb.SetAgentPermissionRequest(
            permission=ppb.AgentPermission(tenant_id=s.tenant, agent_id=s.agent.id, enabled=False)
        ),
        metadata=s.admin,
    )
    agent_off = await failure(
        tooling.executions.ExecuteTool(execute(s, {"q": "a"}), metadata=s.member)
    )
    assert rich_error(agent_off).reason == "AGENT_NOT_ENABLED"
    assert server.hits("/echo/a") == 0
    reasons = {c.error_reason for c in await calls_in_state(tooling, s, pb.TOOL_CALL_STATE_ERROR)}
    assert reasons == {"TOOL_NOT_OFFERED", "TOOL_NOT_ENABLED", "AGENT_NOT_ENABLED"}

    other = str(uuid.uuid4())
    foreign = await failure(
        tooling.executions.ExecuteTool(
            pb.ExecuteToolRequest(
                tenant_id=other,
                agent_id=s.agent.id,
                tool_id=s.tool.id,
                arguments=dict_to_struct({"q": "a"}),
            ),
            metadata=ISSUER.member(other, "member"),
        )
    )
    assert foreign.code() == grpc.StatusCode.NOT_FOUND
    viewer = await failure(
        tooling.executions.ExecuteTool(
            execute(s, {"q": "a"}), metadata=ISSUER.member(s.tenant, "viewer")
        )
    )
    assert viewer.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_a_change_applies_to_the_next_call_though_the_last_one_was_cached(
    tooling: Tooling, server: LocalServer
) -> None:
    """ExecuteTool keeps what let a call through for agent_cache_ttl_seconds; every change to
    the tool, the agent's tools or the tenant's permissions made on this replica clears it."""
    s = await setup(tooling, f"{server.base}/echo/{{q}}")
    marker = uuid.uuid4().hex

    async def state_of_a_call() -> str:
        try:
            call = await tooling.executions.ExecuteTool(
                execute(s, {"q": marker}), metadata=s.member
            )
        except grpc.aio.AioRpcError as error:
            return rich_error(error).reason
        assert call.tool_call.state == pb.TOOL_CALL_STATE_OK, call.tool_call.error
        return "OK"

    async def tool_active(active: bool, version: int) -> int:
        updated = await tooling.tools.UpdateToolConfig(
            tpb.UpdateToolConfigRequest(
                tool=tpb.ToolConfig(
                    id=s.tool.id, tenant_id=s.tenant, version=version, is_active=active
                ),
                update_mask=FieldMask(paths=["is_active"]),
            ),
            metadata=s.admin,
        )
        return updated.tool.version

    async def tool_enabled(enabled: bool) -> None:
        await tooling.permissions.SetToolPermission(
            ppb.SetToolPermissionRequest(
                permission=ppb.ToolPermission(
                    tenant_id=s.tenant, tool_id=s.tool.id, enabled=enabled
                )
            ),
            metadata=s.admin,
        )

    async def agent_enabled(enabled: bool) -> None:
        await tooling.permissions.SetAgentPermission(
            ppb.SetAgentPermissionRequest(
                permission=ppb.AgentPermission(
                    tenant_id=s.tenant, agent_id=s.agent.id, enabled=enabled
                )
            ),
            metadata=s.admin,
        )

    assert await state_of_a_call() == "OK"
    version = await tool_active(False, s.tool.version)
    assert await state_of_a_call() == "TOOL_DISABLED"
    await tool_active(True, version)
    assert await state_of_a_call() == "OK"
    await tool_enabled(False)
    assert await state_of_a_call() == "TOOL_NOT_ENABLED"
    await tool_enabled(True)
    assert await state_of_a_call() == "OK"
    await agent_enabled(False)
    assert await state_of_a_call() == "AGENT_NOT_ENABLED"
    await agent_enabled(True)
    assert await state_of_a_call() == "OK"
    await tooling.agents.RemoveAgentTool(
        apb.RemoveAgentToolRequest(tenant_id=s.tenant, agent_id=s.agent.id, tool_id=s.tool.id),
        metadata=s.admin,
    )
    assert await state_of_a_call() == "TOOL_NOT_OFFERED"
    await tooling.agents.SetAgentTool(
        apb.SetAgentToolRequest(
            tenant_id=s.tenant, agent_id=s.agent.id, tool_id=s.tool.id, priority=1
        ),
        metadata=s.admin,
    )
    assert await state_of_a_call() == "OK"
    assert server.hits(f"/echo/{marker}") == 5


async def test_an_approved_call_runs_exactly_once(tooling: Tooling, server: LocalServer) -> None:
    s = await setup(
        tooling, f"{server.base}/echo/{{q}}", agent_fields={"requires_human_approval": True}
    )
    marker = uuid.uuid4().hex
    pending = (
        await tooling.executions.ExecuteTool(execute(s, {"q": marker}), metadata=s.member)
    ).tool_call
    assert pending.state == pb.TOOL_CALL_STATE_PENDING_APPROVAL
    assert server.hits(f"/echo/{marker}") == 0
    member_approves = await failure(
        tooling.executions.ApproveToolCall(
            pb.ApproveToolCallRequest(tenant_id=s.tenant, tool_call_id=pending.id),
            metadata=s.member,
        )
    )
    assert member_approves.code() == grpc.StatusCode.PERMISSION_DENIED
    approvals = await asyncio.gather(
        *(
            tooling.executions.ApproveToolCall(
                pb.ApproveToolCallRequest(tenant_id=s.tenant, tool_call_id=pending.id),
                metadata=s.admin,
            )
            for _ in range(4)
        )
    )
    assert {a.tool_call.id for a in approvals} == {pending.id}
    assert server.hits(f"/echo/{marker}") == 1
    done = await tooling.executions.GetToolCall(
        pb.GetToolCallRequest(tenant_id=s.tenant, tool_call_id=pending.id), metadata=s.member
    )
    assert done.tool_call.state == pb.TOOL_CALL_STATE_OK
    assert done.tool_call.decided_by
    late_deny = await failure(
        tooling.executions.DenyToolCall(
            pb.DenyToolCallRequest(tenant_id=s.tenant, tool_call_id=pending.id),
            metadata=s.admin,
        )
    )
    assert late_deny.code() == grpc.StatusCode.FAILED_PRECONDITION


async def test_a_denied_call_never_runs(tooling: Tooling, server: LocalServer) -> None:
    s = await setup(tooling, f"{server.base}/echo/{{q}}", requires_approval=True)
    marker = uuid.uuid4().hex
    pending = (
        await tooling.executions.ExecuteTool(execute(s, {"q": marker}), metadata=s.member)
    ).tool_call
    denied = await tooling.executions.DenyToolCall(
        pb.DenyToolCallRequest(tenant_id=s.tenant, tool_call_id=pending.id, reason="not today"),
        metadata=s.admin,
    )
    assert denied.tool_call.state == pb.TOOL_CALL_STATE_DENIED
    assert denied.tool_call.deny_reason == "not today"
    approve = await failure(
        tooling.executions.ApproveToolCall(
            pb.ApproveToolCallRequest(tenant_id=s.tenant, tool_call_id=pending.id),
            metadata=s.admin,
        )
    )
    assert approve.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert server.hits(f"/echo/{marker}") == 0


async def test_http_post_sends_the_arguments_and_formats_shape_results(
    tooling: Tooling, server: LocalServer
) -> None:
    s = await setup(tooling, f"{server.base}/orders/{{q}}", base_type="HTTP_POST")
    posted = await tooling.executions.ExecuteTool(
        execute(s, {"q": "o-1", "amount": "12.50"}), metadata=s.member
    )
    assert value_to_python(posted.tool_call.result) == {
        "path": "/orders/o-1",
        "body": {"amount": "12.50"},
    }
    table = await setup(
        tooling,
        f"{server.base}/table",
        output_format_id=str(output_format_id("markdown_table")),
        input_schema={"type": "object"},
    )
    shaped = await tooling.executions.ExecuteTool(execute(table, {}), metadata=table.member)
    assert value_to_python(shaped.tool_call.result) == (
        "| sku | stock |\n|---|---|\n| A-1 | 4 |\n| B\\|2 | 0 |"
    )


@pytest.mark.parametrize(
    ("path", "arguments", "state", "reason"),
    [
        ("/redirect?to=http://169.254.169.254/latest/meta-data/", {}, "ERROR", "EGRESS_DENIED"),
        ("/redirect?to=http://[::ffff:a9fe:a9fe]/", {}, "ERROR", "EGRESS_DENIED"),
        ("/status/500", {}, "ERROR", "UPSTREAM_ERROR"),
        ("/big", {}, "ERROR", "RESPONSE_TOO_LARGE"),
        ("/hang", {}, "TIMEOUT", "TIMEOUT"),
    ],
)
async def test_outbound_failures_are_the_calls_errors(
    tooling: Tooling,
    server: LocalServer,
    path: str,
    arguments: dict[str, Any],
    state: str,
    reason: str,
) -> None:
    s = await setup(tooling, f"{server.base}{path}", input_schema={"type": "object"})
    if path == "/hang":
        await tooling.tools.UpdateToolConfig(
            tpb.UpdateToolConfigRequest(
                tool=tpb.ToolConfig(
                    id=s.tool.id,
                    tenant_id=s.tenant,
                    version=s.tool.version,
                    config=dict_to_struct({"endpoint": f"{server.base}/hang", "timeout": 0.3}),
                ),
            ),
            metadata=s.admin,
        )
    call = (
        await tooling.executions.ExecuteTool(execute(s, arguments), metadata=s.member)
    ).tool_call
    assert call.state == getattr(pb, f"TOOL_CALL_STATE_{state}")
    assert call.error_reason == reason, call.error
    assert call.error


@pytest.mark.parametrize(
    "endpoint",
    [
        "http://{q}/",  # the host from an argument
        "http://localhost:{q}/echo/x",  # a loopback name the operators did not allow
        "http://2130706433/",
    ],
)
async def test_private_destinations_are_refused_whatever_the_tool_says(
    tooling: Tooling, server: LocalServer, endpoint: str
) -> None:
    s = await setup(tooling, endpoint)
    argument = "169.254.169.254" if endpoint.startswith("http://{q}") else str(server.port)
    call = (
        await tooling.executions.ExecuteTool(execute(s, {"q": argument}), metadata=s.member)
    ).tool_call
    assert call.state == pb.TOOL_CALL_STATE_ERROR
    assert call.error_reason == "EGRESS_DENIED", call.error
    assert server.hits("/echo/x") == 0


async def test_a_rag_tool_without_a_vector_store_says_so(
    tooling: Tooling, server: LocalServer
) -> None:
    tenant = str(uuid.uuid4())
    admin = ISSUER.member(tenant, "admin")
    created = await tooling.tools.CreateToolConfig(
        tpb.CreateToolConfigRequest(
            tool=tpb.ToolConfig(
                tenant_id=tenant,
                name="search_docs",
                base_tool_id=str(base_tool_id("RAG")),
                input_schema=dict_to_struct({"type": "object"}),
            )
        ),
        metadata=admin,
    )
    agent = (
        await create_agent(tooling, admin, tenant_id=tenant, tools=[(created.tool.id, 1)])
    ).agent
    error = await failure(
        tooling.executions.ExecuteTool(
            pb.ExecuteToolRequest(tenant_id=tenant, agent_id=agent.id, tool_name="search_docs"),
            metadata=admin,
        )
    )
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert rich_error(error).reason == "NO_VECTOR_STORE"


async def test_secret_headers_are_sent_but_never_stored_or_returned_in_the_clear(
    tooling: Tooling, server: LocalServer
) -> None:
    secret = f"Bearer {uuid.uuid4().hex}"
    s = await setup(tooling, f"{server.base}/echo/{{q}}", secret_headers={"Authorization": secret})
    assert list(s.tool.secret_header_names) == ["Authorization"]
    assert secret not in str(s.tool)
    got = await tooling.tools.GetToolConfig(
        tpb.GetToolConfigRequest(tenant_id=s.tenant, tool_id=s.tool.id), metadata=s.admin
    )
    assert secret not in str(got) and list(got.tool.secret_header_names) == ["Authorization"]
    async with tooling.running.context.database.reading() as session:
        row = await session.get(ToolConfigRecord, uuid.UUID(s.tool.id))
    assert row is not None and row.sealed_secret_headers
    assert secret.encode() not in row.sealed_secret_headers
    assert secret not in str(row.config)

    call = (
        await tooling.executions.ExecuteTool(execute(s, {"q": "with-key"}), metadata=s.member)
    ).tool_call
    assert value_to_python(call.result)["authorization"] == secret
    assert secret not in str(call.arguments)

    cleared = await tooling.tools.UpdateToolConfig(
        tpb.UpdateToolConfigRequest(
            tool=tpb.ToolConfig(id=s.tool.id, tenant_id=s.tenant, version=s.tool.version),
            update_mask=FieldMask(paths=["secret_headers"]),
        ),
        metadata=s.admin,
    )
    assert list(cleared.tool.secret_header_names) == []
    bad = await failure(
        tooling.tools.UpdateToolConfig(
            tpb.UpdateToolConfigRequest(
                tool=tpb.ToolConfig(
                    id=s.tool.id,
                    tenant_id=s.tenant,
                    version=cleared.tool.version,
                    secret_headers={"Host": "169.254.169.254"},
                ),
                update_mask=FieldMask(paths=["secret_headers"]),
            ),
            metadata=s.admin,
        )
    )
    assert "tool.secret_headers[Host]" in rich_error(bad).field_violations


async def test_execution_limits_of_the_role_and_tier_apply(
    tooling: Tooling, server: LocalServer
) -> None:
    role = f"limited-{uuid.uuid4().hex[:8]}"
    s = await setup(tooling, f"{server.base}/echo/{{q}}", agent_fields={"role_name": role})
    blocked = await create_tool(tooling, s.admin, tenant_id=s.tenant)
    await tooling.agents.SetAgentTool(
        apb.SetAgentToolRequest(
            tenant_id=s.tenant, agent_id=s.agent.id, tool_id=blocked.id, priority=2
        ),
        metadata=s.admin,
    )
    limits = apb.ExecutionLimits(
        agent_role=role, cost_tier="free", rate_limit_per_minute=2, blocked_tools=[blocked.name]
    )
    member_sets = await failure(
        tooling.agents.SetExecutionLimits(
            apb.SetExecutionLimitsRequest(limits=limits), metadata=s.admin
        )
    )
    assert member_sets.code() == grpc.StatusCode.PERMISSION_DENIED
    await tooling.agents.SetExecutionLimits(
        apb.SetExecutionLimitsRequest(limits=limits), metadata=ISSUER.operator()
    )
    listed = await tooling.agents.ListExecutionLimits(
        apb.ListExecutionLimitsRequest(agent_role=role), metadata=s.member
    )
    assert [(x.cost_tier, x.rate_limit_per_minute) for x in listed.limits] == [("free", 2)]

    not_allowed = await failure(
        tooling.executions.ExecuteTool(
            execute(s, {"q": "x"}, tool_id=blocked.id), metadata=s.member
        )
    )
    assert rich_error(not_allowed).reason == "TOOL_NOT_ALLOWED_BY_LIMITS"
    for i in range(2):
        ran = await tooling.executions.ExecuteTool(execute(s, {"q": f"r{i}"}), metadata=s.member)
        assert ran.tool_call.state == pb.TOOL_CALL_STATE_OK
    limited = await failure(
        tooling.executions.ExecuteTool(execute(s, {"q": "r2"}), metadata=s.member)
    )
    assert limited.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert rich_error(limited).reason == "TOOL_RATE_LIMITED"
    # A member cannot claim a richer tier; a Quarterdeck service (the conversation worker) can,
    # and the enterprise tier of this role has no limits stored.
    claimed = await failure(
        tooling.executions.ExecuteTool(
            execute(s, {"q": "r3"}, cost_tier="enterprise"), metadata=s.member
        )
    )
    assert rich_error(claimed).reason == "TOOL_RATE_LIMITED"
    worker = await tooling.executions.ExecuteTool(
        execute(s, {"q": "r4"}, cost_tier="enterprise"),
        metadata=ISSUER.internal("conversation"),
    )
    assert worker.tool_call.state == pb.TOOL_CALL_STATE_OK


async def test_the_agents_running_totals_count_the_calls_it_ran(
    tooling: Tooling, server: LocalServer
) -> None:
    s = await setup(tooling, f"{server.base}/echo/{{q}}")
    failing = await create_tool(
        tooling, s.admin, tenant_id=s.tenant, endpoint=f"{server.base}/status/500"
    )
    await tooling.agents.SetAgentTool(
        apb.SetAgentToolRequest(
            tenant_id=s.tenant, agent_id=s.agent.id, tool_id=failing.id, priority=2
        ),
        metadata=s.admin,
    )
    ran = [
        (await tooling.executions.ExecuteTool(execute(s, {"q": q}), metadata=s.member)).tool_call
        for q in ("t1", "t2")
    ]
    ran.append(
        (
            await tooling.executions.ExecuteTool(
                execute(s, {"q": "t3"}, tool_id=failing.id), metadata=s.member
            )
        ).tool_call
    )
    assert [c.state for c in ran] == [pb.TOOL_CALL_STATE_OK] * 2 + [pb.TOOL_CALL_STATE_ERROR]
    # Refused before running: not counted.
    await failure(tooling.executions.ExecuteTool(execute(s, {}), metadata=s.member))
    agent = (
        await tooling.agents.GetAgent(
            apb.GetAgentRequest(tenant_id=s.tenant, agent_id=s.agent.id), metadata=s.member
        )
    ).agent
    assert agent.totals.tasks_completed == 3
    assert agent.totals.success_rate == pytest.approx(200 / 3)
    assert agent.totals.average_latency_ms == pytest.approx(sum(c.latency_ms for c in ran) / 3)
    assert agent.last_error == ran[2].error
    assert agent.last_run_time.seconds > 0
    # The totals are not the definition: neither its version nor its update time moved.
    assert agent.config_version == s.agent.config_version
    assert agent.update_time == s.agent.update_time
