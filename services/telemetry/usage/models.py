"""Tables of the telemetry service's usage area: ``agent_telemetry`` (seed 000), one row per
recorded model call or agent metric, with what it cost.

Every seed column is here. Money is never a float: the seed's REAL dollar columns become
integer pico-USD (``*_picos``) and its REAL rates integer micro-USD (``*_micros``), the units of
:mod:`shared.pricing_math`. The seed's ``timestamp`` (unix seconds) becomes
``timestamp_unix_nano``, like the spans' times, so usage joins to the span it was recorded under
by ``trace_id``/``span_id`` and groups into days with integer division on both backends.

``event_id`` is the client's id of the event, unique per tenant: a retried batch inserts nothing
twice. The indexes serve the analytics, each a tenant (or trace) prefix plus the time range;
the tenant-and-time one also carries (INCLUDE, PostgreSQL only) every column the cost and
cache analytics read. On PostgreSQL, migration 0008 also keeps extended statistics on
``timestamp_unix_nano / NANOS_PER_DAY`` (not modelled here: SQLAlchemy has no statistics
objects), so a day grouping is planned as ~30 groups, not one per row.
"""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Enum,
    Float,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column

from services.telemetry.models import MAX_TENANT_ID, Base
from services.telemetry.retention import RetentionPolicy
from shared.db_types import JSONType, UTCDateTime, utcnow

MAX_EVENT_ID = 128
#: Bound of the short free-text columns (ids, names, labels) a client sends.
MAX_LABEL = 255
NANOS_PER_DAY = 86_400 * 10**9
#: The seed's neuron_rate_per_1k default (0.011 USD) in micro-USD.
DEFAULT_NEURON_RATE_PER_1K_MICROS = 11_000


#: The columns the cost and cache analytics group by or sum, besides tenant and time.
ANALYTICS_COLUMNS = (
    "model_used",
    "agent_id",
    "input_tokens",
    "output_tokens",
    "cache_creation_input_tokens",
    "cache_read_input_tokens",
    "total_input_tokens",
    "computed_cost_picos",
    "cache_cost_savings_picos",
)
COVERING_TENANT_TIME_INDEX = "ix_agent_telemetry_tenant_id_timestamp_unix_nano_covering"


class CostStatus(enum.StrEnum):
    """Where a row's computed cost came from, or why it has none."""

    #: Priced by telemetry from tenancy's price in effect at the row's time.
    PRICED = "priced"
    #: The caller sent the cost; telemetry kept it as given.
    CLIENT = "client"
    #: No model_used (or provider) to price with.
    NO_MODEL = "no_model"
    #: Tenancy has no such model.
    UNKNOWN_MODEL = "unknown_model"
    #: The model has no price of the row's tier in effect at its time.
    NO_PRICE = "no_price"
    #: Tenancy could not be reached (or none is configured); the row is kept unpriced.
    PRICING_UNAVAILABLE = "pricing_unavailable"


class UsageRecord(Base):
    __tablename__ = "agent_telemetry"
    __table_args__ = (
        UniqueConstraint("tenant_id", "event_id"),
        # Cost and cache analytics (SummarizeCost, GetCacheSavings) of one tenant's range read
        # only this index on PostgreSQL (an index-only scan): it carries their group keys and
        # every column they sum, so a big tenant's month reads the table only for pages vacuum
        # has not yet marked all-visible (the newest).
        Index(
            COVERING_TENANT_TIME_INDEX,
            "tenant_id",
            "timestamp_unix_nano",
            postgresql_include=list(ANALYTICS_COLUMNS),
        ),
        Index(None, "tenant_id", "model_used", "timestamp_unix_nano"),
        Index(None, "tenant_id", "agent_id", "timestamp_unix_nano"),
        Index(None, "trace_id"),
        # Operators' cross-tenant ranges and the retention loop's deletes.
        Index(None, "timestamp_unix_nano"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    tenant_id: Mapped[str] = mapped_column(String(MAX_TENANT_ID))
    event_id: Mapped[str] = mapped_column(String(MAX_EVENT_ID))
    session_id: Mapped[str | None] = mapped_column(String(MAX_LABEL))
    config_id: Mapped[str | None] = mapped_column(String(MAX_LABEL))
    command_id: Mapped[str | None] = mapped_column(String(MAX_LABEL))
    metric_type: Mapped[str] = mapped_column(String(MAX_LABEL))
    metric_name: Mapped[str] = mapped_column(String(MAX_LABEL))
    metric_value: Mapped[float] = mapped_column(Float, default=0.0)
    unit: Mapped[str | None] = mapped_column(String(64))
    timestamp_unix_nano: Mapped[int] = mapped_column(BigInteger)
    metadata_json: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    role_name: Mapped[str | None] = mapped_column(String(MAX_LABEL))
    created_by: Mapped[str | None] = mapped_column(String(MAX_LABEL))
    event_type: Mapped[str | None] = mapped_column(String(MAX_LABEL))
    severity: Mapped[str | None] = mapped_column(String(32))
    model_used: Mapped[str | None] = mapped_column(String(MAX_LABEL))
    input_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    output_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    #: The caller's own estimate, kept as sent.
    cost_estimate_picos: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    cache_creation_input_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    provider: Mapped[str | None] = mapped_column(String(64))
    agent_id: Mapped[str | None] = mapped_column(String(MAX_LABEL))
    agent_email: Mapped[str | None] = mapped_column(String(MAX_LABEL))
    cache_read_input_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    is_batch: Mapped[bool] = mapped_column(Boolean, default=False)
    is_us_only: Mapped[bool] = mapped_column(Boolean, default=False)
    is_fast_mode: Mapped[bool] = mapped_column(Boolean, default=False)
    is_long_context: Mapped[bool] = mapped_column(Boolean, default=False)
    tool_choice: Mapped[str | None] = mapped_column(String(64))
    tool_system_prompt_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    tool_overhead_input_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    web_search_requests: Mapped[int] = mapped_column(BigInteger, default=0)
    code_exec_seconds: Mapped[int] = mapped_column(BigInteger, default=0)
    #: None when the row could not be priced (cost_status says why).
    computed_cost_picos: Mapped[int | None] = mapped_column(BigInteger)
    #: Component → pico-USD decimal string, as PriceUsage's CostBreakdown.
    cost_breakdown_json: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    #: Input tokens of every kind: uncached + cache writes + cache reads.
    total_input_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    #: cache reads / total input tokens, 0.0 to 1.0 (a ratio, not money).
    cache_hit_rate: Mapped[float] = mapped_column(Float, default=0.0)
    cache_efficiency_score: Mapped[float] = mapped_column(Float, default=0.0)
    cache_cost_savings_picos: Mapped[int] = mapped_column(BigInteger, default=0)
    cache_breakpoints_used: Mapped[int] = mapped_column(Integer, default=0)
    cache_ttl_seconds: Mapped[int] = mapped_column(Integer, default=300)
    cache_strategy: Mapped[str | None] = mapped_column(String(64))
    pricing_source: Mapped[str] = mapped_column(String(64), default="direct_api")
    cost_status: Mapped[CostStatus] = mapped_column(
        Enum(
            CostStatus,
            name="usage_cost_status",
            native_enum=False,
            create_constraint=True,
            length=32,
            values_callable=lambda members: [m.value for m in members],
        )
    )
    output_rate_per_mtok_micros: Mapped[int | None] = mapped_column(BigInteger)
    input_rate_per_mtok_micros: Mapped[int | None] = mapped_column(BigInteger)
    cache_read_rate_per_mtok_micros: Mapped[int | None] = mapped_column(BigInteger)
    cache_write_rate_per_mtok_micros: Mapped[int | None] = mapped_column(BigInteger)
    subscription_monthly_picos: Mapped[int | None] = mapped_column(BigInteger)
    neuron_cost_picos: Mapped[int] = mapped_column(BigInteger, default=0)
    neurons_used: Mapped[int] = mapped_column(BigInteger, default=0)
    neuron_rate_per_1k_micros: Mapped[int] = mapped_column(
        BigInteger, default=DEFAULT_NEURON_RATE_PER_1K_MICROS
    )
    model_size_class: Mapped[str | None] = mapped_column(String(32))
    workspace_id: Mapped[str | None] = mapped_column(String(MAX_LABEL))
    service_name: Mapped[str | None] = mapped_column(String(MAX_LABEL))
    instance_id: Mapped[str | None] = mapped_column(String(MAX_LABEL))
    location: Mapped[str | None] = mapped_column(Text)
    trace_id: Mapped[str | None] = mapped_column(String(32))
    span_id: Mapped[str | None] = mapped_column(String(16))


#: How long this area's tables keep rows; read by the retention loop.
RETENTION: list[RetentionPolicy] = [
    RetentionPolicy("agent_telemetry", "timestamp_unix_nano", "usage_retention_days")
]
