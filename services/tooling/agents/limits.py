"""Execution limits per agent role and cost tier (seed 000 ``agent_ai_executable_limits``):
set by platform operators, read by anyone, enforced by ExecuteTool (tool lists, calls per
minute) and by the conversation worker (calls per day, tokens per request)."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from quarterdeck.tooling.v1 import agents_pb2 as pb
from services.tooling.agents.models import AgentExecutionLimitRecord, CostTier
from services.tooling.context import ToolingContext
from services.tooling.executions.models import ToolCallRecord, ToolCallStatus
from services.tooling.validation import Violations
from shared.auth import require_operator, require_principal
from shared.db_types import utcnow
from shared.errors import PermissionDenied, ResourceExhausted
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
#: Calls that ran (or are running) count against the rate; refusals (errors that never ran,
#: so have no latency) and calls waiting for approval do not.
_RAN = or_(
    ToolCallRecord.status.in_([ToolCallStatus.STARTED, ToolCallStatus.OK, ToolCallStatus.TIMEOUT]),
    and_(ToolCallRecord.status == ToolCallStatus.ERROR, ToolCallRecord.latency_ms.is_not(None)),
)


def limits_to_proto(row: AgentExecutionLimitRecord) -> pb.ExecutionLimits:
    return pb.ExecutionLimits(
        agent_role=row.agent_role,
        cost_tier=row.cost_tier.value,
        **{name: getattr(row, name) for name in (*_COUNTS, *_LISTS)},
        notes=row.notes or "",
        update_time=to_timestamp(row.updated_at),
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


async def enforce_limits(
    session: AsyncSession,
    tenant: uuid.UUID,
    agent_id: uuid.UUID,
    role: str,
    tier: CostTier,
    tool_name: str,
) -> None:
    """Refuse a call the role's limits at ``tier`` forbid; no limits stored means none apply."""
    limits = await session.scalar(
        select(AgentExecutionLimitRecord).where(
            AgentExecutionLimitRecord.agent_role == role,
            AgentExecutionLimitRecord.cost_tier == tier,
        )
    )
    if limits is None:
        return
    if tool_name in limits.blocked_tools or (
        limits.allowed_tools and tool_name not in limits.allowed_tools
    ):
        raise PermissionDenied(
            f"the {role} role may not call {tool_name!r} at the {tier.value} tier",
            reason="TOOL_NOT_ALLOWED_BY_LIMITS",
        )
    recent = await session.scalar(
        select(func.count())
        .select_from(ToolCallRecord)
        .where(
            ToolCallRecord.tenant_id == tenant,
            ToolCallRecord.agent_id == agent_id,
            ToolCallRecord.created_at >= utcnow() - timedelta(minutes=1),
            _RAN,
        )
    )
    if (recent or 0) >= limits.rate_limit_per_minute:
        raise ResourceExhausted(
            f"the agent made {recent} tool calls in the last minute; its limit is "
            f"{limits.rate_limit_per_minute}",
            reason="TOOL_RATE_LIMITED",
            metadata={"retry_after_seconds": "60"},
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
            row.notes = limits.notes or None
            row.updated_at = utcnow()
            await session.flush()
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
