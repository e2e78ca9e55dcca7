"""Agent metrics, the request log and MCP tool usage over a real in-process telemetry service, on
SQLite and on PostgreSQL: batches whose bad rows are reported by index, tenant isolation,
analytics checked against known rows, and (on PostgreSQL) the plans behind the analytics."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import pytest
from google.protobuf.struct_pb2 import Value
from google.protobuf.timestamp_pb2 import Timestamp
from sqlalchemy import Select, insert, text
from sqlalchemy.dialects import postgresql

from quarterdeck.telemetry.v1 import metrics_pb2 as mpb
from quarterdeck.telemetry.v1 import requests_pb2 as rpb
from quarterdeck.telemetry.v1 import tool_usage_pb2 as tpb
from quarterdeck.telemetry.v1 import usage_pb2 as upb
from quarterdeck.telemetry.v1.metrics_pb2_grpc import AgentMetricsServiceStub
from quarterdeck.telemetry.v1.requests_pb2_grpc import RequestLogServiceStub
from quarterdeck.telemetry.v1.tool_usage_pb2_grpc import ToolUsageServiceStub
from quarterdeck.telemetry.v1.usage_pb2_grpc import UsageServiceStub
from services.telemetry.metrics.handlers import agent_statistics_query
from services.telemetry.metrics.models import AgentMetricRecord
from services.telemetry.requests.handlers import failed_requests_query
from services.telemetry.requests.models import AgentRequestRecord
from services.telemetry.tool_usage.handlers import failed_calls_query, tool_analytics_query
from services.telemetry.tool_usage.models import ToolUsageRecord
from shared.grpc_client import open_channel
from shared.server import RunningService
from tests.support.errors import failure, rich_error
from tests.support.stack import Databases, running_service
from tests.support.tokens import TestIssuer

ISSUER = TestIssuer()
#: Every test's rows lie an hour before now, so windows are fixed and nothing is "future".
BASE = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
SPAN_ID = "00f067aa0ba902b7"


@dataclass
class Operations:
    running: RunningService[Any, Any]
    metrics: AgentMetricsServiceStub
    requests: RequestLogServiceStub
    tools: ToolUsageServiceStub


@pytest.fixture(scope="module")
async def ops(backend: str, databases: Databases) -> AsyncIterator[Operations]:
    url = await databases.url(backend, "telemetry", "operations")
    async with (
        running_service("telemetry", url, authenticator=ISSUER.authenticator()) as running,
        open_channel(running.target) as channel,
    ):
        yield Operations(
            running,
            AgentMetricsServiceStub(channel),
            RequestLogServiceStub(channel),
            ToolUsageServiceStub(channel),
        )


def at(seconds: float) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(BASE + timedelta(seconds=seconds))
    return stamp


def new_tenant() -> str:
    return str(uuid.uuid4())


def rejected(response: Any) -> dict[int, str]:
    return {r.index: r.field for r in response.rejected}


# -- Agent metrics -------------------------------------------------------------------------------


def point(agent: str, metric_type: str, value: float = 0.0, second: float = 0, **kw: Any) -> Any:
    return mpb.AgentMetric(
        agent_id=agent, metric_type=metric_type, metric_value=value, record_time=at(second), **kw
    )


async def test_record_metrics_stores_good_points_and_reports_bad_ones_by_index(
    ops: Operations,
) -> None:
    tenant = new_tenant()
    batch = [
        point("akira-001", "latency", 120, 1, metric_unit="ms"),
        point("", "latency", 5, 2),  # 1: no agent
        point("akira-001", "success_rate", 140, 3),  # 2: not a percentage
        point("akira-001", "cost", 0, 4),  # 3: a cost point without cost_usd
        point("akira-001", "tokens", 10, 5, trace_id="XYZ"),  # 4: bad trace id
        point("akira-001", "Bad Type", 1, 6),  # 5: bad metric type
        point("akira-001", "cost", 0, 7, cost_usd="0.000000000001"),
        point("akira-001", "latency", float("nan"), 8),  # 7: not finite
    ]
    reply = await ops.metrics.RecordMetrics(
        mpb.RecordMetricsRequest(metrics=batch), metadata=ISSUER.member(tenant, "member")
    )
    assert reply.recorded_count == 2
    assert rejected(reply) == {
        1: "metrics[1].agent_id",
        2: "metrics[2].metric_value",
        3: "metrics[3].cost_usd",
        4: "metrics[4].trace_id",
        5: "metrics[5].metric_type",
        7: "metrics[7].metric_value",
    }
    series = await ops.metrics.ListMetrics(
        mpb.ListMetricsRequest(agent_id="akira-001"), metadata=ISSUER.member(tenant, "viewer")
    )
    assert [(m.metric_type, m.cost_usd) for m in series.metrics] == [
        ("latency", ""),
        ("cost", "0.000000000001"),
    ]
    assert series.metrics[0].metric_unit == "ms" and series.metrics[0].tenant_id == tenant


async def test_a_member_records_only_for_their_own_tenant_and_a_service_must_name_it(
    ops: Operations,
) -> None:
    tenant, other = new_tenant(), new_tenant()
    mine = point("a", "latency", 1, tenant_id=tenant)
    theirs = point("a", "latency", 1, tenant_id=other)
    reply = await ops.metrics.RecordMetrics(
        mpb.RecordMetricsRequest(metrics=[mine, theirs]), metadata=ISSUER.member(tenant, "member")
    )
    assert reply.recorded_count == 1 and rejected(reply) == {1: "metrics[1].tenant_id"}
    unnamed = await ops.metrics.RecordMetrics(
        mpb.RecordMetricsRequest(metrics=[point("a", "latency", 1)]),
        metadata=ISSUER.internal("conversation"),
    )
    assert unnamed.recorded_count == 0 and rejected(unnamed) == {0: "metrics[0].tenant_id"}
    viewer = await ops.metrics.RecordMetrics(
        mpb.RecordMetricsRequest(metrics=[point("a", "latency", 1)]),
        metadata=ISSUER.member(tenant, "viewer"),
    )
    assert viewer.recorded_count == 0
    anonymous = await failure(
        ops.metrics.RecordMetrics(mpb.RecordMetricsRequest(metrics=[point("a", "latency", 1)]))
    )
    assert anonymous.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_list_metrics_pages_one_agents_series_by_type_and_time_range(
    ops: Operations,
) -> None:
    tenant = new_tenant()
    batch = [point("yuki", "latency", float(i), i, tenant_id=tenant) for i in range(7)]
    batch += [point("yuki", "tokens", 5, 3, tenant_id=tenant)]
    batch += [point("akira", "latency", 99, 3, tenant_id=tenant)]
    reply = await ops.metrics.RecordMetrics(
        mpb.RecordMetricsRequest(metrics=batch), metadata=ISSUER.internal("conversation")
    )
    assert reply.recorded_count == 9
    viewer = ISSUER.member(tenant, "viewer")
    request = mpb.ListMetricsRequest(
        agent_id="yuki", metric_type="latency", start_time=at(1), end_time=at(6), page_size=2
    )
    values: list[float] = []
    while True:
        page = await ops.metrics.ListMetrics(request, metadata=viewer)
        values += [m.metric_value for m in page.metrics]
        if not page.next_page_token:
            break
        request.page_token = page.next_page_token
    assert values == [1.0, 2.0, 3.0, 4.0, 5.0]
    # Another tenant's member sees nothing of it and may not name it.
    outsider = ISSUER.member(new_tenant(), "owner")
    empty = await ops.metrics.ListMetrics(
        mpb.ListMetricsRequest(agent_id="yuki"), metadata=outsider
    )
    assert list(empty.metrics) == []
    refused = await failure(
        ops.metrics.ListMetrics(
            mpb.ListMetricsRequest(tenant_id=tenant, agent_id="yuki"), metadata=outsider
        )
    )
    assert refused.code() == grpc.StatusCode.PERMISSION_DENIED
    missing = await failure(ops.metrics.ListMetrics(mpb.ListMetricsRequest(), metadata=viewer))
    assert rich_error(missing).field_violations == {"agent_id": "is required"}


async def test_agent_statistics_over_a_window_per_agent_and_for_the_tenant(
    ops: Operations,
) -> None:
    tenant = new_tenant()

    def task(
        agent: str, second: int, latency: float, tokens: int, cost: str, ok: bool
    ) -> list[Any]:
        return [
            point(agent, "latency", latency, second, tenant_id=tenant),
            point(agent, "tokens", tokens, second, tenant_id=tenant),
            point(agent, "cost", 0, second, tenant_id=tenant, cost_usd=cost),
            point(agent, "success_rate", 100 if ok else 0, second, tenant_id=tenant),
            point(agent, "error_rate", 0 if ok else 100, second, tenant_id=tenant),
        ]

    batch = [
        *task("akira", 10, 100, 1000, "0.100000000001", True),
        *task("akira", 20, 300, 3000, "0.200000000002", False),
        *task("yuki", 30, 50, 500, "0.000000000007", True),
        *task("akira", 3000, 999, 9, "9", True),  # outside the window below
    ]
    reply = await ops.metrics.RecordMetrics(
        mpb.RecordMetricsRequest(metrics=batch), metadata=ISSUER.internal("conversation")
    )
    assert reply.recorded_count == len(batch)
    viewer = ISSUER.member(tenant, "viewer")
    window = {"start_time": at(0), "end_time": at(60)}
    stats = await ops.metrics.GetAgentStatistics(
        mpb.GetAgentStatisticsRequest(**window), metadata=viewer
    )
    akira, yuki = stats.agents
    assert (akira.agent_id, akira.task_count, akira.total_tokens) == ("akira", 2, 4000)
    assert akira.average_latency_ms == 200.0 and akira.total_cost_usd == "0.300000000003"
    assert (akira.success_rate, akira.error_rate) == (50.0, 50.0)
    assert (yuki.task_count, yuki.total_cost_usd, yuki.success_rate) == (1, "0.000000000007", 100)
    total = stats.total
    assert (total.task_count, total.total_tokens, total.total_cost_usd) == (
        3,
        4500,
        "0.300000000010",
    )
    assert total.average_latency_ms == pytest.approx(150.0)
    one = await ops.metrics.GetAgentStatistics(
        mpb.GetAgentStatisticsRequest(agent_id="yuki", **window), metadata=viewer
    )
    assert [a.agent_id for a in one.agents] == ["yuki"] and one.total.task_count == 1
    # The default window is the last 24 hours: the point at +3000 s lies in it too.
    default = await ops.metrics.GetAgentStatistics(
        mpb.GetAgentStatisticsRequest(agent_id="akira"), metadata=viewer
    )
    assert default.total.task_count == 3
    # Another tenant sees none of it.
    other = await ops.metrics.GetAgentStatistics(
        mpb.GetAgentStatisticsRequest(**window), metadata=ISSUER.member(new_tenant(), "viewer")
    )
    assert list(other.agents) == [] and other.total.total_cost_usd == "0.000000000000"
    backwards = await failure(
        ops.metrics.GetAgentStatistics(
            mpb.GetAgentStatisticsRequest(start_time=at(60), end_time=at(0)), metadata=viewer
        )
    )
    assert "end_time" in rich_error(backwards).field_violations


async def test_agent_statistics_include_the_agents_of_usage_rows(ops: Operations) -> None:
    tenant = new_tenant()
    member = ISSUER.member(tenant, "member")
    async with open_channel(ops.running.target) as channel:
        usage = UsageServiceStub(channel)
        await usage.RecordUsageBatch(
            upb.RecordUsageBatchRequest(
                records=[
                    upb.UsageRecord(
                        event_id=uuid.uuid4().hex,
                        agent_id="kenji",
                        input_tokens=input_tokens,
                        output_tokens=20,
                        computed_cost_usd="0.5",  # the client's price: no tenancy here
                        time=at(10),
                    )
                    for input_tokens in (100, 300)
                ]
                + [upb.UsageRecord(event_id=uuid.uuid4().hex, input_tokens=7, time=at(10))]
            ),
            metadata=member,
        )
    await ops.metrics.RecordMetrics(
        mpb.RecordMetricsRequest(metrics=[point("yuki", "latency", 40, 10, tenant_id=tenant)]),
        metadata=ISSUER.internal("conversation"),
    )
    stats = await ops.metrics.GetAgentStatistics(
        mpb.GetAgentStatisticsRequest(start_time=at(0), end_time=at(60)),
        metadata=ISSUER.member(tenant, "viewer"),
    )
    kenji, yuki = stats.agents  # the row naming no agent is in no agent's figures
    assert (kenji.agent_id, kenji.task_count, kenji.usage_record_count) == ("kenji", 0, 2)
    assert (kenji.usage_tokens, kenji.usage_cost_usd) == (440, "1.000000000000")
    assert (yuki.task_count, yuki.usage_record_count) == (1, 0)
    assert (stats.total.usage_record_count, stats.total.usage_tokens) == (2, 440)


# -- Request log ---------------------------------------------------------------------------------


def logged(request_id: str, status: int, second: float, **kw: Any) -> rpb.AgentRequest:
    return rpb.AgentRequest(
        request_id=request_id,
        endpoint=kw.pop("endpoint", "/v1/things"),
        method=kw.pop("method", "GET"),
        status_code=status,
        latency_ms=kw.pop("latency_ms", 12),
        create_time=at(second),
        **kw,
    )


async def test_record_requests_reports_bad_rows_and_a_retried_batch_adds_nothing(
    ops: Operations,
) -> None:
    tenant = new_tenant()
    gateway = ISSUER.internal("gateway")
    ids = [uuid.uuid4().hex for _ in range(5)]
    batch = [
        logged(ids[0], 200, 1, tenant_id=tenant, trace_id=TRACE_ID, span_id=SPAN_ID),
        logged(ids[1], 700, 2, tenant_id=tenant),  # 1: no such status
        logged(ids[2], 404, 3, tenant_id=tenant, method="get"),  # 2: lowercase method
        logged("", 200, 4, tenant_id=tenant),  # 3: no request id
        logged(ids[4], 401, 5, error_code="UNAUTHENTICATED"),  # no tenant: the gateway may
    ]
    reply = await ops.requests.RecordRequests(
        rpb.RecordRequestsRequest(requests=batch), metadata=gateway
    )
    assert reply.recorded_count == 2
    assert rejected(reply) == {
        1: "requests[1].status_code",
        2: "requests[2].method",
        3: "requests[3].request_id",
    }
    again = await ops.requests.RecordRequests(
        rpb.RecordRequestsRequest(requests=batch), metadata=gateway
    )
    assert again.recorded_count == 0
    listed = await ops.requests.ListRequests(
        rpb.ListRequestsRequest(), metadata=ISSUER.member(tenant, "viewer")
    )
    [row] = listed.requests
    assert (row.request_id, row.status_code, row.trace_id, row.span_id) == (
        ids[0],
        200,
        TRACE_ID,
        SPAN_ID,
    )
    # The unattributed row is an operator's to see, not a tenant's.
    everyone = await ops.requests.ListRecentErrors(
        rpb.ListRecentErrorsRequest(page_size=1000), metadata=ISSUER.operator()
    )
    assert ids[4] in {r.request_id for r in everyone.requests}


async def test_rows_without_trace_ids_take_the_callers_trace(ops: Operations) -> None:
    tenant = new_tenant()
    traceparent = ("traceparent", f"00-{TRACE_ID}-b7ad6b7169203331-01")
    await ops.requests.RecordRequests(
        rpb.RecordRequestsRequest(requests=[logged(uuid.uuid4().hex, 200, 1, tenant_id=tenant)]),
        metadata=[*ISSUER.internal("gateway"), traceparent],
    )
    [row] = (
        await ops.requests.ListRequests(
            rpb.ListRequestsRequest(), metadata=ISSUER.member(tenant, "viewer")
        )
    ).requests
    # The call's span context continues the caller's trace (the service's own span when its
    # SDK records one, else the caller's).
    assert row.trace_id == TRACE_ID and len(row.span_id) == 16


async def test_list_requests_filters_by_time_status_class_and_endpoint_newest_first(
    ops: Operations,
) -> None:
    tenant = new_tenant()
    rows = [
        logged("a" + uuid.uuid4().hex, 200, 1, tenant_id=tenant),
        logged("b" + uuid.uuid4().hex, 404, 2, tenant_id=tenant, endpoint="/v1/other"),
        logged("c" + uuid.uuid4().hex, 503, 3, tenant_id=tenant, error_code="UNAVAILABLE"),
        logged("d" + uuid.uuid4().hex, 201, 4, tenant_id=tenant, method="POST"),
        logged("e" + uuid.uuid4().hex, 500, 5, tenant_id=tenant),
    ]
    await ops.requests.RecordRequests(
        rpb.RecordRequestsRequest(requests=rows), metadata=ISSUER.internal("gateway")
    )
    viewer = ISSUER.member(tenant, "viewer")

    async def ids(**filters: Any) -> list[str]:
        reply = await ops.requests.ListRequests(rpb.ListRequestsRequest(**filters), metadata=viewer)
        return [r.request_id[0] for r in reply.requests]

    assert await ids() == ["e", "d", "c", "b", "a"]
    assert await ids(status_class=rpb.STATUS_CLASS_2XX) == ["d", "a"]
    assert await ids(status_class=rpb.STATUS_CLASS_5XX) == ["e", "c"]
    assert await ids(endpoint="/v1/other") == ["b"]
    assert await ids(start_time=at(2), end_time=at(4)) == ["c", "b"]
    first = await ops.requests.ListRecentErrors(
        rpb.ListRecentErrorsRequest(page_size=2), metadata=viewer
    )
    assert [r.request_id[0] for r in first.requests] == ["e", "c"]
    second = await ops.requests.ListRecentErrors(
        rpb.ListRecentErrorsRequest(page_size=2, page_token=first.next_page_token), metadata=viewer
    )
    assert [r.request_id[0] for r in second.requests] == ["b"] and not second.next_page_token
    other = await ops.requests.ListRequests(
        rpb.ListRequestsRequest(), metadata=ISSUER.member(new_tenant(), "owner")
    )
    assert list(other.requests) == []
    swapped = await failure(
        ops.requests.ListRequests(
            rpb.ListRequestsRequest(endpoint="/v1/other", page_token=first.next_page_token),
            metadata=viewer,
        )
    )
    assert "page_token" in rich_error(swapped).field_violations


# -- Tool usage ----------------------------------------------------------------------------------


def tool_call(tool: str, status: int, latency: int | None, second: float, **kw: Any) -> Any:
    if latency is not None:
        kw["latency_ms"] = latency
    return tpb.ToolUsage(tool_name=tool, status=status, create_time=at(second), **kw)


async def test_record_tool_usage_keeps_args_and_reports_bad_rows(ops: Operations) -> None:
    tenant = new_tenant()
    args = Value()
    args.struct_value.update({"query": "weather", "limit": 3})
    batch = [
        tool_call("search", tpb.TOOL_CALL_STATUS_OK, 40, 1, args=args, tokens_in=7, tokens_out=9),
        tool_call("", tpb.TOOL_CALL_STATUS_OK, 40, 2),  # 1: no tool
        tool_call("search", tpb.TOOL_CALL_STATUS_ERROR, -1, 3),  # 2: negative latency
        tool_call("search", 42, 1, 4),  # 3: no such status
        tool_call("search", tpb.TOOL_CALL_STATUS_ERROR, 5, 5, error="boom", span_id=SPAN_ID),
    ]
    reply = await ops.tools.RecordToolUsage(
        tpb.RecordToolUsageRequest(calls=batch), metadata=ISSUER.member(tenant, "member")
    )
    assert reply.recorded_count == 1
    assert rejected(reply) == {
        1: "calls[1].tool_name",
        2: "calls[2].latency_ms",
        3: "calls[3].status",
        4: "calls[4].trace_id",
    }
    fixed = tool_call("search", tpb.TOOL_CALL_STATUS_ERROR, 5, 5, error="boom")
    await ops.tools.RecordToolUsage(
        tpb.RecordToolUsageRequest(calls=[fixed]), metadata=ISSUER.member(tenant, "member")
    )
    [error] = (
        await ops.tools.ListRecentToolErrors(
            tpb.ListRecentToolErrorsRequest(), metadata=ISSUER.member(tenant, "viewer")
        )
    ).calls
    assert (error.tool_name, error.error, error.latency_ms) == ("search", "boom", 5)


async def test_tool_usage_analytics_per_tool_over_24_hours_and_recent_errors(
    ops: Operations,
) -> None:
    tenant = new_tenant()
    old = tpb.ToolUsage(
        tool_name="search",
        status=tpb.TOOL_CALL_STATUS_ERROR,
        latency_ms=9999,
        create_time=Timestamp(seconds=int((BASE - timedelta(days=2)).timestamp())),
    )
    batch = [
        tool_call("search", tpb.TOOL_CALL_STATUS_OK, 10, 1),
        tool_call("search", tpb.TOOL_CALL_STATUS_OK, 30, 2),
        tool_call("search", tpb.TOOL_CALL_STATUS_ERROR, 80, 3, error="upstream 500"),
        tool_call("search", tpb.TOOL_CALL_STATUS_STARTED, None, 4),
        tool_call("fetch", tpb.TOOL_CALL_STATUS_TIMEOUT, 5000, 5, error="timed out"),
        tool_call("fetch", tpb.TOOL_CALL_STATUS_OK, 100, 6),
        old,
    ]
    reply = await ops.tools.RecordToolUsage(
        tpb.RecordToolUsageRequest(calls=[c for c in batch]),
        metadata=[*ISSUER.internal("tooling")],
    )
    assert rejected(reply) == {i: f"calls[{i}].tenant_id" for i in range(7)}
    for call in batch:
        call.tenant_id = tenant
    reply = await ops.tools.RecordToolUsage(
        tpb.RecordToolUsageRequest(calls=batch), metadata=ISSUER.internal("tooling")
    )
    assert reply.recorded_count == 7
    viewer = ISSUER.member(tenant, "viewer")
    analytics = await ops.tools.GetToolUsageAnalytics(
        tpb.GetToolUsageAnalyticsRequest(), metadata=viewer
    )
    search, fetch = analytics.tools
    assert (search.tool_name, search.call_count, search.success_count, search.error_count) == (
        "search",
        4,
        2,
        1,
    )
    assert (search.average_latency_ms, search.max_latency_ms) == (40.0, 80)
    assert (fetch.call_count, fetch.success_count, fetch.error_count) == (2, 1, 0)
    assert (fetch.average_latency_ms, fetch.max_latency_ms) == (2550.0, 5000)
    window = analytics.end_time.ToDatetime() - analytics.start_time.ToDatetime()
    assert window == timedelta(hours=24)
    errors = await ops.tools.ListRecentToolErrors(
        tpb.ListRecentToolErrorsRequest(page_size=2), metadata=viewer
    )
    assert [(c.tool_name, c.error) for c in errors.calls] == [
        ("fetch", "timed out"),
        ("search", "upstream 500"),
    ]
    assert errors.next_page_token
    other = await ops.tools.GetToolUsageAnalytics(
        tpb.GetToolUsageAnalyticsRequest(), metadata=ISSUER.member(new_tenant(), "owner")
    )
    assert list(other.tools) == []
    refused = await failure(
        ops.tools.GetToolUsageAnalytics(
            tpb.GetToolUsageAnalyticsRequest(tenant_id=tenant),
            metadata=ISSUER.member(new_tenant(), "owner"),
        )
    )
    assert refused.code() == grpc.StatusCode.PERMISSION_DENIED
    unscoped = await failure(
        ops.tools.GetToolUsageAnalytics(
            tpb.GetToolUsageAnalyticsRequest(), metadata=ISSUER.operator()
        )
    )
    assert "tenant_id" in rich_error(unscoped).field_violations


async def test_a_batch_larger_than_the_limit_is_refused_whole(ops: Operations) -> None:
    tenant = new_tenant()
    batch = [point("a", "latency", 1, tenant_id=tenant)] * 1001
    refused = await failure(
        ops.metrics.RecordMetrics(
            mpb.RecordMetricsRequest(metrics=batch), metadata=ISSUER.internal("conversation")
        )
    )
    assert "metrics" in rich_error(refused).field_violations


# -- Plans ---------------------------------------------------------------------------------------

PLAN_ROWS = 20_000
PLAN_TENANTS = ("plan-a", "plan-b", "plan-c", "plan-d")


async def fill_for_plans(ops: Operations) -> None:
    """PLAN_ROWS rows per table over 30 days and four tenants, 5% failures, then ANALYZE: the
    planner's choices on a table with a spread like production's, not on an empty one."""
    now = datetime.now(UTC)
    metrics, requests, calls = [], [], []
    for i in range(PLAN_ROWS):
        tenant = PLAN_TENANTS[i % len(PLAN_TENANTS)]
        when = now - timedelta(seconds=i * 30 * 86400 / PLAN_ROWS)
        failed = i % 20 == 0
        metrics.append(
            {
                "id": uuid.uuid4(),
                "tenant_id": tenant,
                "agent_id": f"agent-{i % 7}",
                "metric_type": ("latency", "tokens", "success_rate")[i % 3],
                "metric_value": float(i % 100),
                "recorded_at": when,
                "context": {},
            }
        )
        requests.append(
            {
                "tenant_id": tenant,
                "request_id": uuid.uuid4().hex,
                "endpoint": f"/v1/route-{i % 11}",
                "method": "GET",
                "status_code": 500 if failed else 200,
                "latency_ms": i % 250,
                "created_at": when,
            }
        )
        calls.append(
            {
                "tenant_id": tenant,
                "tool_name": f"tool-{i % 9}",
                "status": "error" if failed else "ok",
                "latency_ms": i % 400,
                "tokens_in": 0,
                "tokens_out": 0,
                "created_at": when,
            }
        )
    async with ops.running.context.database.transaction() as session:
        await session.execute(insert(AgentMetricRecord), metrics)
        await session.execute(insert(AgentRequestRecord), requests)
        await session.execute(insert(ToolUsageRecord), calls)
    async with ops.running.context.database.transaction() as session:
        for table in ("agent_metrics", "agent_requests", "mcp_tool_usage"):
            await session.execute(text(f"ANALYZE {table}"))


async def explain(ops: Operations, statement: Select) -> str:
    sql = str(
        statement.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True})
    )
    async with ops.running.context.database.reading() as session:
        plan = (await session.execute(text(f"EXPLAIN {sql}"))).scalars().all()
    return "\n".join(plan)


async def test_every_analytic_reads_an_index_leading_with_tenant_and_time(
    ops: Operations, backend: str
) -> None:
    if backend != "postgresql":
        pytest.skip("plans are checked on PostgreSQL")
    await fill_for_plans(ops)
    end = datetime.now(UTC)
    start = end - timedelta(hours=24)
    statistics = await explain(ops, agent_statistics_query("plan-a", start, end, ""))
    assert "ix_agent_metrics_tenant_id_recorded_at_covering" in statistics, statistics
    assert "Seq Scan" not in statistics
    tools = await explain(ops, tool_analytics_query("plan-a", start, end))
    assert "ix_mcp_tool_usage_tenant_id_created_at_covering" in tools, tools
    assert "Seq Scan" not in tools
    newest_first = [AgentRequestRecord.created_at.desc(), AgentRequestRecord.id.desc()]
    failed_requests = await explain(
        ops, failed_requests_query("plan-a").order_by(*newest_first).limit(50)
    )
    assert "ix_agent_requests_failed_tenant_id_created_at" in failed_requests, failed_requests
    failed_calls = await explain(
        ops,
        failed_calls_query("plan-a")
        .order_by(ToolUsageRecord.created_at.desc(), ToolUsageRecord.id.desc())
        .limit(50),
    )
    assert "ix_mcp_tool_usage_failed_tenant_id_created_at" in failed_calls, failed_calls
