"""Recorded usage rows, cost summaries and cache savings of ``/v1/telemetry``: the resources, mapped
from their messages, and the bodies. Money is a decimal string of USD, never a float."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, Field, model_validator

from quarterdeck.telemetry.v1 import usage_pb2 as pb
from services.gateway.proto_json import INT32_MAX, INT64_MAX, JsonObject, Text
from services.gateway.proto_models import ProtoModel, enum_number
from shared.json_values import dict_to_struct
from shared.timestamps import from_timestamp, to_timestamp

TokenConventionName = Literal["unspecified", "input_excludes_cached", "input_includes_cached"]

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

#: The fields of a UsageRecordBody that to_proto converts; every other is copied as sent.
_CONVERTED = frozenset({"token_convention", "metadata", "time", "cache_ttl_seconds"})


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
            **{name: getattr(self, name) for name in _COPIED_AS_SENT},
        )
        if self.time is not None:
            record.time.CopyFrom(to_timestamp(self.time))
        if self.cache_ttl_seconds is not None:
            record.cache_ttl_seconds = self.cache_ttl_seconds
        return record


_COPIED_AS_SENT = tuple(name for name in UsageRecordBody.model_fields if name not in _CONVERTED)


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
