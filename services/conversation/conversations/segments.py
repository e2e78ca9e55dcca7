"""Ledger segments: a truncation (or an edit, or a rolled-back run) opens a new segment whose
parent stays visible through a message position and a ledger cursor, so history is never
rewritten: every message and event stays stored, and what is *visible* is computed from the
chain of segments.

Visible messages: all of the current segment's, and of each ancestor those at or before the
smallest ``visible_through_message_position`` on the way down from the current segment.
Visible events likewise, by ``visible_through_event_id``: the cursor just before the first
hidden message was appended (the ledger up to the last message kept, and the runs' events that
came before the next message), so a hidden message's text, and the answers to it, are not read
back from the ledger either. Segments form one chain (each opens after the current one), so a
row of a segment is hidden exactly when a later segment's bound is below it: the conditions of
:mod:`hiding`, which every reader of visible history asks.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import and_, false, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.conversation.conversations.models import ConversationRecord
from services.conversation.conversations.store import current_segment
from services.conversation.events.ledger import Ledger, NewEvent
from services.conversation.events.models import LedgerEventRecord, LedgerSegmentRecord
from services.conversation.messages.models import MessageRecord
from shared.db_types import utcnow
from shared.errors import InvalidArgument


async def visible_bounds(
    session: AsyncSession, conversation_id: uuid.UUID
) -> list[tuple[uuid.UUID, int | None]]:
    """Each segment of the current one's chain with the last position visible in it (None: all
    of it)."""
    segments = {
        row.id: row
        for row in (
            await session.scalars(
                select(LedgerSegmentRecord).where(
                    LedgerSegmentRecord.conversation_id == conversation_id
                )
            )
        ).all()
    }
    if not segments:
        return []
    segment: LedgerSegmentRecord | None = max(segments.values(), key=lambda s: s.segment_index)
    bound: int | None = None
    chain: list[tuple[uuid.UUID, int | None]] = []
    while segment is not None:
        chain.append((segment.id, bound))
        if segment.parent_segment_id is None:
            break
        through = segment.visible_through_message_position
        if through is not None:
            bound = through if bound is None else min(bound, through)
        segment = segments.get(segment.parent_segment_id)
    return chain


async def visible_messages(session: AsyncSession, conversation_id: uuid.UUID) -> Any:
    """A condition on MessageRecord selecting the conversation's visible messages."""
    chain = await visible_bounds(session, conversation_id)
    if not chain:
        return false()
    return and_(
        MessageRecord.conversation_id == conversation_id,
        or_(
            *(
                MessageRecord.segment_id == segment_id
                if bound is None
                else and_(MessageRecord.segment_id == segment_id, MessageRecord.position <= bound)
                for segment_id, bound in chain
            )
        ),
    )


async def _ledger_kept_through(
    session: AsyncSession, conversation: ConversationRecord, keep_through_position: int
) -> int:
    """The last cursor of the ledger kept by a truncation after ``keep_through_position``: the
    one before the first hidden message's event; the current cursor when none is hidden."""
    first_hidden = await session.scalar(
        select(MessageRecord.id)
        .where(
            await visible_messages(session, conversation.id),
            MessageRecord.position > keep_through_position,
        )
        .order_by(MessageRecord.position)
        .limit(1)
    )
    if first_hidden is None:
        return conversation.last_event_sequence
    appended = await session.scalar(
        select(LedgerEventRecord.event_id).where(
            LedgerEventRecord.conversation_id == conversation.id,
            LedgerEventRecord.item_id == f"msg_{first_hidden}",
        )
    )
    return conversation.last_event_sequence if appended is None else appended - 1


async def truncate(
    session: AsyncSession,
    ledger: Ledger,
    conversation: ConversationRecord,
    keep_through_position: int,
    *,
    reason: str,
) -> LedgerSegmentRecord:
    """Open a segment after the current one, its parent visible through
    ``keep_through_position`` (a visible message's, or -1) and the current cursor; the caller
    holds the conversation row."""
    if keep_through_position != -1:
        visible = await session.scalar(
            select(MessageRecord.id).where(
                await visible_messages(session, conversation.id),
                MessageRecord.position == keep_through_position,
            )
        )
        if visible is None:
            raise InvalidArgument.field(
                "keep_through_position",
                f"{keep_through_position} is not the position of a visible message of "
                f"conversation {conversation.id} (or -1 to hide them all)",
            )
    kept_through_event = await _ledger_kept_through(session, conversation, keep_through_position)
    parent = await current_segment(session, conversation.id)
    now = utcnow()
    parent.truncated_at = now
    segment = LedgerSegmentRecord(
        id=uuid.uuid4(),
        tenant_id=conversation.tenant_id,
        conversation_id=conversation.id,
        segment_index=parent.segment_index + 1,
        parent_segment_id=parent.id,
        visible_through_event_id=kept_through_event,
        visible_through_message_position=keep_through_position,
        created_at=now,
        updated_at=now,
    )
    session.add(segment)
    conversation.updated_at = now
    await session.flush()
    await ledger.append(
        session,
        conversation,
        segment.id,
        [
            NewEvent(
                "conversation.truncated",
                {
                    "segment_id": str(segment.id),
                    "parent_segment_id": str(parent.id),
                    "visible_through_message_position": keep_through_position,
                    "visible_through_event_id": segment.visible_through_event_id,
                    "reason": reason,
                },
            )
        ],
    )
    return segment
