"""Tool calls and their results (seed 003 ``ai_tool_calls`` / ``ai_tool_results``) with the
tenant, agent, run and conversation they belong to, the trace they ran in and their approval.

A call's ``request_id`` is unique per tenant: the row is claimed before the tool runs, so a
retried ExecuteTool finds it instead of running the tool a second time.
"""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from services.tooling.models import Base
from shared.db_types import JSONType, UTCDateTime, string_enum, utcnow


class ToolCallStatus(enum.StrEnum):
    STARTED = "started"
    OK = "ok"
    ERROR = "error"
    TIMEOUT = "timeout"
    PENDING_APPROVAL = "pending_approval"
    DENIED = "denied"
    #: Approved; the one approver that moved it here runs it.
    APPROVED = "approved"


class ToolCallRecord(Base):
    __tablename__ = "tool_calls"
    __table_args__ = (
        UniqueConstraint("tenant_id", "request_id"),
        Index("ix_tool_calls_tenant_created", "tenant_id", "created_at", "id"),
        Index("ix_tool_calls_tenant_run", "tenant_id", "run_id"),
        Index("ix_tool_calls_tool_name", "tool_name"),
        Index("ix_tool_calls_status", "status"),
        Index("ix_tool_calls_created_at", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    tenant_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    agent_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("agents.id"))
    agent_config_version: Mapped[int] = mapped_column(Integer)
    tool_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tool_configs.id"))
    tool_name: Mapped[str] = mapped_column(String(100))
    run_id: Mapped[str | None] = mapped_column(String(64))
    conversation_id: Mapped[str | None] = mapped_column(String(64))
    request_id: Mapped[str | None] = mapped_column(String(255))
    status: Mapped[ToolCallStatus] = mapped_column(
        string_enum(ToolCallStatus, "tool_call_status", 24), default=ToolCallStatus.STARTED
    )
    args: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    latency_ms: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    error_reason: Mapped[str | None] = mapped_column(String(64))
    trace_id: Mapped[str | None] = mapped_column(String(32))
    span_id: Mapped[str | None] = mapped_column(String(16))
    decided_by: Mapped[str | None] = mapped_column(String(255))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    deny_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class ToolResultRecord(Base):
    __tablename__ = "tool_results"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    tool_call_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tool_calls.id", ondelete="CASCADE"), unique=True
    )
    result_data: Mapped[Any] = mapped_column(JSONType, nullable=True)
    error_message: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
