"""The fencing token every write of a run carries: the run and the lease it was made under.

:func:`check_fence` is the first statement of each such write's transaction. It updates the
run's row only while the run is still running under that very lease, which also locks the row
on PostgreSQL until the write commits (SQLite's write transactions are serialized anyway), so a
reaper or a cancel cannot slip between the check and the write. A worker whose lease expired,
was taken over or cancelled gets :class:`LeaseLost` and writes nothing. A write whose first
statement is the ledger's cursor update (a first lease's stream batch, a run's end) takes the
conversation's lock with it and checks the fence next (:func:`fence_holds`,
``end_lease(conversation_locked=True)``), still before storing anything: the same order of
locks, one statement fewer.

The statements are prepared (``shared.db.PreparedStatement``): compiled once, run on the
transaction's driver connection, every run's write pays for them.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table, func, select, update

from services.conversation.conversations.models import ConversationRecord
from services.conversation.conversations.store import LockedConversation, locked_conversation
from services.conversation.runs.models import RunRecord, RunStatus
from services.conversation.runs.tasks import RUN_USAGE_TOTALS
from shared.db import (
    PreparedRead,
    PreparedStatement,
    Transaction,
    column_param,
    execute_prepared,
)
from shared.errors import FailedPrecondition


@dataclass(frozen=True)
class Fence:
    run_id: uuid.UUID
    conversation_id: uuid.UUID
    lease_generation: int


class LeaseLost(FailedPrecondition):
    """The run is no longer leased under this generation: the write is refused."""

    default_reason = "RUN_LEASE_LOST"


_RUN_TABLE = cast(Table, RunRecord.__table__)
_CONVERSATIONS = ConversationRecord.__table__.c
_RUNS = _RUN_TABLE.c


#: The conversation's row locked, nothing read.
_LOCK_ONLY = PreparedRead(
    select(_CONVERSATIONS.id)
    .where(_CONVERSATIONS.id == column_param("conversation_id", _CONVERSATIONS.id))
    .with_for_update()
)
_FENCE_HOLDS = (
    _RUNS.run_id == column_param("fence_run_id", _RUNS.run_id),
    _RUNS.lease_generation == column_param("fence_generation", _RUNS.lease_generation),
    _RUNS.status == RunStatus.RUNNING,
)
_FENCED = update(_RUN_TABLE).where(*_FENCE_HOLDS)
#: The fence checked (the run's row locked, nothing changed), stamping the run's trace or not.
_CHECK_FENCE = PreparedStatement(_FENCED.values(lease_generation=_RUNS.lease_generation))
_CHECK_FENCE_STAMPING = PreparedStatement(
    _FENCED.values(
        lease_generation=_RUNS.lease_generation,
        trace_id=func.coalesce(_RUNS.trace_id, column_param("stamp_trace_id", _RUNS.trace_id)),
    )
)
#: What the run's end needs of its row (its task's record, its ledger event).
_ENDED_RUN = (
    _RUNS.run_id,
    _RUNS.tenant_id,
    _RUNS.conversation_id,
    _RUNS.segment_id,
    _RUNS.lease_generation,
    _RUNS.attempt_count,
    _RUNS.message_position,
    _RUNS.payload_json,
    _RUNS.started_at,
    _RUNS.created_at,
)
#: A lease ended by the run's end (completed or failed), in the UPDATE that checks its fence;
#: the run's model calls summed returned with it (for its task, no read after).
_FINISH = PreparedStatement(
    _FENCED.values(
        status=column_param("end_status", _RUNS.status),
        completed_at=column_param("end_completed_at", _RUNS.completed_at),
        error_json=column_param("end_error", _RUNS.error_json),
        lease_owner=None,
        lease_expires_at=None,
    ).returning(*_ENDED_RUN, *RUN_USAGE_TOTALS)
)
#: A lease ended by parking the run, awaiting action.
_PARK = PreparedStatement(
    _FENCED.values(
        status=RunStatus.REQUIRES_ACTION,
        lease_owner=None,
        lease_expires_at=None,
        error_json=None,
    ).returning(*_ENDED_RUN)
)


async def lock_conversation(session: Transaction, conversation_id: uuid.UUID) -> None:
    """Take the conversation's row lock first: every transaction that writes a conversation's
    rows locks the conversation before any of its runs, so none waits on another in a cycle."""
    await execute_prepared(session, _LOCK_ONLY, {"conversation_id": conversation_id})


async def _locked(session: Transaction, conversation_id: uuid.UUID) -> LockedConversation:
    conversation = await locked_conversation(session, conversation_id)
    assert conversation is not None  # a run's conversation is never deleted under it
    return conversation


def _fence_of(fence: Fence) -> dict[str, Any]:
    return {"fence_run_id": fence.run_id, "fence_generation": fence.lease_generation}


async def check_fence(
    session: Transaction, fence: Fence, *, trace_id: str | None = None
) -> LockedConversation:
    """Lock the run's conversation (what a write needs of it returned) and then its run while
    the fence holds; raise :class:`LeaseLost` when it does not. With ``trace_id``, the run is
    stamped with it unless it has a trace already (a run's first lease names its trace on its
    first write, at no extra round trip)."""
    conversation = await _locked(session, fence.conversation_id)
    await fence_holds(session, fence, trace_id=trace_id)
    return conversation


async def fence_holds(session: Transaction, fence: Fence, *, trace_id: str | None = None) -> None:
    """The fence check of :func:`check_fence` alone, for a write whose first statement took
    the conversation's lock already (a ledger append's cursor update: see
    ``RunWrites.events``); raise :class:`LeaseLost` when it does not hold."""
    parameters = _fence_of(fence)
    if trace_id:
        parameters["stamp_trace_id"] = trace_id
    checked = await execute_prepared(
        session, _CHECK_FENCE_STAMPING if trace_id else _CHECK_FENCE, parameters
    )
    if checked.rowcount != 1:
        raise _lost(fence)


async def end_lease(
    session: Transaction,
    fence: Fence,
    *,
    error: dict[str, Any] | None = None,
    park: bool = False,
    now: Any = None,
    conversation_locked: bool = False,
) -> tuple[LockedConversation | None, Any]:
    """Lock the run's conversation, then end the run's lease in the very UPDATE that checks
    the fence: parked (awaiting action) with ``park``, else completed, or failed with
    ``error`` (at ``now``); the run's columns its end needs (and, ending it, its usage summed) read back by its RETURNING (a
    named tuple), the check and the write one statement. Raise :class:`LeaseLost` (nothing
    written) when the fence does not hold. With ``conversation_locked``, the transaction's
    first statement locked the conversation already (a ledger's cursor update): it is not
    read (None returned in its place)."""
    conversation = None if conversation_locked else await _locked(session, fence.conversation_id)
    if park:
        ended = await execute_prepared(session, _PARK, _fence_of(fence))
    else:
        ended = await execute_prepared(
            session,
            _FINISH,
            {
                **_fence_of(fence),
                "end_status": RunStatus.FAILED if error else RunStatus.COMPLETED,
                "end_completed_at": now,
                "end_error": error,
                "usage_run_id": str(fence.run_id),
            },
        )
    run = ended.first()
    if run is None:
        raise _lost(fence)
    return conversation, run


def _lost(fence: Fence) -> LeaseLost:
    return LeaseLost(
        f"run {fence.run_id} is no longer leased under generation {fence.lease_generation}"
    )
