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
from typing import Any

from sqlalchemy import bindparam, func, select, update
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


#: Built once, with parameters (a write's every fence check runs them): the conversation
#: locked, then the run's fence checked (stamping its trace, or not).
_LOCK_CONVERSATION = (
    select(ConversationRecord)
    .where(
        ConversationRecord.id
        == bindparam("fence_conversation_id", type_=ConversationRecord.id.type)
    )
    .with_for_update()
)
_FENCE_HOLDS = (
    RunRecord.run_id == bindparam("fence_run_id", type_=RunRecord.run_id.type),
    RunRecord.lease_generation
    == bindparam("fence_generation", type_=RunRecord.lease_generation.type),
    RunRecord.status == RunStatus.RUNNING,
)
_CHECK_FENCE = (
    update(RunRecord)
    .where(*_FENCE_HOLDS)
    .values(lease_generation=RunRecord.lease_generation)
    .execution_options(synchronize_session=False)
)
_CHECK_FENCE_STAMPING = _CHECK_FENCE.values(
    trace_id=func.coalesce(
        RunRecord.trace_id, bindparam("stamp_trace_id", type_=RunRecord.trace_id.type)
    )
)


async def check_fence(
    session: AsyncSession, fence: Fence, *, trace_id: str | None = None
) -> ConversationRecord:
    """Lock the run's conversation (returned, loaded: the write's ``session.get`` of it costs
    no query) and then its run while the fence holds; raise :class:`LeaseLost` when it does
    not. With ``trace_id``, the run is stamped with it unless it has a trace already (a run's
    first lease names its trace on its first write, at no extra round trip)."""
    conversation = await session.scalar(
        _LOCK_CONVERSATION, {"fence_conversation_id": fence.conversation_id}
    )
    parameters: dict[str, Any] = {
        "fence_run_id": fence.run_id,
        "fence_generation": fence.lease_generation,
    }
    if trace_id:
        parameters["stamp_trace_id"] = trace_id
    result = await session.execute(_CHECK_FENCE_STAMPING if trace_id else _CHECK_FENCE, parameters)
    if rows_matched(result) != 1:
        raise _lost(fence)
    assert conversation is not None  # a run's conversation is never deleted under it
    return conversation


async def end_lease(
    session: AsyncSession, fence: Fence, values: dict[str, Any]
) -> tuple[ConversationRecord, RunRecord]:
    """Lock the run's conversation, then set ``values`` on the run (its end: finished or
    parked) in the very UPDATE that checks the fence, the run read back by its RETURNING: the
    check and the write are one statement. Raise :class:`LeaseLost` (nothing written) when
    the fence does not hold."""
    conversation = await session.scalar(
        _LOCK_CONVERSATION, {"fence_conversation_id": fence.conversation_id}
    )
    run = await session.scalar(
        update(RunRecord)
        .where(*_FENCE_HOLDS)
        .values(values)
        .returning(RunRecord)
        .execution_options(synchronize_session=False),
        {"fence_run_id": fence.run_id, "fence_generation": fence.lease_generation},
    )
    if run is None:
        raise _lost(fence)
    assert conversation is not None  # a run's conversation is never deleted under it
    return conversation, run


def _lost(fence: Fence) -> LeaseLost:
    return LeaseLost(
        f"run {fence.run_id} is no longer leased under generation {fence.lease_generation}"
    )
