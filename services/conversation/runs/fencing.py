"""The fencing token every write of a run carries: the run and the lease it was made under.

:func:`check_fence` is the first statement of each such write's transaction. It updates the
run's row only while the run is still running under that very lease, which also locks the row
on PostgreSQL until the write commits (SQLite's write transactions are serialized anyway), so a
reaper or a cancel cannot slip between the check and the write. A worker whose lease expired,
was taken over or cancelled gets :class:`LeaseLost` and writes nothing.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.conversation.conversations.models import ConversationRecord
from services.conversation.runs.models import RunRecord, RunStatus
from shared.db import rows_matched
from shared.errors import FailedPrecondition


@dataclass(frozen=True)
class Fence:
    run_id: uuid.UUID
    conversation_id: uuid.UUID
    lease_generation: int


class LeaseLost(FailedPrecondition):
    """The run is no longer leased under this generation: the write is refused."""

    default_reason = "RUN_LEASE_LOST"


async def lock_conversation(session: AsyncSession, conversation_id: uuid.UUID) -> None:
    """Take the conversation's row lock first: every transaction that writes a conversation's
    rows locks the conversation before any of its runs, so none waits on another in a cycle."""
    await session.execute(
        select(ConversationRecord.id)
        .where(ConversationRecord.id == conversation_id)
        .with_for_update()
    )


async def check_fence(session: AsyncSession, fence: Fence) -> None:
    await lock_conversation(session, fence.conversation_id)
    result = await session.execute(
        update(RunRecord)
        .where(
            RunRecord.run_id == fence.run_id,
            RunRecord.lease_generation == fence.lease_generation,
            RunRecord.status == RunStatus.RUNNING,
        )
        .values(lease_generation=RunRecord.lease_generation)
        .execution_options(synchronize_session=False)
    )
    if rows_matched(result) != 1:
        raise LeaseLost(
            f"run {fence.run_id} is no longer leased under generation {fence.lease_generation}"
        )
