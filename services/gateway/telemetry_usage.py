"""``/v1/telemetry``: recorded usage and cost analytics (UsageService).

The telemetry service scopes every call to the caller's token: a tenant's members record usage
for their own tenant, its viewers read it, operators read any tenant. Money is a decimal string
of USD with twelve fractional digits, never a float. A row recorded here without trace ids gets
the gateway request's own trace and span, so its cost joins to the trace of the request.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import AwareDatetime, BaseModel, Field, model_validator

from quarterdeck.telemetry.v1 import usage_pb2 as pb
from services.gateway.proto_json import (
    INT32_MAX,
    INT64_MAX,
    JsonObject,
    Text,
)
from services.gateway.proto_models import ProtoModel, enum_number
from services.gateway.routing import ERROR_RESPONSES, Clients, PageSize, PageToken
from shared.json_values import dict_to_struct
from shared.timestamps import from_timestamp, to_timestamp

router = APIRouter(prefix="/v1/telemetry", tags=["usage and cost"], responses=ERROR_RESPONSES)

TokenConventionName = Literal["unspecified", "input_excludes_cached", "input_includes_cached"]
CostStatusName = Literal[
    "unspecified",
    "priced",
    "client",
    "no_model",
    "unknown_model",
    "no_price",
    "pricing_unavailable",
]
DimensionName = Literal["tenant", "model", "agent", "day"]
#: The text field of each dimension a cost summary may group by (``day`` is a time).
DIMENSION_FIELDS: dict[DimensionName, str] = {
    "tenant": "tenant_id",
    "model": "model_used",
    "agent": "agent_id",
}
Count = Annotated[int, Field(ge=0, le=INT64_MAX)]
Usd = Annotated[
    Text, Field(description="USD as a plain decimal string, at most 12 fractional digits.")
]

#: Text fields a client may send, copied to the proto as they are.
_TEXT_FIELDS = (
    "event_id",
    "session_id",
    "config_id",
    "command_id",
    "metric_type",
    "metric_name",
    "unit",
    "role_name",
    "created_by",
    "event_type",
    "severity",
    "model_used",
    "provider",
    "agent_id",
    "agent_email",
    "cost_estimate_usd",
    "tool_choice",
    "computed_cost_usd",
    "cache_strategy",
    "pricing_source",
    "subscription_monthly_usd",
    "model_size_class",
    "workspace_id",
    "service_name",
    "instance_id",
    "location",
    "trace_id",
    "span_id",
)
_NUMBER_FIELDS = (
    "metric_value",
    "input_tokens",
    "output_tokens",
    "cache_creation_input_tokens",
    "cache_read_input_tokens",
    "tool_system_prompt_tokens",
    "tool_overhead_input_tokens",
    "web_search_requests",
    "code_exec_seconds",
    "cache_efficiency_score",
    "cache_breakpoints_used",
    "neurons_used",
)
_FLAG_FIELDS = ("is_batch", "is_us_only", "is_fast_mode", "is_long_context")


class UsageRecordBody(BaseModel):
    """One usage row as a client records it; leave computed_cost_usd empty to have it priced."""

    event_id: Text = Field(description="Your id of the event, unique per tenant (idempotency).")
    time: AwareDatetime | None = Field(default=None, description="When it occurred; now if unset.")
    session_id: Text = ""
    config_id: Text = ""
    command_id: Text = ""
    metric_type: Text = ""
    metric_name: Text = ""
    metric_value: float = 0.0
    unit: Text = ""
    metadata: JsonObject = Field(default_factory=dict)
    role_name: Text = ""
    created_by: Text = ""
    event_type: Text = ""
    severity: Text = ""
    model_used: Text = ""
    provider: Text = ""
    agent_id: Text = ""
    agent_email: Text = ""
    token_convention: TokenConventionName = "unspecified"
    input_tokens: Count = 0
    output_tokens: Count = 0
    cache_creation_input_tokens: Count = 0
    cache_read_input_tokens: Count = 0
    cost_estimate_usd: Usd = ""
    is_batch: bool = False
    is_us_only: bool = False
    is_fast_mode: bool = False
    is_long_context: bool = False
    tool_choice: Text = ""
    tool_system_prompt_tokens: Count = 0
    tool_overhead_input_tokens: Count = 0
    web_search_requests: Count = 0
    code_exec_seconds: Count = 0
    computed_cost_usd: Usd = ""
    cache_efficiency_score: float = 0.0
    cache_breakpoints_used: Annotated[int, Field(ge=0, le=INT32_MAX)] = 0
    cache_ttl_seconds: Annotated[int, Field(ge=0, le=INT32_MAX)] | None = None
    cache_strategy: Text = ""
    pricing_source: Text = ""
    subscription_monthly_usd: Usd = ""
    neurons_used: Count = 0
    model_size_class: Text = ""
    workspace_id: Text = ""
    service_name: Text = ""
    instance_id: Text = ""
    location: Text = ""
    trace_id: Text = Field(default="", description="Empty: the gateway request's trace.")
    span_id: Text = Field(default="", description="Empty: the gateway request's span.")

    def to_proto(self) -> pb.UsageRecord:
        record = pb.UsageRecord(
            token_convention=enum_number(pb.TokenConvention, self.token_convention),
            metadata=dict_to_struct(self.metadata),
            **{name: getattr(self, name) for name in (*_TEXT_FIELDS, *_NUMBER_FIELDS)},
            **{name: getattr(self, name) for name in _FLAG_FIELDS},
        )
        if self.time is not None:
            record.time.CopyFrom(to_timestamp(self.time))
        if self.cache_ttl_seconds is not None:
            record.cache_ttl_seconds = self.cache_ttl_seconds
        return record


class RecordUsageBody(BaseModel):
    """Exactly one of ``record`` (one row) or ``records`` (a batch of up to 1000)."""

    tenant_id: Text = Field(
        default="", description="Only Quarterdeck services name it; others record for their own."
    )
    record: UsageRecordBody | None = None
    records: list[UsageRecordBody] | None = Field(default=None, max_length=1000)

    @model_validator(mode="after")
    def _one_of(self) -> RecordUsageBody:
        if (self.record is None) == (self.records is None):
            raise ValueError("send exactly one of record or records")
        return self


class UsageRecord(
    ProtoModel,
    message=pb.UsageRecord,
    zero={"token_convention": "unspecified", "cost_status": "unspecified"},
):
    """A stored row: what was sent, plus its cost as telemetry computed it."""

    computed_cost_usd: str = Field(description="Empty when the row could not be priced.")
    cache_ttl_seconds: int


class RejectedRow(ProtoModel, message=pb.RejectedRow):
    index: int = Field(description="The row's index in records (0 for a single record).")


class UsageWriteResult(ProtoModel, message=pb.RecordUsageBatchResponse):
    """A batch's answer; a single record's also carries the stored row."""

    record: UsageRecord | None = Field(
        default=None, description="The stored row, for a single record."
    )


class UsageList(ProtoModel, message=pb.ListUsageRecordsResponse):
    records: list[UsageRecord] = Field(description="Newest first.")


class CostGroup(ProtoModel, message=pb.CostGroup):
    """A group's totals; the fields of the dimensions it was not grouped by are null."""

    tenant_id: str | None = None
    model_used: str | None = None
    agent_id: str | None = None
    day: datetime | None = Field(default=None, description="The UTC day's start.")

    @classmethod
    def grouped_by(cls, group: pb.CostGroup, dimensions: list[DimensionName]) -> CostGroup:
        values = cls.proto_values(group)
        for dimension, field in DIMENSION_FIELDS.items():
            # A grouped dimension keeps its value even when empty (rows without an agent).
            values[field] = getattr(group, field) if dimension in dimensions else None
        values["day"] = from_timestamp(group.day) if "day" in dimensions else None
        return cls.model_validate(values)


class CostSummary(ProtoModel, message=pb.SummarizeCostResponse):
    groups: list[CostGroup]
    total: CostGroup
    start_time: datetime = Field(description="The range's start used (30 days back by default).")
    end_time: datetime = Field(description="The range's end used (now by default).")


class ModelCacheSavings(ProtoModel, message=pb.ModelCacheSavings):
    pass


class CacheSavings(ProtoModel, message=pb.GetCacheSavingsResponse):
    pass


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
