"""Everything tooling's handlers are built from, made once per process by ``prepare``."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from services.tooling.config import ToolingSettings
from services.tooling.egress import EgressGuard
from services.tooling.mcp_client import McpServers, McpTool
from services.tooling.telemetry_link import ToolUsageLink
from services.tooling.tools.secret_headers import secret_box_of
from shared.clock import Clock
from shared.db import Database
from shared.idempotency import Idempotency
from shared.pagination import PageTokenCodec
from shared.secret_box import SecretBox
from shared.server import ServiceContext
from shared.ttl_cache import TtlCache

if TYPE_CHECKING:
    from services.tooling.agents.models import AgentExecutionLimitRecord, AgentRecord, CostTier
    from services.tooling.executions.access import ToolAccess


@dataclass(frozen=True)
class ToolingContext:
    settings: ToolingSettings
    database: Database
    pages: PageTokenCodec
    idempotency: Idempotency
    egress: EgressGuard
    tool_usage: ToolUsageLink
    #: Seals tools' secret headers; None while no key is configured.
    secrets: SecretBox | None
    #: The time limits' windows are counted in (a test's ManualClock in tests).
    clock: Clock
    #: Agent definitions by id for the ExecuteTool path (a missing agent is not kept); forgotten
    #: by this replica's UpdateAgent and ArchiveAgent.
    agent_cache: TtlCache[uuid.UUID, AgentRecord | None]
    #: Execution limits by (role, tier), None when none are stored; cleared by
    #: SetExecutionLimits.
    limits_cache: TtlCache[tuple[str, CostTier], AgentExecutionLimitRecord | None]
    #: What ExecuteTool reads besides the agent, by (tenant, agent id, tool id or name): the
    #: tool, whether the agent is offered it, the tenant's two permissions; only a snapshot that
    #: lets the call through is kept. Cleared by this replica's every change to tools, agent
    #: tools and permissions (:meth:`tool_access_changed`).
    access_cache: TtlCache[tuple[uuid.UUID, uuid.UUID, str], ToolAccess]
    #: How MCP servers are reached (the egress guard, the registered stdio commands).
    mcp: McpServers
    #: Each MCP server's tools/list answer by server url (``mcp_tools_cache_seconds``).
    mcp_tools: TtlCache[str, list[McpTool]]

    @classmethod
    def of(
        cls,
        context: ServiceContext[ToolingSettings, Any],
        egress: EgressGuard,
        tool_usage: ToolUsageLink,
    ) -> ToolingContext:
        return cls(
            settings=context.settings,
            database=context.database,
            pages=context.page_tokens,
            idempotency=context.idempotency,
            egress=egress,
            tool_usage=tool_usage,
            secrets=secret_box_of(context.settings),
            clock=context.clock,
            agent_cache=TtlCache(
                context.settings.agent_cache_ttl_seconds,
                clock=context.clock,
                cacheable=lambda row: row is not None,
            ),
            limits_cache=TtlCache(context.settings.agent_cache_ttl_seconds, clock=context.clock),
            access_cache=TtlCache(
                context.settings.agent_cache_ttl_seconds,
                clock=context.clock,
                cacheable=lambda access: access.lets_through,
            ),
            mcp=McpServers(egress, context.settings.stdio_servers),
            mcp_tools=TtlCache(
                context.settings.mcp_tools_cache_seconds, max_entries=1000, clock=context.clock
            ),
        )

    def tool_access_changed(self) -> None:
        """Called after a committed change to a tool, an agent's tools or a tenant's
        permissions: this replica's next ExecuteTool reads them again."""
        self.access_cache.clear()
