"""Tables of the telemetry service's requests area: ``agent_requests`` (seed 003
``ai_agent_requests``), one row per external request, written by the gateway.

Every seed index but created_at's leads with the tenant here (created_at alone serves operators,
who read across tenants). Recent errors read a partial index over failed
requests only, so finding the newest failures never walks past the successes.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Index, Integer, SmallInteger, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from services.telemetry.models import MAX_TENANT_ID, Base
from services.telemetry.retention import RetentionPolicy
from shared.db_types import UTCDateTime, utcnow

MAX_REQUEST_ID = 64
MAX_ENDPOINT = 255
MAX_METHOD = 10
MAX_OPAQUE_ID = 255
MAX_IP = 45
MAX_ERROR_CODE = 50
#: A request failed when its status is at least this.
FIRST_ERROR_STATUS = 400
_FAILED = text(f"status_code >= {FIRST_ERROR_STATUS}")


class AgentRequestRecord(Base):
    __tablename__ = "agent_requests"
    __table_args__ = (
        # Operators read every tenant's requests (and the unattributed ones) by time alone.
        Index(None, "created_at"),
        Index(None, "tenant_id", "created_at"),
        Index(None, "tenant_id", "endpoint", "created_at"),
        Index(None, "tenant_id", "conversation_id"),
        Index(None, "tenant_id", "message_id"),
        Index(None, "tenant_id", "session_key"),
        Index(
            "ix_agent_requests_failed_tenant_id_created_at",
            "tenant_id",
            "created_at",
            postgresql_where=_FAILED,
            sqlite_where=_FAILED,
        ),
    )

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    #: None for requests no verified token attributes to a tenant (sign-in, anonymous calls).
    tenant_id: Mapped[str | None] = mapped_column(String(MAX_TENANT_ID))
    #: Who made the request (user, service account or service), when the token names them.
    principal_id: Mapped[str | None] = mapped_column(String(MAX_OPAQUE_ID))
    #: Unique: a retried batch stores each request once.
    request_id: Mapped[str] = mapped_column(String(MAX_REQUEST_ID), unique=True)
    endpoint: Mapped[str] = mapped_column(String(MAX_ENDPOINT))
    method: Mapped[str] = mapped_column(String(MAX_METHOD), default="POST")
    conversation_id: Mapped[str | None] = mapped_column(String(MAX_OPAQUE_ID))
    message_id: Mapped[str | None] = mapped_column(String(MAX_OPAQUE_ID))
    session_key: Mapped[str | None] = mapped_column(String(MAX_OPAQUE_ID))
    ip: Mapped[str | None] = mapped_column(String(MAX_IP))
    user_agent: Mapped[str | None] = mapped_column(Text)
    status_code: Mapped[int | None] = mapped_column(SmallInteger)
    latency_ms: Mapped[int | None] = mapped_column(Integer)
    error_code: Mapped[str | None] = mapped_column(String(MAX_ERROR_CODE))
    error_message: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    trace_id: Mapped[str | None] = mapped_column(String(32))
    span_id: Mapped[str | None] = mapped_column(String(16))


#: How long this area's tables keep rows; read by the retention loop.
RETENTION: list[RetentionPolicy] = [
    RetentionPolicy("agent_requests", "created_at", "requests_retention_days")
]
