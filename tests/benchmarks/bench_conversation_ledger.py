"""Ledger appends per second beside a raw INSERT of the same rows, measured the same way in the
same run, on SQLite (a migrated file) or PostgreSQL (``--database-url``).

Run: ``uv run python -m tests.benchmarks.bench_conversation_ledger [--events 2000]
[--conversations 20] [--database-url URL]``. ``--conversations`` writers append concurrently,
each one event per transaction as a streaming run does: the ledger's append (the conversation
row's cursor taken under its lock, the event stored with it, a fenced run check first with
``--fenced``) against a plain INSERT of an event row with a precomputed cursor. Prints events per
second and the ratio. Not collected by pytest (the name is bench_*).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import tempfile
import time
import uuid
from pathlib import Path

from sqlalchemy import insert

from services.conversation.conversations.models import ConversationRecord
from services.conversation.events.ledger import Ledger, NewEvent
from services.conversation.events.models import LedgerEventRecord, LedgerSegmentRecord
from services.conversation.events.notifier import LedgerNotifier
from services.registry import spec_for
from shared.db import Database
from shared.db_types import utcnow
from shared.migrations import upgrade_to_head

PAYLOAD = {"delta": " word", "item_id": "msg_1", "output_index": 0}


async def _conversations(
    database: Database, count: int
) -> list[tuple[ConversationRecord, uuid.UUID]]:
    made = []
    async with database.transaction() as session:
        tenant = uuid.uuid4()
        for _ in range(count):
            conversation = ConversationRecord(
                id=uuid.uuid4(),
                tenant_id=tenant,
                conversation_key=f"bench-{uuid.uuid4().hex}",
                agent_entrypoint="default",
                created_at=utcnow(),
                updated_at=utcnow(),
            )
            session.add(conversation)
            await session.flush()
            segment = LedgerSegmentRecord(
                id=uuid.uuid4(), tenant_id=tenant, conversation_id=conversation.id, segment_index=0
            )
            session.add(segment)
            await session.flush()
            made.append((conversation, segment.id))
    return made


async def _ledger_appends(database: Database, targets: list, per_writer: int) -> float:
    ledger = Ledger(LedgerNotifier())

    async def writer(conversation: ConversationRecord, segment_id: uuid.UUID) -> None:
        for _ in range(per_writer):
            async with database.transaction() as session:
                row = await session.get(ConversationRecord, conversation.id, with_for_update=True)
                assert row is not None
                await ledger.append(
                    session, row, segment_id, [NewEvent("response.output_text.delta", PAYLOAD)]
                )

    start = time.perf_counter()
    await asyncio.gather(*(writer(c, s) for c, s in targets))
    return time.perf_counter() - start


async def _raw_inserts(database: Database, targets: list, per_writer: int) -> float:
    cursors = itertools.count(10**9 + int(time.time() * 1000) % 10**6 * 1000)

    async def writer(conversation: ConversationRecord, segment_id: uuid.UUID) -> None:
        for _ in range(per_writer):
            async with database.transaction() as session:
                await session.execute(
                    insert(LedgerEventRecord).values(
                        tenant_id=conversation.tenant_id,
                        conversation_id=conversation.id,
                        segment_id=segment_id,
                        schema_version="public_sse_v1",
                        kind="response.output_text.delta",
                        stream_id="raw",
                        event_id=next(cursors),
                        server_timestamp=utcnow(),
                        payload_json=PAYLOAD,
                        payload_size_bytes=60,
                        ingested_at=utcnow(),
                    )
                )

    start = time.perf_counter()
    await asyncio.gather(*(writer(c, s) for c, s in targets))
    return time.perf_counter() - start


async def main(events: int, conversations: int, database_url: str | None) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        url = database_url or f"sqlite+aiosqlite:///{Path(scratch) / 'conversation.db'}"
        database = Database(url)
        try:
            await upgrade_to_head(database, spec_for("conversation").migrations_dir)
            per_writer = max(events // conversations, 1)
            total = per_writer * conversations
            raw = await _raw_inserts(
                database, await _conversations(database, conversations), per_writer
            )
            appended = await _ledger_appends(
                database, await _conversations(database, conversations), per_writer
            )
        finally:
            await database.dispose()
    print(
        f"database: {database.dialect}; {conversations} concurrent writers, {total} events each way"
    )
    print(f"raw INSERT       {total / raw:10.0f} events/s")
    print(f"ledger append    {total / appended:10.0f} events/s")
    print(f"ratio ledger/raw {raw / appended:10.2f}x")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--conversations", type=int, default=20)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    asyncio.run(main(args.events, args.conversations, args.database_url))
