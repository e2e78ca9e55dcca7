"""The traces and spans of ``/v1/traces``, mapped from their messages."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from quarterdeck.telemetry.v1 import telemetry_pb2 as pb
from services.gateway.proto_models import ProtoModel

NANOS_PER_MILLISECOND = 1_000_000


def _milliseconds(nanos: int) -> float:
    return nanos / NANOS_PER_MILLISECOND


class SpanEvent(ProtoModel, message=pb.SpanEvent):
    pass


class Span(
    ProtoModel,
    message=pb.Span,
    zero={"kind": "unspecified", "status_code": "unset"},
):
    parent_span_id: str | None = Field(description="null for a span that names no parent.")
    tenant_id: str | None = Field(description="null when the span carries no tenant.")
    depth: int = Field(description="0 for a root, 1 for its children, and so on.")
    parent_missing: bool = Field(
        description="The span names a parent that is not stored; it is shown as a root."
    )
    duration_ms: float

    @classmethod
    def proto_values(cls, message: Any) -> dict[str, Any]:
        start, end = message.start_time.ToNanoseconds(), message.end_time.ToNanoseconds()
        return {**super().proto_values(message), "duration_ms": _milliseconds(end - start)}


class Trace(ProtoModel, message=pb.GetTraceResponse):
    trace_id: str
    spans: list[Span] = Field(
        description="Tree order: each root by start time, then its children depth first."
    )


class TraceSummary(ProtoModel, message=pb.TraceSummary, exclude=("duration",)):
    matched_span_id: str = Field(description="The trace's newest span that matched the filters.")
    duration_ms: float

    @classmethod
    def proto_values(cls, message: Any) -> dict[str, Any]:
        duration = _milliseconds(message.duration.ToNanoseconds())
        return {**super().proto_values(message), "duration_ms": duration}


class TraceList(ProtoModel, message=pb.SearchTracesResponse):
    traces: list[TraceSummary] = Field(description="Newest matching span first.")
