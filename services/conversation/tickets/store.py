"""Checking a stream ticket: what FollowEvents and RedeemStreamTicket share.

A ticket is ``qdst_`` and 43 URL-safe characters (256 random bits); only its SHA-256 is stored,
so a copy of the table follows nothing. An unknown ticket, an expired one and one presented
for another conversation are refused alike, so a refusal tells a guesser nothing.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import UTC, datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.conversation.tickets.models import StreamTicketRecord
from shared.db import rows_matched
from shared.errors import Unauthenticated

TICKET_PREFIX = "qdst_"
#: Longer than any ticket issued; longer input is refused before it is hashed.
MAX_TICKET_LENGTH = 128


def new_ticket() -> str:
    return TICKET_PREFIX + secrets.token_urlsafe(32)


def ticket_hash(ticket: str) -> str:
    return hashlib.sha256(ticket.encode()).hexdigest()


def invalid_ticket() -> Unauthenticated:
    return Unauthenticated(
        "the stream ticket is unknown, expired or for another conversation",
        reason="STREAM_TICKET_INVALID",
    )


def at(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


async def valid_ticket(
    session: AsyncSession,
    ticket: str,
    conversation_id: uuid.UUID,
    now: float,
    *,
    for_update: bool = False,
) -> StreamTicketRecord:
    """The stored ticket, if ``ticket`` is one for ``conversation_id`` that has not expired."""
    if not ticket.startswith(TICKET_PREFIX) or len(ticket) > MAX_TICKET_LENGTH:
        raise invalid_ticket()
    statement = select(StreamTicketRecord).where(
        StreamTicketRecord.ticket_hash == ticket_hash(ticket)
    )
    if for_update:
        statement = statement.with_for_update()
    row = await session.scalar(statement)
    if row is None or row.conversation_id != conversation_id or row.expires_at <= at(now):
        raise invalid_ticket()
    return row


async def delete_expired(session: AsyncSession, now: float) -> int:
    """Forget the tickets that expired before ``now``; how many there were."""
    result = await session.execute(
        delete(StreamTicketRecord).where(StreamTicketRecord.expires_at <= at(now))
    )
    return rows_matched(result)
