"""Onboarding grants (seed 004 "New Tenant Onboarding", steps 3 and 4), moved here from
tenancy's stand-in table: tenancy's OnboardTenant calls GrantOnboarding before it commits the
tenant, and RevokeOnboarding if that commit then fails, so no tenant exists without its grants
and no grants outlive a failed onboarding (beyond the rare crash between the two commits, which
leaves grants on a tenant id no tenant has).

Every agent named must be one the tenant may use (global and offered to it) and not archived;
every tool named one the tenant may see; an output format override must exist. The tool grants
are the tools named plus those the enabled agents are offered (agent_tools); a tool named sets
its own enabled flag, a derived one is enabled.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from quarterdeck.tooling.v1 import permissions_pb2 as pb
from services.tooling.agents.handlers import agent_visible
from services.tooling.agents.models import AgentRecord, AgentStatus, AgentToolRecord
from services.tooling.permissions.models import (
    TenantAgentPermissionRecord,
    TenantOnboardingRecord,
    TenantToolPermissionRecord,
)
from services.tooling.tools.models import OutputFormatRecord, ToolConfigRecord
from shared.db import rows_matched
from shared.errors import FieldViolation, InvalidArgument
from shared.ids import parse_id

MAX_ONBOARDING_GRANTS = 500
MAX_ONBOARDING_ID = 255


@dataclass(frozen=True)
class AgentGrant:
    agent_id: uuid.UUID
    enabled: bool
    output_format_id: uuid.UUID | None


@dataclass(frozen=True)
class ToolGrant:
    tool_id: uuid.UUID
    enabled: bool


def _uuid(value: str, field: str, violations: list[FieldViolation]) -> uuid.UUID | None:
    """The id, or None with its problem added to ``violations`` (all are named at once)."""
    try:
        return parse_id(value, field)
    except InvalidArgument as refusal:
        violations.extend(refusal.violations)
        return None


def parse_grants(
    request: pb.GrantOnboardingRequest,
) -> tuple[list[AgentGrant], list[ToolGrant]]:
    """The request's grants, every malformed one named (INVALID_ARGUMENT) before any is read."""
    violations: list[FieldViolation] = []
    if not request.onboarding_id:
        violations.append(FieldViolation("onboarding_id", "is required"))
    elif len(request.onboarding_id) > MAX_ONBOARDING_ID:
        violations.append(
            FieldViolation("onboarding_id", f"must be at most {MAX_ONBOARDING_ID} characters")
        )
    if len(request.agent_grants) + len(request.tool_grants) > MAX_ONBOARDING_GRANTS:
        violations.append(FieldViolation("agent_grants", f"at most {MAX_ONBOARDING_GRANTS} grants"))
    agents: list[AgentGrant] = []
    seen: set[uuid.UUID] = set()
    for i, grant in enumerate(request.agent_grants):
        field = f"agent_grants[{i}]"
        agent_id = _uuid(grant.agent_id, f"{field}.agent_id", violations)
        override = (
            _uuid(grant.output_format_id, f"{field}.output_format_id", violations)
            if grant.output_format_id
            else None
        )
        if agent_id is None:
            continue
        if agent_id in seen:
            violations.append(FieldViolation(f"{field}.agent_id", "is granted twice"))
        seen.add(agent_id)
        enabled = grant.enabled if grant.HasField("enabled") else True
        agents.append(AgentGrant(agent_id, enabled, override))
    tools: list[ToolGrant] = []
    seen = set()
    for i, tool_grant in enumerate(request.tool_grants):
        field = f"tool_grants[{i}]"
        tool_id = _uuid(tool_grant.tool_id, f"{field}.tool_id", violations)
        if tool_id is None:
            continue
        if tool_id in seen:
            violations.append(FieldViolation(f"{field}.tool_id", "is granted twice"))
        seen.add(tool_id)
        enabled = tool_grant.enabled if tool_grant.HasField("enabled") else True
        tools.append(ToolGrant(tool_id, enabled))
    if violations:
        raise InvalidArgument(violations, reason="INVALID_ONBOARDING_GRANTS")
    return agents, tools


async def check_grants(
    session: AsyncSession,
    tenant: uuid.UUID,
    agents: Sequence[AgentGrant],
    tools: Sequence[ToolGrant],
) -> dict[uuid.UUID, str]:
    """Refuse (INVALID_ARGUMENT naming each) ids of no agent, tool or output format the tenant
    may use; answers the agents' names."""
    violations: list[FieldViolation] = []
    rows = {
        row.id: row
        for row in await session.scalars(
            select(AgentRecord).where(AgentRecord.id.in_([g.agent_id for g in agents]))
        )
    }
    formats = set(
        await session.scalars(
            select(OutputFormatRecord.id).where(
                OutputFormatRecord.id.in_(
                    [g.output_format_id for g in agents if g.output_format_id]
                )
            )
        )
    )
    for i, grant in enumerate(agents):
        row = rows.get(grant.agent_id)
        if row is None or not agent_visible(row, tenant):
            violations.append(
                FieldViolation(f"agent_grants[{i}].agent_id", "names no agent this tenant may use")
            )
        elif row.status is AgentStatus.ARCHIVED:
            violations.append(
                FieldViolation(f"agent_grants[{i}].agent_id", "names an archived agent")
            )
        if grant.output_format_id is not None and grant.output_format_id not in formats:
            violations.append(
                FieldViolation(f"agent_grants[{i}].output_format_id", "names no output format")
            )
    owners = dict(
        (
            await session.execute(
                select(ToolConfigRecord.id, ToolConfigRecord.tenant_id).where(
                    ToolConfigRecord.id.in_([g.tool_id for g in tools])
                )
            )
        )
        .tuples()
        .all()
    )
    for i, tool_grant in enumerate(tools):
        if tool_grant.tool_id not in owners or owners[tool_grant.tool_id] not in (None, tenant):
            violations.append(
                FieldViolation(f"tool_grants[{i}].tool_id", "names no tool this tenant may use")
            )
    if violations:
        raise InvalidArgument(violations, reason="UNKNOWN_ONBOARDING_GRANTS")
    return {agent_id: row.name for agent_id, row in rows.items()}


async def store_grants(
    session: AsyncSession,
    tenant: uuid.UUID,
    agents: Sequence[AgentGrant],
    tools: Sequence[ToolGrant],
) -> tuple[list[TenantAgentPermissionRecord], list[TenantToolPermissionRecord]]:
    """The permissions of a checked onboarding: the agents, the tools named, then the tools the
    enabled agents are offered that were not named (by tool id)."""
    agent_rows = [
        TenantAgentPermissionRecord(
            tenant_id=tenant,
            agent_id=grant.agent_id,
            enabled=grant.enabled,
            output_override_id=grant.output_format_id,
        )
        for grant in agents
    ]
    named = {grant.tool_id for grant in tools}
    offered = await session.scalars(
        select(AgentToolRecord.tool_id)
        .where(AgentToolRecord.agent_id.in_([g.agent_id for g in agents if g.enabled]))
        .order_by(AgentToolRecord.tool_id)
    )
    derived = [tool_id for tool_id in dict.fromkeys(offered) if tool_id not in named]
    tool_rows = [
        TenantToolPermissionRecord(tenant_id=tenant, tool_id=grant.tool_id, enabled=grant.enabled)
        for grant in tools
    ] + [TenantToolPermissionRecord(tenant_id=tenant, tool_id=t, enabled=True) for t in derived]
    session.add_all(agent_rows)
    session.add_all(tool_rows)
    await session.flush()
    return agent_rows, tool_rows


async def revoke_grants(session: AsyncSession, tenant: uuid.UUID, onboarding_id: str) -> int:
    """Delete the tenant's permissions if ``onboarding_id`` is the onboarding that made them."""
    claimed = await session.execute(
        delete(TenantOnboardingRecord).where(
            TenantOnboardingRecord.tenant_id == tenant,
            TenantOnboardingRecord.onboarding_id == onboarding_id,
        )
    )
    if not rows_matched(claimed):
        return 0
    agents = await session.execute(
        delete(TenantAgentPermissionRecord).where(TenantAgentPermissionRecord.tenant_id == tenant)
    )
    tools = await session.execute(
        delete(TenantToolPermissionRecord).where(TenantToolPermissionRecord.tenant_id == tenant)
    )
    return rows_matched(agents) + rows_matched(tools)
