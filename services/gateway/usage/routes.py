"""``/v1/telemetry``: recorded usage and cost analytics (UsageService).

The telemetry service scopes every call to the caller's token: a tenant's members record usage
for their own tenant, its viewers read it, operators read any tenant. Money is a decimal string
of USD with twelve fractional digits, never a float. A row recorded here without trace ids gets
the gateway request's own trace and span, so its cost joins to the trace of the request.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import AwareDatetime

from quarterdeck.telemetry.v1 import usage_pb2 as pb
from services.gateway.proto_models import enum_number
from services.gateway.routing import ERROR_RESPONSES, Clients, PageSize, PageToken
from services.gateway.usage.schemas import (
    CacheSavings,
    CostGroup,
    CostSummary,
    DimensionName,
    RecordUsageBody,
    UsageList,
    UsageRecord,
    UsageWriteResult,
)
from shared.timestamps import from_timestamp, to_timestamp

router = APIRouter(prefix="/v1/telemetry", tags=["usage and cost"], responses=ERROR_RESPONSES)

CostStatusName = Literal[
    "unspecified",
    "priced",
    "client",
    "no_model",
    "unknown_model",
    "no_price",
    "pricing_unavailable",
]

TenantQuery = Annotated[
    str, Query(description="The tenant; empty is your token's tenant (every tenant, operators).")
]

StartQuery = Annotated[
    AwareDatetime | None,
    Query(description="The range's start (inclusive); 30 days before the end by default."),
]

EndQuery = Annotated[
    AwareDatetime | None, Query(description="The range's end (exclusive); now by default.")
]


@router.post("/usage")
async def record_usage(body: RecordUsageBody, clients: Clients) -> UsageWriteResult:
    """Record one row (``record``) or a batch (``records``). Rows are idempotent by event_id; in
    a batch every valid row is stored and each invalid one is reported by index."""
    if body.record is not None:
        one = await clients.usage.RecordUsage(
            pb.RecordUsageRequest(tenant_id=body.tenant_id, record=body.record.to_proto())
        )
        return UsageWriteResult.model_validate(
            {
                "record": UsageRecord.proto_values(one.record),
                "accepted_count": 0 if one.duplicate else 1,
                "duplicate_count": 1 if one.duplicate else 0,
                "duplicate_indexes": [0] if one.duplicate else [],
                "rejected": [],
            }
        )
    assert body.records is not None
    batch = await clients.usage.RecordUsageBatch(
        pb.RecordUsageBatchRequest(
            tenant_id=body.tenant_id, records=[record.to_proto() for record in body.records]
        )
    )
    return UsageWriteResult.from_proto(batch)


@router.get("/usage")
async def list_usage(
    clients: Clients,
    tenant_id: TenantQuery = "",
    start_time: Annotated[AwareDatetime | None, Query(description="Rows at or after.")] = None,
    end_time: Annotated[AwareDatetime | None, Query(description="Rows before.")] = None,
    model_used: Annotated[str, Query(description="Only this model.")] = "",
    agent_id: Annotated[str, Query(description="Only this agent.")] = "",
    trace_id: Annotated[str, Query(description="Only rows of this trace.")] = "",
    page_size: PageSize = 0,
    page_token: PageToken = "",
) -> UsageList:
    """Recorded rows, newest first."""
    request = pb.ListUsageRecordsRequest(
        tenant_id=tenant_id,
        model_used=model_used,
        agent_id=agent_id,
        trace_id=trace_id,
        start_time=to_timestamp(start_time),
        end_time=to_timestamp(end_time),
        page_size=page_size,
        page_token=page_token,
    )
    reply = await clients.usage.ListUsageRecords(request)
    return UsageList.from_proto(reply)


@router.get("/costs")
async def summarize_costs(
    clients: Clients,
    start_time: StartQuery = None,
    end_time: EndQuery = None,
    tenant_id: TenantQuery = "",
    group_by: Annotated[
        list[DimensionName] | None,
        Query(description="Group by these (repeat the parameter); none sums the range."),
    ] = None,
) -> CostSummary:
    """Cost and tokens over the range (the last 30 days by default, and the answer says which),
    grouped by tenant, model, agent and/or UTC day."""
    dimensions = list(group_by or [])
    reply = await clients.usage.SummarizeCost(
        pb.SummarizeCostRequest(
            tenant_id=tenant_id,
            start_time=to_timestamp(start_time),
            end_time=to_timestamp(end_time),
            group_by=[enum_number(pb.CostDimension, name) for name in dimensions],
        )
    )
    return CostSummary(
        groups=[CostGroup.grouped_by(group, dimensions) for group in reply.groups],
        total=CostGroup.grouped_by(reply.total, []),
        start_time=from_timestamp(reply.start_time),
        end_time=from_timestamp(reply.end_time),
    )


@router.get("/cache-savings")
async def cache_savings(
    clients: Clients,
    start_time: StartQuery = None,
    end_time: EndQuery = None,
    tenant_id: TenantQuery = "",
) -> CacheSavings:
    """Prompt-cache hit rate and what it saved against the uncached input rate, per model, over
    the range (the last 30 days by default, and the answer says which)."""
    reply = await clients.usage.GetCacheSavings(
        pb.GetCacheSavingsRequest(
            tenant_id=tenant_id,
            start_time=to_timestamp(start_time),
            end_time=to_timestamp(end_time),
        )
    )
    return CacheSavings.from_proto(reply)
