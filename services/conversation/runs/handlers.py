"""RunService: a tenant's runs (and their task records), read and cancelled. Workers lease and
carry them out (``runs.worker``); the handlers only look and cancel."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from quarterdeck.conversation.v1 import runs_pb2 as pb
from quarterdeck.tooling.v1 import executions_pb2 as xpb
from services.conversation.access import caller_tenant
from services.conversation.context import ConversationContext
from services.conversation.conversations.store import tenant_conversation
from services.conversation.runs.convert import (
    STATUS_FROM_PROTO,
    run_to_proto,
    task_to_proto,
    usage_to_proto,
)
from services.conversation.runs.fencing import lock_conversation
from services.conversation.runs.models import (
    AgentTaskRecord,
    RunRecord,
    RunStatus,
    RunUsageRecord,
)
from shared.db import PreparedRead, column_param
from shared.errors import FailedPrecondition, InvalidArgument, NotFound
from shared.ids import parse_id
from shared.pagination import fetch_page, page_size_from
from shared.validation import Violations

MAX_REASON = 500
#: A run's usage columns summed, in :func:`usage_to_proto`'s order (after the count).
_SUMMED = (
    "input_tokens",
    "output_tokens",
    "total_tokens",
    "cached_input_tokens",
    "reasoning_output_tokens",
    "cost_picos",
)


async def tenant_run(
    session: AsyncSession, tenant_id: uuid.UUID, run_id: uuid.UUID, *, for_update: bool = False
) -> RunRecord:
    statement = select(RunRecord).where(
        RunRecord.run_id == run_id, RunRecord.tenant_id == tenant_id
    )
    if for_update:
        statement = statement.with_for_update()
    row = await session.scalar(statement)
    if row is None:
        raise _run_not_found(run_id)
    return row


def _run_not_found(run_id: uuid.UUID) -> NotFound:
    return NotFound(f"run {run_id} not found", reason="RUN_NOT_FOUND")


async def runs_usage(session: AsyncSession, run_ids: list[uuid.UUID]) -> dict[str, pb.RunUsage]:
    """What each run's model calls used and cost so far (its agent_run_usage rows summed), by
    run id; a run with no model call yet is absent."""
    if not run_ids:
        return {}
    sums = [func.coalesce(func.sum(RunUsageRecord.__table__.c[name]), 0) for name in _SUMMED]
    rows = await session.execute(
        select(RunUsageRecord.run_id, func.count(RunUsageRecord.id), *sums)
        .where(RunUsageRecord.run_id.in_([str(run_id) for run_id in run_ids]))
        .group_by(RunUsageRecord.run_id)
    )
    return {
        str(run_id): usage_to_proto(*(int(value) for value in values))
        for run_id, *values in rows.all()
    }


_RUNS = RunRecord.__table__.c
_USAGE = RunUsageRecord.__table__.c
#: What GetRun answers: the tenant's run with its model calls summed (an aggregate without
#: GROUP BY is one row, zeros and a count of 0 for a run with none), in one statement.
_USAGE_SUMS = (
    select(
        func.count(_USAGE.id).label("usage_calls"),
        *(func.coalesce(func.sum(_USAGE[name]), 0).label(f"usage_{name}") for name in _SUMMED),
    )
    .where(_USAGE.run_id == column_param("usage_run_id", _USAGE.run_id))
    .subquery()
)
_RUN_WITH_USAGE = PreparedRead(
    select(*_RUNS, *_USAGE_SUMS.c)
    .select_from(RunRecord.__table__)
    .join(_USAGE_SUMS, true())
    .where(
        _RUNS.run_id == column_param("run_id", _RUNS.run_id),
        _RUNS.tenant_id == column_param("tenant_id", _RUNS.tenant_id),
    )
)


async def run_with_usage(session: AsyncSession, row: RunRecord) -> pb.Run:
    return run_to_proto(row, (await runs_usage(session, [row.run_id])).get(str(row.run_id)))


class RunHandlers:
    def __init__(self, ctx: ConversationContext) -> None:
        self._ctx = ctx

    async def get_run(self, request: pb.GetRunRequest) -> pb.GetRunResponse:
        tenant_id, _ = caller_tenant()
        run_id = parse_id(request.run_id, "run_id")
        # One statement on its own (no transaction): the run and its usage, consistent.
        found = await self._ctx.database.fetch_prepared(
            _RUN_WITH_USAGE, {"run_id": run_id, "tenant_id": tenant_id, "usage_run_id": str(run_id)}
        )
        if not found:
            raise _run_not_found(run_id)
        row = found[0]
        usage = (
            usage_to_proto(row.usage_calls, *(int(getattr(row, f"usage_{n}")) for n in _SUMMED))
            if row.usage_calls
            else None
        )
        return pb.GetRunResponse(run=run_to_proto(row, usage))

    async def list_runs(self, request: pb.ListRunsRequest) -> pb.ListRunsResponse:
        tenant_id, _ = caller_tenant()
        conversation_id = parse_id(request.conversation_id, "conversation_id")
        page_size_from(request.page_size)
        statement = select(RunRecord).where(RunRecord.conversation_id == conversation_id)
        filters = {"conversation": str(conversation_id)}
        if request.status != pb.RUN_STATUS_UNSPECIFIED:
            status = STATUS_FROM_PROTO.get(request.status)
            if status is None:
                raise InvalidArgument.field("status", "must be a known status")
            statement = statement.where(RunRecord.status == status)
            filters["status"] = status.value
        async with self._ctx.database.reading() as session:
            await tenant_conversation(session, tenant_id, conversation_id)
            page = await fetch_page(
                session,
                statement,
                sort_key=[RunRecord.id],
                position_of=lambda row: [row.id],
                codec=self._ctx.pages,
                query="conversation.ListRuns",
                filters=filters,
                page_size=request.page_size,
                page_token=request.page_token,
                descending=True,
            )
            usage = await runs_usage(session, [row.run_id for row in page.items])
        return pb.ListRunsResponse(
            runs=[run_to_proto(row, usage.get(str(row.run_id))) for row in page.items],
            next_page_token=page.next_page_token,
        )

    async def list_run_tasks(self, request: pb.ListRunTasksRequest) -> pb.ListRunTasksResponse:
        tenant_id, _ = caller_tenant()
        run_id = parse_id(request.run_id, "run_id")
        page_size_from(request.page_size)
        async with self._ctx.database.reading() as session:
            await tenant_run(session, tenant_id, run_id)
            page = await fetch_page(
                session,
                select(AgentTaskRecord).where(AgentTaskRecord.run_id == run_id),
                sort_key=[AgentTaskRecord.created_at, AgentTaskRecord.id],
                codec=self._ctx.pages,
                query="conversation.ListRunTasks",
                filters={"run": str(run_id)},
                page_size=request.page_size,
                page_token=request.page_token,
            )
        return pb.ListRunTasksResponse(
            tasks=[task_to_proto(row) for row in page.items],
            next_page_token=page.next_page_token,
        )

    async def cancel_run(self, request: pb.CancelRunRequest) -> pb.CancelRunResponse:
        tenant_id, _ = caller_tenant("member")
        run_id = parse_id(request.run_id, "run_id")
        violations = Violations()
        violations.text("reason", request.reason, MAX_REASON)
        violations.raise_if_any()
        async with self._ctx.database.reading() as session:
            conversation_id = (await tenant_run(session, tenant_id, run_id)).conversation_id
        async with self._ctx.database.transaction() as session:
            await lock_conversation(session, conversation_id)
            conversation = await tenant_conversation(session, tenant_id, conversation_id)
            row = await tenant_run(session, tenant_id, run_id, for_update=True)
            await self._ctx.runs.cancel(
                session, conversation, row, request.reason or "cancelled by the caller"
            )
            return pb.CancelRunResponse(run=await run_with_usage(session, row))

    async def decide_tool_call(
        self, request: pb.DecideToolCallRequest
    ) -> pb.DecideToolCallResponse:
        tenant_id, _ = caller_tenant("admin")
        run_id = parse_id(request.run_id, "run_id")
        violations = Violations()
        violations.required_uuid("tool_call_id", request.tool_call_id)
        violations.text("reason", request.reason, MAX_REASON)
        if request.decision not in (pb.TOOL_CALL_DECISION_APPROVE, pb.TOOL_CALL_DECISION_DENY):
            violations.add("decision", "is required: approve or deny")
        violations.raise_if_any()
        links = self._ctx.links
        if links is None:
            raise FailedPrecondition(
                "this conversation service has no tooling to decide tool calls with",
                reason="TOOLING_NOT_CONFIGURED",
            )
        async with self._ctx.database.reading() as session:
            run = await tenant_run(session, tenant_id, run_id)
        if run.status != RunStatus.REQUIRES_ACTION:
            raise FailedPrecondition(
                f"run {run_id} is {run.status.value}, not awaiting action",
                reason="RUN_NOT_AWAITING_ACTION",
            )
        approve = request.decision == pb.TOOL_CALL_DECISION_APPROVE
        if approve:
            await links.call(
                links.executions.ApproveToolCall,
                xpb.ApproveToolCallRequest(
                    tenant_id=str(tenant_id), tool_call_id=request.tool_call_id
                ),
            )
        else:
            await links.call(
                links.executions.DenyToolCall,
                xpb.DenyToolCallRequest(
                    tenant_id=str(tenant_id),
                    tool_call_id=request.tool_call_id,
                    reason=request.reason,
                ),
            )
        async with self._ctx.database.transaction() as session:
            await lock_conversation(session, run.conversation_id)
            conversation = await tenant_conversation(session, tenant_id, run.conversation_id)
            row = await tenant_run(session, tenant_id, run_id, for_update=True)
            await self._ctx.runs.resume(
                session,
                conversation,
                row,
                {
                    "tool_call_id": request.tool_call_id,
                    "decision": "approved" if approve else "denied",
                },
            )
            return pb.DecideToolCallResponse(run=await run_with_usage(session, row))
