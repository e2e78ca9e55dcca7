"""Logged requests, agent metrics and statistics, and tool usage of ``/v1/telemetry``, mapped from
their messages."""

from __future__ import annotations

from pydantic import Field

from quarterdeck.telemetry.v1 import metrics_pb2 as mpb
from quarterdeck.telemetry.v1 import requests_pb2 as rpb
from quarterdeck.telemetry.v1 import tool_usage_pb2 as tpb
from services.gateway.proto_models import ProtoModel


class LoggedRequest(
    ProtoModel,
    message=rpb.AgentRequest,
    exclude=("conversation_id", "message_id", "session_key"),
    nullable=(
        "principal_id",
        "error_code",
        "error_message",
        "ip",
        "user_agent",
        "trace_id",
        "span_id",
    ),
):
    tenant_id: str | None = Field(description="null when no verified token named a tenant.")
    endpoint: str = Field(description="The route template served.")


class LoggedRequestPage(ProtoModel, message=rpb.ListRequestsResponse):
    """(The recent errors answer the same fields.)"""

    requests: list[LoggedRequest] = Field(description="Newest first.")


class MetricPoint(
    ProtoModel,
    message=mpb.AgentMetric,
    exclude=("tenant_id",),
    nullable=("metric_unit", "trace_id", "span_id"),
):
    cost_usd: str | None = Field(description="Exact USD of a cost point; null for others.")


class MetricSeries(ProtoModel, message=mpb.ListMetricsResponse):
    metrics: list[MetricPoint] = Field(description="Oldest first.")


class AgentStatisticsEntry(ProtoModel, message=mpb.AgentStatistics):
    agent_id: str | None = Field(description="null for the tenant's total.")
    success_rate: float = Field(description="Percent.")
    error_rate: float = Field(description="Percent.")


class AgentStatisticsReport(ProtoModel, message=mpb.GetAgentStatisticsResponse):
    pass


class ToolAnalyticsEntry(ProtoModel, message=tpb.ToolAnalytics):
    pass


class ToolAnalyticsReport(ProtoModel, message=tpb.GetToolUsageAnalyticsResponse):
    tools: list[ToolAnalyticsEntry] = Field(description="Most called first.")


class ToolCall(
    ProtoModel,
    message=tpb.ToolUsage,
    exclude=("tenant_id",),
    nullable=("args", "result", "error", "trace_id", "span_id", "request_id"),
    zero={"status": "unspecified"},
):
    pass


class ToolCallPage(ProtoModel, message=tpb.ListRecentToolErrorsResponse):
    calls: list[ToolCall] = Field(description="Newest first.")
