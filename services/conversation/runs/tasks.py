"""The record of each run (seed 002 ``agent_tasks``): one row per run, written in the same
transaction as each change of the run's status, so it can never tell another story than the
queue: pending when queued (or waiting for an approval), running once leased (``retry_count``
says how many leases came before), and on its end completed, failed or cancelled, with its
duration, the tokens its model calls used and what they cost.

What a run does on the side is a subtask under the run's task (``parent_task_id``): today its
history's compaction, the summary the model writes. A subtask row is keyed by the run's step it
records (``task_key``, unique), written under the run's fence like every write of the run, so a
run re-leased after a crash takes up its subtask (one retry more) instead of adding another.
The run's task sums every model call of the run, its subtasks' included."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, cast

from sqlalchemy import Select, Table, bindparam, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.conversation.runs.models import (
    AgentTaskRecord,
    RunUsageRecord,
    TaskStatus,
)
from shared.db import (
    PreparedRead,
    PreparedStatement,
    Transaction,
    column_param,
    execute_prepared,
    execute_prepared_many,
)
from shared.db_types import utcnow

TASK_TYPE = "conversation_run"
#: The subtask in which a run has the model summarize the conversation's older turns.
COMPACTION_TASK_TYPE = "conversation_compaction"
_ENDED = (TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.CANCELLED)


_TASKS = cast(Table, AgentTaskRecord.__table__)
_USAGE = RunUsageRecord.__table__.c


def _set(*names: str) -> dict[str, Any]:
    return {name: bindparam(f"task_{name}", type_=_TASKS.c[name].type) for name in names}


_RUN_TASK_UPDATE = (
    update(_TASKS)
    .where(
        _TASKS.c.run_id == bindparam("task_run_id", type_=_TASKS.c.run_id.type),
        _TASKS.c.parent_task_id.is_(None),
    )
    .returning(_TASKS.c.id, _TASKS.c["metadata"].label("task_metadata"))
)
#: The run's task moved to a status of a run under way (what record_task's values say).
_MOVE_TASK = PreparedStatement(_RUN_TASK_UPDATE.values(_set("status", "retry_count", "started_at")))
#: The run's task ended, with what it did (see :func:`_ended`).
_END_TASK = PreparedStatement(
    _RUN_TASK_UPDATE.values(
        _set(
            "status",
            "retry_count",
            "started_at",
            "completed_at",
            "duration_ms",
            "error_message",
            "tokens_used",
            "cost_picos",
            "output_data",
        )
    )
)
#: Every column of a new task, None unless given (by column name: ``metadata``).
_NO_TASK_VALUES: dict[str, Any] = {column.name: None for column in _TASKS.columns}
#: A task stored (every column).
_INSERT_TASK = PreparedStatement(
    insert(_TASKS).values(
        {name: bindparam(name, type_=_TASKS.c[name].type) for name in _NO_TASK_VALUES}
    )
)
#: A run's subtasks still pending or running (under its task's id).
_SUBTASKS_LEFT = PreparedRead(
    select(_TASKS.c.id, _TASKS.c.started_at, _TASKS.c.duration_ms).where(
        _TASKS.c.parent_task_id == column_param("left_parent_id", _TASKS.c.parent_task_id),
        or_(_TASKS.c.status == TaskStatus.PENDING, _TASKS.c.status == TaskStatus.RUNNING),
    )
)
#: A subtask ended with its run.
_END_SUBTASK_LEFT = PreparedStatement(
    update(_TASKS)
    .where(_TASKS.c.id == column_param("left_id", _TASKS.c.id))
    .values(
        status=column_param("left_status", _TASKS.c.status),
        completed_at=column_param("left_completed_at", _TASKS.c.completed_at),
        duration_ms=column_param("left_duration_ms", _TASKS.c.duration_ms),
        error_message=column_param("left_error", _TASKS.c.error_message),
    )
)
_USAGE_SUMMED = (
    ("calls", func.count(_USAGE.id)),
    ("input_tokens", func.coalesce(func.sum(_USAGE.input_tokens), 0)),
    ("output_tokens", func.coalesce(func.sum(_USAGE.output_tokens), 0)),
    ("total_tokens", func.coalesce(func.sum(_USAGE.total_tokens), 0)),
    ("cost_picos", func.coalesce(func.sum(_USAGE.cost_picos), 0)),
)
#: The sums of a run's model calls, as columns of another statement (``usage_<name>``, the
#: run's id its parameter ``usage_run_id``): the run's end returns them with the run's row.
RUN_USAGE_TOTALS = tuple(
    select(summed)
    .where(_USAGE.run_id == bindparam("usage_run_id", type_=_USAGE.run_id.type))
    .scalar_subquery()
    .label(f"usage_{name}")
    for name, summed in _USAGE_SUMMED
)
#: The sums of a run's model calls, read alone.
_RUN_USAGE_TOTALS = PreparedRead(select(*RUN_USAGE_TOTALS))


def usage_totals(row: Any) -> tuple[int, ...]:
    """A row's :data:`RUN_USAGE_TOTALS`, in their order."""
    return tuple(int(getattr(row, f"usage_{name}")) for name, _ in _USAGE_SUMMED)


class RunColumns(Protocol):
    """What a run's task is written from: a run's row, or the columns a prepared statement
    of the queue returned of it."""

    @property
    def run_id(self) -> uuid.UUID: ...
    @property
    def tenant_id(self) -> uuid.UUID: ...
    @property
    def conversation_id(self) -> uuid.UUID: ...
    @property
    def attempt_count(self) -> int: ...
    @property
    def message_position(self) -> int | None: ...
    @property
    def payload_json(self) -> dict[str, Any]: ...
    @property
    def started_at(self) -> datetime | None: ...
    @property
    def created_at(self) -> datetime: ...


def _elapsed_ms(since: datetime, now: datetime) -> int:
    return int((now - since).total_seconds() * 1000)


def _run_task(run_id: uuid.UUID) -> Select[tuple[AgentTaskRecord]]:
    """The run's own task (not one of its subtasks)."""
    return select(AgentTaskRecord).where(
        AgentTaskRecord.run_id == run_id, AgentTaskRecord.parent_task_id.is_(None)
    )


async def record_task(
    session: Transaction,
    run: RunColumns,
    status: TaskStatus,
    *,
    error: dict[str, Any] | None = None,
    note: dict[str, Any] | None = None,
    new: bool = False,
    usage: tuple[int, ...] | None = None,
) -> None:
    """Bring the run's task to ``status``: stored with it when ``new`` (the run is queued in
    this transaction, so no task of it can exist yet); else one UPDATE (no read first), but
    for a ``note`` merged into the task's metadata, which reads the row. ``usage``: the
    run's :func:`usage_totals` where the caller read them already (the run's end), else an
    ended run's are read."""
    now = utcnow()
    values: dict[str, Any] = {
        "status": status,
        "retry_count": max(run.attempt_count - 1, 0),
        "started_at": run.started_at,
    }
    if new:
        await _insert_task(session, run, now, values, note)
        return
    if note is not None:
        await _record_noted(session, run, now, values, note)
        return
    if status in _ENDED:
        values.update(await _ended(session, run, now, error, usage))
        statement = _END_TASK
    else:
        statement = _MOVE_TASK
    updated = (
        await execute_prepared(
            session, statement, {"task_run_id": run.run_id, **_task_values(values)}
        )
    ).first()
    if updated is None:  # a run queued before runs had tasks: its task starts now
        await _insert_task(session, run, now, values, None)
    elif status in _ENDED and (updated.task_metadata or {}).get("subtasks"):
        await _end_subtasks_left(session, updated.id, status, now)


def _task_values(values: dict[str, Any]) -> dict[str, Any]:
    """``values`` as the parameters of :data:`_MOVE_TASK` or :data:`_END_TASK`."""
    return {f"task_{name}": value for name, value in values.items()}


async def _insert_task(
    session: Transaction,
    run: RunColumns,
    now: datetime,
    values: dict[str, Any],
    note: dict[str, Any] | None,
) -> None:
    """Store the run's task, first with ``values`` (its status and what goes with it), by one
    prepared INSERT (no ORM flush)."""
    fields = _new_task(run, now, values, note)
    fields["metadata"] = fields.pop("task_metadata")
    await execute_prepared(session, _INSERT_TASK, {**_NO_TASK_VALUES, **fields})


def _new_task(
    run: RunColumns, now: datetime, values: dict[str, Any], note: dict[str, Any] | None
) -> dict[str, Any]:
    """The run's new task's columns (by attribute name)."""
    fields: dict[str, Any] = {
        "id": uuid.uuid4(),
        "tenant_id": run.tenant_id,
        "run_id": run.run_id,
        "conversation_id": run.conversation_id,
        "agent_id": str(run.payload_json.get("agent_id", ""))[:64],
        "task_type": TASK_TYPE,
        "description": (
            f"answer message {run.message_position} of conversation {run.conversation_id}"
        ),
        "input_data": dict(run.payload_json),
        "tokens_used": 0,
        "cost_picos": 0,
        "created_at": run.created_at or now,
        "task_metadata": dict(note or {}),
    }
    return {**fields, **values}


async def _ended(
    session: Transaction,
    run: RunColumns,
    now: datetime,
    error: dict[str, Any] | None,
    usage: tuple[int, ...] | None,
) -> dict[str, Any]:
    """What an ended run's task says: its end, duration, error, and the sums of its model
    calls."""
    if usage is None:
        usage = usage_totals(
            (
                await execute_prepared(
                    session, _RUN_USAGE_TOTALS, {"usage_run_id": str(run.run_id)}
                )
            ).rows[0]
        )
    calls, input_tokens, output_tokens, total, cost = usage
    return {
        "completed_at": now,
        "duration_ms": _elapsed_ms(run.started_at, now) if run.started_at is not None else None,
        "error_message": str(error.get("message", "")) if error else None,
        "tokens_used": total,
        "cost_picos": cost,
        "output_data": {
            "model_calls": calls,
            "input_tokens": input_tokens,
            "output_tokens": output_tokens,
            "attempts": run.attempt_count,
            **({"error": error} if error else {}),
        },
    }


async def _record_noted(
    session: Transaction,
    run: RunColumns,
    now: datetime,
    values: dict[str, Any],
    note: dict[str, Any],
) -> None:
    """A status change that notes something in the task's metadata (what a parked run awaits),
    merged into what the metadata says already: read, then written (an ORM row: a session's
    transaction)."""
    assert isinstance(session, AsyncSession), "a task's note is written in a session"
    task = await session.scalar(_run_task(run.run_id))
    if task is None:
        await _insert_task(session, run, now, values, note)
        return
    for name, value in values.items():
        setattr(task, name, value)
    task.task_metadata = {**(task.task_metadata or {}), **note}
    await session.flush()


async def _end_subtasks_left(
    session: Transaction, task_id: uuid.UUID, status: TaskStatus, now: datetime
) -> None:
    """A run's task never ends with a subtask still running: one its last lease left (a
    compaction refused by the tenant's limits, a lease lost mid-way) ends with the run,
    cancelled with it, else failed. Prepared statements: a read of them, an UPDATE of each."""
    left = (await execute_prepared(session, _SUBTASKS_LEFT, {"left_parent_id": task_id})).rows
    await execute_prepared_many(
        session,
        _END_SUBTASK_LEFT,
        [
            {
                "left_id": subtask.id,
                "left_status": (
                    TaskStatus.CANCELLED if status == TaskStatus.CANCELLED else TaskStatus.FAILED
                ),
                "left_completed_at": now,
                "left_duration_ms": (
                    _elapsed_ms(subtask.started_at, now)
                    if subtask.started_at is not None
                    else subtask.duration_ms
                ),
                "left_error": f"its run ended ({status.value}) before it did",
            }
            for subtask in left
        ],
    )


@dataclass(frozen=True)
class Subtask:
    """What a subtask of a run is: its key (the run's step), type and what it is given."""

    key: str
    task_type: str
    description: str
    input_data: dict[str, Any]


async def start_subtask(
    session: AsyncSession, run_id: uuid.UUID, attempt: int, subtask: Subtask
) -> AgentTaskRecord:
    """The subtask's row under the task of run ``run_id``, running: stored now, or, for a run
    repeating the step (re-leased after a crash: ``attempt`` is its lease), the one stored
    before, one retry more. The caller holds the run's fence (and so the conversation's lock:
    no other lease adds it meanwhile)."""
    now = utcnow()
    task = await session.scalar(
        select(AgentTaskRecord).where(AgentTaskRecord.task_key == subtask.key)
    )
    if task is None:
        parent = await session.scalar(_run_task(run_id))
        assert parent is not None  # queued with its task, in the same transaction
        # Marked, so the run's end looks for subtasks left running only where there are some.
        parent.task_metadata = {
            **(parent.task_metadata or {}),
            "subtasks": int((parent.task_metadata or {}).get("subtasks", 0)) + 1,
        }
        task = AgentTaskRecord(
            id=uuid.uuid4(),
            tenant_id=parent.tenant_id,
            run_id=run_id,
            conversation_id=parent.conversation_id,
            agent_id=parent.agent_id,
            parent_task_id=parent.id,
            task_key=subtask.key,
            task_type=subtask.task_type,
            description=subtask.description,
            input_data=subtask.input_data,
            tokens_used=0,
            cost_picos=0,
            retry_count=0,
            started_at=now,
            created_at=now,
            task_metadata={"attempt": attempt},
        )
        session.add(task)
    elif task.status == TaskStatus.RUNNING:
        # An earlier lease started it and never ended it: this is its retry.
        task.retry_count += 1
        task.task_metadata = {**(task.task_metadata or {}), "attempt": attempt}
    task.status = TaskStatus.RUNNING
    await session.flush()
    return task


async def end_subtask(
    session: AsyncSession,
    key: str,
    status: TaskStatus,
    *,
    output: dict[str, Any] | None = None,
    error: str | None = None,
) -> None:
    """End the subtask stored under ``key`` (see :func:`start_subtask`, in the same run's fenced
    transactions): its status, its duration since it started, the tokens and cost of its model
    call (the usage row stored under the same key, when there is one), what it produced or why
    it failed. Ending it again changes nothing."""
    task = await session.scalar(select(AgentTaskRecord).where(AgentTaskRecord.task_key == key))
    if task is None or task.status in _ENDED:
        return
    usage = await session.scalar(
        select(RunUsageRecord).where(RunUsageRecord.response_id == key[:128])
    )
    now = utcnow()
    task.status = status
    task.completed_at = now
    if task.started_at is not None:
        task.duration_ms = _elapsed_ms(task.started_at, now)
    task.error_message = error
    if usage is not None:
        task.tokens_used = usage.total_tokens or 0
        task.cost_picos = usage.cost_picos or 0
    task.output_data = {
        "model_calls": 0 if usage is None else 1,
        "input_tokens": 0 if usage is None else (usage.input_tokens or 0),
        "output_tokens": 0 if usage is None else (usage.output_tokens or 0),
        "attempts": task.retry_count + 1,
        **(output or {}),
    }
    await session.flush()


def compaction_subtask(
    run_id: uuid.UUID, key: str, version: str, messages: int, through: int, model: str
) -> Subtask:
    """The subtask in which run ``run_id`` has ``model`` summarize the conversation's first
    ``messages`` messages (through position ``through``) into summary ``version``."""
    return Subtask(
        key=key,
        task_type=COMPACTION_TASK_TYPE,
        description=f"summarize the messages through position {through} of the conversation",
        input_data={
            "run_id": str(run_id),
            "summary_version": version,
            "messages": messages,
            "model": model,
        },
    )
