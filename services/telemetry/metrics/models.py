"""Tables of the telemetry service's metrics area: ``agent_metrics`` (seed 002), one row per
measured point of an agent's time series.

Seed 002 indexes (agent_id, metric_type, recorded_at) for series reads; here it leads with the
tenant. Statistics over a window read (tenant_id, recorded_at, ...), which also carries every
column the aggregate needs, so PostgreSQL answers it with an index-only scan.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Float, Index, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from services.telemetry.models import MAX_TENANT_ID, Base
from services.telemetry.retention import RetentionPolicy
from shared.db_types import JSONType, UTCDateTime, utcnow

MAX_AGENT_ID = 255
MAX_METRIC_TYPE = 50
MAX_METRIC_UNIT = 20


class AgentMetricRecord(Base):
    __tablename__ = "agent_metrics"
    __table_args__ = (
        Index(None, "tenant_id", "agent_id", "metric_type", "recorded_at"),
        Index(
            "ix_agent_metrics_tenant_id_recorded_at_covering",
            "tenant_id",
            "recorded_at",
            "agent_id",
            "metric_type",
            "metric_value",
            "cost_pico",
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    tenant_id: Mapped[str] = mapped_column(String(MAX_TENANT_ID))
    #: Opaque: agents live in another service, so no foreign key.
    agent_id: Mapped[str] = mapped_column(String(MAX_AGENT_ID))
    metric_type: Mapped[str] = mapped_column(String(MAX_METRIC_TYPE))
    #: The measured value; for ``cost`` points, USD as a float for charts only (exact: cost_pico).
    metric_value: Mapped[float] = mapped_column(Float)
    metric_unit: Mapped[str | None] = mapped_column(String(MAX_METRIC_UNIT))
    #: Exact cost of a ``cost`` point in pico-USD; money is never summed as a float.
    cost_pico: Mapped[int | None] = mapped_column(BigInteger)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    context: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    trace_id: Mapped[str | None] = mapped_column(String(32))
    span_id: Mapped[str | None] = mapped_column(String(16))


#: How long this area's tables keep rows; read by the retention loop.
RETENTION: list[RetentionPolicy] = [
    RetentionPolicy("agent_metrics", "recorded_at", "metrics_retention_days")
]
