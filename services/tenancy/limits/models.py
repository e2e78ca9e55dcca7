"""Tables of the rate limiter (services/tenancy/limits/handlers.py).

``limit_counters`` holds one row per tenant, limit kind ("rpm" or "tpm") and fixed one-minute
window (``window_start``: UTC epoch seconds, a multiple of 60) with what that window has used.
A plan feature's hard or soft limit is counted in the same table, with the kind
``plan:<feature id>`` and the subscription's current period start (UTC epoch seconds) as its
window.
Every replica increments it with one conditional UPDATE (``used + n <= limit``), so the limit
holds however many processes reserve at once. With ``limits_backend = "redis"`` the rpm/tpm
counters are in Redis instead (services/tenancy/limits/redis.py); plan counters and
reservations are always here.

``limit_reservations`` records each reservation: what it took from which window, until when it
may be settled or released, and how it ended, including the plan counters it took from
(``plan_counters``: a list of ``{"kind", "window_start", "metric"}``).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    String,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column

from services.tenancy.models import Base
from services.tenancy.tenants.models import TenantRecord
from shared.db_types import JSONType, UTCDateTime, utcnow

LIMIT_KINDS = ("rpm", "tpm")
RESERVATION_STATES = ("open", "settled", "released")


class LimitCounterRecord(Base):
    __tablename__ = "limit_counters"
    __table_args__ = (
        CheckConstraint("kind IN ('rpm', 'tpm') OR kind LIKE 'plan:%'", name="kind_known"),
        CheckConstraint("used >= 0", name="used_not_negative"),
        Index(None, "window_start"),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey(TenantRecord.id, ondelete="CASCADE"), primary_key=True
    )
    #: "rpm", "tpm", or "plan:<plan feature id>".
    kind: Mapped[str] = mapped_column(String(64), primary_key=True)
    #: UTC epoch seconds at which the one-minute window starts.
    window_start: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    used: Mapped[int] = mapped_column(BigInteger, default=0)


class LimitReservationRecord(Base):
    __tablename__ = "limit_reservations"
    __table_args__ = (
        UniqueConstraint("tenant_id", "request_id"),
        CheckConstraint("state IN ('open', 'settled', 'released')", name="state_known"),
        Index(None, "expires_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey(TenantRecord.id, ondelete="CASCADE"))
    #: The caller's idempotency id, unique per tenant when given.
    request_id: Mapped[str | None] = mapped_column(String(128))
    window_start: Mapped[int] = mapped_column(BigInteger)
    requests: Mapped[int] = mapped_column(BigInteger)
    tokens: Mapped[int] = mapped_column(BigInteger)
    actual_tokens: Mapped[int | None] = mapped_column(BigInteger)
    #: "open", "settled" or "released"; an open one past ``expires_at`` is expired.
    state: Mapped[str] = mapped_column(String(16), default="open")
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: The plan counters taken from: [{"kind", "window_start", "metric"}]; NULL for none.
    plan_counters: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONType)
