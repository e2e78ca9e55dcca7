"""The request log (agent_requests), free of any transport: protobuf in, protobuf out.

The gateway records every external request here in batches, with its internal token; a request
no verified token attributed to a tenant (sign-in, an anonymous call) is stored without one and
only operators see it. request_id is unique, so a batch the gateway retries stores nothing twice.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from sqlalchemy import Insert, Select, literal_column, select

from quarterdeck.telemetry.v1 import requests_pb2 as pb
from services.telemetry.batch_rows import (
    RowRejected,
    bounded_text,
    rejected_protos,
    row_time,
    time_range,
    trace_ids,
    validate_rows,
)
from services.telemetry.context import TelemetryContext
from services.telemetry.requests.convert import request_to_proto
from services.telemetry.requests.models import (
    FIRST_ERROR_STATUS,
    MAX_ENDPOINT,
    MAX_ERROR_CODE,
    MAX_IP,
    MAX_OPAQUE_ID,
    MAX_REQUEST_ID,
    AgentRequestRecord,
)
from shared.auth import require_principal
from shared.db_types import utcnow
from shared.errors import InvalidArgument
from shared.inserts import insert_ignoring_duplicates
from shared.pagination import fetch_page
from shared.tenant_scope import tenant_for_read, tenant_for_write

METHOD_PATTERN = re.compile(r"[A-Z]{1,10}")
#: Longest user agent and error message stored; the gateway truncates to these.
MAX_LONG_TEXT = 4096
MAX_LATENCY_MS = 2**31 - 1
STATUS_CLASS_RANGES = {
    pb.STATUS_CLASS_1XX: (100, 200),
    pb.STATUS_CLASS_2XX: (200, 300),
    pb.STATUS_CLASS_3XX: (300, 400),
    pb.STATUS_CLASS_4XX: (400, 500),
    pb.STATUS_CLASS_5XX: (500, 600),
}


def insert_new_requests(dialect: str) -> Insert:
    """An INSERT that skips request ids already stored and returns the ids it stored."""
    statement = insert_ignoring_duplicates(dialect, AgentRequestRecord, ["request_id"])
    return statement.returning(AgentRequestRecord.id)


def _request_columns(prefix: str, request: pb.AgentRequest, now: datetime) -> dict[str, Any]:
    principal = require_principal()
    if principal.is_internal and not request.tenant_id:
        tenant_id: str | None = None
        principal_id = request.principal_id or None
    else:
        tenant_id = tenant_for_write(request.tenant_id, "tenant_id")
        # A tenant's own caller records its own requests: the principal is the caller.
        principal_id = request.principal_id if principal.is_internal else principal.subject
    bounded_text(prefix, "principal_id", principal_id or "", MAX_OPAQUE_ID)
    bounded_text(prefix, "request_id", request.request_id, MAX_REQUEST_ID, required=True)
    bounded_text(prefix, "endpoint", request.endpoint, MAX_ENDPOINT, required=True)
    method = request.method or "POST"
    if not METHOD_PATTERN.fullmatch(method):
        raise RowRejected(f"{prefix}.method", "must be 1 to 10 uppercase letters, such as GET")
    for field in ("conversation_id", "message_id", "session_key"):
        bounded_text(prefix, field, getattr(request, field), MAX_OPAQUE_ID)
    bounded_text(prefix, "ip", request.ip, MAX_IP)
    bounded_text(prefix, "user_agent", request.user_agent, MAX_LONG_TEXT)
    bounded_text(prefix, "error_code", request.error_code, MAX_ERROR_CODE)
    bounded_text(prefix, "error_message", request.error_message, MAX_LONG_TEXT)
    status_code = request.status_code if request.HasField("status_code") else None
    if status_code is not None and not 100 <= status_code <= 599:
        raise RowRejected(f"{prefix}.status_code", "must be an HTTP status from 100 to 599")
    latency_ms = request.latency_ms if request.HasField("latency_ms") else None
    if latency_ms is not None and not 0 <= latency_ms <= MAX_LATENCY_MS:
        raise RowRejected(f"{prefix}.latency_ms", "must not be negative")
    trace_id, span_id = trace_ids(prefix, request.trace_id, request.span_id)
    return {
        "tenant_id": tenant_id,
        "principal_id": principal_id,
        "request_id": request.request_id,
        "endpoint": request.endpoint,
        "method": method,
        "conversation_id": request.conversation_id or None,
        "message_id": request.message_id or None,
        "session_key": request.session_key or None,
        "ip": request.ip or None,
        "user_agent": request.user_agent or None,
        "status_code": status_code,
        "latency_ms": latency_ms,
        "error_code": request.error_code or None,
        "error_message": request.error_message or None,
        "created_at": row_time(prefix, "create_time", request, now),
        "trace_id": trace_id,
        "span_id": span_id,
    }


def failed_requests_query(tenant: str | None) -> Select:
    # The partial index's very predicate, as a literal (not a bound parameter), so the planner
    # can prove the index applies.
    statement = select(AgentRequestRecord).where(
        AgentRequestRecord.status_code >= literal_column(str(FIRST_ERROR_STATUS))
    )
    if tenant is not None:
        statement = statement.where(AgentRequestRecord.tenant_id == tenant)
    return statement


class RequestLogHandlers:
    def __init__(self, context: TelemetryContext) -> None:
        self._db = context.database
        self._page_tokens = context.page_tokens

    async def record_requests(self, request: pb.RecordRequestsRequest) -> pb.RecordRequestsResponse:
        now = utcnow()
        rows, rejected = validate_rows(
            request.requests, "requests", lambda prefix, r: _request_columns(prefix, r, now)
        )
        stored = 0
        if rows:
            async with self._db.transaction() as session:
                result = await session.execute(insert_new_requests(self._db.dialect), rows)
                stored = len(result.all())
        return pb.RecordRequestsResponse(
            recorded_count=stored, rejected=rejected_protos(rejected, pb.RejectedRequest)
        )

    async def list_requests(self, request: pb.ListRequestsRequest) -> pb.ListRequestsResponse:
        tenant = tenant_for_read(request.tenant_id)
        statement = select(AgentRequestRecord)
        filters: dict[str, Any] = {"tenant_id": tenant}
        if tenant is not None:
            statement = statement.where(AgentRequestRecord.tenant_id == tenant)
        if request.status_class:
            if request.status_class not in STATUS_CLASS_RANGES:
                raise InvalidArgument.field("status_class", "is not a known status class")
            low, high = STATUS_CLASS_RANGES[request.status_class]
            statement = statement.where(
                AgentRequestRecord.status_code >= low, AgentRequestRecord.status_code < high
            )
            filters["status_class"] = request.status_class
        if request.endpoint:
            statement = statement.where(AgentRequestRecord.endpoint == request.endpoint)
            filters["endpoint"] = request.endpoint
        conditions, bound = time_range(AgentRequestRecord.created_at, request)
        return pb.ListRequestsResponse(
            **await self._page(
                statement.where(*conditions), "ListRequests", {**filters, **bound}, request
            )
        )

    async def list_recent_errors(
        self, request: pb.ListRecentErrorsRequest
    ) -> pb.ListRecentErrorsResponse:
        tenant = tenant_for_read(request.tenant_id)
        statement = failed_requests_query(tenant)
        return pb.ListRecentErrorsResponse(
            **await self._page(statement, "ListRecentErrors", {"tenant_id": tenant}, request)
        )

    async def _page(
        self, statement: Any, query: str, filters: dict[str, Any], request: Any
    ) -> dict[str, Any]:
        async with self._db.reading() as session:
            page = await fetch_page(
                session,
                statement,
                sort_key=[AgentRequestRecord.created_at, AgentRequestRecord.id],
                codec=self._page_tokens,
                query=query,
                filters=filters,
                page_size=request.page_size,
                page_token=request.page_token,
                descending=True,
            )
        return {
            "requests": [request_to_proto(row) for row in page.items],
            "next_page_token": page.next_page_token,
        }
