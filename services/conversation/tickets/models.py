"""Stream tickets (seed 003 ai_stream_tickets): short-lived credentials to follow one
conversation's events, stored only as hashes."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from services.conversation.models import Base
from shared.db_types import UTCDateTime, utcnow


class StreamTicketRecord(Base):
    __tablename__ = "stream_tickets"
    __table_args__ = (
        Index("ix_stream_tickets_expires_at", "expires_at"),
        Index("ix_stream_tickets_conversation_id", "conversation_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    #: SHA-256 of the ticket, hex (seed 003 ``ticket VARCHAR(64) UNIQUE``); never the ticket.
    ticket_hash: Mapped[str] = mapped_column(String(64), unique=True)
    tenant_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    conversation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE")
    )
    session_key: Mapped[str | None] = mapped_column(String(255))
    #: The subject of the token it was issued to.
    created_by: Mapped[str] = mapped_column(String(255))
    use_count: Mapped[int] = mapped_column(Integer, default=0)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
