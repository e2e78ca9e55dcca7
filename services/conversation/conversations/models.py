"""Conversations (seed 001 agent_conversations + seed 003 ai_conversations + seed 004 sessions)
and their summaries (seed 001 conversation_summaries)."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from services.conversation.models import BIG_ID, Base
from shared.db_types import JSONType, UTCDateTime, string_enum, utcnow


class ConversationStatus(enum.StrEnum):
    ACTIVE = "active"
    ARCHIVED = "archived"


class ConversationRecord(Base):
    __tablename__ = "conversations"
    __table_args__ = (
        Index("ix_conversations_tenant_updated", "tenant_id", "updated_at", "id"),
        Index("ix_conversations_tenant_status", "tenant_id", "status"),
        # Seed 004 Query 4: a user's sessions, newest first.
        Index("ix_conversations_tenant_user_created", "tenant_id", "user_id", "created_at"),
        Index("ix_conversations_thread_id", "thread_id"),
        Index("ix_conversations_session_key", "tenant_id", "session_key"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    tenant_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    conversation_key: Mapped[str] = mapped_column(String(255), unique=True)
    user_id: Mapped[str | None] = mapped_column(String(255))
    agent_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    agent_entrypoint: Mapped[str] = mapped_column(String(64))
    active_agent: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[ConversationStatus] = mapped_column(
        string_enum(ConversationStatus, "conversation_status", 16),
        default=ConversationStatus.ACTIVE,
    )
    #: Optimistic lock of UpdateConversation.
    version: Mapped[int] = mapped_column(BigInteger, default=1)
    message_count: Mapped[int] = mapped_column(Integer, default=0)
    total_tokens_prompt: Mapped[int] = mapped_column(BigInteger, default=0)
    total_tokens_completion: Mapped[int] = mapped_column(BigInteger, default=0)
    reasoning_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    total_cached_input_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    total_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    total_requests: Mapped[int] = mapped_column(BigInteger, default=0)
    #: Seed 003's cost as exact money: pico-USD.
    cost_picos: Mapped[int] = mapped_column(BigInteger, default=0)
    provider: Mapped[str | None] = mapped_column(String(32))
    model: Mapped[str | None] = mapped_column(String(100))
    provider_conversation_id: Mapped[str | None] = mapped_column(String(128), unique=True)
    handoff_count: Mapped[int] = mapped_column(Integer, default=0)
    source_channel: Mapped[str | None] = mapped_column(String(32))
    topic_hint: Mapped[str | None] = mapped_column(String(256))
    display_name: Mapped[str | None] = mapped_column(String(128))
    title_generated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    memory_strategy: Mapped[str | None] = mapped_column(String(16))
    memory_max_turns: Mapped[int | None] = mapped_column(Integer)
    memory_keep_last_turns: Mapped[int | None] = mapped_column(Integer)
    memory_compact_trigger_turns: Mapped[int | None] = mapped_column(Integer)
    memory_compact_keep: Mapped[int | None] = mapped_column(Integer)
    memory_clear_tool_inputs: Mapped[bool | None] = mapped_column(Boolean)
    memory_injection: Mapped[bool | None] = mapped_column(Boolean)
    session_key: Mapped[str | None] = mapped_column(String(255))
    thread_id: Mapped[str | None] = mapped_column(String(500))
    extra_metadata: Mapped[dict[str, Any] | None] = mapped_column("metadata", JSONType)
    #: The cursor of the last ledger event: the next append takes this plus one.
    last_event_sequence: Mapped[int] = mapped_column(BigInteger, default=0)
    last_message_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_run_id: Mapped[str | None] = mapped_column(String(64))
    client_version: Mapped[str | None] = mapped_column(String(32))
    sdk_session_id: Mapped[str | None] = mapped_column(String(255))
    session_cursor: Mapped[str | None] = mapped_column(String(128))
    last_session_sync_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ConversationSummaryRecord(Base):
    __tablename__ = "conversation_summaries"
    __table_args__ = (Index("ix_conversation_summaries_conversation", "conversation_id", "id"),)

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True, autoincrement=True)
    tenant_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    conversation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE")
    )
    agent_key: Mapped[str | None] = mapped_column(String(64))
    summary_text: Mapped[str] = mapped_column(Text)
    summary_model: Mapped[str | None] = mapped_column(String(64))
    summary_length_tokens: Mapped[int | None] = mapped_column(Integer)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    version: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
