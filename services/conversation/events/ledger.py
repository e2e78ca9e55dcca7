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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import (
    Integer,
    Select,
    String,
    Table,
    bindparam,
    func,
    insert,
    literal,
    select,
    update,
)

from services.conversation.conversations.hiding import hidden_event
from services.conversation.conversations.models import ConversationRecord
from services.conversation.conversations.store import Conversation, note_stored
from services.conversation.events.models import SCHEMA_VERSION, LedgerEventRecord
from services.conversation.events.notifier import LedgerNotifier
from services.conversation.runs.fencing import Fence, check_fence
from services.conversation.runs.wakeups import LEDGER_CHANNEL, PROCESS, notify
from shared.db import (
    PreparedRead,
    PreparedStatement,
    Transaction,
    column_param,
    dialect_name,
    execute_prepared,
    execute_prepared_many,
)
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
#: No other column of the conversation's row written with an append's cursor.
_NONE: Mapping[str, Any] = {}


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
    #: Stored on the conversation's own stream even in an append for a run (the user message
    #: that starts the run, appended with it).
    conversation_stream: bool = False


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """An event an append stored (or found stored before, for a repeated dedupe key)."""

    event_id: int
    dedupe_key: str | None


class Ledger:
    def __init__(self, notifier: LedgerNotifier, *, announce: bool = False) -> None:
        self.notifier = notifier
        #: NOTIFY other processes of each append (PostgreSQL): a worker process's followers
        #: are elsewhere. Off where followers are woken in memory, as NOTIFY serializes the
        #: commits of the transactions that send one.
        self.announce = announce

    async def append(
        self,
        session: Transaction,
        conversation: Conversation,
        segment_id: uuid.UUID,
        events: Sequence[NewEvent],
        *,
        run_id: uuid.UUID | None = None,
        fence: Fence | None = None,
        repeat_possible: bool = True,
        announce: Sequence[tuple[str, str]] = (),
        sets: Mapping[str, Any] = _NONE,
        adds: Mapping[str, int] = _NONE,
    ) -> list[StoredEvent]:
        """Store ``events`` in order after the conversation's last one (the caller holds the
        conversation's row); with ``fence``, only while that lease is current.
        ``repeat_possible=False`` says no event of these dedupe keys can be stored yet (keys
        that name a lease writing them for the first time): the lookup of stored ones is
        skipped, and the unique (conversation, dedupe_key) still refuses a duplicate should
        the caller be wrong. ``announce``: (channel, payload) pairs to NOTIFY at commit
        (PostgreSQL), riding on the cursor's update. ``sets`` and ``adds``: other columns of
        the conversation's row the same UPDATE sets to a value or raises by one (a message's
        count, a run's totals), so a write updates the row once. The cursor's update and the
        events' insert are prepared statements (compiled once, no ORM objects to flush)."""
        if fence is not None:
            await check_fence(session, fence)
        # Events stored already (a run step repeated after a crash), found in one query.
        keys = (
            [new.dedupe_key for new in events if new.dedupe_key is not None]
            if repeat_possible
            else []
        )
        found: dict[str, StoredEvent] = {}
        if keys:
            found = {
                row.dedupe_key: StoredEvent(row.event_id, row.dedupe_key)
                for row in (
                    await execute_prepared(
                        session,
                        _stored_keys(len(keys)),
                        {
                            "stored_conversation_id": conversation.id,
                            **{f"key_{n}": key for n, key in enumerate(keys)},
                        },
                    )
                ).rows
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
        if fresh or sets or adds:
            last = await self.advance(
                session, conversation, len(fresh), announce=announce, sets=sets, adds=adds
            )
            cursors = {id(new): last - len(fresh) + 1 + i for i, new in enumerate(fresh)}
        stored: list[StoredEvent] = []
        for new in events:
            sequence = cursors.get(id(new))
            if sequence is None:
                # A repeat of an event stored before, or of one earlier in this batch.
                key = new.dedupe_key
                assert key is not None
                stored.append(
                    found[key]
                    if key in found
                    else next(row for row in stored if row.dedupe_key == key)
                )
            else:
                stored.append(StoredEvent(sequence, new.dedupe_key))
        if fresh:
            await self.store(session, conversation, segment_id, fresh, last, run_id=run_id)
        elif not (sets or adds):  # no update of the row to ride on
            for channel, payload in announce:
                await notify(session, channel, payload)
        return stored

    async def advance(
        self,
        session: Transaction,
        conversation: Conversation | uuid.UUID,
        count: int,
        *,
        announce: Sequence[tuple[str, str]] = (),
        sets: Mapping[str, Any] = _NONE,
        adds: Mapping[str, int] = _NONE,
    ) -> int:
        """Take the conversation's next ``count`` cursors (its row's lock with them, held until
        the transaction ends): the last one, for :meth:`store`; a conversation given as a row
        or view is told its new cursor. ``announce``: (channel, payload) pairs to NOTIFY at
        commit (PostgreSQL), riding on the update, with this process's announcement of the
        append when the ledger makes one (``count`` above 0). ``sets`` and ``adds`` as for
        :meth:`append` (the conversation given as a row or view is told their new values)."""
        conversation_id = conversation if isinstance(conversation, uuid.UUID) else conversation.id
        parameters: dict[str, Any] = {
            "advance_conversation_id": conversation_id,
            "advance_count": count,
        }
        # On PostgreSQL the NOTIFY of the append rides on this statement (one round trip,
        # not two, per transaction): a subquery worth 0 that sends it.
        announcing: list[tuple[str, str]] = []
        if dialect_name(session) == "postgresql":
            announcing = [
                *([(LEDGER_CHANNEL, str(conversation_id))] if self.announce and count else []),
                *announce,
            ]
            for n, (channel, payload) in enumerate(announcing):
                parameters[f"channel_{n}"] = channel
                parameters[f"payload_{n}"] = f"{PROCESS}:{payload}"
        for name, value in sets.items():
            parameters[f"set_{name}"] = value
        for name, value in adds.items():
            parameters[f"add_{name}"] = value
        statement = _advance(len(announcing), tuple(sorted(sets)), tuple(sorted(adds)))
        advanced = (await execute_prepared(session, statement, parameters)).first()
        assert advanced is not None  # a conversation is never deleted under its writers
        last: int = advanced.last_event_sequence
        if not isinstance(conversation, uuid.UUID):
            note_stored(
                conversation,
                **sets,
                **{name: getattr(advanced, name) for name in adds},
                last_event_sequence=last,
            )
        return last

    async def store(
        self,
        session: Transaction,
        conversation: Conversation,
        segment_id: uuid.UUID,
        events: Sequence[NewEvent],
        last: int,
        *,
        run_id: uuid.UUID | None = None,
    ) -> list[StoredEvent]:
        """Store ``events`` at the cursors :meth:`advance` took (``last`` the last of them), in
        one statement, and wake this process's followers once the transaction commits."""
        now = utcnow()
        run_stream = str(run_id) if run_id else None
        first = last - len(events) + 1
        await execute_prepared_many(
            session,
            _INSERT_EVENT,
            [
                {
                    "tenant_id": conversation.tenant_id,
                    "conversation_id": conversation.id,
                    "segment_id": segment_id,
                    "schema_version": SCHEMA_VERSION,
                    "kind": new.kind,
                    "stream_id": (
                        CONVERSATION_STREAM
                        if new.conversation_stream or run_stream is None
                        else run_stream
                    ),
                    "event_id": first + i,
                    "server_timestamp": now,
                    "response_id": new.response_id,
                    "agent": new.agent,
                    "workflow_run_id": None if new.conversation_stream else run_stream,
                    "provider_sequence_number": new.provider_sequence_number,
                    "output_index": new.output_index,
                    "item_id": new.item_id,
                    "content_index": new.content_index,
                    "tool_call_id": new.tool_call_id,
                    "dedupe_key": new.dedupe_key,
                    "payload_json": new.payload,
                    "payload_size_bytes": len(json.dumps(new.payload, separators=(",", ":"))),
                    "ingested_at": now,
                }
                for i, new in enumerate(events)
            ],
        )
        self.notifier.notify_after_commit(session, conversation.id)
        return [StoredEvent(first + i, new.dedupe_key) for i, new in enumerate(events)]

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
    ) -> tuple[PreparedRead, dict[str, Any]]:
        """Every event after cursor ``after`` (as :meth:`after`'s rows) with a ``hidden``
        column, by the same rule as :meth:`after`: a follower sends the visible ones and moves
        its cursor past all of them, so it never waits behind hidden events (a ledger ending
        in some would wake it at every poll) nor reads them again. The prepared statement and
        its parameters, for :meth:`Database.fetch_prepared`."""
        return _FOLLOWED, {"conversation_id": conversation_id, "after": after, "limit": limit}


_CONVERSATION_TABLE = cast(Table, ConversationRecord.__table__)
_CONVERSATIONS = _CONVERSATION_TABLE.c
_EVENTS = cast(Table, LedgerEventRecord.__table__)
#: An append's cursor update: the conversation's last cursor raised by the batch's size.
_ADVANCED = _CONVERSATIONS.last_event_sequence + bindparam(
    "advance_count", type_=_CONVERSATIONS.last_event_sequence.type
)
_ADVANCING = update(_CONVERSATION_TABLE).where(
    _CONVERSATIONS.id == bindparam("advance_conversation_id", type_=_CONVERSATIONS.id.type)
)
#: Prepared once per number of NOTIFYs riding on it (none, or up to one per channel) and per
#: set of other columns written with the cursor.
_ADVANCE: dict[tuple[int, tuple[str, ...], tuple[str, ...]], PreparedStatement] = {}


def _advance(notifies: int, sets: tuple[str, ...], adds: tuple[str, ...]) -> PreparedStatement:
    """The cursor update, with ``notifies`` NOTIFYs (PostgreSQL) riding on it: each a scalar
    subquery worth 0 that sends ``payload_<n>`` on ``channel_<n>`` at commit; the columns
    ``sets`` set to ``set_<name>``, and ``adds`` raised by ``add_<name>`` (returned)."""
    key = (notifies, sets, adds)
    prepared = _ADVANCE.get(key)
    if prepared is None:
        value = _ADVANCED
        for n in range(notifies):
            value = value + (
                select(literal(0))
                .select_from(
                    select(
                        func.pg_notify(
                            bindparam(f"channel_{n}", type_=String()),
                            bindparam(f"payload_{n}", type_=String()),
                        )
                    ).subquery()
                )
                .scalar_subquery()
            )
        values: dict[str, Any] = {"last_event_sequence": value}
        for name in sets:
            values[name] = column_param(f"set_{name}", _CONVERSATIONS[name])
        for name in adds:
            values[name] = _CONVERSATIONS[name] + column_param(f"add_{name}", _CONVERSATIONS[name])
        prepared = _ADVANCE[key] = PreparedStatement(
            _ADVANCING.values(values).returning(
                _CONVERSATIONS.last_event_sequence, *(_CONVERSATIONS[name] for name in adds)
            )
        )
    return prepared


#: Prepared once per number of keys looked up (a batch's: at most the stream's batch size).
_STORED_KEYS: dict[int, PreparedRead] = {}


def _stored_keys(count: int) -> PreparedRead:
    """The conversation's events stored under ``count`` dedupe keys (``key_<n>``): one
    parameter per key, as a prepared statement takes no IN list."""
    prepared = _STORED_KEYS.get(count)
    if prepared is None:
        prepared = _STORED_KEYS[count] = PreparedRead(
            select(_EVENTS.c.dedupe_key, _EVENTS.c.event_id).where(
                _EVENTS.c.conversation_id
                == column_param("stored_conversation_id", _EVENTS.c.conversation_id),
                _EVENTS.c.dedupe_key.in_(
                    [column_param(f"key_{n}", _EVENTS.c.dedupe_key) for n in range(count)]
                ),
            )
        )
    return prepared


#: An event stored (every column but the id and an object reference, which none has yet).
_INSERT_EVENT = PreparedStatement(
    insert(_EVENTS).values(
        {
            column.name: bindparam(column.name, type_=column.type)
            for column in _EVENTS.columns
            if column.name not in ("id", "payload_object_id")
        }
    )
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
_FOLLOWED = PreparedRead(_EVERY_EVENT_AFTER.add_columns(hidden_event().label("hidden")))
