"""The run queue: runs enqueued with their user message, leased by workers, kept alive by
heartbeats, finished, cancelled, or re-queued by the reaper when a worker vanished.

* One active run per conversation: a worker only claims a conversation's oldest queued run, and
  only while none of its runs is running or awaiting action (a partial unique index holds the
  line when two workers race).
* Fair across tenants: among claimable runs, a worker takes one of the tenant with the fewest
  runs running now, oldest first, so one tenant's backlog does not starve another's.
* Every lease raises ``lease_generation``: the fencing token of the run's writes.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal, cast

from sqlalchemy import Table, and_, exists, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.conversation.conversations.models import ConversationRecord
from services.conversation.conversations.store import (
    Conversation,
    LockedConversation,
    current_segment_id,
    locked_conversation,
)
from services.conversation.events.ledger import Ledger, NewEvent
from services.conversation.messages.store import StoredMessage
from services.conversation.runs.fencing import Fence, end_lease, lock_conversation
from services.conversation.runs.models import (
    ACTIVE_STATUSES,
    FINISHED_STATUSES,
    RunRecord,
    RunStatus,
    TaskStatus,
)
from services.conversation.runs.tasks import record_task, usage_totals
from services.conversation.runs.wakeups import RUNS_CHANNEL
from shared.db import (
    Database,
    PreparedRead,
    PreparedStatement,
    Transaction,
    call_after_commit,
    column_param,
    execute_prepared,
)
from shared.db_types import utcnow
from shared.errors import FailedPrecondition

PENDING_STATUSES = (RunStatus.QUEUED, *ACTIVE_STATUSES)


_RUN_TABLE = cast(Table, RunRecord.__table__)
_RUNS = _RUN_TABLE.c
_CONVERSATIONS = ConversationRecord.__table__.c


#: Every column of a new run but the id, None unless given.
_NO_RUN_VALUES: dict[str, Any] = {
    column.name: None for column in _RUN_TABLE.columns if column.name != "id"
}
#: A run queued (every column but the id).
_INSERT_RUN = PreparedStatement(
    insert(_RUN_TABLE).values({name: column_param(name, _RUNS[name]) for name in _NO_RUN_VALUES})
)
#: One of the conversation's queued or active runs, if it has any.
_PENDING_RUN = PreparedRead(
    select(_RUNS.run_id)
    .where(
        _RUNS.conversation_id == column_param("conversation_id", _RUNS.conversation_id),
        # One comparison per status: a prepared statement takes no IN list.
        or_(*(_RUNS.status == status for status in PENDING_STATUSES)),
    )
    .limit(1)
)
#: A run leased: running under a new generation, what the worker needs of it returned.
_LEASE = PreparedStatement(
    update(_RUN_TABLE)
    .where(_RUNS.id == column_param("lease_id", _RUNS.id))
    .values(
        status=RunStatus.RUNNING,
        lease_generation=_RUNS.lease_generation + 1,
        attempt_count=_RUNS.attempt_count + 1,
        lease_owner=column_param("lease_owner", _RUNS.lease_owner),
        lease_expires_at=column_param("lease_expires_at", _RUNS.lease_expires_at),
        heartbeat_at=column_param("lease_now", _RUNS.heartbeat_at),
        started_at=func.coalesce(_RUNS.started_at, column_param("lease_now", _RUNS.started_at)),
    )
    .returning(
        _RUNS.run_id,
        _RUNS.tenant_id,
        _RUNS.conversation_id,
        _RUNS.segment_id,
        _RUNS.payload_json,
        _RUNS.attempt_count,
        _RUNS.lease_generation,
        _RUNS.trace_id,
        _RUNS.message_position,
        _RUNS.started_at,
        _RUNS.created_at,
    )
)
#: A lease extended while it holds.
_HEARTBEAT = PreparedStatement(
    update(_RUN_TABLE)
    .where(
        _RUNS.run_id == column_param("beat_run_id", _RUNS.run_id),
        _RUNS.lease_generation == column_param("beat_generation", _RUNS.lease_generation),
        _RUNS.status == RunStatus.RUNNING,
    )
    .values(
        heartbeat_at=column_param("beat_at", _RUNS.heartbeat_at),
        lease_expires_at=column_param("beat_expires_at", _RUNS.lease_expires_at),
    )
)


@dataclass(frozen=True)
class ClaimedRun:
    """A run a worker holds: what it needs to carry it out and the fence of its writes."""

    run_id: uuid.UUID
    tenant_id: uuid.UUID
    conversation_id: uuid.UUID
    segment_id: uuid.UUID | None
    payload: dict[str, Any]
    attempt: int
    fence: Fence
    #: The trace an earlier lease of the run stamped it with (None for a first lease).
    trace_id: str | None = None

    @property
    def first_lease(self) -> bool:
        """No lease came before this one (each raises the generation from 0): nothing keyed
        by the run's steps can be stored yet."""
        return self.fence.lease_generation == 1


class RunQueue:
    def __init__(
        self, database: Database, ledger: Ledger, *, lease_seconds: float, max_attempts: int
    ) -> None:
        self._database = database
        self._ledger = ledger
        self.lease = timedelta(seconds=lease_seconds)
        self.max_attempts = max_attempts
        self._on_enqueued: list[Callable[[str], None]] = []
        #: Built and compiled once: a statement this size costs more to build than to run.
        self._next_claimable = self._claimable()

    def on_enqueued(self, callback: Callable[[str], None]) -> None:
        """Call ``callback`` with the run's conversation id once a transaction that queued the
        run commits (a worker's wake-up)."""
        self._on_enqueued.append(callback)

    def _announce_after_commit(self, session: Transaction, conversation_id: str) -> None:
        for callback in self._on_enqueued:
            call_after_commit(
                session,
                (self, callback, conversation_id),
                functools.partial(callback, conversation_id),
            )

    def _announced(
        self, session: Transaction, conversation_id: uuid.UUID
    ) -> tuple[tuple[str, str], ...]:
        """Wake this process's workers, and on PostgreSQL every other process's, once the
        transaction that queued a run of the conversation commits (its id the payload: a
        worker running that conversation's run knows the new one waits for it). What the
        ledger append that says so is to NOTIFY (riding on its cursor's update)."""
        self._announce_after_commit(session, str(conversation_id))
        return ((RUNS_CHANNEL, str(conversation_id)),)

    # -- enqueue and cancel: the handlers' side ---------------------------------------------

    async def enqueue(
        self,
        session: AsyncSession,
        conversation: Conversation,
        segment_id: uuid.UUID,
        *,
        created_by: str | None,
        message_position: int,
        payload: dict[str, Any],
        strategy: str,
        message: StoredMessage | None = None,
    ) -> RunRecord:
        """Queue a run in the caller's transaction (which holds the conversation row), after
        applying the multitask ``strategy`` ("reject", "enqueue" or "interrupt") to the runs
        the conversation already has pending. ``message``: the user message the run answers,
        stored in this transaction but not in the ledger yet: its event goes first in the
        run's append, and the conversation's row takes its count, its cursor and its last run
        in one UPDATE. The run and its task are prepared INSERTs; the run returned is not the
        session's."""
        if strategy == "reject":
            pending = (
                await execute_prepared(session, _PENDING_RUN, {"conversation_id": conversation.id})
            ).first()
            if pending is not None:
                raise FailedPrecondition(
                    f"conversation {conversation.id} already has a run queued or in progress",
                    reason="RUN_IN_PROGRESS",
                    metadata={"run_id": str(pending.run_id)},
                )
        elif strategy == "interrupt":
            for row in (
                await session.scalars(
                    select(RunRecord).where(
                        RunRecord.conversation_id == conversation.id,
                        RunRecord.status.in_(PENDING_STATUSES),
                    )
                )
            ).all():
                await self._cancel_row(session, conversation, row, "interrupted by a newer run")
        values: dict[str, Any] = {
            **_NO_RUN_VALUES,
            "run_id": uuid.uuid4(),
            "tenant_id": conversation.tenant_id,
            "conversation_id": conversation.id,
            "segment_id": segment_id,
            "created_by_user_id": created_by,
            "status": RunStatus.QUEUED,
            "attempt_count": 0,
            "max_attempts": self.max_attempts,
            "message_position": message_position,
            "payload_json": payload,
            "lease_generation": 0,
            "created_at": utcnow(),
        }
        await execute_prepared(session, _INSERT_RUN, values)
        run = RunRecord(**values)
        await record_task(session, run, TaskStatus.PENDING, new=True)
        events = [NewEvent("run.queued", {"run_id": str(run.run_id), "status": "queued"})]
        await self._ledger.append(
            session,
            conversation,
            segment_id,
            events if message is None else [message.event, *events],
            run_id=run.run_id,
            announce=self._announced(session, conversation.id),
            sets={
                **(message.sets if message is not None else {}),
                "last_run_id": str(run.run_id),
            },
            adds=message.adds if message is not None else {},
        )
        return run

    async def resume(
        self,
        session: AsyncSession,
        conversation: ConversationRecord,
        run: RunRecord,
        decided: dict[str, Any],
    ) -> None:
        """Queue a run that awaited action again (the caller holds the conversation row)."""
        if run.status != RunStatus.REQUIRES_ACTION:
            raise FailedPrecondition(
                f"run {run.run_id} is {run.status.value}, not awaiting action",
                reason="RUN_NOT_AWAITING_ACTION",
            )
        run.status = RunStatus.QUEUED
        await session.flush()
        await record_task(session, run, TaskStatus.PENDING, note={"awaiting": None})
        await self._ledger.append(
            session,
            conversation,
            run.segment_id or await current_segment_id(session, conversation.id),
            [NewEvent("run.resumed", {"run_id": str(run.run_id), **decided})],
            run_id=run.run_id,
            announce=self._announced(session, conversation.id),
        )

    async def cancel(
        self, session: AsyncSession, conversation: ConversationRecord, run: RunRecord, reason: str
    ) -> None:
        """Cancel a queued or active run; a finished one stays as it is."""
        if run.status not in FINISHED_STATUSES:
            await self._cancel_row(session, conversation, run, reason)

    async def _cancel_row(
        self, session: AsyncSession, conversation: Conversation, run: RunRecord, reason: str
    ) -> None:
        now = utcnow()
        run.status = RunStatus.CANCELLED
        run.cancelled_at = now
        run.lease_owner = None
        run.lease_expires_at = None
        run.error_json = {"reason": "CANCELLED", "message": reason or "cancelled"}
        await session.flush()
        await record_task(session, run, TaskStatus.CANCELLED, error=run.error_json)
        await self._ledger.append(
            session,
            conversation,
            run.segment_id or await current_segment_id(session, conversation.id),
            [NewEvent("run.cancelled", {"run_id": str(run.run_id), "reason": reason})],
            run_id=run.run_id,
        )

    # -- the workers' side -------------------------------------------------------------------

    async def claim(self, worker_id: str) -> ClaimedRun | None:
        """Lease the next claimable run, or None when there is none (or another worker took
        the one chosen first: the caller simply tries again on its next pass)."""
        claimed = await self.lease_next(worker_id)
        return claimed if isinstance(claimed, ClaimedRun) else None

    async def lease_next(self, worker_id: str) -> ClaimedRun | Literal["empty", "busy"]:
        """Lease the next claimable run; "empty" when none is claimable, "busy" when the one
        chosen was taken by another worker or its conversation is busy with another write
        (try again on a later pass)."""
        try:
            async with self._database.driver_transaction() as session:
                chosen = (await execute_prepared(session, self._next_claimable)).first()
                if chosen is None:
                    return "empty"
                conversation = await locked_conversation(
                    session, chosen.conversation_id, unless_busy=True
                )
                if conversation is None:
                    return "busy"  # its conversation is busy with another write: next pass
                now = utcnow()
                run = (
                    await execute_prepared(
                        session,
                        _LEASE,
                        {
                            "lease_id": chosen.id,
                            "lease_owner": worker_id[:128],
                            "lease_now": now,
                            "lease_expires_at": now + self.lease,
                        },
                    )
                ).first()
                assert run is not None  # chosen, and locked, in this transaction
                await record_task(session, run, TaskStatus.RUNNING)
                await self._ledger.append(
                    session,
                    conversation,
                    run.segment_id or await current_segment_id(session, conversation.id),
                    [
                        NewEvent(
                            "run.started",
                            {"run_id": str(run.run_id), "attempt": run.attempt_count},
                            dedupe_key=f"run:{run.run_id}:started:{run.lease_generation}",
                        )
                    ],
                    run_id=run.run_id,
                    # The lease is new: so is its key.
                    repeat_possible=False,
                )
                return ClaimedRun(
                    run_id=run.run_id,
                    tenant_id=run.tenant_id,
                    conversation_id=run.conversation_id,
                    segment_id=run.segment_id,
                    payload=dict(run.payload_json),
                    attempt=run.attempt_count,
                    fence=Fence(run.run_id, run.conversation_id, run.lease_generation),
                    trace_id=run.trace_id,
                )
        except IntegrityError:
            return "busy"  # another worker activated a run of the same conversation first

    def _claimable(self) -> PreparedRead:
        """The next claimable run (its id and conversation), locked (PostgreSQL: skipping
        rows another claim holds)."""
        runs = _RUN_TABLE
        active = runs.alias("active")
        earlier = runs.alias("earlier")
        running = runs.alias("running")
        tenant_load = (
            select(func.count())
            .select_from(running)
            .where(
                running.c.tenant_id == runs.c.tenant_id,
                running.c.status == RunStatus.RUNNING,
            )
            .scalar_subquery()
        )
        statement = (
            select(runs.c.id, runs.c.conversation_id)
            .where(
                runs.c.status == RunStatus.QUEUED,
                ~exists().where(
                    and_(
                        active.c.conversation_id == runs.c.conversation_id,
                        # One comparison per status: a prepared statement takes no IN list.
                        or_(*(active.c.status == status for status in ACTIVE_STATUSES)),
                    )
                ),
                ~exists().where(
                    and_(
                        earlier.c.conversation_id == runs.c.conversation_id,
                        earlier.c.status == RunStatus.QUEUED,
                        earlier.c.id < runs.c.id,
                    )
                ),
            )
            .order_by(tenant_load, runs.c.id)
            .limit(1)
            .with_for_update(skip_locked=True)
        )
        return PreparedRead(statement)

    async def heartbeat(self, fence: Fence) -> bool:
        """Extend the lease; False when it is lost (expired and taken over, or cancelled)."""
        async with self._database.driver_transaction() as session:
            now = utcnow()
            beaten = await execute_prepared(
                session,
                _HEARTBEAT,
                {
                    "beat_run_id": fence.run_id,
                    "beat_generation": fence.lease_generation,
                    "beat_at": now,
                    "beat_expires_at": now + self.lease,
                },
            )
            return beaten.rowcount == 1

    async def finish(
        self,
        fence: Fence,
        *,
        error: dict[str, Any] | None = None,
        session: Transaction | None = None,
    ) -> None:
        """Complete the run (or fail it with ``error``) under its lease."""
        if session is None:
            async with self._database.driver_transaction() as own:
                await self.finish(fence, error=error, session=own)
            return
        # The end's one ledger event takes the conversation's next cursor first: that update
        # locks the conversation (no SELECT ... FOR UPDATE of it before), then the UPDATE that
        # checks the fence ends the lease; a lost lease rolls the cursor's update back.
        last = await self._ledger.advance(session, fence.conversation_id, 1)
        _, run = await end_lease(
            session, fence, error=error, now=utcnow(), conversation_locked=True
        )
        await record_task(
            session,
            run,
            TaskStatus.FAILED if error else TaskStatus.COMPLETED,
            error=error,
            usage=usage_totals(run),
        )
        kind, payload = (
            ("run.failed", {"run_id": str(run.run_id), "error": error})
            if error
            else ("run.completed", {"run_id": str(run.run_id)})
        )
        # The fence held and the run leaves running here: its lease ends once, so its key is
        # new (nothing to look up).
        await self._ledger.store(
            session,
            LockedConversation(run.conversation_id, run.tenant_id, None, last),
            run.segment_id or await current_segment_id(session, run.conversation_id),
            [
                NewEvent(
                    kind, payload, dedupe_key=f"run:{run.run_id}:finished:{run.lease_generation}"
                )
            ],
            last,
            run_id=run.run_id,
        )

    async def park(self, fence: Fence, waiting_for: dict[str, Any]) -> None:
        """Set the run aside, awaiting action (a tool call's approval), under its lease."""
        async with self._database.transaction() as session:
            conversation, run = await end_lease(session, fence, park=True)
            assert conversation is not None  # read with its lock
            await record_task(session, run, TaskStatus.PENDING, note={"awaiting": waiting_for})
            await self._ledger.append(
                session,
                conversation,
                run.segment_id or await current_segment_id(session, conversation.id),
                [
                    NewEvent(
                        "run.requires_action",
                        {"run_id": str(run.run_id), **waiting_for},
                        dedupe_key=f"run:{run.run_id}:requires_action:{run.lease_generation}",
                    )
                ],
                run_id=run.run_id,
                # The fence held and the run leaves running here: its lease ends once.
                repeat_possible=False,
            )

    async def reap(self, batch: int = 100) -> int:
        """Re-queue runs whose lease expired (their worker died or hung), or fail them once
        they used up their attempts. Returns how many runs it handled."""
        handled = 0
        async with self._database.reading() as session:
            expired = (
                await session.execute(
                    select(RunRecord.run_id, RunRecord.conversation_id)
                    .where(
                        RunRecord.status == RunStatus.RUNNING,
                        RunRecord.lease_expires_at < utcnow(),
                    )
                    .order_by(RunRecord.id)
                    .limit(batch)
                )
            ).all()
        for run_id, conversation_id in expired:
            async with self._database.transaction() as session:
                await lock_conversation(session, conversation_id)
                run = await session.scalar(
                    select(RunRecord)
                    .where(
                        RunRecord.run_id == run_id,
                        RunRecord.status == RunStatus.RUNNING,
                        RunRecord.lease_expires_at < utcnow(),
                    )
                    .with_for_update()
                )
                if run is None:
                    continue  # its worker renewed the lease or finished meanwhile
                conversation = await session.get(ConversationRecord, conversation_id)
                assert conversation is not None
                await self._expire(session, conversation, run)
                handled += 1
        return handled

    async def _expire(
        self, session: AsyncSession, conversation: ConversationRecord, run: RunRecord
    ) -> None:
        segment_id = run.segment_id or await current_segment_id(session, conversation.id)
        run.lease_owner = None
        run.lease_expires_at = None
        announce: tuple[tuple[str, str], ...] = ()
        if run.attempt_count < run.max_attempts:
            run.status = RunStatus.QUEUED
            announce = self._announced(session, conversation.id)
            event = NewEvent(
                "run.requeued",
                {"run_id": str(run.run_id), "attempt": run.attempt_count},
                dedupe_key=f"run:{run.run_id}:requeued:{run.lease_generation}",
            )
        else:
            run.status = RunStatus.FAILED
            run.completed_at = utcnow()
            run.error_json = {
                "reason": "LEASE_EXPIRED",
                "message": (
                    f"the run's lease expired {run.attempt_count} times "
                    f"(at most {run.max_attempts} attempts)"
                ),
            }
            event = NewEvent(
                "run.failed",
                {"run_id": str(run.run_id), "error": run.error_json},
                dedupe_key=f"run:{run.run_id}:finished:{run.lease_generation}",
            )
        await session.flush()
        await record_task(
            session,
            run,
            TaskStatus.PENDING if run.status == RunStatus.QUEUED else TaskStatus.FAILED,
            error=run.error_json if run.status == RunStatus.FAILED else None,
        )
        await self._ledger.append(
            session, conversation, segment_id, [event], run_id=run.run_id, announce=announce
        )
