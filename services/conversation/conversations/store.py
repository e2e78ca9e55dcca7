"""Reading a tenant's conversation and its current ledger segment, as every area needs them."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from services.conversation.conversations.models import ConversationRecord, ConversationStatus
from services.conversation.events.models import LedgerSegmentRecord
from shared.db import Database, PreparedRead, Transaction, column_param, execute_prepared
from shared.errors import FailedPrecondition, NotFound


@dataclass(slots=True)
class LockedConversation:
    """What a run's write needs of its conversation, read with the row's lock (see
    ``runs.fencing``): not the whole row, and no ORM object to track."""

    id: uuid.UUID
    tenant_id: uuid.UUID
    #: None where the write took the row's lock without reading it (a ledger append alone).
    message_count: int | None
    last_event_sequence: int


def _locking(*, skip_locked: bool) -> PreparedRead:
    columns = ConversationRecord.__table__.c
    return PreparedRead(
        select(columns.id, columns.tenant_id, columns.message_count, columns.last_event_sequence)
        .where(columns.id == column_param("conversation_id", columns.id))
        .with_for_update(skip_locked=skip_locked)
    )


_LOCK = _locking(skip_locked=False)
_LOCK_UNLESS_BUSY = _locking(skip_locked=True)


@dataclass(slots=True)
class AppendableConversation(LockedConversation):
    """What a message's append by a tenant's caller needs of its conversation, read with the
    row's lock (:func:`lock_tenant_conversation`)."""

    status: ConversationStatus
    agent_id: uuid.UUID | None


_CONVERSATIONS = ConversationRecord.__table__.c
_OF_TENANT = (
    _CONVERSATIONS.id == column_param("conversation_id", _CONVERSATIONS.id),
    _CONVERSATIONS.tenant_id == column_param("tenant_id", _CONVERSATIONS.tenant_id),
)
_LOCK_OF_TENANT = PreparedRead(
    select(
        _CONVERSATIONS.id,
        _CONVERSATIONS.tenant_id,
        _CONVERSATIONS.message_count,
        _CONVERSATIONS.last_event_sequence,
        _CONVERSATIONS.status,
        _CONVERSATIONS.agent_id,
    )
    .where(*_OF_TENANT)
    .with_for_update()
)
_OF_TENANT_EXISTS = PreparedRead(select(_CONVERSATIONS.id).where(*_OF_TENANT))
_SEGMENTS = LedgerSegmentRecord.__table__.c
_CURRENT_SEGMENT = PreparedRead(
    select(_SEGMENTS.id)
    .where(_SEGMENTS.conversation_id == column_param("conversation_id", _SEGMENTS.conversation_id))
    .order_by(_SEGMENTS.segment_index.desc())
    .limit(1)
)


def _not_found(conversation_id: uuid.UUID) -> NotFound:
    return NotFound(f"conversation {conversation_id} not found", reason="CONVERSATION_NOT_FOUND")


async def lock_tenant_conversation(
    session: Transaction, tenant_id: uuid.UUID, conversation_id: uuid.UUID
) -> AppendableConversation:
    """The conversation's row locked, with what a message's append needs of it, if it is the
    tenant's (another tenant's is as missing as none): one prepared statement, no ORM row."""
    row = (
        await execute_prepared(
            session, _LOCK_OF_TENANT, {"conversation_id": conversation_id, "tenant_id": tenant_id}
        )
    ).first()
    if row is None:
        raise _not_found(conversation_id)
    return AppendableConversation(
        row.id, row.tenant_id, row.message_count, row.last_event_sequence, row.status, row.agent_id
    )


async def check_tenant_conversation(
    database: Database, tenant_id: uuid.UUID, conversation_id: uuid.UUID
) -> None:
    """Raise NotFound unless the conversation is the tenant's: one statement on its own (no
    transaction), for a caller that reads nothing else of it in one."""
    found = await database.fetch_prepared(
        _OF_TENANT_EXISTS, {"conversation_id": conversation_id, "tenant_id": tenant_id}
    )
    if not found:
        raise _not_found(conversation_id)


async def locked_conversation(
    session: Transaction, conversation_id: uuid.UUID, *, unless_busy: bool = False
) -> LockedConversation | None:
    """The conversation's row locked, with what a run's write needs of it; None when there is
    no such conversation, or (``unless_busy``) another transaction holds its lock (PostgreSQL's
    SKIP LOCKED; SQLite serializes writers)."""
    row = (
        await execute_prepared(
            session,
            _LOCK_UNLESS_BUSY if unless_busy else _LOCK,
            {"conversation_id": conversation_id},
        )
    ).first()
    if row is None:
        return None
    return LockedConversation(row.id, row.tenant_id, row.message_count, row.last_event_sequence)


#: A conversation a write appends to: a handler's loaded row, or a run's locked columns.
Conversation = ConversationRecord | LockedConversation


def note_stored(conversation: Conversation, **values: Any) -> None:
    """Tell ``conversation`` the values a statement of this transaction stored in its row (an
    ORM row keeps them as committed, so its flush does not write them again)."""
    if isinstance(conversation, ConversationRecord):
        for name, value in values.items():
            set_committed_value(conversation, name, value)
    else:  # the columns the view holds
        for name, value in values.items():
            if hasattr(LockedConversation, name):
                setattr(conversation, name, value)


async def tenant_conversation(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    conversation_id: uuid.UUID,
    *,
    for_update: bool = False,
) -> ConversationRecord:
    """The conversation, if it is the tenant's; another tenant's is as missing as none."""
    statement = select(ConversationRecord).where(
        ConversationRecord.id == conversation_id, ConversationRecord.tenant_id == tenant_id
    )
    if for_update:
        statement = statement.with_for_update()
    row = await session.scalar(statement)
    if row is None:
        raise _not_found(conversation_id)
    return row


def require_active(row: ConversationRecord | AppendableConversation) -> None:
    if row.status != ConversationStatus.ACTIVE:
        raise FailedPrecondition(
            f"conversation {row.id} is archived and takes no new messages or runs",
            reason="CONVERSATION_ARCHIVED",
        )


async def current_segment(session: AsyncSession, conversation_id: uuid.UUID) -> LedgerSegmentRecord:
    """The segment new messages and events go to: the conversation's latest."""
    segment = await session.scalar(
        select(LedgerSegmentRecord)
        .where(LedgerSegmentRecord.conversation_id == conversation_id)
        .order_by(LedgerSegmentRecord.segment_index.desc())
        .limit(1)
    )
    assert segment is not None, "every conversation is created with its first segment"
    return segment


async def current_segment_id(session: Transaction, conversation_id: uuid.UUID) -> uuid.UUID:
    """The id of :func:`current_segment`, by a prepared statement (no ORM row)."""
    row = (
        await execute_prepared(session, _CURRENT_SEGMENT, {"conversation_id": conversation_id})
    ).first()
    assert row is not None, "every conversation is created with its first segment"
    segment_id: uuid.UUID = row.id
    return segment_id
