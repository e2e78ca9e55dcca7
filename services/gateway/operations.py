"""``/v1/telemetry``: request logs, agent metrics and tool usage (RequestLogService,
AgentMetricsService, ToolUsageService).

Each read is scoped by the telemetry service to the caller's token: a tenant's viewers and above
read their own tenant (naming another is 403); operators name the tenant they read. Money is a
decimal string of USD with twelve fractional digits, never a float.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from google.protobuf.json_format import MessageToDict
from pydantic import AwareDatetime, BaseModel, Field

from quarterdeck.telemetry.v1 import metrics_pb2 as mpb
from quarterdeck.telemetry.v1 import requests_pb2 as rpb
from quarterdeck.telemetry.v1 import tool_usage_pb2 as tpb
from services.gateway.routing import ERROR_RESPONSES, Clients, PageSize, PageToken
from shared.timestamps import from_timestamp, to_timestamp

router = APIRouter(prefix="/v1/telemetry", tags=["operations"], responses=ERROR_RESPONSES)

StatusClassName = Literal["1xx", "2xx", "3xx", "4xx", "5xx"]
STATUS_CLASSES: dict[StatusClassName, int] = {
    "1xx": rpb.STATUS_CLASS_1XX,
    "2xx": rpb.STATUS_CLASS_2XX,
    "3xx": rpb.STATUS_CLASS_3XX,
    "4xx": rpb.STATUS_CLASS_4XX,
    "5xx": rpb.STATUS_CLASS_5XX,
}
ToolStatusName = Literal["unspecified", "started", "ok", "error", "timeout"]
TOOL_STATUS_NAMES: dict[int, ToolStatusName] = {
    tpb.TOOL_CALL_STATUS_UNSPECIFIED: "unspecified",
    tpb.TOOL_CALL_STATUS_STARTED: "started",
    tpb.TOOL_CALL_STATUS_OK: "ok",
    tpb.TOOL_CALL_STATUS_ERROR: "error",
    tpb.TOOL_CALL_STATUS_TIMEOUT: "timeout",
}

TenantId = Annotated[
    str, Query(description="The tenant; empty means the caller's own (operators must name one).")
]
StartTime = Annotated[AwareDatetime | None, Query(description="The window's start (inclusive).")]
EndTime = Annotated[AwareDatetime | None, Query(description="The window's end (exclusive).")]


# -- Request log -----------------------------------------------------------------------------


class LoggedRequest(BaseModel):
    request_id: str
    tenant_id: str | None = Field(description="null when no verified token named a tenant.")
    principal_id: str | None
    endpoint: str = Field(description="The route template served.")
    method: str
    status_code: int | None
    latency_ms: int | None
    error_code: str | None
    error_message: str | None
    ip: str | None
    user_agent: str | None
    create_time: datetime
    trace_id: str | None
    span_id: str | None

    @classmethod
    def from_proto(cls, row: rpb.AgentRequest) -> LoggedRequest:
        return cls(
            request_id=row.request_id,
            tenant_id=row.tenant_id or None,
            principal_id=row.principal_id or None,
            endpoint=row.endpoint,
            method=row.method,
            status_code=row.status_code if row.HasField("status_code") else None,
            latency_ms=row.latency_ms if row.HasField("latency_ms") else None,
            error_code=row.error_code or None,
            error_message=row.error_message or None,
            ip=row.ip or None,
            user_agent=row.user_agent or None,
            create_time=from_timestamp(row.create_time),
            trace_id=row.trace_id or None,
            span_id=row.span_id or None,
        )


class LoggedRequestPage(BaseModel):
    requests: list[LoggedRequest] = Field(description="Newest first.")
    next_page_token: str


@router.get("/requests")
async def list_requests(
    clients: Clients,
    tenant_id: TenantId = "",
    start_time: StartTime = None,
    end_time: EndTime = None,
    status_class: Annotated[
        StatusClassName | None, Query(description="Only statuses of this class.")
    ] = None,
    endpoint: Annotated[str, Query(description="Only this route template.")] = "",
    page_size: PageSize = 0,
    page_token: PageToken = "",
) -> LoggedRequestPage:
    """The requests the gateway served, newest first."""
    request = rpb.ListRequestsRequest(
        tenant_id=tenant_id,
        status_class=STATUS_CLASSES[status_class] if status_class else 0,
        endpoint=endpoint,
        page_size=page_size,
        page_token=page_token,
        start_time=to_timestamp(start_time),
        end_time=to_timestamp(end_time),
    )
    reply = await clients.request_log.ListRequests(request)
    return LoggedRequestPage(
        requests=[LoggedRequest.from_proto(row) for row in reply.requests],
        next_page_token=reply.next_page_token,
    )


@router.get("/errors")
async def list_recent_errors(
    clients: Clients, tenant_id: TenantId = "", page_size: PageSize = 0, page_token: PageToken = ""
) -> LoggedRequestPage:
    """The requests that failed (status 400 and above), newest first."""
    reply = await clients.request_log.ListRecentErrors(
        rpb.ListRecentErrorsRequest(tenant_id=tenant_id, page_size=page_size, page_token=page_token)
    )
    return LoggedRequestPage(
        requests=[LoggedRequest.from_proto(row) for row in reply.requests],
        next_page_token=reply.next_page_token,
    )


# -- Agent metrics ---------------------------------------------------------------------------


class MetricPoint(BaseModel):
    id: str
    agent_id: str
    metric_type: str
    metric_value: float
    metric_unit: str | None
    cost_usd: str | None = Field(description="Exact USD of a cost point; null for others.")
    record_time: datetime
    context: dict[str, Any]
    trace_id: str | None
    span_id: str | None

    @classmethod
    def from_proto(cls, point: mpb.AgentMetric) -> MetricPoint:
        return cls(
            id=point.id,
            agent_id=point.agent_id,
            metric_type=point.metric_type,
            metric_value=point.metric_value,
            metric_unit=point.metric_unit or None,
            cost_usd=point.cost_usd or None,
            record_time=from_timestamp(point.record_time),
            context=MessageToDict(point.context),
            trace_id=point.trace_id or None,
            span_id=point.span_id or None,
        )


class MetricSeries(BaseModel):
    metrics: list[MetricPoint] = Field(description="Oldest first.")
    next_page_token: str


@router.get("/metrics")
async def list_metrics(
    clients: Clients,
    agent_id: Annotated[str, Query(description="The agent whose series is read.")],
    tenant_id: TenantId = "",
    metric_type: Annotated[str, Query(description="Only this metric type.")] = "",
    start_time: StartTime = None,
    end_time: EndTime = None,
    page_size: PageSize = 0,
    page_token: PageToken = "",
) -> MetricSeries:
    """One agent's metric series, oldest first."""
    request = mpb.ListMetricsRequest(
        tenant_id=tenant_id,
        agent_id=agent_id,
        metric_type=metric_type,
        page_size=page_size,
        page_token=page_token,
        start_time=to_timestamp(start_time),
        end_time=to_timestamp(end_time),
    )
    reply = await clients.metrics.ListMetrics(request)
    return MetricSeries(
        metrics=[MetricPoint.from_proto(point) for point in reply.metrics],
        next_page_token=reply.next_page_token,
    )


class AgentStatisticsEntry(BaseModel):
    agent_id: str | None = Field(description="null for the tenant's total.")
    task_count: int
    success_rate: float = Field(description="Percent.")
    error_rate: float = Field(description="Percent.")
    average_latency_ms: float
    total_tokens: int
    total_cost_usd: str

    @classmethod
    def from_proto(cls, stats: mpb.AgentStatistics) -> AgentStatisticsEntry:
        return cls(
            agent_id=stats.agent_id or None,
            task_count=stats.task_count,
            success_rate=stats.success_rate,
            error_rate=stats.error_rate,
            average_latency_ms=stats.average_latency_ms,
            total_tokens=stats.total_tokens,
            total_cost_usd=stats.total_cost_usd,
        )


class AgentStatisticsReport(BaseModel):
    agents: list[AgentStatisticsEntry]
    total: AgentStatisticsEntry
    start_time: datetime
    end_time: datetime


@router.get("/agents/statistics")
async def get_agent_statistics(
    clients: Clients,
    tenant_id: TenantId = "",
    agent_id: Annotated[str, Query(description="One agent; every agent when empty.")] = "",
    start_time: StartTime = None,
    end_time: EndTime = None,
) -> AgentStatisticsReport:
    """Tasks, success and error rates, latency, tokens and cost per agent over a window (the
    last 24 hours by default)."""
    request = mpb.GetAgentStatisticsRequest(
        tenant_id=tenant_id,
        agent_id=agent_id,
        start_time=to_timestamp(start_time),
        end_time=to_timestamp(end_time),
    )
    reply = await clients.metrics.GetAgentStatistics(request)
    return AgentStatisticsReport(
        agents=[AgentStatisticsEntry.from_proto(stats) for stats in reply.agents],
        total=AgentStatisticsEntry.from_proto(reply.total),
        start_time=from_timestamp(reply.start_time),
        end_time=from_timestamp(reply.end_time),
    )


# -- Tool usage ------------------------------------------------------------------------------


class ToolAnalyticsEntry(BaseModel):
    tool_name: str
    call_count: int
    success_count: int
    error_count: int
    average_latency_ms: float
    max_latency_ms: int


class ToolAnalyticsReport(BaseModel):
    tools: list[ToolAnalyticsEntry] = Field(description="Most called first.")
    start_time: datetime
    end_time: datetime


@router.get("/tools/analytics")
async def get_tool_usage_analytics(
    clients: Clients,
    tenant_id: TenantId = "",
    start_time: StartTime = None,
    end_time: EndTime = None,
) -> ToolAnalyticsReport:
    """Calls, successes, errors, average and longest latency per tool over a window (the last
    24 hours by default)."""
    request = tpb.GetToolUsageAnalyticsRequest(
        tenant_id=tenant_id, start_time=to_timestamp(start_time), end_time=to_timestamp(end_time)
    )
    reply = await clients.tool_usage.GetToolUsageAnalytics(request)
    return ToolAnalyticsReport(
        tools=[
            ToolAnalyticsEntry(
                tool_name=tool.tool_name,
                call_count=tool.call_count,
                success_count=tool.success_count,
                error_count=tool.error_count,
                average_latency_ms=tool.average_latency_ms,
                max_latency_ms=tool.max_latency_ms,
            )
            for tool in reply.tools
        ],
        start_time=from_timestamp(reply.start_time),
        end_time=from_timestamp(reply.end_time),
    )


class ToolCall(BaseModel):
    id: str
    tool_name: str
    status: ToolStatusName
    args: Any
    result: Any
    latency_ms: int | None
    tokens_in: int
    tokens_out: int
    error: str | None
    create_time: datetime
    trace_id: str | None
    span_id: str | None

    @classmethod
    def from_proto(cls, call: tpb.ToolUsage) -> ToolCall:
        return cls(
            id=call.id,
            tool_name=call.tool_name,
            status=TOOL_STATUS_NAMES.get(call.status, "unspecified"),
            args=MessageToDict(call.args) if call.HasField("args") else None,
            result=MessageToDict(call.result) if call.HasField("result") else None,
            latency_ms=call.latency_ms if call.HasField("latency_ms") else None,
            tokens_in=call.tokens_in,
            tokens_out=call.tokens_out,
            error=call.error or None,
            create_time=from_timestamp(call.create_time),
            trace_id=call.trace_id or None,
            span_id=call.span_id or None,
        )


class ToolCallPage(BaseModel):
    calls: list[ToolCall] = Field(description="Newest first.")
    next_page_token: str


@router.get("/tools/errors")
async def list_recent_tool_errors(
    clients: Clients, tenant_id: TenantId = "", page_size: PageSize = 0, page_token: PageToken = ""
) -> ToolCallPage:
    """The tool calls that failed (error or timeout), newest first."""
    reply = await clients.tool_usage.ListRecentToolErrors(
        tpb.ListRecentToolErrorsRequest(
            tenant_id=tenant_id, page_size=page_size, page_token=page_token
        )
    )
    return ToolCallPage(
        calls=[ToolCall.from_proto(call) for call in reply.calls],
        next_page_token=reply.next_page_token,
    )
