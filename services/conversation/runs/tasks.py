"""The record of each run (seed 002 ``agent_tasks``): one row per run, written in the same
transaction as each change of the run's status, so it can never tell another story than the
queue: pending when queued (or waiting for an approval), running once leased (``retry_count``
says how many leases came before), and on its end completed, failed or cancelled, with its
duration, the tokens its model calls used and what they cost."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.conversation.runs.models import (
    AgentTaskRecord,
    RunRecord,
    RunUsageRecord,
    TaskStatus,
)
from shared.db_types import utcnow

TASK_TYPE = "conversation_run"
_ENDED = (TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.CANCELLED)


async def record_task(
    session: AsyncSession,
    run: RunRecord,
    status: TaskStatus,
    *,
    error: dict[str, Any] | None = None,
    note: dict[str, Any] | None = None,
) -> AgentTaskRecord:
    task = await session.scalar(select(AgentTaskRecord).where(AgentTaskRecord.run_id == run.run_id))
    now = utcnow()
    if task is None:
        task = AgentTaskRecord(
            id=uuid.uuid4(),
            tenant_id=run.tenant_id,
            run_id=run.run_id,
            conversation_id=run.conversation_id,
            agent_id=str(run.payload_json.get("agent_id", ""))[:64],
            task_type=TASK_TYPE,
            description=(
                f"answer message {run.message_position} of conversation {run.conversation_id}"
            ),
            input_data=dict(run.payload_json),
            tokens_used=0,
            cost_picos=0,
            retry_count=0,
            created_at=run.created_at or now,
            task_metadata={},
        )
        session.add(task)
    task.status = status
    task.retry_count = max(run.attempt_count - 1, 0)
    task.started_at = run.started_at
    if note is not None:
        task.task_metadata = {**(task.task_metadata or {}), **note}
    if status in _ENDED:
        task.completed_at = now
        if run.started_at is not None:
            task.duration_ms = int((now - run.started_at).total_seconds() * 1000)
        task.error_message = str(error.get("message", "")) if error else None
        totals = (
            await session.execute(
                select(
                    func.count(RunUsageRecord.id),
                    func.coalesce(func.sum(RunUsageRecord.input_tokens), 0),
                    func.coalesce(func.sum(RunUsageRecord.output_tokens), 0),
                    func.coalesce(func.sum(RunUsageRecord.total_tokens), 0),
                    func.coalesce(func.sum(RunUsageRecord.cost_picos), 0),
                ).where(RunUsageRecord.run_id == str(run.run_id))
            )
        ).one()
        calls, input_tokens, output_tokens, total, cost = (int(value) for value in totals)
        task.tokens_used = total
        task.cost_picos = cost
        task.output_data = {
            "model_calls": calls,
            "input_tokens": input_tokens,
            "output_tokens": output_tokens,
            "attempts": run.attempt_count,
            **({"error": error} if error else {}),
        }
    await session.flush()
    return task
