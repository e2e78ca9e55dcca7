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
from services.conversation.runs.queue import ClaimedRun
from shared.db import Database


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
