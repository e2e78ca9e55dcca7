"""Tool calls as their protobuf messages, and the enum maps between the two."""

from __future__ import annotations

from typing import Any

from google.protobuf.json_format import ParseDict
from google.protobuf.struct_pb2 import Value

from quarterdeck.telemetry.v1 import tool_usage_pb2 as pb
from services.telemetry.tool_usage.models import (
    ToolCallStatus,
    ToolUsageRecord,
)
from shared.timestamps import to_timestamp

STATUS_FROM_PROTO = {
    pb.TOOL_CALL_STATUS_STARTED: ToolCallStatus.STARTED,
    pb.TOOL_CALL_STATUS_OK: ToolCallStatus.OK,
    pb.TOOL_CALL_STATUS_ERROR: ToolCallStatus.ERROR,
    pb.TOOL_CALL_STATUS_TIMEOUT: ToolCallStatus.TIMEOUT,
}
STATUS_TO_PROTO = {status.value: proto for proto, status in STATUS_FROM_PROTO.items()}


def _value(value: Any) -> Value | None:
    return None if value is None else ParseDict(value, Value())


def call_to_proto(row: ToolUsageRecord) -> pb.ToolUsage:
    return pb.ToolUsage(
        id=str(row.id),
        tenant_id=row.tenant_id,
        tool_name=row.tool_name,
        status=STATUS_TO_PROTO.get(row.status or "", pb.TOOL_CALL_STATUS_UNSPECIFIED),
        args=_value(row.args),
        result=_value(row.result),
        latency_ms=row.latency_ms,
        tokens_in=row.tokens_in,
        tokens_out=row.tokens_out,
        error=row.error or "",
        create_time=to_timestamp(row.created_at),
        trace_id=row.trace_id or "",
        span_id=row.span_id or "",
        request_id=row.request_id or "",
    )
