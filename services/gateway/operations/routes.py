"""``/v1/telemetry``: request logs, agent metrics and tool usage (RequestLogService,
AgentMetricsService, ToolUsageService).

Each read is scoped by the telemetry service to the caller's token: a tenant's viewers and above
read their own tenant (naming another is 403); operators name the tenant they read. Money is a
decimal string of USD with twelve fractional digits, never a float.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import AwareDatetime

from quarterdeck.telemetry.v1 import metrics_pb2 as mpb
from quarterdeck.telemetry.v1 import requests_pb2 as rpb
from quarterdeck.telemetry.v1 import tool_usage_pb2 as tpb
from services.gateway.operations.schemas import (
    AgentStatisticsReport,
    LoggedRequestPage,
    MetricSeries,
    ToolAnalyticsReport,
    ToolCallPage,
)
from services.gateway.proto_models import enum_number
from services.gateway.routing import ERROR_RESPONSES, Clients, PageSize, PageToken
from shared.timestamps import to_timestamp

router = APIRouter(prefix="/v1/telemetry", tags=["operations"], responses=ERROR_RESPONSES)

StatusClassName = Literal["1xx", "2xx", "3xx", "4xx", "5xx"]

TenantId = Annotated[
    str, Query(description="The tenant; empty means the caller's own (operators must name one).")
]

StartTime = Annotated[AwareDatetime | None, Query(description="The window's start (inclusive).")]

EndTime = Annotated[AwareDatetime | None, Query(description="The window's end (exclusive).")]


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
        status_class=enum_number(rpb.StatusClass, status_class),
        endpoint=endpoint,
        page_size=page_size,
        page_token=page_token,
        start_time=to_timestamp(start_time),
        end_time=to_timestamp(end_time),
    )
    reply = await clients.request_log.ListRequests(request)
    return LoggedRequestPage.from_proto(reply)


@router.get("/errors")
async def list_recent_errors(
    clients: Clients, tenant_id: TenantId = "", page_size: PageSize = 0, page_token: PageToken = ""
) -> LoggedRequestPage:
    """The requests that failed (status 400 and above), newest first."""
    reply = await clients.request_log.ListRecentErrors(
        rpb.ListRecentErrorsRequest(tenant_id=tenant_id, page_size=page_size, page_token=page_token)
    )
    return LoggedRequestPage.from_proto(reply)


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
    return MetricSeries.from_proto(reply)


@router.get("/agents/statistics")
async def get_agent_statistics(
    clients: Clients,
    tenant_id: TenantId = "",
    agent_id: Annotated[str, Query(description="One agent; every agent when empty.")] = "",
    start_time: StartTime = None,
    end_time: EndTime = None,
) -> AgentStatisticsReport:
    """Tasks, success and error rates, latency, tokens and cost per agent over a window (the
    last 24 hours by default), from the agent's metric points (POST /v1/telemetry/metrics); the
    usage_* figures come from the usage rows naming the agent."""
    request = mpb.GetAgentStatisticsRequest(
        tenant_id=tenant_id,
        agent_id=agent_id,
        start_time=to_timestamp(start_time),
        end_time=to_timestamp(end_time),
    )
    reply = await clients.metrics.GetAgentStatistics(request)
    return AgentStatisticsReport.from_proto(reply)


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
    return ToolAnalyticsReport.from_proto(reply)


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
    return ToolCallPage.from_proto(reply)
