"""``/v1/traces``: trace search and one trace as a tree (TelemetryService).

The telemetry service scopes both to the caller's token: operators see every tenant's traces; a
tenant's viewers and above search their own tenant only, and another tenant's trace answers 404
exactly like one that does not exist.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from google.protobuf.duration_pb2 import Duration
from pydantic import AwareDatetime

from quarterdeck.telemetry.v1 import telemetry_pb2 as pb
from services.gateway.routing import ERROR_RESPONSES, Clients, PageSize, PageToken
from services.gateway.traces.schemas import NANOS_PER_MILLISECOND, Trace, TraceList
from shared.timestamps import to_timestamp

router = APIRouter(prefix="/v1/traces", tags=["traces"], responses=ERROR_RESPONSES)

#: The longest duration a span can have (int64 nanoseconds), in milliseconds.
MAX_DURATION_MS = (2**63 - 1) / NANOS_PER_MILLISECOND


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
    return TraceList.from_proto(reply)


@router.get("/{trace_id}")
async def get_trace(trace_id: str, clients: Clients) -> Trace:
    """Every stored span of the trace as a tree, parents before children."""
    reply = await clients.traces.GetTrace(pb.GetTraceRequest(trace_id=trace_id))
    return Trace.model_validate({"trace_id": trace_id, **Trace.proto_values(reply)})
