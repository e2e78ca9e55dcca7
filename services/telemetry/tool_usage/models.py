"""Tables of the telemetry service's tool usage area: ``mcp_tool_usage`` (seed 003), one row per
MCP tool call.

Seed 003 indexes tool_name, status and created_at; here each leads with the tenant. Analytics
over a window read (tenant_id, created_at, tool_name, status, latency_ms), which carries every
column they aggregate (an index-only scan on PostgreSQL); recent errors read a partial index
over failed calls only, and operators' recent errors across tenants another, by created_at
alone.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from services.telemetry.models import MAX_TENANT_ID, Base
from services.telemetry.retention import RetentionPolicy
from shared.db_types import JSONType, UTCDateTime, utcnow

MAX_TOOL_NAME = 100
MAX_REQUEST_ID = 128
MAX_STATUS = 20


class ToolCallStatus(enum.StrEnum):
    STARTED = "started"
    OK = "ok"
    ERROR = "error"
    TIMEOUT = "timeout"


#: Statuses of a call that failed; recent errors list these.
FAILED_STATUSES = (ToolCallStatus.ERROR.value, ToolCallStatus.TIMEOUT.value)
_FAILED = text("status IN ('error', 'timeout')")
_FAILED_ANY_TENANT = text("status IN ('error', 'timeout') AND created_at IS NOT NULL")


class ToolUsageRecord(Base):
    __tablename__ = "mcp_tool_usage"
    __table_args__ = (
        # A retried append (same tenant and request_id) is skipped: ON CONFLICT DO NOTHING.
        # Rows without a request_id (NULL) never conflict.
        Index("ux_mcp_tool_usage_tenant_id_request_id", "tenant_id", "request_id", unique=True),
        Index(None, "tenant_id", "tool_name", "created_at"),
        Index(None, "tenant_id", "status", "created_at"),
        Index(
            "ix_mcp_tool_usage_tenant_id_created_at_covering",
            "tenant_id",
            "created_at",
            "tool_name",
            "status",
            "latency_ms",
        ),
        # Operators' newest failures across every tenant (without it, a full scan). Its
        # predicate is one only that query states (_FAILED_ANY_TENANT), so it serves that
        # query alone: never a rival of a tenant's partial index or the analytics' covering one.
        Index(
            "ix_mcp_tool_usage_failed_created_at",
            "created_at",
            postgresql_where=_FAILED_ANY_TENANT,
            sqlite_where=_FAILED_ANY_TENANT,
        ),
        Index(
            "ix_mcp_tool_usage_failed_tenant_id_created_at",
            "tenant_id",
            "created_at",
            postgresql_where=_FAILED,
            sqlite_where=_FAILED,
        ),
    )

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    tenant_id: Mapped[str] = mapped_column(String(MAX_TENANT_ID))
    tool_name: Mapped[str] = mapped_column(String(MAX_TOOL_NAME))
    #: started, ok, error or timeout (seed 003 keeps it a free VARCHAR; validated on write).
    status: Mapped[str | None] = mapped_column(String(MAX_STATUS))
    args: Mapped[Any] = mapped_column(JSONType, nullable=True)
    result: Mapped[Any] = mapped_column(JSONType, nullable=True)
    latency_ms: Mapped[int | None] = mapped_column(Integer)
    tokens_in: Mapped[int] = mapped_column(Integer, default=0)
    tokens_out: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    trace_id: Mapped[str | None] = mapped_column(String(32))
    span_id: Mapped[str | None] = mapped_column(String(16))
    #: The caller's id of the call (tooling's tool call id); unique per tenant when set.
    request_id: Mapped[str | None] = mapped_column(String(MAX_REQUEST_ID))


#: How long this area's tables keep rows; read by the retention loop.
RETENTION: list[RetentionPolicy] = [
    RetentionPolicy("mcp_tool_usage", "created_at", "tool_usage_retention_days")
]
