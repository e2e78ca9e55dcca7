"""The one rule of what a truncation or an edit hid (see :mod:`segments`): a row of a segment
is hidden exactly when a later segment of its conversation is visible through a bound below it
(``visible_through_message_position`` for messages, ``visible_through_event_id`` for ledger
events). Segments form one chain, so this is one NOT EXISTS, usable across conversations (a
tenant-wide search) and per row (a follower told which events to skip).

Every reader that leaves hidden history out (ListMessages, search, ListEvents, FollowEvents)
asks these conditions; none keeps a copy of the rule. They depend on the models only, so the
ledger can use them without importing the segments' writers.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.orm import aliased

from services.conversation.events.models import LedgerEventRecord, LedgerSegmentRecord
from services.conversation.messages.models import MessageRecord


def _hidden_by_a_later_segment(segment_id: Any, conversation_id: Any, hides: Any) -> Any:
    """A condition: a segment opened after ``segment_id`` (same conversation) whose bound
    ``hides`` the row."""
    own = aliased(LedgerSegmentRecord)
    later = aliased(LedgerSegmentRecord)
    return exists(
        select(later.id)
        .select_from(later)
        .join(own, own.id == segment_id)
        .where(
            later.conversation_id == conversation_id,
            later.segment_index > own.segment_index,
            hides(later),
        )
    )


def hidden_message() -> Any:
    """A condition on MessageRecord: a truncation or an edit hid it (in any conversation)."""
    return _hidden_by_a_later_segment(
        MessageRecord.segment_id,
        MessageRecord.conversation_id,
        lambda later: later.visible_through_message_position < MessageRecord.position,
    )


def hidden_event() -> Any:
    """A condition on LedgerEventRecord: a truncation or an edit hid it."""
    return _hidden_by_a_later_segment(
        LedgerEventRecord.segment_id,
        LedgerEventRecord.conversation_id,
        lambda later: later.visible_through_event_id < LedgerEventRecord.event_id,
    )
