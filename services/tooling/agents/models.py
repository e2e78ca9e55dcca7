"""Agents: seed 000 ``agent_ai_sam``, seed 002 ``agents`` and seed 004 ``agent_configs`` in one
table, and ``agent_tools`` (seed 004) with the priority that decides what an agent is offered.

An agent is a tenant's own or global (``is_global``, no tenant, platform operators manage it).
``config_version`` counts configuration changes and is the optimistic lock of updates; every
tool call records the version it ran with.
"""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column

from services.tooling.models import Base, where
from shared.db_types import JSONType, UTCDateTime, string_enum, utcnow


class AgentStatus(enum.StrEnum):
    ACTIVE = "active"
    INACTIVE = "inactive"
    PAUSED = "paused"
    MAINTENANCE = "maintenance"
    ARCHIVED = "archived"


class CostTier(enum.StrEnum):
    FREE = "free"
    PRO = "pro"
    ENTERPRISE = "enterprise"


class SafetyLevel(enum.StrEnum):
    STRICT = "strict"
    MODERATE = "moderate"
    PERMISSIVE = "permissive"


#: The JSON policy columns (seed ``*_json``), by the name AgentPolicies gives each.
POLICY_COLUMNS = {
    "approvals": "approvals_policy",
    "integrations": "integrations",
    "tool_permissions": "tool_permissions",
    "rate_limits": "rate_limits",
    "budgets": "budgets",
    "model": "model_policy",
    "cost": "cost_policy",
    "pii": "pii_policy",
    "security": "security_policy",
    "findings": "findings_policy",
    "notification": "notification_policy",
    "telemetry": "telemetry_policy",
}


def _json_object() -> Any:
    return mapped_column(JSONType, default=dict)


def _json_list() -> Any:
    return mapped_column(JSONType, default=list)


class AgentRecord(Base):
    __tablename__ = "agents"
    __table_args__ = (
        UniqueConstraint("tenant_id", "name"),
        Index("uq_agents_global_name", "name", unique=True, **where("tenant_id IS NULL")),
        Index("ix_agents_status", "status"),
        Index("ix_agents_active", "is_active"),
        Index("ix_agents_role_name", "role_name"),
        CheckConstraint("(tenant_id IS NULL) = is_global", name="global_has_no_tenant"),
        CheckConstraint("config_version >= 1", name="config_version_positive"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    tenant_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    is_global: Mapped[bool] = mapped_column(Boolean, default=False)
    name: Mapped[str] = mapped_column(String(100))
    role_name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    status: Mapped[AgentStatus] = mapped_column(
        string_enum(AgentStatus, "agent_status", 16), default=AgentStatus.ACTIVE
    )
    mode: Mapped[str] = mapped_column(String(50), default="orchestrator")
    safety_level: Mapped[SafetyLevel] = mapped_column(
        string_enum(SafetyLevel, "safety_level", 16), default=SafetyLevel.STRICT
    )
    tenant_scope: Mapped[str] = mapped_column(String(32), default="multi_tenant")
    allowed_tenants: Mapped[list[str]] = _json_list()
    blocked_tenants: Mapped[list[str]] = _json_list()
    auth_strategy: Mapped[str | None] = mapped_column(String(64))
    required_roles: Mapped[list[str]] = _json_list()
    requires_human_approval: Mapped[bool] = mapped_column(Boolean, default=False)
    approvals_policy: Mapped[dict[str, Any]] = _json_object()
    integrations: Mapped[dict[str, Any]] = _json_object()
    mcp_services: Mapped[list[str]] = _json_list()
    tool_permissions: Mapped[dict[str, Any]] = _json_object()
    rate_limits: Mapped[dict[str, Any]] = _json_object()
    budgets: Mapped[dict[str, Any]] = _json_object()
    model_policy: Mapped[dict[str, Any]] = _json_object()
    cost_policy: Mapped[dict[str, Any]] = _json_object()
    pii_policy: Mapped[dict[str, Any]] = _json_object()
    security_policy: Mapped[dict[str, Any]] = _json_object()
    findings_policy: Mapped[dict[str, Any]] = _json_object()
    notification_policy: Mapped[dict[str, Any]] = _json_object()
    telemetry_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    telemetry_policy: Mapped[dict[str, Any]] = _json_object()
    # Seed 002 and seed 004.
    model: Mapped[str | None] = mapped_column(String(100))
    llm_model_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    prompt_template: Mapped[str | None] = mapped_column(Text)
    default_output_format_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("output_formats.id")
    )
    handler_class: Mapped[str | None] = mapped_column(String(255))
    specialties: Mapped[list[str]] = _json_list()
    backstory: Mapped[str | None] = mapped_column(Text)
    personality_emoji: Mapped[str | None] = mapped_column(String(16))
    notes: Mapped[str | None] = mapped_column(Text)
    extra_metadata: Mapped[dict[str, Any]] = mapped_column("metadata", JSONType, default=dict)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Contacts.
    owner_user_id: Mapped[str | None] = mapped_column(String(64))
    user_email: Mapped[str | None] = mapped_column(String(320))
    additional_alert_emails: Mapped[list[str]] = _json_list()
    backup_user_email: Mapped[str | None] = mapped_column(String(320))
    alert_escalation_email: Mapped[str | None] = mapped_column(String(320))
    # Running totals and health, kept by the platform.
    total_tasks_completed: Mapped[int] = mapped_column(Integer, default=0)
    total_tokens_used: Mapped[int] = mapped_column(BigInteger, default=0)
    average_latency_ms: Mapped[float] = mapped_column(Float, default=0.0)
    success_rate: Mapped[float] = mapped_column(Float, default=100.0)
    last_health_check_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(Text)
    config_version: Mapped[int] = mapped_column(Integer, default=1)
    config_hash: Mapped[str] = mapped_column(String(64))
    created_by: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    # The ORM bumps config_version on every UPDATE and adds "WHERE config_version = <read>".
    __mapper_args__ = {"version_id_col": config_version}


class AgentToolRecord(Base):
    __tablename__ = "agent_tools"
    __table_args__ = (
        Index("ix_agent_tools_agent_priority", "agent_id", "priority"),
        Index("ix_agent_tools_tool", "tool_id"),
        CheckConstraint("priority >= 0", name="priority_not_negative"),
    )

    agent_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("agents.id", ondelete="CASCADE"), primary_key=True
    )
    tool_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tool_configs.id", ondelete="CASCADE"), primary_key=True
    )
    priority: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class AgentExecutionLimitRecord(Base):
    """Seed 000 ``agent_ai_executable_limits``: one row per agent role and cost tier (the seed's
    D1 and R2 counts keep their meaning as database queries and storage operations), plus
    blocked tools beside the seed's allowed ones."""

    __tablename__ = "agent_execution_limits"
    __table_args__ = (UniqueConstraint("agent_role", "cost_tier"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    agent_role: Mapped[str] = mapped_column(String(200))
    cost_tier: Mapped[CostTier] = mapped_column(string_enum(CostTier, "cost_tier", 16))
    max_ai_calls_per_day: Mapped[int] = mapped_column(Integer, default=50)
    max_tokens_per_request: Mapped[int] = mapped_column(Integer, default=1000)
    max_db_queries_per_minute: Mapped[int] = mapped_column(Integer, default=10)
    max_storage_operations_per_day: Mapped[int] = mapped_column(Integer, default=20)
    rate_limit_per_minute: Mapped[int] = mapped_column(Integer, default=5)
    #: Tool calls per UTC day; None means no daily limit (not a seed column).
    max_tool_calls_per_day: Mapped[int | None] = mapped_column(Integer)
    allowed_operations: Mapped[list[str]] = _json_list()
    blocked_operations: Mapped[list[str]] = _json_list()
    allowed_tools: Mapped[list[str]] = _json_list()
    blocked_tools: Mapped[list[str]] = _json_list()
    notes: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class LimitWindow(enum.StrEnum):
    """What an execution counter counts, and over which fixed window."""

    #: Every admitted call of the agent, per minute (``rate_limit_per_minute``).
    CALLS_PER_MINUTE = "calls_per_minute"
    #: Every admitted call of the agent, per UTC day (``max_tool_calls_per_day``).
    CALLS_PER_DAY = "calls_per_day"
    #: Admitted DB_QUERY calls of the agent, per minute (``max_db_queries_per_minute``).
    DB_QUERIES_PER_MINUTE = "db_queries_per_minute"


class AgentExecutionCounterRecord(Base):
    """How many calls a tenant's agent was admitted in the current window of one limit: one row
    per (tenant, agent, window kind), moved to the next window by the update that first counts
    in it. Counted in the database, so every replica shares the count; the conditional UPDATE
    (``count < limit``) admits exactly ``limit`` calls per window, however many race."""

    __tablename__ = "agent_execution_counters"

    tenant_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    agent_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("agents.id", ondelete="CASCADE"), primary_key=True
    )
    kind: Mapped[LimitWindow] = mapped_column(
        string_enum(LimitWindow, "limit_window", 32), primary_key=True
    )
    #: The window's start, in seconds since the epoch (a multiple of its length).
    window_start: Mapped[int] = mapped_column(BigInteger)
    count: Mapped[int] = mapped_column(Integer)
