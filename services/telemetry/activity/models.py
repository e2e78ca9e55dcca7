"""Tables of the telemetry service's activity area: seed 001's ``activity_events``,
``activity_event_receipts`` and ``activity_last_seen``.

Tenants and users belong to other services, so ``tenant_id``, ``user_id`` and ``actor_id`` are
opaque UUIDs without foreign keys; the receipts' key to their event stays (same service), so
deleting an old event (retention) takes its receipts along. Events also carry the trace and span
they were recorded under, and a short summary for display.
"""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from services.telemetry.models import Base
from services.telemetry.retention import RetentionPolicy
from shared.db_types import JSONType, UTCDateTime, utcnow

MAX_ACTION = 96
MAX_ACTOR_TYPE = 16
MAX_ACTOR_ROLE = 32
MAX_OBJECT_TYPE = 64
MAX_OBJECT_ID = 128
MAX_OBJECT_NAME = 256
MAX_SOURCE = 32
MAX_REQUEST_ID = 128
MAX_IP_HASH = 128
MAX_USER_AGENT = 512
MAX_SUMMARY = 256


class ActorType(enum.StrEnum):
    USER = "user"
    SERVICE_ACCOUNT = "service_account"
    SERVICE = "service"
    SYSTEM = "system"


class ActivityStatus(enum.StrEnum):
    SUCCESS = "success"
    FAILURE = "failure"


class ReceiptStatus(enum.StrEnum):
    READ = "read"


class ActivityEventRecord(Base):
    __tablename__ = "activity_events"
    __table_args__ = (
        Index("ix_activity_events_tenant_created", "tenant_id", "created_at"),
        Index("ix_activity_events_tenant_action", "tenant_id", "action"),
        Index("ix_activity_events_object", "tenant_id", "object_type", "object_id"),
        Index("ix_activity_events_request", "request_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    tenant_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    action: Mapped[str] = mapped_column(String(MAX_ACTION))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    actor_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    actor_type: Mapped[str | None] = mapped_column(String(MAX_ACTOR_TYPE))
    actor_role: Mapped[str | None] = mapped_column(String(MAX_ACTOR_ROLE))
    object_type: Mapped[str | None] = mapped_column(String(MAX_OBJECT_TYPE))
    object_id: Mapped[str | None] = mapped_column(String(MAX_OBJECT_ID))
    object_name: Mapped[str | None] = mapped_column(String(MAX_OBJECT_NAME))
    status: Mapped[str] = mapped_column(String(16), default=ActivityStatus.SUCCESS.value)
    source: Mapped[str | None] = mapped_column(String(MAX_SOURCE))
    request_id: Mapped[str | None] = mapped_column(String(MAX_REQUEST_ID))
    ip_hash: Mapped[str | None] = mapped_column(String(MAX_IP_HASH))
    user_agent: Mapped[str | None] = mapped_column(String(MAX_USER_AGENT))
    metadata_json: Mapped[dict[str, Any] | None] = mapped_column("metadata", JSONType)
    summary: Mapped[str | None] = mapped_column(String(MAX_SUMMARY))
    trace_id: Mapped[str | None] = mapped_column(String(32))
    span_id: Mapped[str | None] = mapped_column(String(16))


class ActivityReceiptRecord(Base):
    """One user's receipt for one event (seed status column: ``read``)."""

    __tablename__ = "activity_event_receipts"
    __table_args__ = (
        UniqueConstraint("tenant_id", "user_id", "event_id"),
        Index("ix_activity_receipts_user_status", "tenant_id", "user_id", "status"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    tenant_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    user_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    event_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("activity_events.id", ondelete="CASCADE")
    )
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class ActivityLastSeenRecord(Base):
    """Where one user's "seen everything up to here" marker stands in one tenant's feed."""

    __tablename__ = "activity_last_seen"
    __table_args__ = (
        UniqueConstraint("tenant_id", "user_id"),
        Index("ix_activity_last_seen_user", "tenant_id", "user_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    tenant_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    user_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    last_seen_created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    #: No foreign key (as in the seed): the marker outlives the event when retention deletes it.
    last_seen_event_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


#: How long this area's tables keep rows; read by the retention loop. Receipts go with their
#: event (ON DELETE CASCADE); last-seen markers are one row per user and are kept.
RETENTION: list[RetentionPolicy] = [
    RetentionPolicy("activity_events", "created_at", "activity_retention_days"),
]
