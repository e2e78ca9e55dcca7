"""Span export and trace reads, free of any transport: protobuf in, protobuf out."""

from __future__ import annotations

import re
from typing import Any

from google.protobuf.struct_pb2 import Struct
from google.protobuf.timestamp_pb2 import Timestamp
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from sqlalchemy import Insert, select
from sqlalchemy.dialects import postgresql, sqlite

from quarterdeck.telemetry.v1 import telemetry_pb2 as pb
from services.telemetry.config import TelemetrySettings
from services.telemetry.models import SpanKind, SpanRecord, SpanStatusCode
from services.telemetry.otlp import convert_request, rejection_message
from shared.auth import require_operator
from shared.db_types import utcnow
from shared.errors import InvalidArgument, NotFound
from shared.server import ServiceContext

TRACE_ID_PATTERN = re.compile(r"[0-9a-f]{32}")
KIND_TO_PROTO = {
    SpanKind.UNSPECIFIED: pb.SPAN_KIND_UNSPECIFIED,
    SpanKind.INTERNAL: pb.SPAN_KIND_INTERNAL,
    SpanKind.SERVER: pb.SPAN_KIND_SERVER,
    SpanKind.CLIENT: pb.SPAN_KIND_CLIENT,
    SpanKind.PRODUCER: pb.SPAN_KIND_PRODUCER,
    SpanKind.CONSUMER: pb.SPAN_KIND_CONSUMER,
}
STATUS_TO_PROTO = {
    SpanStatusCode.UNSET: pb.SPAN_STATUS_CODE_UNSPECIFIED,
    SpanStatusCode.OK: pb.SPAN_STATUS_CODE_OK,
    SpanStatusCode.ERROR: pb.SPAN_STATUS_CODE_ERROR,
}
_DIALECT_INSERTS = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}


def insert_new_spans(dialect: str) -> Insert:
    """An INSERT that skips spans already stored, so a retried export changes nothing."""
    if dialect not in _DIALECT_INSERTS:
        raise ValueError(f"the telemetry store supports sqlite and postgresql, not {dialect}")
    statement = _DIALECT_INSERTS[dialect](SpanRecord.__table__)
    return statement.on_conflict_do_nothing(index_elements=["trace_id", "span_id"])


def parse_trace_id(value: str) -> str:
    if not TRACE_ID_PATTERN.fullmatch(value):
        raise InvalidArgument.field("trace_id", "must be 32 lowercase hexadecimal characters")
    if not value.strip("0"):
        raise InvalidArgument.field("trace_id", "must not be all zeros")
    return value


def _timestamp(unix_nano: int) -> Timestamp:
    stamp = Timestamp()
    stamp.FromNanoseconds(unix_nano)  # exact: a datetime would drop the nanoseconds
    return stamp


def _struct(value: dict[str, Any]) -> Struct:
    struct = Struct()
    struct.update(value)
    return struct


def span_to_proto(row: SpanRecord) -> pb.Span:
    return pb.Span(
        trace_id=row.trace_id,
        span_id=row.span_id,
        parent_span_id=row.parent_span_id or "",
        service_name=row.service_name,
        name=row.name,
        kind=KIND_TO_PROTO[row.kind],
        start_time=_timestamp(row.start_time_unix_nano),
        end_time=_timestamp(row.end_time_unix_nano),
        status_code=STATUS_TO_PROTO[row.status_code],
        status_message=row.status_message,
        attributes=_struct(row.attributes),
        tenant_id=row.tenant_id or "",
    )


class SpanHandlers:
    def __init__(self, context: ServiceContext[TelemetrySettings]) -> None:
        self._db = context.database

    async def export(self, request: ExportTraceServiceRequest) -> ExportTraceServiceResponse:
        conversion = convert_request(request)
        if conversion.rows:
            received_at = utcnow()
            rows = [{**row, "received_at": received_at} for row in conversion.rows]
            # The bootstrap suppresses instrumentation inside Export (SPEC.untraced_methods), so
            # storing spans records none that would be exported back here.
            async with self._db.transaction() as session:
                await session.execute(insert_new_spans(self._db.dialect), rows)
        response = ExportTraceServiceResponse()
        if conversion.rejections:
            # OTLP: partial_success stays unset when every span was accepted.
            response.partial_success.rejected_spans = len(conversion.rejections)
            response.partial_success.error_message = rejection_message(conversion.rejections)
        return response

    async def get_trace(self, request: pb.GetTraceRequest) -> pb.GetTraceResponse:
        # A trace can cross tenants; tenant-scoped reads arrive with the telemetry issue.
        require_operator()
        trace_id = parse_trace_id(request.trace_id)
        statement = (
            select(SpanRecord)
            .where(SpanRecord.trace_id == trace_id)
            .order_by(SpanRecord.start_time_unix_nano, SpanRecord.span_id)
        )
        async with self._db.reading() as session:
            rows = (await session.scalars(statement)).all()
        if not rows:
            raise NotFound(
                f"trace {trace_id} not found",
                reason="TRACE_NOT_FOUND",
                metadata={"trace_id": trace_id},
            )
        return pb.GetTraceResponse(spans=[span_to_proto(row) for row in rows])
