"""What an ExecuteTool call reads besides its agent: the tool it names, whether the agent is
offered it, the tenant's permissions for the agent and the tool, the tool's base type and output
format. Read in one session into a :class:`ToolAccess` snapshot, kept in the replica's
``access_cache`` while it lets calls through (at most ``agent_cache_ttl_seconds``, or until this
replica changes a tool, an agent's tools or a permission)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.tooling.agents.models import AgentRecord, AgentToolRecord
from services.tooling.permissions.models import (
    TenantAgentPermissionRecord,
    TenantToolPermissionRecord,
)
from services.tooling.tools.models import BaseToolRecord, OutputFormatRecord, ToolConfigRecord
from shared.errors import InvalidArgument, NotFound
from shared.ids import parse_id


@dataclass(frozen=True)
class ToolAccess:
    """One (tenant, agent, tool) as stored when read. The tool row is detached and shared: read
    it, never change it."""

    tool: ToolConfigRecord
    offered: bool
    agent_enabled: bool
    tool_enabled: bool
    base_type: str
    format_name: str | None

    @property
    def lets_through(self) -> bool:
        """Every stored permission allows the call (the agent's own state is checked apart)."""
        return self.offered and self.agent_enabled and self.tool_enabled and self.tool.is_active


async def _named_tool(
    session: AsyncSession, agent: AgentRecord, tool_id: str, tool_name: str
) -> tuple[ToolConfigRecord, bool]:
    """The tool the request names, and whether the agent is offered it."""
    if tool_id:
        tool = await session.get(ToolConfigRecord, parse_id(tool_id, "tool_id"))
        if tool is None or tool.tenant_id not in (None, agent.tenant_id):
            raise NotFound(f"tool {tool_id} not found", reason="TOOL_NOT_FOUND")
        offered = await session.get(AgentToolRecord, (agent.id, tool.id)) is not None
        return tool, offered
    if not tool_name:
        raise InvalidArgument.field("tool_id", "is required (or tool_name)")
    tool = await session.scalar(
        select(ToolConfigRecord)
        .join(AgentToolRecord, AgentToolRecord.tool_id == ToolConfigRecord.id)
        .where(AgentToolRecord.agent_id == agent.id, ToolConfigRecord.name == tool_name)
    )
    if tool is None:
        raise NotFound(f"the agent has no tool named {tool_name!r}", reason="TOOL_NOT_FOUND")
    return tool, True


async def read_access(
    session: AsyncSession,
    tenant: uuid.UUID,
    agent: AgentRecord,
    tool_id: str = "",
    tool_name: str = "",
) -> ToolAccess:
    """The snapshot as stored now, read in ``session``."""
    tool, offered = await _named_tool(session, agent, tool_id, tool_name)
    agent_permission = await session.get(TenantAgentPermissionRecord, (tenant, agent.id))
    tool_permission = await session.get(TenantToolPermissionRecord, (tenant, tool.id))
    base = await session.get(BaseToolRecord, tool.base_tool_id)
    assert base is not None  # a foreign key
    output_format = (
        await session.get(OutputFormatRecord, tool.output_format_id)
        if tool.output_format_id
        else None
    )
    return ToolAccess(
        tool=tool,
        offered=offered,
        agent_enabled=agent_permission is not None and agent_permission.enabled,
        tool_enabled=tool_permission is not None and tool_permission.enabled,
        base_type=base.type,
        format_name=output_format.name if output_format else None,
    )
