"""Execution limits per agent role and cost tier (seed 000 ``agent_ai_executable_limits``):
set by platform operators, read by anyone, enforced by ExecuteTool (allowed and blocked tools
and operations, tool calls per minute and per UTC day, DB_QUERY calls per minute) and by the
conversation worker (model calls per day, tokens per request).

The per-window limits are counted in the database (``agent_execution_counters``, fixed windows
of the service clock), in the transaction that claims a call, so every replica shares one count
and a window admits exactly its limit however many calls race. A call is counted when it is
admitted, including a call that then waits for approval; a refused call is not counted.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import cast

from sqlalchemy import Table, and_, case, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from quarterdeck.tooling.v1 import agents_pb2 as pb
from services.tooling.agents.models import (
    AgentExecutionCounterRecord,
    AgentExecutionLimitRecord,
    CostTier,
    LimitWindow,
)
from services.tooling.context import ToolingContext
from services.tooling.validation import Violations
from shared.auth import require_operator, require_principal
from shared.db import rows_matched
from shared.db_types import utcnow
from shared.errors import PermissionDenied, ResourceExhausted
from shared.inserts import insert_ignoring_duplicates
from shared.pagination import fetch_page
from shared.timestamps import to_timestamp

_COUNTS = (
    "max_ai_calls_per_day",
    "max_tokens_per_request",
    "max_db_queries_per_minute",
    "max_storage_operations_per_day",
    "rate_limit_per_minute",
)
_LISTS = ("allowed_operations", "blocked_operations", "allowed_tools", "blocked_tools")


def limits_to_proto(row: AgentExecutionLimitRecord) -> pb.ExecutionLimits:
    return pb.ExecutionLimits(
        agent_role=row.agent_role,
        cost_tier=row.cost_tier.value,
        **{name: getattr(row, name) for name in (*_COUNTS, *_LISTS)},
        notes=row.notes or "",
        update_time=to_timestamp(row.updated_at),
        max_tool_calls_per_day=row.max_tool_calls_per_day,
    )


def cost_tier_of(requested: str, default: str) -> CostTier:
    """The tier a call runs under: a Quarterdeck service's word, else the deployment default."""
    principal = require_principal()
    if requested and principal.is_internal:
        try:
            return CostTier(requested)
        except ValueError:
            pass
    return CostTier(default)


async def limits_of(
    session: AsyncSession, role: str, tier: CostTier
) -> AgentExecutionLimitRecord | None:
    """The limits of ``role`` at ``tier``; None when none are stored (then none apply)."""
    return await session.scalar(
        select(AgentExecutionLimitRecord).where(
            AgentExecutionLimitRecord.agent_role == role,
            AgentExecutionLimitRecord.cost_tier == tier,
        )
    )


async def cached_limits(
    ctx: ToolingContext, role: str, tier: CostTier
) -> AgentExecutionLimitRecord | None:
    """:func:`limits_of` through the replica's cache (cleared by SetExecutionLimits here)."""

    async def load() -> AgentExecutionLimitRecord | None:
        async with ctx.database.reading() as session:
            return await limits_of(session, role, tier)

    return await ctx.limits_cache.get((role, tier), load)


def _named(name: str, names: list[str]) -> bool:
    return name.casefold() in {n.casefold() for n in names}


def check_allowed(limits: AgentExecutionLimitRecord | None, tool_name: str, operation: str) -> None:
    """Refuse a tool or an operation (the tool's base type: HTTP_GET, DB_QUERY, MCP, ...) the
    limits block, or leave out of a non-empty allow-list. Tool names match exactly, operations
    regardless of case."""
    if limits is None:
        return
    role, tier = limits.agent_role, limits.cost_tier.value
    if tool_name in limits.blocked_tools or (
        limits.allowed_tools and tool_name not in limits.allowed_tools
    ):
        raise PermissionDenied(
            f"the {role} role may not call {tool_name!r} at the {tier} tier",
            reason="TOOL_NOT_ALLOWED_BY_LIMITS",
        )
    if _named(operation, limits.blocked_operations) or (
        limits.allowed_operations and not _named(operation, limits.allowed_operations)
    ):
        raise PermissionDenied(
            f"the {role} role may not run {operation} operations at the {tier} tier",
            reason="OPERATION_NOT_ALLOWED_BY_LIMITS",
        )


@dataclass(frozen=True)
class _Counted:
    window: LimitWindow
    seconds: int
    limit: int
    what: str


def _counted(limits: AgentExecutionLimitRecord, operation: str) -> list[_Counted]:
    counted = [
        _Counted(
            LimitWindow.CALLS_PER_MINUTE, 60, limits.rate_limit_per_minute, "tool calls a minute"
        ),
    ]
    if limits.max_tool_calls_per_day is not None:
        counted.append(
            _Counted(
                LimitWindow.CALLS_PER_DAY, 86_400, limits.max_tool_calls_per_day, "tool calls a day"
            )
        )
    if operation == "DB_QUERY":
        counted.append(
            _Counted(
                LimitWindow.DB_QUERIES_PER_MINUTE,
                60,
                limits.max_db_queries_per_minute,
                "database queries a minute",
            )
        )
    return counted


async def _take_one(
    session: AsyncSession | AsyncConnection,
    dialect: str,
    tenant: uuid.UUID,
    agent_id: uuid.UUID,
    counted: _Counted,
    window_start: int,
) -> bool:
    """Count one call in the current window of ``counted``; False when the window is full."""
    if counted.limit <= 0:
        return False
    table = cast(Table, AgentExecutionCounterRecord.__table__)
    key = and_(
        table.c.tenant_id == tenant,
        table.c.agent_id == agent_id,
        table.c.kind == counted.window.value,
    )
    # A row of an older window starts this one at 1; a row of this window (or of a newer one,
    # written by a replica whose clock is ahead) counts on while below the limit.
    older = table.c.window_start < window_start
    advance = (
        update(table)
        .where(key, or_(older, table.c.count < counted.limit))
        .values(
            count=case((older, 1), else_=table.c.count + 1),
            window_start=case((older, window_start), else_=table.c.window_start),
        )
    )
    if rows_matched(await session.execute(advance)):
        return True
    inserted = await session.execute(
        insert_ignoring_duplicates(dialect, table, ["tenant_id", "agent_id", "kind"]).values(
            tenant_id=tenant,
            agent_id=agent_id,
            kind=counted.window.value,
            window_start=window_start,
            count=1,
        )
    )
    if rows_matched(inserted):
        return True
    # Another call made the row between the two statements: count against it once more.
    return bool(rows_matched(await session.execute(advance)))


async def take_from_limits(
    session: AsyncSession | AsyncConnection,
    dialect: str,
    limits: AgentExecutionLimitRecord | None,
    tenant: uuid.UUID,
    agent_id: uuid.UUID,
    operation: str,
    now: float,
) -> None:
    """Count one admitted call of the tenant's agent against every per-window limit, inside the
    transaction that claims the call: a full window refuses it (and the rollback takes back
    what the other windows counted), so no window ever admits more than its limit."""
    if limits is None:
        return
    for counted in _counted(limits, operation):
        window_start = int(now // counted.seconds) * counted.seconds
        if not await _take_one(session, dialect, tenant, agent_id, counted, window_start):
            retry_after = max(1, window_start + counted.seconds - int(now))
            raise ResourceExhausted(
                f"the agent reached its limit of {counted.limit} {counted.what} "
                f"({limits.agent_role} role, {limits.cost_tier.value} tier)",
                reason="TOOL_RATE_LIMITED"
                if counted.window is LimitWindow.CALLS_PER_MINUTE
                else f"{counted.window.name}_EXCEEDED",
                metadata={"retry_after_seconds": str(retry_after)},
            )


class ExecutionLimitHandlers:
    def __init__(self, ctx: ToolingContext) -> None:
        self._ctx = ctx

    async def set_execution_limits(
        self, request: pb.SetExecutionLimitsRequest
    ) -> pb.SetExecutionLimitsResponse:
        require_operator()
        limits = request.limits
        violations = Violations()
        violations.text("limits.agent_role", limits.agent_role, 200, required=True)
        tiers = [t.value for t in CostTier]
        if limits.cost_tier not in tiers:
            violations.add("limits.cost_tier", f"must be one of {', '.join(tiers)}")
        for name in _COUNTS:
            if getattr(limits, name) < 0:
                violations.add(f"limits.{name}", "must not be negative")
        if limits.HasField("max_tool_calls_per_day") and limits.max_tool_calls_per_day < 0:
            violations.add("limits.max_tool_calls_per_day", "must not be negative")
        for name in _LISTS:
            violations.strings(f"limits.{name}", getattr(limits, name), 255)
        violations.text("limits.notes", limits.notes, 10_000)
        violations.raise_if_any()
        async with self._ctx.database.transaction() as session:
            row = await session.scalar(
                select(AgentExecutionLimitRecord).where(
                    AgentExecutionLimitRecord.agent_role == limits.agent_role,
                    AgentExecutionLimitRecord.cost_tier == CostTier(limits.cost_tier),
                )
            )
            if row is None:
                row = AgentExecutionLimitRecord(
                    agent_role=limits.agent_role, cost_tier=CostTier(limits.cost_tier)
                )
                session.add(row)
            for name in _COUNTS:
                setattr(row, name, getattr(limits, name))
            for name in _LISTS:
                setattr(row, name, list(getattr(limits, name)))
            row.max_tool_calls_per_day = (
                limits.max_tool_calls_per_day if limits.HasField("max_tool_calls_per_day") else None
            )
            row.notes = limits.notes or None
            row.updated_at = utcnow()
            await session.flush()
        self._ctx.limits_cache.forget((row.agent_role, row.cost_tier))
        return pb.SetExecutionLimitsResponse(limits=limits_to_proto(row))

    async def list_execution_limits(
        self, request: pb.ListExecutionLimitsRequest
    ) -> pb.ListExecutionLimitsResponse:
        require_principal()
        statement = select(AgentExecutionLimitRecord)
        if request.agent_role:
            statement = statement.where(AgentExecutionLimitRecord.agent_role == request.agent_role)
        async with self._ctx.database.reading() as session:
            page = await fetch_page(
                session,
                statement,
                sort_key=[AgentExecutionLimitRecord.agent_role, AgentExecutionLimitRecord.id],
                position_of=lambda row: [row.agent_role, row.id],
                codec=self._ctx.pages,
                query="tooling.ListExecutionLimits",
                filters={"role": request.agent_role},
                page_size=request.page_size,
                page_token=request.page_token,
            )
        return pb.ListExecutionLimitsResponse(
            limits=[limits_to_proto(row) for row in page.items],
            next_page_token=page.next_page_token,
        )
