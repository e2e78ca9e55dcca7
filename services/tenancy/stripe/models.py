"""The Stripe inbox (seed 001, "Stripe"): every received event once, and its dispatch state.

``stripe_events`` and ``stripe_event_dispatch`` are seed 001's. The dispatch row gains
``lease_expires_at`` and ``lease_token``: a dispatcher claims a row by setting both, and only the
holder of the current lease may complete it, so a dispatcher that crashed (its lease expired) is
replaced without two of them ever applying one event.

``stripe_object_state`` (not in the seed) keeps, per Stripe object (a subscription or an invoice),
the local row it maps to and the ``created`` time and id of the last event applied to it, so an
older event delivered late never overwrites what a newer one set.
"""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column

from services.tenancy.models import Base
from shared.db_types import JSONType, UTCDateTime, utcnow

#: The one handler every event is dispatched to (the seed allows one row per event and handler).
TENANCY_HANDLER = "tenancy"


class DispatchStatus(enum.StrEnum):
    PENDING = "pending"
    PROCESSING = "processing"
    DONE = "done"
    FAILED = "failed"
    DEAD = "dead"


class Outcome(enum.StrEnum):
    RECEIVED = "received"
    APPLIED = "applied"
    IGNORED = "ignored"
    STALE = "stale"
    FAILED = "failed"
    DEAD = "dead"


def _known(column: str, kind: type[enum.StrEnum]) -> str:
    return f"{column} IN ({', '.join(repr(m.value) for m in kind)})"


class StripeEventRecord(Base):
    __tablename__ = "stripe_events"
    __table_args__ = (
        UniqueConstraint("stripe_event_id"),
        Index("ix_stripe_events_type", "event_type"),
        Index("ix_stripe_events_status", "processing_outcome"),
        CheckConstraint(_known("processing_outcome", Outcome), name="outcome_known"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    stripe_event_id: Mapped[str] = mapped_column(String(64))
    event_type: Mapped[str] = mapped_column(String(128))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType)
    tenant_hint: Mapped[str | None] = mapped_column(String(64))
    stripe_created_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    processing_outcome: Mapped[str] = mapped_column(String(32), default=Outcome.RECEIVED.value)
    processing_error: Mapped[str | None] = mapped_column(Text)
    processing_attempts: Mapped[int] = mapped_column(Integer, default=0)


class StripeDispatchRecord(Base):
    __tablename__ = "stripe_event_dispatch"
    __table_args__ = (
        UniqueConstraint("stripe_event_id", "handler"),
        Index("ix_stripe_event_dispatch_handler_status", "handler", "status", "next_retry_at"),
        Index("ix_stripe_event_dispatch_status_lease", "status", "lease_expires_at"),
        CheckConstraint(_known("status", DispatchStatus), name="status_known"),
        CheckConstraint("attempts >= 0", name="attempts_not_negative"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    stripe_event_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("stripe_events.id", ondelete="CASCADE")
    )
    handler: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(32), default=DispatchStatus.PENDING.value)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    next_retry_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(Text)
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    lease_token: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class StripeObjectStateRecord(Base):
    __tablename__ = "stripe_object_state"

    object_type: Mapped[str] = mapped_column(String(32), primary_key=True)
    stripe_object_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    local_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    last_event_created_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_event_id: Mapped[str | None] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
