"""Logged agent requests as their protobuf messages."""

from __future__ import annotations

from quarterdeck.telemetry.v1 import requests_pb2 as pb
from services.telemetry.requests.models import (
    AgentRequestRecord,
)
from shared.timestamps import to_timestamp


def request_to_proto(row: AgentRequestRecord) -> pb.AgentRequest:
    return pb.AgentRequest(
        request_id=row.request_id,
        tenant_id=row.tenant_id or "",
        principal_id=row.principal_id or "",
        endpoint=row.endpoint,
        method=row.method,
        conversation_id=row.conversation_id or "",
        message_id=row.message_id or "",
        session_key=row.session_key or "",
        ip=row.ip or "",
        user_agent=row.user_agent or "",
        status_code=row.status_code,
        latency_ms=row.latency_ms,
        error_code=row.error_code or "",
        error_message=row.error_message or "",
        create_time=to_timestamp(row.created_at),
        trace_id=row.trace_id or "",
        span_id=row.span_id or "",
    )
