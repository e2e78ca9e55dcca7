"""Tables of the telemetry service's status area: seed 001's ``status_subscriptions``.

A subscription's target (an email address or a webhook URL) is kept three ways and never in
clear: ``target_encrypted`` (Fernet under a rotatable key list, for delivery),
``target_hash`` (HMAC-SHA256 under the hashing key, for duplicate detection) and
``target_masked`` (for display). Verification, challenge and unsubscribe tokens are kept only as
HMAC hashes; the unsubscribe token is also kept encrypted, because every update must carry it to
its recipient. ``tenant_id`` is NULL for the platform's own status updates.
"""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Enum, LargeBinary, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from services.telemetry.models import Base
from services.telemetry.retention import RetentionPolicy
from shared.db_types import JSONType, UTCDateTime, utcnow

#: Length of a hex HMAC-SHA256; the seed's columns allow 128.
HASH_LENGTH = 128


class SubscriptionChannel(enum.StrEnum):
    EMAIL = "email"
    WEBHOOK = "webhook"


class SubscriptionSeverity(enum.StrEnum):
    """The lowest severity a subscription receives (and the severity of an update)."""

    INFO = "info"
    MINOR = "minor"
    MAJOR = "major"
    CRITICAL = "critical"


#: Severities in rising order: an update reaches filters at or below its rank.
SEVERITY_RANK = {severity: rank for rank, severity in enumerate(SubscriptionSeverity)}


class SubscriptionStatus(enum.StrEnum):
    PENDING_VERIFICATION = "pending_verification"
    ACTIVE = "active"
    REVOKED = "revoked"


def _enum(member_type: type[enum.StrEnum], name: str, length: int) -> Enum:
    return Enum(
        member_type,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=length,
        values_callable=lambda members: [m.value for m in members],
    )


class StatusSubscriptionRecord(Base):
    __tablename__ = "status_subscriptions"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    channel: Mapped[SubscriptionChannel] = mapped_column(
        _enum(SubscriptionChannel, "subscription_channel", 16)
    )
    target_hash: Mapped[str] = mapped_column(String(HASH_LENGTH), index=True)
    target_masked: Mapped[str] = mapped_column(String(512))
    target_encrypted: Mapped[bytes] = mapped_column(LargeBinary)
    severity_filter: Mapped[SubscriptionSeverity] = mapped_column(
        _enum(SubscriptionSeverity, "subscription_severity", 16)
    )
    status: Mapped[SubscriptionStatus] = mapped_column(
        _enum(SubscriptionStatus, "subscription_status", 32)
    )
    tenant_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, index=True)
    metadata_json: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    created_by: Mapped[str] = mapped_column(String(64))
    verification_token_hash: Mapped[str | None] = mapped_column(String(HASH_LENGTH), index=True)
    verification_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    challenge_token_hash: Mapped[str | None] = mapped_column(String(HASH_LENGTH), index=True)
    webhook_secret_encrypted: Mapped[bytes | None] = mapped_column(LargeBinary)
    unsubscribe_token_hash: Mapped[str | None] = mapped_column(String(HASH_LENGTH), index=True)
    unsubscribe_token_encrypted: Mapped[bytes | None] = mapped_column(LargeBinary)
    revoked_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_challenge_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


#: How long this area's tables keep rows; read by the retention loop. Subscriptions are live
#: configuration, not a time series: none expire by age.
RETENTION: list[RetentionPolicy] = []
