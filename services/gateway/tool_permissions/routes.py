"""``/v1/agent-permissions`` and ``/v1/tool-permissions``: which agents and tools a tenant may use
(PermissionService), one gRPC call per request.

A tenant's viewers read its permissions; its admins switch agents and tools on and off for it
and grant agents (with the tools those agents are offered). ``tenant_id`` is your token's tenant
when left out; platform operators name the tenant.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from quarterdeck.tooling.v1 import permissions_pb2 as pb
from services.gateway.routing import (
    ERROR_RESPONSES,
    Clients,
    IdempotencyKey,
    PageSize,
    PageToken,
    TenantQuery,
)
from services.gateway.tool_permissions.schemas import (
    AgentPermission,
    AgentPermissionList,
    GrantAgentsBody,
    Grants,
    SetAgentPermissionBody,
    SetToolPermissionBody,
    ToolPermission,
    ToolPermissionList,
)

router = APIRouter(tags=["permissions"], responses=ERROR_RESPONSES)

AgentId = Annotated[str, Path(max_length=64, description="The agent's id.")]
ToolId = Annotated[str, Path(max_length=64, description="The tool configuration's id.")]


@router.get("/v1/agent-permissions")
async def list_agent_permissions(
    clients: Clients,
    tenant_id: TenantQuery = "",
    enabled_only: Annotated[bool, Query(description="Only enabled agents.")] = False,
    page_size: PageSize = 0,
    page_token: PageToken = "",
) -> AgentPermissionList:
    """The tenant's agent permissions, by agent id (viewers)."""
    reply = await clients.permissions.ListAgentPermissions(
        pb.ListAgentPermissionsRequest(
            tenant_id=tenant_id,
            enabled_only=enabled_only,
            page_size=page_size,
            page_token=page_token,
        )
    )
    return AgentPermissionList.from_proto(reply)


@router.put("/v1/agent-permissions/{agent_id}")
async def set_agent_permission(
    agent_id: AgentId, body: SetAgentPermissionBody, clients: Clients, tenant_id: TenantQuery = ""
) -> AgentPermission:
    """Enable or disable an agent the tenant can see, for the tenant (tenant admins)."""
    reply = await clients.permissions.SetAgentPermission(
        pb.SetAgentPermissionRequest(
            permission=pb.AgentPermission(
                tenant_id=tenant_id,
                agent_id=agent_id,
                enabled=body.enabled,
                output_override_id=body.output_override_id,
            )
        )
    )
    return AgentPermission.from_proto(reply.permission)


@router.post("/v1/agent-permissions:grant")
async def grant_agents(
    body: GrantAgentsBody,
    clients: Clients,
    tenant_id: TenantQuery = "",
    idempotency_key: IdempotencyKey = None,
) -> Grants:
    """Enable agents for the tenant and the tools they are offered (onboarding steps 3 and 4),
    all or nothing (tenant admins). A repeat with the same Idempotency-Key returns the first
    result."""
    reply = await clients.permissions.GrantAgents(
        pb.GrantAgentsRequest(
            tenant_id=tenant_id, agent_ids=body.agent_ids, request_id=idempotency_key or ""
        )
    )
    return Grants.from_proto(reply)


@router.get("/v1/tool-permissions")
async def list_tool_permissions(
    clients: Clients,
    tenant_id: TenantQuery = "",
    page_size: PageSize = 0,
    page_token: PageToken = "",
) -> ToolPermissionList:
    """Every active tool the tenant can see, with whether it is enabled for the tenant
    (seed 004 Query 3; viewers)."""
    reply = await clients.permissions.ListToolPermissions(
        pb.ListToolPermissionsRequest(
            tenant_id=tenant_id, page_size=page_size, page_token=page_token
        )
    )
    return ToolPermissionList.from_proto(reply)


@router.put("/v1/tool-permissions/{tool_id}")
async def set_tool_permission(
    tool_id: ToolId, body: SetToolPermissionBody, clients: Clients, tenant_id: TenantQuery = ""
) -> ToolPermission:
    """Enable or disable a tool the tenant can see, for the tenant (tenant admins)."""
    reply = await clients.permissions.SetToolPermission(
        pb.SetToolPermissionRequest(
            permission=pb.ToolPermission(tenant_id=tenant_id, tool_id=tool_id, enabled=body.enabled)
        )
    )
    return ToolPermission.from_proto(reply.permission)
