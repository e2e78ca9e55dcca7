"""Granting agents to a tenant, with the tools they are offered (seed 004 onboarding steps 3
and 4): used by GrantAgents and by CreateAgent for a tenant's own agent."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.tooling.agents.models import AgentToolRecord
from services.tooling.permissions.models import (
    TenantAgentPermissionRecord,
    TenantToolPermissionRecord,
)


async def grant_agents(
    session: AsyncSession,
    tenant: uuid.UUID,
    agent_ids: Sequence[uuid.UUID],
    *,
    enable_existing: bool = False,
) -> tuple[list[TenantAgentPermissionRecord], list[TenantToolPermissionRecord]]:
    """Enable ``agent_ids`` for ``tenant`` and grant the tools they are offered.

    A tool permission the tenant already has (enabled or switched off) is left as it is; an
    agent permission too, unless ``enable_existing`` (an explicit grant switches it back on).
    """
    existing_agents = {
        row.agent_id: row
        for row in await session.scalars(
            select(TenantAgentPermissionRecord).where(
                TenantAgentPermissionRecord.tenant_id == tenant,
                TenantAgentPermissionRecord.agent_id.in_(agent_ids),
            )
        )
    }
    agent_rows: list[TenantAgentPermissionRecord] = []
    for agent_id in agent_ids:
        row = existing_agents.get(agent_id)
        if row is None:
            row = TenantAgentPermissionRecord(tenant_id=tenant, agent_id=agent_id, enabled=True)
            session.add(row)
        elif enable_existing:
            row.enabled = True
        agent_rows.append(row)
    tool_ids = list(
        dict.fromkeys(
            await session.scalars(
                select(AgentToolRecord.tool_id)
                .where(AgentToolRecord.agent_id.in_(agent_ids))
                .order_by(AgentToolRecord.tool_id)
            )
        )
    )
    existing_tools = {
        row.tool_id: row
        for row in await session.scalars(
            select(TenantToolPermissionRecord).where(
                TenantToolPermissionRecord.tenant_id == tenant,
                TenantToolPermissionRecord.tool_id.in_(tool_ids),
            )
        )
    }
    tool_rows: list[TenantToolPermissionRecord] = []
    for tool_id in tool_ids:
        tool_row = existing_tools.get(tool_id)
        if tool_row is None:
            tool_row = TenantToolPermissionRecord(tenant_id=tenant, tool_id=tool_id, enabled=True)
            session.add(tool_row)
        tool_rows.append(tool_row)
    await session.flush()
    return agent_rows, tool_rows
