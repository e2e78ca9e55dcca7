"""PermissionService: which agents and tools a tenant may use (seed 004). A tenant's admins
switch agents and tools they can see on and off for their tenant; viewers read."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from quarterdeck.tooling.v1 import permissions_pb2 as pb
from services.tooling.access import acting_tenant, visible_to
from services.tooling.agents.handlers import visible_agent
from services.tooling.agents.models import AgentRecord
from services.tooling.context import ToolingContext
from services.tooling.permissions.convert import (
    agent_permission_to_proto,
    tool_permission_to_proto,
)
from services.tooling.permissions.grants import grant_agents
from services.tooling.permissions.models import (
    TenantAgentPermissionRecord,
    TenantOnboardingRecord,
    TenantToolPermissionRecord,
)
from services.tooling.permissions.onboarding import (
    check_grants,
    parse_grants,
    revoke_grants,
    store_grants,
)
from services.tooling.tools.models import OutputFormatRecord, ToolConfigRecord
from shared.auth import require_operator
from shared.errors import AlreadyExists, InvalidArgument, NotFound
from shared.ids import parse_id
from shared.pagination import fetch_page

MAX_GRANTED_AGENTS = 100


async def visible_tool(
    session: AsyncSession, tenant: uuid.UUID, tool_id: uuid.UUID
) -> ToolConfigRecord:
    tool = await session.get(ToolConfigRecord, tool_id)
    if tool is None or tool.tenant_id not in (None, tenant):
        raise NotFound(f"tool {tool_id} not found", reason="TOOL_NOT_FOUND")
    return tool


class PermissionHandlers:
    def __init__(self, ctx: ToolingContext) -> None:
        self._ctx = ctx

    async def set_agent_permission(
        self, request: pb.SetAgentPermissionRequest
    ) -> pb.SetAgentPermissionResponse:
        permission = request.permission
        tenant = acting_tenant(permission.tenant_id, "admin")
        agent_id = parse_id(permission.agent_id, "permission.agent_id")
        override = None
        if permission.output_override_id:
            override = parse_id(permission.output_override_id, "permission.output_override_id")
        async with self._ctx.database.transaction() as session:
            agent = await visible_agent(session, tenant, agent_id)
            if override is not None and await session.get(OutputFormatRecord, override) is None:
                raise InvalidArgument.field(
                    "permission.output_override_id", "names no output format"
                )
            row = await session.get(TenantAgentPermissionRecord, (tenant, agent_id))
            if row is None:
                row = TenantAgentPermissionRecord(tenant_id=tenant, agent_id=agent_id)
                session.add(row)
            row.enabled = permission.enabled
            row.output_override_id = override
            await session.flush()
            await session.refresh(row)
        self._ctx.tool_access_changed()
        return pb.SetAgentPermissionResponse(permission=agent_permission_to_proto(row, agent.name))

    async def list_agent_permissions(
        self, request: pb.ListAgentPermissionsRequest
    ) -> pb.ListAgentPermissionsResponse:
        tenant = acting_tenant(request.tenant_id)
        statement = select(TenantAgentPermissionRecord).where(
            TenantAgentPermissionRecord.tenant_id == tenant
        )
        if request.enabled_only:
            statement = statement.where(TenantAgentPermissionRecord.enabled.is_(True))
        async with self._ctx.database.reading() as session:
            page = await fetch_page(
                session,
                statement,
                sort_key=[TenantAgentPermissionRecord.agent_id],
                position_of=lambda row: [row.agent_id],
                codec=self._ctx.pages,
                query="tooling.ListAgentPermissions",
                filters={"tenant": str(tenant), "enabled": request.enabled_only},
                page_size=request.page_size,
                page_token=request.page_token,
            )
            names = {
                agent_id: name
                for agent_id, name in await session.execute(
                    select(AgentRecord.id, AgentRecord.name).where(
                        AgentRecord.id.in_([row.agent_id for row in page.items])
                    )
                )
            }
        return pb.ListAgentPermissionsResponse(
            permissions=[
                agent_permission_to_proto(row, names.get(row.agent_id, "")) for row in page.items
            ],
            next_page_token=page.next_page_token,
        )

    async def set_tool_permission(
        self, request: pb.SetToolPermissionRequest
    ) -> pb.SetToolPermissionResponse:
        permission = request.permission
        tenant = acting_tenant(permission.tenant_id, "admin")
        tool_id = parse_id(permission.tool_id, "permission.tool_id")
        async with self._ctx.database.transaction() as session:
            tool = await visible_tool(session, tenant, tool_id)
            row = await session.get(TenantToolPermissionRecord, (tenant, tool_id))
            if row is None:
                row = TenantToolPermissionRecord(tenant_id=tenant, tool_id=tool_id)
                session.add(row)
            row.enabled = permission.enabled
            await session.flush()
        self._ctx.tool_access_changed()
        return pb.SetToolPermissionResponse(
            permission=tool_permission_to_proto(tenant, tool_id, tool.name, row)
        )

    async def list_tool_permissions(
        self, request: pb.ListToolPermissionsRequest
    ) -> pb.ListToolPermissionsResponse:
        tenant = acting_tenant(request.tenant_id)
        # Seed 004 Query 3: every active tool, with the tenant's permission when it has one.
        statement = select(ToolConfigRecord).where(
            ToolConfigRecord.is_active.is_(True), visible_to(ToolConfigRecord.tenant_id, tenant)
        )
        async with self._ctx.database.reading() as session:
            page = await fetch_page(
                session,
                statement,
                sort_key=[ToolConfigRecord.id],
                position_of=lambda tool: [tool.id],
                codec=self._ctx.pages,
                query="tooling.ListToolPermissions",
                filters={"tenant": str(tenant)},
                page_size=request.page_size,
                page_token=request.page_token,
            )
            permissions = {
                row.tool_id: row
                for row in await session.scalars(
                    select(TenantToolPermissionRecord).where(
                        TenantToolPermissionRecord.tenant_id == tenant,
                        TenantToolPermissionRecord.tool_id.in_([t.id for t in page.items]),
                    )
                )
            }
        return pb.ListToolPermissionsResponse(
            permissions=[
                tool_permission_to_proto(tenant, tool.id, tool.name, permissions.get(tool.id))
                for tool in page.items
            ],
            next_page_token=page.next_page_token,
        )

    async def grant_agents(self, request: pb.GrantAgentsRequest) -> pb.GrantAgentsResponse:
        tenant = acting_tenant(request.tenant_id, "admin")
        if not request.agent_ids:
            raise InvalidArgument.field("agent_ids", "must name at least one agent")
        if len(request.agent_ids) > MAX_GRANTED_AGENTS:
            raise InvalidArgument.field("agent_ids", f"may name at most {MAX_GRANTED_AGENTS}")
        agent_ids = [parse_id(v, f"agent_ids[{i}]") for i, v in enumerate(request.agent_ids)]
        if len(set(agent_ids)) != len(agent_ids):
            raise InvalidArgument.field("agent_ids", "must name each agent once")

        async def grant(session: AsyncSession) -> pb.GrantAgentsResponse:
            names: dict[uuid.UUID, str] = {}
            for i, agent_id in enumerate(agent_ids):
                try:
                    names[agent_id] = (await visible_agent(session, tenant, agent_id)).name
                except NotFound:
                    raise InvalidArgument.field(
                        f"agent_ids[{i}]", "names no agent this tenant may use"
                    ) from None
            agents, tools = await grant_agents(session, tenant, agent_ids, enable_existing=True)
            tool_names = {
                tool_id: name
                for tool_id, name in await session.execute(
                    select(ToolConfigRecord.id, ToolConfigRecord.name).where(
                        ToolConfigRecord.id.in_([t.tool_id for t in tools])
                    )
                )
            }
            for row in agents:
                await session.refresh(row)
            return pb.GrantAgentsResponse(
                agent_permissions=[
                    agent_permission_to_proto(row, names[row.agent_id]) for row in agents
                ],
                tool_permissions=[
                    tool_permission_to_proto(tenant, t.tool_id, tool_names[t.tool_id], t)
                    for t in tools
                ],
            )

        return await self._ctx.idempotency.run(
            endpoint="tooling.GrantAgents",
            request=request,
            response_type=pb.GrantAgentsResponse,
            create=grant,
            resource_id_of=lambda _response: str(tenant),
            scope=str(tenant),
        )

    # -- Onboarding -------------------------------------------------------------------------

    async def grant_onboarding(
        self, request: pb.GrantOnboardingRequest
    ) -> pb.GrantOnboardingResponse:
        require_operator()
        tenant = parse_id(request.tenant_id, "tenant_id")
        agents, tools = parse_grants(request)
        known = await self._onboarded(tenant, request.onboarding_id)
        if known is not None:
            return known
        try:
            async with self._ctx.database.transaction() as session:
                session.add(
                    TenantOnboardingRecord(tenant_id=tenant, onboarding_id=request.onboarding_id)
                )
                await session.flush()  # claims the tenant's onboarding before any grant
                names = await check_grants(session, tenant, agents, tools)
                agent_rows, tool_rows = await store_grants(session, tenant, agents, tools)
                tool_names = await self._tool_names(session, [t.tool_id for t in tool_rows])
                for row in agent_rows:
                    await session.refresh(row)
            self._ctx.tool_access_changed()
            return pb.GrantOnboardingResponse(
                agent_permissions=[
                    agent_permission_to_proto(row, names[row.agent_id]) for row in agent_rows
                ],
                tool_permissions=[
                    tool_permission_to_proto(tenant, t.tool_id, tool_names[t.tool_id], t)
                    for t in tool_rows
                ],
            )
        except IntegrityError:
            # The same onboarding raced this call (answer it), or another onboarded the tenant.
            known = await self._onboarded(tenant, request.onboarding_id)
            if known is None:
                raise
            return known

    async def _onboarded(
        self, tenant: uuid.UUID, onboarding_id: str
    ) -> pb.GrantOnboardingResponse | None:
        """The grants of the tenant's onboarding when it is ``onboarding_id``; None when the
        tenant was not onboarded; ALREADY_EXISTS when another onboarding did it."""
        async with self._ctx.database.reading() as session:
            onboarding = await session.get(TenantOnboardingRecord, tenant)
            if onboarding is None:
                return None
            if onboarding.onboarding_id != onboarding_id:
                raise AlreadyExists(
                    f"tenant {tenant} was onboarded by another onboarding",
                    reason="TENANT_ALREADY_ONBOARDED",
                )
            agent_rows = list(
                await session.scalars(
                    select(TenantAgentPermissionRecord).where(
                        TenantAgentPermissionRecord.tenant_id == tenant
                    )
                )
            )
            tool_rows = list(
                await session.scalars(
                    select(TenantToolPermissionRecord).where(
                        TenantToolPermissionRecord.tenant_id == tenant
                    )
                )
            )
            agent_names = dict(
                (
                    await session.execute(
                        select(AgentRecord.id, AgentRecord.name).where(
                            AgentRecord.id.in_([row.agent_id for row in agent_rows])
                        )
                    )
                )
                .tuples()
                .all()
            )
            tool_names = await self._tool_names(session, [t.tool_id for t in tool_rows])
        return pb.GrantOnboardingResponse(
            agent_permissions=[
                agent_permission_to_proto(row, agent_names[row.agent_id]) for row in agent_rows
            ],
            tool_permissions=[
                tool_permission_to_proto(tenant, t.tool_id, tool_names[t.tool_id], t)
                for t in tool_rows
            ],
        )

    @staticmethod
    async def _tool_names(session: AsyncSession, tool_ids: list[uuid.UUID]) -> dict[uuid.UUID, str]:
        return dict(
            (
                await session.execute(
                    select(ToolConfigRecord.id, ToolConfigRecord.name).where(
                        ToolConfigRecord.id.in_(tool_ids)
                    )
                )
            )
            .tuples()
            .all()
        )

    async def revoke_onboarding(
        self, request: pb.RevokeOnboardingRequest
    ) -> pb.RevokeOnboardingResponse:
        require_operator()
        tenant = parse_id(request.tenant_id, "tenant_id")
        if not request.onboarding_id:
            raise InvalidArgument.field("onboarding_id", "is required")
        async with self._ctx.database.transaction() as session:
            revoked = await revoke_grants(session, tenant, request.onboarding_id)
        self._ctx.tool_access_changed()
        return pb.RevokeOnboardingResponse(revoked_count=revoked)
