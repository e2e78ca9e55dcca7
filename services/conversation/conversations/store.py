"""Reading a tenant's conversation and its current ledger segment, as every area needs them."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.conversation.conversations.models import ConversationRecord, ConversationStatus
from services.conversation.events.models import LedgerSegmentRecord
from shared.errors import FailedPrecondition, NotFound


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
        raise NotFound(f"conversation {conversation_id} not found", reason="CONVERSATION_NOT_FOUND")
    return row


def require_active(row: ConversationRecord) -> None:
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
