"""The ledger (seed 001 conversation_ledger_segments and conversation_ledger_events, in the
public_sse_v1 shape) and the run items of seed 001 agent_run_events."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
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

from services.conversation.models import BIG_ID, Base
from shared.db_types import JSONType, UTCDateTime, utcnow

SCHEMA_VERSION = "public_sse_v1"


class LedgerSegmentRecord(Base):
    """A stretch of a conversation's history; an edit or truncation opens a new one whose
    parent stays visible through ``visible_through_*``, so nothing stored is rewritten."""

    __tablename__ = "conversation_ledger_segments"
    __table_args__ = (
        UniqueConstraint("conversation_id", "segment_index"),
        Index(
            "ix_conversation_ledger_segments_conversation_truncated",
            "conversation_id",
            "truncated_at",
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    tenant_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    conversation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE")
    )
    segment_index: Mapped[int] = mapped_column(Integer)
    parent_segment_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("conversation_ledger_segments.id", ondelete="SET NULL")
    )
    visible_through_event_id: Mapped[int | None] = mapped_column(BigInteger)
    visible_through_message_position: Mapped[int | None] = mapped_column(Integer)
    truncated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class LedgerEventRecord(Base):
    """One event; ``event_id`` is the per-conversation cursor (SSE id, sequence_number)."""

    __tablename__ = "conversation_ledger_events"
    __table_args__ = (
        UniqueConstraint("conversation_id", "stream_id", "event_id"),
        UniqueConstraint("conversation_id", "event_id"),
        # An append repeated by a re-run of the same run step is stored once.
        UniqueConstraint("conversation_id", "dedupe_key"),
        CheckConstraint(
            "payload_json IS NOT NULL OR payload_object_id IS NOT NULL", name="payload_present"
        ),
        Index(
            "ix_conversation_ledger_events_tenant_conversation_id_id",
            "tenant_id",
            "conversation_id",
            "id",
        ),
        Index("ix_conversation_ledger_events_tool_call_id", "tool_call_id"),
        Index("ix_conversation_ledger_events_item_id", "item_id"),
    )

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True, autoincrement=True)
    tenant_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    conversation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE")
    )
    segment_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("conversation_ledger_segments.id", ondelete="CASCADE")
    )
    schema_version: Mapped[str] = mapped_column(String(32), default=SCHEMA_VERSION)
    kind: Mapped[str] = mapped_column(String(64))
    #: The run (or "conversation" for events of no run) that appended the event.
    stream_id: Mapped[str] = mapped_column(String(255))
    event_id: Mapped[int] = mapped_column(BigInteger)
    server_timestamp: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    response_id: Mapped[str | None] = mapped_column(String(128))
    agent: Mapped[str | None] = mapped_column(String(64))
    workflow_run_id: Mapped[str | None] = mapped_column(String(64))
    provider_sequence_number: Mapped[int | None] = mapped_column(Integer)
    output_index: Mapped[int | None] = mapped_column(Integer)
    item_id: Mapped[str | None] = mapped_column(String(255))
    content_index: Mapped[int | None] = mapped_column(Integer)
    tool_call_id: Mapped[str | None] = mapped_column(String(255))
    dedupe_key: Mapped[str | None] = mapped_column(String(255))
    payload_size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    payload_json: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    #: The storage object holding a payload too large to keep inline (tooling's storage).
    payload_object_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    ingested_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class RunEventRecord(Base):
    """A run item (message, tool call, tool output, handoff) of seed 001 agent_run_events."""

    __tablename__ = "agent_run_events"
    __table_args__ = (
        UniqueConstraint("conversation_id", "sequence_no"),
        Index("ix_agent_run_events_toolcall", "tool_call_id"),
        Index(
            "ix_agent_run_events_conv_type_seq", "conversation_id", "run_item_type", "sequence_no"
        ),
        Index("ix_agent_run_events_workflow_run_seq", "workflow_run_id", "sequence_no"),
    )

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True, autoincrement=True)
    conversation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE")
    )
    workflow_run_id: Mapped[str | None] = mapped_column(String(64))
    sequence_no: Mapped[int] = mapped_column(Integer)
    response_id: Mapped[str | None] = mapped_column(String(128))
    run_item_type: Mapped[str] = mapped_column(String(64))
    run_item_name: Mapped[str | None] = mapped_column(String(128))
    role: Mapped[str | None] = mapped_column(String(16))
    agent: Mapped[str | None] = mapped_column(String(64))
    tool_call_id: Mapped[str | None] = mapped_column(String(128))
    tool_name: Mapped[str | None] = mapped_column(String(128))
    model: Mapped[str | None] = mapped_column(String(64))
    content_text: Mapped[str | None] = mapped_column(Text)
    reasoning_text: Mapped[str | None] = mapped_column(Text)
    call_arguments: Mapped[Any] = mapped_column(JSONType)
    call_output: Mapped[Any] = mapped_column(JSONType)
    attachments: Mapped[Any] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    ingested_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
