"""What agents remember (seed 003 ``ai_memory``; seed 000 ``human_context`` is the user scope):
one JSON value per tenant, scope, scope key and key."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, Index, SmallInteger, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from services.tooling.models import Base
from shared.db_types import JSONType, UTCDateTime, string_enum, utcnow

DEFAULT_CONFIDENCE = 50


class MemoryScope(enum.StrEnum):
    GLOBAL = "global"
    PROJECT = "project"
    SESSION = "session"
    USER = "user"


class MemorySource(enum.StrEnum):
    USER = "user"
    ASSISTANT = "assistant"
    SYSTEM = "system"


class MemoryEntryRecord(Base):
    __tablename__ = "memory_entries"
    __table_args__ = (
        UniqueConstraint("tenant_id", "scope", "scope_key", "key"),
        # Seed "Memory lookup": a scope's entries, most recently updated first.
        Index("ix_memory_entries_scope_updated", "tenant_id", "scope", "updated_at", "id"),
        Index("ix_memory_entries_session_key", "tenant_id", "session_key"),
        Index("ix_memory_entries_conversation_id", "conversation_id"),
        Index("ix_memory_entries_created_at", "created_at"),
        CheckConstraint("confidence BETWEEN 0 AND 100", name="confidence_range"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    tenant_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    scope: Mapped[MemoryScope] = mapped_column(string_enum(MemoryScope, "memory_scope", 16))
    #: The project, session or user the entry is about; empty for the global scope.
    scope_key: Mapped[str] = mapped_column(String(255), default="")
    key: Mapped[str] = mapped_column(String(255))
    value: Mapped[Any] = mapped_column(JSONType)
    confidence: Mapped[int] = mapped_column(SmallInteger, default=DEFAULT_CONFIDENCE)
    source: Mapped[MemorySource] = mapped_column(
        string_enum(MemorySource, "memory_source", 16), default=MemorySource.ASSISTANT
    )
    conversation_id: Mapped[str | None] = mapped_column(String(64))
    session_key: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
