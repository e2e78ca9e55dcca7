"""``/v1/telemetry``: recorded usage and cost analytics (UsageService).

The telemetry service scopes every call to the caller's token: a tenant's members record usage
for their own tenant, its viewers read it, operators read any tenant. Money is a decimal string
of USD with twelve fractional digits, never a float. A row recorded here without trace ids gets
the gateway request's own trace and span, so its cost joins to the trace of the request.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import AwareDatetime, BaseModel, Field, model_validator

from quarterdeck.telemetry.v1 import usage_pb2 as pb
from services.gateway.proto_json import (
    INT32_MAX,
    INT64_MAX,
    JsonObject,
    Text,
    json_to_struct,
    struct_to_json,
)
from services.gateway.routing import ERROR_RESPONSES, Clients, PageSize, PageToken
from shared.timestamps import from_timestamp, to_timestamp

router = APIRouter(prefix="/v1/telemetry", tags=["usage and cost"], responses=ERROR_RESPONSES)

TokenConventionName = Literal["unspecified", "input_excludes_cached", "input_includes_cached"]
TOKEN_CONVENTIONS: dict[TokenConventionName, int] = {
    "unspecified": pb.TOKEN_CONVENTION_UNSPECIFIED,
    "input_excludes_cached": pb.TOKEN_CONVENTION_INPUT_EXCLUDES_CACHED,
    "input_includes_cached": pb.TOKEN_CONVENTION_INPUT_INCLUDES_CACHED,
}
CostStatusName = Literal[
    "unspecified",
    "priced",
    "client",
    "no_model",
    "unknown_model",
    "no_price",
    "pricing_unavailable",
]
COST_STATUS_NAMES: dict[int, CostStatusName] = {
    pb.COST_STATUS_UNSPECIFIED: "unspecified",
    pb.COST_STATUS_PRICED: "priced",
    pb.COST_STATUS_CLIENT: "client",
    pb.COST_STATUS_NO_MODEL: "no_model",
    pb.COST_STATUS_UNKNOWN_MODEL: "unknown_model",
    pb.COST_STATUS_NO_PRICE: "no_price",
    pb.COST_STATUS_PRICING_UNAVAILABLE: "pricing_unavailable",
}
DimensionName = Literal["tenant", "model", "agent", "day"]
DIMENSIONS: dict[DimensionName, int] = {
    "tenant": pb.COST_DIMENSION_TENANT,
    "model": pb.COST_DIMENSION_MODEL,
    "agent": pb.COST_DIMENSION_AGENT,
    "day": pb.COST_DIMENSION_DAY,
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
#: Output-only text fields of a stored row.
_OUTPUT_TEXT_FIELDS = (
    "id",
    "tenant_id",
    "cache_cost_savings_usd",
    "output_rate_per_mtok",
    "input_rate_per_mtok",
    "cache_read_rate_per_mtok",
    "cache_write_rate_per_mtok",
    "neuron_cost_usd",
    "neuron_rate_per_1k",
)


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
            token_convention=TOKEN_CONVENTIONS[self.token_convention],
            metadata=json_to_struct(self.metadata),
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


class UsageRecord(BaseModel):
    """A stored row: what was sent, plus its cost as telemetry computed it."""

    id: str
    tenant_id: str
    time: datetime
    create_time: datetime
    token_convention: TokenConventionName
    cost_status: CostStatusName
    cost_breakdown: dict[str, Any]
    total_input_tokens: int
    cache_hit_rate: float
    cache_cost_savings_usd: str
    cache_ttl_seconds: int
    output_rate_per_mtok: str
    input_rate_per_mtok: str
    cache_read_rate_per_mtok: str
    cache_write_rate_per_mtok: str
    neuron_cost_usd: str
    neuron_rate_per_1k: str
    metadata: dict[str, Any]
    event_id: str
    session_id: str
    config_id: str
    command_id: str
    metric_type: str
    metric_name: str
    metric_value: float
    unit: str
    role_name: str
    created_by: str
    event_type: str
    severity: str
    model_used: str
    provider: str
    agent_id: str
    agent_email: str
    input_tokens: int
    output_tokens: int
    cache_creation_input_tokens: int
    cache_read_input_tokens: int
    cost_estimate_usd: str
    is_batch: bool
    is_us_only: bool
    is_fast_mode: bool
    is_long_context: bool
    tool_choice: str
    tool_system_prompt_tokens: int
    tool_overhead_input_tokens: int
    web_search_requests: int
    code_exec_seconds: int
    computed_cost_usd: str = Field(description="Empty when the row could not be priced.")
    cache_efficiency_score: float
    cache_breakpoints_used: int
    cache_strategy: str
    pricing_source: str
    subscription_monthly_usd: str
    neurons_used: int
    model_size_class: str
    workspace_id: str
    service_name: str
    instance_id: str
    location: str
    trace_id: str
    span_id: str

    @classmethod
    def from_proto(cls, record: pb.UsageRecord) -> UsageRecord:
        conventions = {number: name for name, number in TOKEN_CONVENTIONS.items()}
        return cls(
            time=from_timestamp(record.time),
            create_time=from_timestamp(record.create_time),
            token_convention=conventions.get(record.token_convention, "unspecified"),
            cost_status=COST_STATUS_NAMES.get(record.cost_status, "unspecified"),
            cost_breakdown=struct_to_json(record.cost_breakdown),
            metadata=struct_to_json(record.metadata),
            total_input_tokens=record.total_input_tokens,
            cache_hit_rate=record.cache_hit_rate,
            cache_ttl_seconds=record.cache_ttl_seconds,
            **{
                name: getattr(record, name)
                for name in (*_TEXT_FIELDS, *_NUMBER_FIELDS, *_FLAG_FIELDS, *_OUTPUT_TEXT_FIELDS)
            },
        )


class RejectedRow(BaseModel):
    index: int = Field(description="The row's index in records (0 for a single record).")
    field: str
    description: str


class UsageWriteResult(BaseModel):
    record: UsageRecord | None = Field(
        default=None, description="The stored row, for a single record."
    )
    accepted_count: int
    duplicate_count: int
    duplicate_indexes: list[int]
    rejected: list[RejectedRow]


class UsageList(BaseModel):
    records: list[UsageRecord] = Field(description="Newest first.")
    next_page_token: str


class CostGroup(BaseModel):
    tenant_id: str | None = None
    model_used: str | None = None
    agent_id: str | None = None
    day: datetime | None = Field(default=None, description="The UTC day's start.")
    record_count: int
    unpriced_count: int
    input_tokens: int
    output_tokens: int
    cache_creation_input_tokens: int
    cache_read_input_tokens: int
    total_input_tokens: int
    cost_usd: str
    cache_cost_savings_usd: str

    @classmethod
    def from_proto(cls, group: pb.CostGroup, dimensions: list[DimensionName]) -> CostGroup:
        return cls(
            tenant_id=group.tenant_id if "tenant" in dimensions else None,
            model_used=group.model_used if "model" in dimensions else None,
            agent_id=group.agent_id if "agent" in dimensions else None,
            day=from_timestamp(group.day) if "day" in dimensions else None,
            record_count=group.record_count,
            unpriced_count=group.unpriced_count,
            input_tokens=group.input_tokens,
            output_tokens=group.output_tokens,
            cache_creation_input_tokens=group.cache_creation_input_tokens,
            cache_read_input_tokens=group.cache_read_input_tokens,
            total_input_tokens=group.total_input_tokens,
            cost_usd=group.cost_usd,
            cache_cost_savings_usd=group.cache_cost_savings_usd,
        )


class CostSummary(BaseModel):
    groups: list[CostGroup]
    total: CostGroup


class ModelCacheSavings(BaseModel):
    model_used: str
    record_count: int
    total_input_tokens: int
    cache_read_input_tokens: int
    cache_creation_input_tokens: int
    cache_hit_rate: float
    cache_cost_savings_usd: str

    @classmethod
    def from_proto(cls, item: pb.ModelCacheSavings) -> ModelCacheSavings:
        return cls(
            model_used=item.model_used,
            record_count=item.record_count,
            total_input_tokens=item.total_input_tokens,
            cache_read_input_tokens=item.cache_read_input_tokens,
            cache_creation_input_tokens=item.cache_creation_input_tokens,
            cache_hit_rate=item.cache_hit_rate,
            cache_cost_savings_usd=item.cache_cost_savings_usd,
        )


class CacheSavings(BaseModel):
    models: list[ModelCacheSavings]
    total: ModelCacheSavings


TenantQuery = Annotated[
    str, Query(description="The tenant; empty is your token's tenant (every tenant, operators).")
]
StartQuery = Annotated[AwareDatetime, Query(description="The range's start (inclusive).")]
EndQuery = Annotated[AwareDatetime, Query(description="The range's end (exclusive).")]


@router.post("/usage")
async def record_usage(body: RecordUsageBody, clients: Clients) -> UsageWriteResult:
    """Record one row (``record``) or a batch (``records``). Rows are idempotent by event_id; in
    a batch every valid row is stored and each invalid one is reported by index."""
    if body.record is not None:
        one = await clients.usage.RecordUsage(
            pb.RecordUsageRequest(tenant_id=body.tenant_id, record=body.record.to_proto())
        )
        return UsageWriteResult(
            record=UsageRecord.from_proto(one.record),
            accepted_count=0 if one.duplicate else 1,
            duplicate_count=1 if one.duplicate else 0,
            duplicate_indexes=[0] if one.duplicate else [],
            rejected=[],
        )
    assert body.records is not None
    batch = await clients.usage.RecordUsageBatch(
        pb.RecordUsageBatchRequest(
            tenant_id=body.tenant_id, records=[record.to_proto() for record in body.records]
        )
    )
    return UsageWriteResult(
        accepted_count=batch.accepted_count,
        duplicate_count=batch.duplicate_count,
        duplicate_indexes=list(batch.duplicate_indexes),
        rejected=[
            RejectedRow(index=row.index, field=row.field, description=row.description)
            for row in batch.rejected
        ],
    )


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
    return UsageList(
        records=[UsageRecord.from_proto(record) for record in reply.records],
        next_page_token=reply.next_page_token,
    )


@router.get("/costs")
async def summarize_costs(
    clients: Clients,
    start_time: StartQuery,
    end_time: EndQuery,
    tenant_id: TenantQuery = "",
    group_by: Annotated[
        list[DimensionName] | None,
        Query(description="Group by these (repeat the parameter); none sums the range."),
    ] = None,
) -> CostSummary:
    """Cost and tokens over the range, grouped by tenant, model, agent and/or UTC day."""
    dimensions = list(group_by or [])
    reply = await clients.usage.SummarizeCost(
        pb.SummarizeCostRequest(
            tenant_id=tenant_id,
            start_time=to_timestamp(start_time),
            end_time=to_timestamp(end_time),
            group_by=[DIMENSIONS[name] for name in dimensions],
        )
    )
    return CostSummary(
        groups=[CostGroup.from_proto(group, dimensions) for group in reply.groups],
        total=CostGroup.from_proto(reply.total, []),
    )


@router.get("/cache-savings")
async def cache_savings(
    clients: Clients, start_time: StartQuery, end_time: EndQuery, tenant_id: TenantQuery = ""
) -> CacheSavings:
    """Prompt-cache hit rate and what it saved against the uncached input rate, per model."""
    reply = await clients.usage.GetCacheSavings(
        pb.GetCacheSavingsRequest(
            tenant_id=tenant_id,
            start_time=to_timestamp(start_time),
            end_time=to_timestamp(end_time),
        )
    )
    return CacheSavings(
        models=[ModelCacheSavings.from_proto(item) for item in reply.models],
        total=ModelCacheSavings.from_proto(reply.total),
    )
