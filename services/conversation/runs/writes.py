"""The writes a run makes, each in its own transaction under the run's fence: ledger events and
messages. Each carries a key naming the run's step, so a re-run after a crash repeats none."""

from __future__ import annotations

from collections.abc import Sequence

from services.conversation.conversations.models import ConversationRecord
from services.conversation.conversations.store import current_segment
from services.conversation.events.ledger import Ledger, NewEvent
from services.conversation.events.models import LedgerEventRecord
from services.conversation.messages.models import MessageRecord
from services.conversation.messages.store import NewMessage, append_message
from services.conversation.runs.fencing import check_fence
from services.conversation.runs.models import RunUsageRecord
from services.conversation.runs.queue import ClaimedRun
from shared.db import Database
from shared.db_types import utcnow
from shared.inserts import insert_ignoring_duplicates


class RunWrites:
    def __init__(self, database: Database, ledger: Ledger) -> None:
        self._database = database
        self._ledger = ledger

    async def events(self, run: ClaimedRun, events: Sequence[NewEvent]) -> list[LedgerEventRecord]:
        async with self._database.transaction() as session:
            await check_fence(session, run.fence)
            conversation = await session.get(ConversationRecord, run.conversation_id)
            assert conversation is not None
            segment_id = run.segment_id or (await current_segment(session, conversation.id)).id
            return await self._ledger.append(
                session, conversation, segment_id, events, run_id=run.run_id
            )

    async def message(self, run: ClaimedRun, new: NewMessage) -> MessageRecord:
        async with self._database.transaction() as session:
            await check_fence(session, run.fence)
            conversation = await session.get(ConversationRecord, run.conversation_id)
            assert conversation is not None
            segment_id = run.segment_id or (await current_segment(session, conversation.id)).id
            new.run_id = str(run.run_id)
            return await append_message(
                session, self._ledger, conversation, segment_id, new, run_id=run.run_id
            )

    async def usage(self, run: ClaimedRun, row: RunUsageRecord) -> bool:
        """Store what one model call of the run used, and add it to the conversation's totals;
        False (and nothing added) when the call's usage is stored already."""
        async with self._database.transaction() as session:
            await check_fence(session, run.fence)
            inserted = await session.scalar(
                insert_ignoring_duplicates(
                    self._database.dialect, RunUsageRecord.__table__, ["response_id"]
                )
                .values(
                    tenant_id=row.tenant_id,
                    conversation_id=row.conversation_id,
                    response_id=row.response_id,
                    run_id=row.run_id,
                    agent_key=row.agent_key,
                    provider=row.provider,
                    requests=row.requests,
                    input_tokens=row.input_tokens,
                    output_tokens=row.output_tokens,
                    total_tokens=row.total_tokens,
                    cached_input_tokens=row.cached_input_tokens,
                    reasoning_output_tokens=row.reasoning_output_tokens,
                    request_usage_entries=row.request_usage_entries,
                    created_at=utcnow(),
                )
                .returning(RunUsageRecord.id)
            )
            if inserted is None:
                return False
            conversation = await session.get(ConversationRecord, run.conversation_id)
            assert conversation is not None
            conversation.total_tokens_prompt += row.input_tokens or 0
            conversation.total_tokens_completion += row.output_tokens or 0
            conversation.total_cached_input_tokens += row.cached_input_tokens or 0
            conversation.reasoning_tokens += row.reasoning_output_tokens or 0
            conversation.total_tokens += row.total_tokens or 0
            conversation.total_requests += row.requests or 0
            return True
