"""The spans table of the traces area.

``spans`` holds one row per received span, keyed by (trace_id, span_id, start_time_unix_nano)
so an exporter that retries a batch stores nothing twice (a retried span repeats its start
time). The start time is in the key because on PostgreSQL the table is partitioned by UTC day on
it (migration 0009, partitions.py), and a partitioned table's unique keys must hold the
partition column. That key's index also serves lookups by trace_id alone (its leftmost column),
so no separate trace_id index is kept on this write-heavy table.

Three more indexes serve every search (tenant, service, or neither, each newest first by start
time); the name, duration and error filters are checked on the rows those indexes yield. The
start-time index also serves retention, which deletes by start time. (A partial index on errored
spans was tried: PostgreSQL then used it for the per-trace probe too, making tenant error
searches slower, so it is not kept.)
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Enum, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from services.telemetry.models import MAX_TENANT_ID, Base
from services.telemetry.retention import RetentionPolicy
from shared.db_types import JSONType, UTCDateTime, utcnow

#: Longest service.name stored; it is indexed, so it is bounded.
MAX_SERVICE_NAME = 255


class SpanKind(enum.StrEnum):
    UNSPECIFIED = "unspecified"
    INTERNAL = "internal"
    SERVER = "server"
    CLIENT = "client"
    PRODUCER = "producer"
    CONSUMER = "consumer"


class SpanStatusCode(enum.StrEnum):
    UNSET = "unset"
    OK = "ok"
    ERROR = "error"


def _enum(member_type: type[enum.StrEnum], name: str) -> Enum:
    return Enum(
        member_type,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=16,
        values_callable=lambda members: [m.value for m in members],
    )


class SpanRecord(Base):
    __tablename__ = "spans"
    __table_args__ = (
        Index(None, "tenant_id", "start_time_unix_nano"),
        Index(None, "service_name", "start_time_unix_nano"),
        Index(None, "start_time_unix_nano"),
    )

    trace_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    span_id: Mapped[str] = mapped_column(String(16), primary_key=True)
    parent_span_id: Mapped[str | None] = mapped_column(String(16))
    service_name: Mapped[str] = mapped_column(String(MAX_SERVICE_NAME))
    name: Mapped[str] = mapped_column(Text)
    kind: Mapped[SpanKind] = mapped_column(_enum(SpanKind, "span_kind"))
    #: In the key because PostgreSQL partitions by it (a unique key must hold the partition
    #: column); a retried export repeats a span's start time, so it is still stored once.
    start_time_unix_nano: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    end_time_unix_nano: Mapped[int] = mapped_column(BigInteger)
    duration_nano: Mapped[int] = mapped_column(BigInteger)
    status_code: Mapped[SpanStatusCode] = mapped_column(_enum(SpanStatusCode, "span_status_code"))
    status_message: Mapped[str] = mapped_column(Text, default="")
    attributes: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    resource_attributes: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    #: [{"name", "time_unix_nano", "attributes"}] in the order the span recorded them.
    events: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    tenant_id: Mapped[str | None] = mapped_column(String(MAX_TENANT_ID))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


#: Spans expire by start time (the spans_retention_days setting).
RETENTION: list[RetentionPolicy] = [
    RetentionPolicy("spans", "start_time_unix_nano", "spans_retention_days", daily_partitions=True),
]
