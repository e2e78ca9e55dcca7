"""``/v1/traces``: trace search and one trace as a tree (TelemetryService).

The telemetry service scopes both to the caller's token: operators see every tenant's traces; a
tenant's viewers and above search their own tenant only, and another tenant's trace answers 404
exactly like one that does not exist.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from google.protobuf.duration_pb2 import Duration
from google.protobuf.json_format import MessageToDict
from pydantic import AwareDatetime, BaseModel, Field

from quarterdeck.telemetry.v1 import telemetry_pb2 as pb
from services.gateway.routing import ERROR_RESPONSES, Clients, PageSize, PageToken
from shared.timestamps import from_timestamp, to_timestamp

router = APIRouter(prefix="/v1/traces", tags=["traces"], responses=ERROR_RESPONSES)

SpanKindName = Literal["unspecified", "internal", "server", "client", "producer", "consumer"]
SpanStatusName = Literal["unset", "ok", "error"]
KIND_NAMES: dict[int, SpanKindName] = {
    pb.SPAN_KIND_UNSPECIFIED: "unspecified",
    pb.SPAN_KIND_INTERNAL: "internal",
    pb.SPAN_KIND_SERVER: "server",
    pb.SPAN_KIND_CLIENT: "client",
    pb.SPAN_KIND_PRODUCER: "producer",
    pb.SPAN_KIND_CONSUMER: "consumer",
}
STATUS_NAMES: dict[int, SpanStatusName] = {
    pb.SPAN_STATUS_CODE_UNSPECIFIED: "unset",
    pb.SPAN_STATUS_CODE_OK: "ok",
    pb.SPAN_STATUS_CODE_ERROR: "error",
}
NANOS_PER_MILLISECOND = 1_000_000
#: The longest duration a span can have (int64 nanoseconds), in milliseconds.
MAX_DURATION_MS = (2**63 - 1) / NANOS_PER_MILLISECOND


def _milliseconds(nanos: int) -> float:
    return nanos / NANOS_PER_MILLISECOND


class SpanEvent(BaseModel):
    name: str
    time: datetime
    attributes: dict[str, Any]


class Span(BaseModel):
    trace_id: str
    span_id: str
    parent_span_id: str | None = Field(description="null for a span that names no parent.")
    service_name: str
    name: str
    kind: SpanKindName
    start_time: datetime
    end_time: datetime
    duration_ms: float
    status_code: SpanStatusName
    status_message: str
    attributes: dict[str, Any]
    tenant_id: str | None = Field(description="null when the span carries no tenant.")
    depth: int = Field(description="0 for a root, 1 for its children, and so on.")
    parent_missing: bool = Field(
        description="The span names a parent that is not stored; it is shown as a root."
    )
    events: list[SpanEvent]

    @classmethod
    def from_proto(cls, span: pb.Span) -> Span:
        start, end = span.start_time.ToNanoseconds(), span.end_time.ToNanoseconds()
        return cls(
            trace_id=span.trace_id,
            span_id=span.span_id,
            parent_span_id=span.parent_span_id or None,
            service_name=span.service_name,
            name=span.name,
            kind=KIND_NAMES.get(span.kind, "unspecified"),
            start_time=from_timestamp(span.start_time),
            end_time=from_timestamp(span.end_time),
            duration_ms=_milliseconds(end - start),
            status_code=STATUS_NAMES.get(span.status_code, "unset"),
            status_message=span.status_message,
            attributes=MessageToDict(span.attributes),
            tenant_id=span.tenant_id or None,
            depth=span.depth,
            parent_missing=span.parent_missing,
            events=[
                SpanEvent(
                    name=event.name,
                    time=from_timestamp(event.time),
                    attributes=MessageToDict(event.attributes),
                )
                for event in span.events
            ],
        )


class Trace(BaseModel):
    trace_id: str
    spans: list[Span] = Field(
        description="Tree order: each root by start time, then its children depth first."
    )


class TraceSummary(BaseModel):
    trace_id: str
    root_span_name: str
    root_service_name: str
    start_time: datetime
    duration_ms: float
    span_count: int
    has_error: bool
    tenant_ids: list[str]
    matched_span_id: str = Field(description="The trace's newest span that matched the filters.")
    matched_start_time: datetime

    @classmethod
    def from_proto(cls, summary: pb.TraceSummary) -> TraceSummary:
        return cls(
            trace_id=summary.trace_id,
            root_span_name=summary.root_span_name,
            root_service_name=summary.root_service_name,
            start_time=from_timestamp(summary.start_time),
            duration_ms=_milliseconds(summary.duration.ToNanoseconds()),
            span_count=summary.span_count,
            has_error=summary.has_error,
            tenant_ids=list(summary.tenant_ids),
            matched_span_id=summary.matched_span_id,
            matched_start_time=from_timestamp(summary.matched_start_time),
        )


class TraceList(BaseModel):
    traces: list[TraceSummary] = Field(description="Newest matching span first.")
    next_page_token: str


@router.get("")
async def search_traces(
    clients: Clients,
    tenant_id: Annotated[
        str, Query(description="The tenant; operators may leave it out for every tenant.")
    ] = "",
    service_name: Annotated[str, Query(description="Only spans of this service.")] = "",
    span_name: Annotated[str, Query(description="Only spans with exactly this name.")] = "",
    span_name_prefix: Annotated[
        str, Query(description="Only spans whose name starts with this (case-sensitive).")
    ] = "",
    start_time: Annotated[
        AwareDatetime | None, Query(description="Only spans that started at or after this.")
    ] = None,
    end_time: Annotated[
        AwareDatetime | None, Query(description="Only spans that started before this.")
    ] = None,
    min_duration_ms: Annotated[
        float, Query(ge=0, le=MAX_DURATION_MS, description="Only spans at least this long.")
    ] = 0,
    errors_only: Annotated[bool, Query(description="Only spans whose status is error.")] = False,
    page_size: PageSize = 0,
    page_token: PageToken = "",
) -> TraceList:
    """The traces with a span matching every filter, one summary per trace, newest first."""
    request = pb.SearchTracesRequest(
        tenant_id=tenant_id,
        service_name=service_name,
        span_name=span_name,
        span_name_prefix=span_name_prefix,
        errors_only=errors_only,
        start_time=to_timestamp(start_time),
        end_time=to_timestamp(end_time),
        page_size=page_size,
        page_token=page_token,
    )
    if min_duration_ms:
        duration = Duration()
        duration.FromNanoseconds(round(min_duration_ms * NANOS_PER_MILLISECOND))
        request.min_duration.CopyFrom(duration)
    reply = await clients.traces.SearchTraces(request)
    return TraceList(
        traces=[TraceSummary.from_proto(summary) for summary in reply.traces],
        next_page_token=reply.next_page_token,
    )


@router.get("/{trace_id}")
async def get_trace(trace_id: str, clients: Clients) -> Trace:
    """Every stored span of the trace as a tree, parents before children."""
    reply = await clients.traces.GetTrace(pb.GetTraceRequest(trace_id=trace_id))
    return Trace(trace_id=trace_id, spans=[Span.from_proto(span) for span in reply.spans])
