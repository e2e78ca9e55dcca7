"""The run queue (seed 001 conversation_run_queue_items) and what runs used (seed 001
agent_run_usage).

A run is leased by one worker at a time: ``lease_generation`` rises with every lease and is the
fencing token each write of the run carries; the store refuses a write whose generation is not
the run's current one, so a worker that lost its lease can write nothing."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column

from services.conversation.models import BIG_ID, Base, where
from shared.db_types import JSONType, UTCDateTime, string_enum, utcnow


class RunStatus(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    REQUIRES_ACTION = "requires_action"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


#: Statuses of a run that holds its conversation: at most one per conversation.
ACTIVE_STATUSES = (RunStatus.RUNNING, RunStatus.REQUIRES_ACTION)
FINISHED_STATUSES = (RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELLED)


class RunRecord(Base):
    __tablename__ = "conversation_run_queue_items"
    __table_args__ = (
        Index(
            "ix_conversation_run_queue_items_conversation_status_id",
            "conversation_id",
            "status",
            "id",
        ),
        Index(
            "ix_conversation_run_queue_items_tenant_conversation_status_id",
            "tenant_id",
            "conversation_id",
            "status",
            "id",
        ),
        Index("ix_conversation_run_queue_items_status_lease", "status", "lease_expires_at"),
        # One active run per conversation, whatever the workers race for.
        Index(
            "ux_conversation_run_queue_items_one_active",
            "conversation_id",
            unique=True,
            **where("status IN ('running', 'requires_action')"),
        ),
    )

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True, autoincrement=True)
    run_id: Mapped[uuid.UUID] = mapped_column(Uuid, unique=True, default=uuid.uuid4)
    tenant_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    conversation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE")
    )
    segment_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("conversation_ledger_segments.id", ondelete="SET NULL")
    )
    created_by_user_id: Mapped[str | None] = mapped_column(String(255))
    status: Mapped[RunStatus] = mapped_column(
        string_enum(RunStatus, "run_status", 16), default=RunStatus.QUEUED
    )
    attempt_count: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=3)
    message_position: Mapped[int | None] = mapped_column(Integer)
    payload_json: Mapped[dict[str, Any]] = mapped_column(JSONType)
    error_json: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    #: The fencing token: the number of the current lease.
    lease_generation: Mapped[int] = mapped_column(Integer, default=0)
    lease_owner: Mapped[str | None] = mapped_column(String(128))
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    trace_id: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class RunUsageRecord(Base):
    __tablename__ = "agent_run_usage"
    __table_args__ = (
        UniqueConstraint("response_id"),
        Index("ix_agent_run_usage_conversation_created", "conversation_id", "created_at"),
        Index("ix_agent_run_usage_tenant_created", "tenant_id", "created_at"),
        Index("ix_agent_run_usage_run_id", "run_id"),
    )

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True, autoincrement=True)
    tenant_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    conversation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE")
    )
    response_id: Mapped[str | None] = mapped_column(String(128))
    run_id: Mapped[str | None] = mapped_column(String(64))
    agent_key: Mapped[str | None] = mapped_column(String(64))
    provider: Mapped[str | None] = mapped_column(String(32))
    requests: Mapped[int | None] = mapped_column(Integer)
    input_tokens: Mapped[int | None] = mapped_column(Integer)
    output_tokens: Mapped[int | None] = mapped_column(Integer)
    total_tokens: Mapped[int | None] = mapped_column(Integer)
    cached_input_tokens: Mapped[int | None] = mapped_column(Integer)
    reasoning_output_tokens: Mapped[int | None] = mapped_column(Integer)
    request_usage_entries: Mapped[list[Any] | None] = mapped_column(JSONType)
    #: What the call cost, exact (pico-USD), as tenancy's PriceUsage priced it; 0 when the
    #: model had no price (``request_usage_entries`` then says why).
    cost_picos: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class TaskStatus(enum.StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


class AgentTaskRecord(Base):
    """Seed 002 ``agent_tasks``: the record of each run (one row per run, kept up to date as it
    is queued, leased, finished, cancelled): its retries, its duration, the tokens it used; and
    of the subtasks a run does on the side (its history's compaction), each a row under the
    run's own (``parent_task_id``) with its own status, duration and usage."""

    __tablename__ = "agent_tasks"
    __table_args__ = (
        # One task of its own per run; its subtasks share its run_id.
        Index(
            "uq_agent_tasks_run_id_root", "run_id", unique=True, **where("parent_task_id IS NULL")
        ),
        Index("ix_agent_tasks_run_id", "run_id"),
        UniqueConstraint("task_key"),
        Index("ix_agent_tasks_agent_status_created", "agent_id", "status", "created_at"),
        Index("ix_agent_tasks_workflow_id", "workflow_id"),
        Index("ix_agent_tasks_status", "status"),
        Index("ix_agent_tasks_created_at", "created_at"),
        Index("ix_agent_tasks_tenant_created", "tenant_id", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    tenant_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    run_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    conversation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE")
    )
    agent_id: Mapped[str] = mapped_column(String(64))
    #: Seed 002's workflow: no workflows here yet.
    workflow_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    task_type: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(Text)
    status: Mapped[TaskStatus] = mapped_column(
        string_enum(TaskStatus, "agent_task_status", 20), default=TaskStatus.PENDING
    )
    input_data: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    output_data: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    error_message: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    duration_ms: Mapped[int | None] = mapped_column(Integer)
    tokens_used: Mapped[int] = mapped_column(Integer, default=0)
    #: Seed 002's cost_usd as exact money (pico-USD, as conversations' cost): the sum of the
    #: run's model calls as tenancy priced them (a DECIMAL(10, 6) would round them to micro-USD).
    cost_picos: Mapped[int] = mapped_column(BigInteger, default=0)
    #: Leases after the first (a worker died or hung and the run was taken up again).
    retry_count: Mapped[int] = mapped_column(Integer, default=0)
    parent_task_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("agent_tasks.id", ondelete="SET NULL")
    )
    #: A subtask's idempotency key, the run's step it records (``<run>:summary:<position>``):
    #: a run re-leased after a crash finds its subtask instead of adding a second one. None for
    #: a run's own task (one per run already).
    task_key: Mapped[str | None] = mapped_column(String(160))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    task_metadata: Mapped[dict[str, Any]] = mapped_column("metadata", JSONType, default=dict)
