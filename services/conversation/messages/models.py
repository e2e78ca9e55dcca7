"""Messages (seed 001 agent_messages + seed 003 ai_conversation_messages + seed 004 messages).

Full-text search lives beside the table, outside the models: a generated ``text_tsv`` column
with a GIN index on PostgreSQL, an FTS5 table kept by triggers on SQLite (the migration makes
both; ``shared.migrations`` leaves them out of the model comparison)."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from services.conversation.models import BIG_ID, Base
from shared.db_types import JSONType, UTCDateTime, string_enum, utcnow


class MessageRole(enum.StrEnum):
    SYSTEM = "system"
    USER = "user"
    ASSISTANT = "assistant"
    TOOL = "tool"


class MessageRecord(Base):
    __tablename__ = "messages"
    __table_args__ = (
        UniqueConstraint("conversation_id", "position"),
        # A run's write is stored once however often a re-run repeats it.
        UniqueConstraint("conversation_id", "write_key"),
        Index("ix_messages_conversation_created", "conversation_id", "created_at"),
        Index("ix_messages_tenant_id", "tenant_id", "id"),
        Index("ix_messages_run_id", "run_id"),
    )

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True, autoincrement=True)
    tenant_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    conversation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE")
    )
    segment_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("conversation_ledger_segments.id", ondelete="CASCADE")
    )
    position: Mapped[int] = mapped_column(Integer)
    role: Mapped[MessageRole] = mapped_column(string_enum(MessageRole, "message_role", 16))
    agent_type: Mapped[str | None] = mapped_column(String(64))
    content: Mapped[Any] = mapped_column(JSONType)
    #: The searchable text of the content (seed 003/004 content).
    content_text: Mapped[str] = mapped_column(Text, default="")
    attachments: Mapped[list[Any] | None] = mapped_column(JSONType, default=list)
    tool_name: Mapped[str | None] = mapped_column(String(128))
    tool_call_id: Mapped[str | None] = mapped_column(String(64))
    token_count_prompt: Mapped[int | None] = mapped_column(Integer)
    token_count_completion: Mapped[int | None] = mapped_column(Integer)
    reasoning_tokens: Mapped[int | None] = mapped_column(Integer)
    cost_picos: Mapped[int] = mapped_column(BigInteger, default=0)
    latency_ms: Mapped[int | None] = mapped_column(Integer)
    content_checksum: Mapped[str | None] = mapped_column(String(32))
    run_id: Mapped[str | None] = mapped_column(String(64))
    write_key: Mapped[str | None] = mapped_column(String(128))
    extra_metadata: Mapped[dict[str, Any] | None] = mapped_column("metadata", JSONType)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
