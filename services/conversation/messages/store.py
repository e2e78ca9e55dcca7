"""Appending a message at its conversation's next position: the one write path of the handlers
and the run workers (which pass their fence and a write key, so a re-run stores nothing twice)."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, insert, select

from services.conversation.conversations.store import Conversation
from services.conversation.events.ledger import Ledger, NewEvent
from services.conversation.messages.models import MessageRecord, MessageRole
from services.conversation.runs.fencing import Fence, check_fence
from shared.db import PreparedRead, PreparedStatement, Transaction, execute_prepared
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
_NO_ADDS: Mapping[str, int] = {}
#: The message stored under a write key (a run's step repeated), every column.
_WRITTEN_MESSAGE = PreparedRead(
    select(*_MESSAGES.columns).where(
        _MESSAGES.c.conversation_id
        == bindparam("written_conversation_id", type_=_MESSAGES.c.conversation_id.type),
        _MESSAGES.c.write_key == bindparam("written_key", type_=_MESSAGES.c.write_key.type),
    )
)
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


@dataclass(frozen=True)
class StoredMessage:
    """A message :func:`insert_message` stored, not yet in the ledger: its row, its ledger
    event, and what it changes of its conversation's row (for the append that follows to
    write, with its cursor, in one UPDATE of the row)."""

    row: MessageRecord
    event: NewEvent
    sets: dict[str, Any]
    adds: dict[str, int]


async def insert_message(
    session: Transaction,
    conversation: Conversation,
    segment_id: uuid.UUID,
    new: NewMessage,
    *,
    in_run: bool = False,
    now: datetime | None = None,
) -> StoredMessage:
    """Store ``new`` after the conversation's last message (the caller holds the conversation
    row, its message count read), by one prepared INSERT: the row returned is not the
    session's (a new message is not changed later in its transaction). The ledger's append of
    its event, and the conversation's count and times, are the caller's (:func:`append_message`
    does both); ``in_run``: the message is a run's, and so is its event's stream; ``now``: its
    time, when the caller's write has one already."""
    assert conversation.message_count is not None, "the conversation's count was read"
    now = now or utcnow()
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
    values["extra_metadata"] = values.pop("metadata")
    row = MessageRecord(id=stored.id, **values)
    event = NewEvent(
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
        conversation_stream=not in_run,
    )
    return StoredMessage(
        row, event, {"last_message_at": now, "updated_at": now}, {"message_count": 1}
    )


async def append_message(
    session: Transaction,
    ledger: Ledger,
    conversation: Conversation,
    segment_id: uuid.UUID,
    new: NewMessage,
    *,
    fence: Fence | None = None,
    run_id: uuid.UUID | None = None,
    repeat_possible: bool = True,
    preceding: Sequence[NewEvent] = (),
    adds: Mapping[str, int] = _NO_ADDS,
) -> MessageRecord:
    """Store ``new`` after the conversation's last message (the caller holds the conversation
    row) and append its ledger event, after ``preceding`` events in the same append; with
    ``fence``, only while that lease is current. ``repeat_possible=False``: nothing of the
    write's keys can be stored yet (a run's first lease), so nothing is looked for; the unique
    (conversation, write_key) and (conversation, dedupe_key) still hold. ``adds``: other
    columns of the conversation the append raises (a model call's totals). The message's
    insert is one prepared statement, the conversation's count, times and cursor one UPDATE
    (the append's)."""
    if fence is not None:
        await check_fence(session, fence)
    if new.write_key is not None and repeat_possible:
        found = (
            await execute_prepared(
                session,
                _WRITTEN_MESSAGE,
                {"written_conversation_id": conversation.id, "written_key": new.write_key},
            )
        ).first()
        if found is not None:
            values = found._asdict()
            values["extra_metadata"] = values.pop("metadata")
            existing = MessageRecord(**values)
            if preceding or adds:
                await ledger.append(
                    session, conversation, segment_id, preceding, run_id=run_id, adds=adds
                )
            return existing
    stored = await insert_message(session, conversation, segment_id, new, in_run=run_id is not None)
    await ledger.append(
        session,
        conversation,
        segment_id,
        [*preceding, stored.event],
        run_id=run_id,
        # The message is new (its insert just passed the unique write key): so is its event;
        # the preceding ones may be stored already where the write may be a repeat.
        repeat_possible=repeat_possible and bool(preceding),
        sets=stored.sets,
        adds={**stored.adds, **adds},
    )
    return stored.row
