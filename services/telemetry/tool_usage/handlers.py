"""MCP tool usage (mcp_tool_usage), its analytics and recent errors, free of any transport:
protobuf in, protobuf out.

Analytics group one tenant's calls of a window by tool, reading only the index
``(tenant_id, created_at, tool_name, status, latency_ms)``; recent errors walk the partial index
over failed calls, newest first.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from google.protobuf.json_format import MessageToDict
from sqlalchemy import Insert, Select, case, func, literal_column, select

from quarterdeck.telemetry.v1 import tool_usage_pb2 as pb
from services.telemetry.batch_rows import (
    RowRejected,
    analytics_tenant,
    analytics_window,
    bounded_text,
    json_value,
    rejected_protos,
    row_time,
    trace_ids,
    validate_rows,
)
from services.telemetry.context import TelemetryContext
from services.telemetry.requests.handlers import MAX_LATENCY_MS, MAX_LONG_TEXT
from services.telemetry.tool_usage.convert import (
    STATUS_FROM_PROTO,
    call_to_proto,
)
from services.telemetry.tool_usage.models import (
    MAX_REQUEST_ID,
    MAX_TOOL_NAME,
    ToolCallStatus,
    ToolUsageRecord,
)
from shared.db_types import utcnow
from shared.inserts import insert_ignoring_duplicates
from shared.pagination import fetch_page
from shared.tenant_scope import tenant_for_read, tenant_for_write
from shared.timestamps import to_timestamp

MAX_TOKENS = 2**31 - 1
#: The partial index's very predicate, as literals, so the planner can prove it applies.
_FAILED = ToolUsageRecord.status.in_([literal_column("'error'"), literal_column("'timeout'")])


def _call_columns(prefix: str, call: pb.ToolUsage, now: datetime) -> dict[str, Any]:
    tenant_id = tenant_for_write(call.tenant_id, "tenant_id")
    bounded_text(prefix, "tool_name", call.tool_name, MAX_TOOL_NAME, required=True)
    status: str | None = None
    if call.status:
        if call.status not in STATUS_FROM_PROTO:
            raise RowRejected(f"{prefix}.status", "is not a known tool call status")
        status = STATUS_FROM_PROTO[call.status].value
    latency_ms = call.latency_ms if call.HasField("latency_ms") else None
    if latency_ms is not None and not 0 <= latency_ms <= MAX_LATENCY_MS:
        raise RowRejected(f"{prefix}.latency_ms", "must not be negative")
    for field in ("tokens_in", "tokens_out"):
        if not 0 <= getattr(call, field) <= MAX_TOKENS:
            raise RowRejected(f"{prefix}.{field}", f"must be from 0 to {MAX_TOKENS}")
    bounded_text(prefix, "error", call.error, MAX_LONG_TEXT)
    bounded_text(prefix, "request_id", call.request_id, MAX_REQUEST_ID)
    trace_id, span_id = trace_ids(prefix, call.trace_id, call.span_id)
    return {
        "tenant_id": tenant_id,
        "tool_name": call.tool_name,
        "status": status,
        "args": json_value(prefix, "args", MessageToDict(call.args))
        if call.HasField("args")
        else None,
        "result": json_value(prefix, "result", MessageToDict(call.result))
        if call.HasField("result")
        else None,
        "latency_ms": latency_ms,
        "tokens_in": call.tokens_in,
        "tokens_out": call.tokens_out,
        "error": call.error or None,
        "created_at": row_time(prefix, "create_time", call, now),
        "trace_id": trace_id,
        "span_id": span_id,
        "request_id": call.request_id or None,
    }


def insert_new_calls(dialect: str) -> Insert:
    """An INSERT that skips a (tenant, request_id) already stored and returns the ids stored."""
    statement = insert_ignoring_duplicates(dialect, ToolUsageRecord, ["tenant_id", "request_id"])
    return statement.returning(ToolUsageRecord.id)


def tool_analytics_query(tenant: str, start: datetime, end: datetime) -> Select:
    """Per tool: calls, successes, errors, mean and longest latency in the window."""
    call = ToolUsageRecord
    calls = func.count()
    return (
        select(
            call.tool_name,
            calls,
            func.sum(case((call.status == ToolCallStatus.OK.value, 1), else_=0)),
            func.sum(case((call.status == ToolCallStatus.ERROR.value, 1), else_=0)),
            func.avg(call.latency_ms),
            func.max(call.latency_ms),
        )
        .where(call.tenant_id == tenant, call.created_at >= start, call.created_at < end)
        .group_by(call.tool_name)
        .order_by(calls.desc(), call.tool_name)
    )


def failed_calls_query(tenant: str | None) -> Select:
    statement = select(ToolUsageRecord).where(_FAILED)
    if tenant is not None:
        return statement.where(ToolUsageRecord.tenant_id == tenant)
    # Always true (the column is NOT NULL), but it is the predicate of the index kept for this
    # all-tenant listing alone, so PostgreSQL reads that index instead of the whole table.
    return statement.where(ToolUsageRecord.created_at.is_not(None))


class ToolUsageHandlers:
    def __init__(self, context: TelemetryContext) -> None:
        self._db = context.database
        self._page_tokens = context.page_tokens

    async def record_tool_usage(
        self, request: pb.RecordToolUsageRequest
    ) -> pb.RecordToolUsageResponse:
        now = utcnow()
        rows, rejected = validate_rows(
            request.calls, "calls", lambda prefix, c: _call_columns(prefix, c, now)
        )
        stored = 0
        if rows:
            async with self._db.transaction() as session:
                result = await session.execute(insert_new_calls(self._db.dialect), rows)
                stored = len(result.all())
        return pb.RecordToolUsageResponse(
            recorded_count=stored, rejected=rejected_protos(rejected, pb.RejectedToolUsage)
        )

    async def get_tool_usage_analytics(
        self, request: pb.GetToolUsageAnalyticsRequest
    ) -> pb.GetToolUsageAnalyticsResponse:
        tenant = analytics_tenant(request.tenant_id)
        start, end = analytics_window(request)
        statement = tool_analytics_query(tenant, start, end)
        async with self._db.reading() as session:
            groups = (await session.execute(statement)).all()
        return pb.GetToolUsageAnalyticsResponse(
            tools=[
                pb.ToolAnalytics(
                    tool_name=tool_name,
                    call_count=int(count),
                    success_count=int(successes or 0),
                    error_count=int(errors or 0),
                    average_latency_ms=float(average or 0),
                    max_latency_ms=int(longest or 0),
                )
                for tool_name, count, successes, errors, average, longest in groups
            ],
            start_time=to_timestamp(start),
            end_time=to_timestamp(end),
        )

    async def list_recent_tool_errors(
        self, request: pb.ListRecentToolErrorsRequest
    ) -> pb.ListRecentToolErrorsResponse:
        tenant = tenant_for_read(request.tenant_id)
        async with self._db.reading() as session:
            page = await fetch_page(
                session,
                failed_calls_query(tenant),
                sort_key=[ToolUsageRecord.created_at, ToolUsageRecord.id],
                codec=self._page_tokens,
                query="ListRecentToolErrors",
                filters={"tenant_id": tenant},
                page_size=request.page_size,
                page_token=request.page_token,
                descending=True,
            )
        return pb.ListRecentToolErrorsResponse(
            calls=[call_to_proto(row) for row in page.items],
            next_page_token=page.next_page_token,
        )
