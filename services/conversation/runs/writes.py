"""The writes a run makes, each in its own transaction under the run's fence: ledger events and
messages. Each carries a key naming the run's step, so a re-run after a crash repeats none; on
a run's first lease nothing of those keys can be stored yet, so none is looked up."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, cast

from sqlalchemy import Table, bindparam, func, insert, select

from services.conversation.conversations.models import (
    ConversationSummaryRecord,
)
from services.conversation.conversations.store import LockedConversation, current_segment_id
from services.conversation.events.ledger import Ledger, NewEvent, StoredEvent
from services.conversation.events.models import RunEventRecord
from services.conversation.messages.models import MessageRecord, MessageRole
from services.conversation.messages.store import NewMessage, append_message, insert_message
from services.conversation.runs.fencing import check_fence, fence_holds
from services.conversation.runs.models import RunUsageRecord, TaskStatus
from services.conversation.runs.queue import ClaimedRun
from services.conversation.runs.tasks import Subtask, end_subtask, start_subtask
from shared.db import (
    Database,
    PreparedStatement,
    Transaction,
    execute_prepared,
    execute_prepared_many,
)
from shared.db_types import utcnow
from shared.inserts import insert_ignoring_duplicates
from shared.tracing import current_trace_ids


def _items_of(row: MessageRecord) -> list[dict[str, Any]]:
    if row.role == MessageRole.TOOL:
        return [
            {
                "run_item_type": "tool_call_output_item",
                "run_item_name": row.tool_name,
                "tool_call_id": row.tool_call_id,
                "tool_name": row.tool_name,
                "call_output": row.content_text,
                "call_arguments": None,
                "attachments": [],
            }
        ]
    calls = row.content.get("tool_calls") if isinstance(row.content, dict) else None
    if calls:
        return [
            {
                "run_item_type": "tool_call_item",
                "run_item_name": call.get("function", {}).get("name"),
                "tool_call_id": str(call.get("id", ""))[:128],
                "tool_name": str(call.get("function", {}).get("name", ""))[:128],
                "call_arguments": call.get("function", {}).get("arguments"),
                "call_output": None,
                "attachments": [],
            }
            for call in calls
            if isinstance(call, dict)
        ]
    return [
        {
            "run_item_type": "message_output_item",
            "content_text": row.content_text,
            "call_arguments": None,
            "call_output": None,
            "attachments": row.attachments or [],
        }
    ]


_RUN_ITEMS = cast(Table, RunEventRecord.__table__)
_USAGE = cast(Table, RunUsageRecord.__table__)
_NO_ADDS: Mapping[str, int] = {}
_ITEM_CONVERSATION = bindparam("conversation_id", type_=_RUN_ITEMS.c.conversation_id.type)
#: A run item stored (every column but the id), numbered after the conversation's last one
#: (its row is locked by the fence check) in the same statement, with no read first.
_INSERT_RUN_ITEM = PreparedStatement(
    insert(_RUN_ITEMS).values(
        {
            **{
                column.name: bindparam(column.name, type_=column.type)
                for column in _RUN_ITEMS.columns
                if column.name not in ("id", "sequence_no")
            },
            "sequence_no": select(func.coalesce(func.max(_RUN_ITEMS.c.sequence_no), 0) + 1)
            .where(_RUN_ITEMS.c.conversation_id == _ITEM_CONVERSATION)
            .scalar_subquery(),
        }
    )
)
#: What an item says of the columns the kind of item it is leaves out.
_NO_ITEM: dict[str, Any] = {
    name: None
    for name in (
        "run_item_name",
        "tool_call_id",
        "tool_name",
        "model",
        "content_text",
        "reasoning_text",
        "call_arguments",
        "call_output",
        "attachments",
    )
}
#: A model call's usage stored once (its response id unique), its id returned when stored now.
_INSERT_USAGE: dict[str, PreparedStatement] = {}


def _insert_usage(dialect: str) -> PreparedStatement:
    prepared = _INSERT_USAGE.get(dialect)
    if prepared is None:
        columns = [column for column in _USAGE.columns if column.name != "id"]
        prepared = _INSERT_USAGE[dialect] = PreparedStatement(
            insert_ignoring_duplicates(dialect, _USAGE, ["response_id"])
            .values({c.name: bindparam(c.name, type_=c.type) for c in columns})
            .returning(_USAGE.c.id)
        )
    return prepared


def _totals(row: RunUsageRecord) -> dict[str, int]:
    """What a model call's usage adds to its conversation's totals (by column)."""
    return {
        "total_tokens_prompt": row.input_tokens or 0,
        "total_tokens_completion": row.output_tokens or 0,
        "total_cached_input_tokens": row.cached_input_tokens or 0,
        "reasoning_tokens": row.reasoning_output_tokens or 0,
        "total_tokens": row.total_tokens or 0,
        "total_requests": row.requests or 0,
        "cost_picos": row.cost_picos or 0,
    }


def _distinct_keys(events: Sequence[NewEvent]) -> bool:
    """Whether no dedupe key comes twice among ``events`` (and there are some): each is then
    stored at a cursor of its own."""
    keys = [new.dedupe_key for new in events if new.dedupe_key is not None]
    return bool(events) and len(set(keys)) == len(keys)


async def _fenced(session: Transaction, run: ClaimedRun) -> LockedConversation:
    """The first statements of each write: the fence (see :func:`check_fence`), which also
    stamps a run's first lease with the trace it runs under; the conversation, locked."""
    trace_id = None if run.trace_id else current_trace_ids()[0]
    return await check_fence(session, run.fence, trace_id=trace_id)


class RunWrites:
    def __init__(self, database: Database, ledger: Ledger) -> None:
        self._database = database
        self._ledger = ledger

    async def events(self, run: ClaimedRun, events: Sequence[NewEvent]) -> list[StoredEvent]:
        async with self._database.driver_transaction() as session:
            if run.first_lease and run.segment_id is not None and _distinct_keys(events):
                return await self._first_lease_events(session, run, events)
            return await self._append(session, run, await _fenced(session, run), events)

    async def _first_lease_events(
        self, session: Transaction, run: ClaimedRun, events: Sequence[NewEvent]
    ) -> list[StoredEvent]:
        """A first lease's events (the stream's batches): none of their keys can be stored
        yet, so none is looked up, and the transaction's first statement is the cursor's
        update, which locks the conversation (no SELECT ... FOR UPDATE of it first: the
        events need only the run's tenant and segment); the fence is checked right after it,
        before anything is stored, so a lost lease rolls the update back and writes nothing."""
        assert run.segment_id is not None  # queued under its segment
        last = await self._ledger.advance(session, run.conversation_id, len(events))
        trace_id = None if run.trace_id else current_trace_ids()[0]
        await fence_holds(session, run.fence, trace_id=trace_id)
        return await self._ledger.store(
            session,
            LockedConversation(run.conversation_id, run.tenant_id, None, last),
            run.segment_id,
            events,
            last,
            run_id=run.run_id,
        )

    async def _append(
        self,
        session: Transaction,
        run: ClaimedRun,
        conversation: LockedConversation,
        events: Sequence[NewEvent],
        adds: Mapping[str, int] = _NO_ADDS,
    ) -> list[StoredEvent]:
        segment_id = run.segment_id or await current_segment_id(session, conversation.id)
        return await self._ledger.append(
            session,
            conversation,
            segment_id,
            events,
            run_id=run.run_id,
            repeat_possible=not run.first_lease,
            adds=adds,
        )

    async def message(self, run: ClaimedRun, new: NewMessage) -> MessageRecord:
        async with self._database.driver_transaction() as session:
            return await self._message(session, run, await _fenced(session, run), new)

    async def _message(
        self,
        session: Transaction,
        run: ClaimedRun,
        conversation: LockedConversation,
        new: NewMessage,
        preceding: Sequence[NewEvent] = (),
        adds: Mapping[str, int] = _NO_ADDS,
    ) -> MessageRecord:
        segment_id = run.segment_id or await current_segment_id(session, conversation.id)
        new.run_id = str(run.run_id)
        before = conversation.message_count
        assert before is not None  # read by the fence's lock
        row = await append_message(
            session,
            self._ledger,
            conversation,
            segment_id,
            new,
            run_id=run.run_id,
            repeat_possible=not run.first_lease,
            preceding=preceding,
            adds=adds,
        )
        if (conversation.message_count or 0) > before:  # stored now, not by an earlier attempt
            await self._run_items(session, run, row)
        return row

    async def _run_items(self, session: Transaction, run: ClaimedRun, row: MessageRecord) -> None:
        """The message's run items (seed 001 agent_run_events), in the same transaction: a
        tool call item per call the assistant asked for, a tool output, or a message output;
        numbered after the conversation's last (its row is locked by the fence check)."""
        items = _items_of(row)
        now = utcnow()
        await execute_prepared_many(
            session,
            _INSERT_RUN_ITEM,
            [
                {
                    **_NO_ITEM,
                    "conversation_id": run.conversation_id,
                    "workflow_run_id": str(run.run_id),
                    "response_id": row.write_key,
                    "role": row.role.value,
                    "agent": row.agent_type,
                    "created_at": now,
                    "ingested_at": now,
                    **item,
                }
                for item in items
            ],
        )

    async def subtask(self, run: ClaimedRun, subtask: Subtask) -> None:
        """Record that the run starts ``subtask``, once whatever its leases (see
        :func:`start_subtask`)."""
        async with self._database.transaction() as session:
            await _fenced(session, run)
            await start_subtask(session, run.run_id, run.attempt, subtask)

    async def subtask_failed(self, run: ClaimedRun, key: str, error: str) -> None:
        async with self._database.transaction() as session:
            await _fenced(session, run)
            await end_subtask(session, key, TaskStatus.FAILED, error=error)

    async def summary(
        self,
        run: ClaimedRun,
        row: ConversationSummaryRecord,
        *,
        subtask_key: str,
    ) -> None:
        """Store a compaction's summary, unless the stretch it covers has one already, and end
        the compaction's subtask (``subtask_key``, its model call's usage stored under that
        key), at once."""
        async with self._database.transaction() as session:
            await _fenced(session, run)
            stored = await session.scalar(
                select(ConversationSummaryRecord.id).where(
                    ConversationSummaryRecord.conversation_id == row.conversation_id,
                    ConversationSummaryRecord.version == row.version,
                )
            )
            if stored is None:
                row.created_at = utcnow()
                session.add(row)
            await end_subtask(
                session,
                subtask_key,
                TaskStatus.COMPLETED,
                output={
                    "summary_version": row.version,
                    "summary_length_tokens": row.summary_length_tokens,
                },
            )

    async def usage(
        self,
        run: ClaimedRun,
        row: RunUsageRecord,
        events: Sequence[NewEvent] = (),
        message: NewMessage | None = None,
    ) -> bool:
        """Store what one model call of the run used, and add it to the conversation's totals,
        then append ``events`` (the call's last pieces and end) and ``message`` (the
        assistant's), all in one transaction; False (and nothing added to the totals) when the
        call's usage is stored already. The conversation's row is updated once: its totals,
        message count and cursor by the append's UPDATE."""
        async with self._database.driver_transaction() as session:
            if (
                message is not None
                and run.first_lease
                and run.segment_id is not None
                and (not events or _distinct_keys(events))
            ):
                await self._first_lease_usage(session, run, row, events, message)
                return True
            conversation = await _fenced(session, run)
            inserted = await self._insert_usage(session, row)
            adds = _totals(row) if inserted else _NO_ADDS
            if message is not None:  # its event after ``events``, in one append
                await self._message(session, run, conversation, message, events, adds)
            elif events:
                await self._append(session, run, conversation, events, adds)
            elif adds:  # nothing to append: the totals alone
                await self._ledger.advance(session, conversation, 0, adds=adds)
            return inserted

    async def _first_lease_usage(
        self,
        session: Transaction,
        run: ClaimedRun,
        row: RunUsageRecord,
        events: Sequence[NewEvent],
        message: NewMessage,
    ) -> None:
        """A first lease's model call (:meth:`usage`): none of its keys can be stored yet, so
        the transaction's first statement is the conversation's one UPDATE (its cursor,
        message count, times and totals), which locks it (no SELECT ... FOR UPDATE of it
        first: its count comes back from the UPDATE); the fence is checked right after it,
        before anything is stored, so a lost lease rolls the update back and writes nothing.
        A usage row stored already under the call's key (which no first lease can meet)
        refuses the write, as the unique keys of its message and events would."""
        assert run.segment_id is not None  # queued under its segment
        now = utcnow()
        conversation = LockedConversation(run.conversation_id, run.tenant_id, None, 0)
        last = await self._ledger.advance(
            session,
            conversation,
            len(events) + 1,
            sets={"last_message_at": now, "updated_at": now},
            adds={"message_count": 1, **_totals(row)},
        )
        trace_id = None if run.trace_id else current_trace_ids()[0]
        await fence_holds(session, run.fence, trace_id=trace_id)
        if not await self._insert_usage(session, row):
            raise RuntimeError(f"model call {row.response_id} is stored already on a first lease")
        assert conversation.message_count is not None  # returned by the UPDATE
        conversation.message_count -= 1  # the message's position: the count before it
        message.run_id = str(run.run_id)
        stored = await insert_message(
            session, conversation, run.segment_id, message, in_run=True, now=now
        )
        await self._ledger.store(
            session, conversation, run.segment_id, [*events, stored.event], last, run_id=run.run_id
        )
        await self._run_items(session, run, stored.row)

    async def _insert_usage(self, session: Transaction, row: RunUsageRecord) -> bool:
        """Store a model call's usage, once (its response id unique): whether it was stored
        now."""
        inserted = await execute_prepared(
            session,
            _insert_usage(self._database.dialect),
            {
                "tenant_id": row.tenant_id,
                "conversation_id": row.conversation_id,
                "response_id": row.response_id,
                "run_id": row.run_id,
                "agent_key": row.agent_key,
                "provider": row.provider,
                "requests": row.requests,
                "input_tokens": row.input_tokens,
                "output_tokens": row.output_tokens,
                "total_tokens": row.total_tokens,
                "cached_input_tokens": row.cached_input_tokens,
                "reasoning_output_tokens": row.reasoning_output_tokens,
                "request_usage_entries": row.request_usage_entries,
                "cost_picos": row.cost_picos or 0,
                "created_at": utcnow(),
            },
        )
        return inserted.first() is not None
