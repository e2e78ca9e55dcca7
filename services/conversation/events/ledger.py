"""Appending to and reading a conversation's ledger.

Each append takes the conversation's next cursor (``last_event_sequence + 1``, under the
conversation row's lock) and stores the event with it, so cursors are strictly increasing per
conversation and a reader that has seen cursor N has seen every event up to N once the
transactions committed. An append with a ``dedupe_key`` already stored returns the stored event:
a run step repeated after a crash appends nothing new.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Integer, Select, bindparam, literal, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from services.conversation.conversations.hiding import hidden_event
from services.conversation.conversations.models import ConversationRecord
from services.conversation.events.models import SCHEMA_VERSION, LedgerEventRecord
from services.conversation.events.notifier import LedgerNotifier
from services.conversation.runs.fencing import Fence, check_fence
from services.conversation.runs.wakeups import LEDGER_CHANNEL, notify, notifying
from shared.db_types import utcnow

#: What a reader of the ledger gets of each event (what :func:`event_to_proto` reads).
EVENT_COLUMNS = (
    "event_id",
    "conversation_id",
    "segment_id",
    "kind",
    "schema_version",
    "workflow_run_id",
    "response_id",
    "agent",
    "item_id",
    "output_index",
    "content_index",
    "tool_call_id",
    "payload_json",
    "server_timestamp",
)

#: The stream of events that belong to no run (messages appended by hand, archive).
CONVERSATION_STREAM = "conversation"


@dataclass
class NewEvent:
    kind: str
    payload: dict[str, Any]
    response_id: str | None = None
    agent: str | None = None
    item_id: str | None = None
    output_index: int | None = None
    content_index: int | None = None
    tool_call_id: str | None = None
    provider_sequence_number: int | None = None
    dedupe_key: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class Ledger:
    def __init__(self, notifier: LedgerNotifier, *, announce: bool = False) -> None:
        self.notifier = notifier
        #: NOTIFY other processes of each append (PostgreSQL): a worker process's followers
        #: are elsewhere. Off where followers are woken in memory, as NOTIFY serializes the
        #: commits of the transactions that send one.
        self.announce = announce

    async def append(
        self,
        session: AsyncSession,
        conversation: ConversationRecord,
        segment_id: uuid.UUID,
        events: Sequence[NewEvent],
        *,
        run_id: uuid.UUID | None = None,
        fence: Fence | None = None,
        repeat_possible: bool = True,
        announce: Sequence[tuple[str, str]] = (),
    ) -> list[LedgerEventRecord]:
        """Store ``events`` in order after the conversation's last one; with ``fence``, only
        while that lease is current. ``repeat_possible=False`` says no event of these dedupe
        keys can be stored yet (keys that name a lease writing them for the first time): the
        lookup of stored ones is skipped, and the unique (conversation, dedupe_key) still
        refuses a duplicate should the caller be wrong. ``announce``: (channel, payload) pairs
        to NOTIFY at commit (PostgreSQL), riding on the cursor's update."""
        if fence is not None:
            await check_fence(session, fence)
        # Events stored already (a run step repeated after a crash), found in one query.
        keys = (
            [new.dedupe_key for new in events if new.dedupe_key is not None]
            if repeat_possible
            else []
        )
        found: dict[str, LedgerEventRecord] = {}
        if keys:
            found = {
                row.dedupe_key: row
                for row in (
                    await session.scalars(
                        select(LedgerEventRecord).where(
                            LedgerEventRecord.conversation_id == conversation.id,
                            LedgerEventRecord.dedupe_key.in_(keys),
                        )
                    )
                ).all()
                if row.dedupe_key is not None
            }
        fresh: list[NewEvent] = []
        taken: set[str] = set(found)
        for new in events:
            if new.dedupe_key is None or new.dedupe_key not in taken:
                fresh.append(new)
                if new.dedupe_key is not None:
                    taken.add(new.dedupe_key)
        # One cursor update for the whole batch: the cursors last-n+1 .. last are theirs.
        cursors: dict[int, int] = {}
        if fresh:
            # On PostgreSQL the NOTIFY of the append rides on this statement (one round trip,
            # not two, per transaction): a subquery worth 0 that sends it.
            announcing = [
                *([(LEDGER_CHANNEL, str(conversation.id))] if self.announce else []),
                *announce,
            ]
            advance = _ADVANCE
            if announcing:
                advance = _ADVANCE.values(
                    last_event_sequence=_ADVANCED
                    + sum(
                        (notifying(session, channel, payload) for channel, payload in announcing),
                        literal(0),
                    )
                )
            last = await session.scalar(
                advance, {"advance_conversation_id": conversation.id, "advance_count": len(fresh)}
            )
            assert last is not None  # the caller holds the conversation row
            # Stored already by the statement: kept as committed so the flush does not write
            # it a second time.
            set_committed_value(conversation, "last_event_sequence", last)
            cursors = {id(new): last - len(fresh) + 1 + i for i, new in enumerate(fresh)}
        stored: list[LedgerEventRecord] = []
        now = utcnow()
        for new in events:
            sequence = cursors.pop(id(new), None)
            if sequence is None:
                # A repeat of an event stored before, or of one earlier in this batch.
                key = new.dedupe_key
                assert key is not None
                stored.append(
                    found[key]
                    if key in found
                    else next(row for row in stored if row.dedupe_key == key)
                )
                continue
            row = LedgerEventRecord(
                tenant_id=conversation.tenant_id,
                conversation_id=conversation.id,
                segment_id=segment_id,
                schema_version=SCHEMA_VERSION,
                kind=new.kind,
                stream_id=str(run_id) if run_id else CONVERSATION_STREAM,
                event_id=sequence,
                server_timestamp=now,
                response_id=new.response_id,
                agent=new.agent,
                workflow_run_id=str(run_id) if run_id else None,
                provider_sequence_number=new.provider_sequence_number,
                output_index=new.output_index,
                item_id=new.item_id,
                content_index=new.content_index,
                tool_call_id=new.tool_call_id,
                dedupe_key=new.dedupe_key,
                payload_json=new.payload,
                payload_size_bytes=len(json.dumps(new.payload, separators=(",", ":"))),
            )
            session.add(row)
            stored.append(row)
        if fresh:
            await session.flush()
            self.notifier.notify_after_commit(session, conversation.id)
        else:  # no cursor update to ride on
            for channel, payload in announce:
                await notify(session, channel, payload)
        return stored

    @staticmethod
    def after(
        conversation_id: uuid.UUID, after: int, limit: int, *, include_hidden: bool = False
    ) -> tuple[Select[Any], dict[str, Any]]:
        """The conversation's events after cursor ``after``, in cursor order, as plain rows (the
        columns a reader sends, named as the record's attributes): no ORM objects to build.
        Unless ``include_hidden``, what a truncation or an edit hid (a hidden message's text,
        the answers to it) is left out, so a page holds ``limit`` visible events when there
        are as many (a reader paging until an empty page misses none). The statement and its
        parameters."""
        return (
            _EVERY_EVENT_AFTER if include_hidden else _VISIBLE_EVENTS_AFTER,
            {"conversation_id": conversation_id, "after": after, "limit": limit},
        )

    @staticmethod
    def followed(
        conversation_id: uuid.UUID, after: int, limit: int
    ) -> tuple[Select[Any], dict[str, Any]]:
        """Every event after cursor ``after`` (as :meth:`after`'s rows) with a ``hidden``
        column, by the same rule as :meth:`after`: a follower sends the visible ones and moves
        its cursor past all of them, so it never waits behind hidden events (a ledger ending
        in some would wake it at every poll) nor reads them again. The statement and its
        parameters, for :meth:`Database.fetch`."""
        return _FOLLOWED, {"conversation_id": conversation_id, "after": after, "limit": limit}


_ADVANCED = ConversationRecord.last_event_sequence + bindparam(
    "advance_count", type_=ConversationRecord.last_event_sequence.type
)
#: An append's cursor update, built once with parameters (a NOTIFY riding on it is added to
#: the value per call).
_ADVANCE = (
    update(ConversationRecord)
    .where(
        ConversationRecord.id
        == bindparam("advance_conversation_id", type_=ConversationRecord.id.type)
    )
    .values(last_event_sequence=_ADVANCED)
    .returning(ConversationRecord.last_event_sequence)
    .execution_options(synchronize_session=False)
)


def _events_after(conversation_id: Any, after: Any, limit: Any) -> Select[Any]:
    return (
        select(*(LedgerEventRecord.__table__.c[name] for name in EVENT_COLUMNS))
        .where(
            LedgerEventRecord.conversation_id == conversation_id,
            LedgerEventRecord.event_id > after,
        )
        .order_by(LedgerEventRecord.event_id)
        .limit(limit)
    )


#: Built once, with parameters: a hiding condition costs 1.5 ms of CPU to build at each read
#: (a follower's every wake-up), 25x what finding its statement compiled does.
_EVERY_EVENT_AFTER = _events_after(
    bindparam("conversation_id", type_=LedgerEventRecord.conversation_id.type),
    bindparam("after", type_=LedgerEventRecord.event_id.type),
    bindparam("limit", type_=Integer()),
)
_VISIBLE_EVENTS_AFTER = _EVERY_EVENT_AFTER.where(~hidden_event())
_FOLLOWED = _EVERY_EVENT_AFTER.add_columns(hidden_event().label("hidden"))
