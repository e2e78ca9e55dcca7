"""Appending a message at its conversation's next position: the one write path of the handlers
and the run workers (which pass their fence and a write key, so a re-run stores nothing twice)."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import Table, bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.conversation.conversations.models import ConversationRecord
from services.conversation.conversations.store import Conversation, note_stored
from services.conversation.events.ledger import Ledger, NewEvent
from services.conversation.messages.models import MessageRecord, MessageRole
from services.conversation.runs.fencing import Fence, check_fence
from shared.db import PreparedStatement, execute_prepared
from shared.db_types import utcnow


@dataclass
class NewMessage:
    role: MessageRole
    content: Any
    text: str
    attachments: list[Any] = field(default_factory=list)
    agent_type: str | None = None
    tool_name: str | None = None
    tool_call_id: str | None = None
    token_count_prompt: int | None = None
    token_count_completion: int | None = None
    reasoning_tokens: int | None = None
    cost_picos: int = 0
    latency_ms: int | None = None
    metadata: dict[str, Any] | None = None
    run_id: str | None = None
    #: Names the write (a run's step): stored once per conversation.
    write_key: str | None = None


def content_checksum(content: Any) -> str:
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.md5(canonical.encode(), usedforsecurity=False).hexdigest()


_MESSAGES = cast(Table, MessageRecord.__table__)
_CONVERSATION_TABLE = cast(Table, ConversationRecord.__table__)
_CONVERSATIONS = _CONVERSATION_TABLE.c
#: A message stored (every column but the id, which it returns).
_INSERT_MESSAGE = PreparedStatement(
    insert(_MESSAGES)
    .values(
        {
            column.name: bindparam(column.name, type_=column.type)
            for column in _MESSAGES.columns
            if column.name != "id"
        }
    )
    .returning(_MESSAGES.c.id)
)
#: The conversation's message count and times moved on by one message.
_COUNT_MESSAGE = PreparedStatement(
    update(_CONVERSATION_TABLE)
    .where(_CONVERSATIONS.id == bindparam("counted_id", type_=_CONVERSATIONS.id.type))
    .values(
        message_count=_CONVERSATIONS.message_count + 1,
        last_message_at=bindparam("counted_at", type_=_CONVERSATIONS.last_message_at.type),
        updated_at=bindparam("counted_at", type_=_CONVERSATIONS.updated_at.type),
    )
)


async def append_message(
    session: AsyncSession,
    ledger: Ledger,
    conversation: Conversation,
    segment_id: uuid.UUID,
    new: NewMessage,
    *,
    fence: Fence | None = None,
    run_id: uuid.UUID | None = None,
    repeat_possible: bool = True,
    preceding: Sequence[NewEvent] = (),
) -> MessageRecord:
    """Store ``new`` after the conversation's last message (the caller holds the conversation
    row) and append its ledger event, after ``preceding`` events in the same append; with
    ``fence``, only while that lease is current. ``repeat_possible=False``: nothing of the
    write's keys can be stored yet (a run's first lease), so nothing is looked for; the unique
    (conversation, write_key) and (conversation, dedupe_key) still hold. The message's insert
    and the conversation's count are prepared statements; the row returned is not the
    session's (a new message is not changed later in its transaction)."""
    if fence is not None:
        await check_fence(session, fence)
    if new.write_key is not None and repeat_possible:
        existing = await session.scalar(
            select(MessageRecord).where(
                MessageRecord.conversation_id == conversation.id,
                MessageRecord.write_key == new.write_key,
            )
        )
        if existing is not None:
            if preceding:
                await ledger.append(session, conversation, segment_id, preceding, run_id=run_id)
            return existing
    assert conversation.message_count is not None, "the conversation's count was read"
    now = utcnow()
    values: dict[str, Any] = {
        "tenant_id": conversation.tenant_id,
        "conversation_id": conversation.id,
        "segment_id": segment_id,
        "position": conversation.message_count,
        "role": new.role,
        "agent_type": new.agent_type,
        "content": new.content,
        "content_text": new.text,
        "attachments": new.attachments,
        "tool_name": new.tool_name,
        "tool_call_id": new.tool_call_id,
        "token_count_prompt": new.token_count_prompt,
        "token_count_completion": new.token_count_completion,
        "reasoning_tokens": new.reasoning_tokens,
        "cost_picos": new.cost_picos,
        "latency_ms": new.latency_ms,
        "content_checksum": content_checksum(new.content),
        "run_id": new.run_id,
        "write_key": new.write_key,
        "metadata": new.metadata,
        "created_at": now,
    }
    stored = (await execute_prepared(session, _INSERT_MESSAGE, values)).first()
    await execute_prepared(
        session, _COUNT_MESSAGE, {"counted_id": conversation.id, "counted_at": now}
    )
    note_stored(
        conversation,
        message_count=conversation.message_count + 1,
        last_message_at=now,
        updated_at=now,
    )
    values["extra_metadata"] = values.pop("metadata")
    row = MessageRecord(id=stored.id, **values)
    await ledger.append(
        session,
        conversation,
        segment_id,
        [
            *preceding,
            NewEvent(
                "conversation.message.created",
                {
                    "message_id": str(row.id),
                    "position": row.position,
                    "role": row.role.value,
                    "text": row.content_text,
                },
                item_id=f"msg_{row.id}",
                tool_call_id=row.tool_call_id,
                dedupe_key=f"message:{new.write_key}" if new.write_key else None,
            ),
        ],
        run_id=run_id,
        # The message is new (its insert just passed the unique write key): so is its event;
        # the preceding ones may be stored already where the write may be a repeat.
        repeat_possible=repeat_possible and bool(preceding),
    )
    return row
