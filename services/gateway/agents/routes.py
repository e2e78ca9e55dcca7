"""``/v1/agents``: agents, the tools each is offered, and running a tool for an agent
(AgentService, ExecutionService.ExecuteTool), one gRPC call per request.

The tooling service decides who may do what: a tenant's viewers read its agents and the global
ones it may use; its admins create, change and archive its agents and their tools; platform
operators define global agents (``is_global``) and change them. ``tenant_id`` is your token's
tenant when left out; operators name the tenant, or leave it out to read or change global
agents. Another tenant's agent answers 404, exactly like one that does not exist. Tool calls
are run by the tenant's members; one that needs approval is stored as ``pending_approval``
and decided at ``/v1/tool-calls``. ``/v1/agent-execution-limits``: the limits of agent roles
per cost tier, read by anyone signed in and set by platform operators.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response
from fastapi.exceptions import RequestValidationError

from quarterdeck.tooling.v1 import agents_pb2 as pb
from quarterdeck.tooling.v1 import executions_pb2 as epb
from services.gateway.agents.schemas import (
    Agent,
    AgentList,
    AgentStatusName,
    AgentTool,
    AgentToolList,
    ArchiveAgentBody,
    CostTierName,
    CreateAgentBody,
    CreatedAgent,
    ExecutionLimits,
    ExecutionLimitsList,
    SetAgentToolBody,
    SetExecutionLimitsBody,
    UpdateAgentBody,
)
from services.gateway.proto_models import enum_number
from services.gateway.routing import (
    ERROR_RESPONSES,
    Clients,
    IdempotencyKey,
    PageSize,
    PageToken,
    TenantQuery,
)
from services.gateway.tool_calls.schemas import ExecuteToolBody, ToolCall

router = APIRouter(prefix="/v1/agents", tags=["agents"], responses=ERROR_RESPONSES)

limits = APIRouter(prefix="/v1/agent-execution-limits", tags=["agents"], responses=ERROR_RESPONSES)

AgentId = Annotated[str, Path(max_length=64, description="The agent's id.")]
ToolId = Annotated[str, Path(max_length=64, description="The tool configuration's id.")]


async def owner(clients: Clients, tenant_id: str) -> str:
    """The tenant named, else the caller's own: AgentService reads an empty tenant_id in a
    change as "a global agent", which only operators (who have no tenant) mean."""
    return tenant_id or await clients.own_tenant()


@router.post("", status_code=201)
async def create_agent(
    body: CreateAgentBody,
    clients: Clients,
    response: Response,
    tenant_id: TenantQuery = "",
    idempotency_key: IdempotencyKey = None,
) -> CreatedAgent:
    """Define an agent, offer it its tools and grant it to its tenant, in one call (tenant
    admins; platform operators for a global agent). A repeat with the same Idempotency-Key
    returns what the first request created."""
    reply = await clients.agents.CreateAgent(body.to_proto(tenant_id, idempotency_key or ""))
    response.headers["Location"] = f"{router.prefix}/{reply.agent.id}"
    return CreatedAgent.from_proto(reply)


@router.get("")
async def list_agents(
    clients: Clients,
    tenant_id: TenantQuery = "",
    status: Annotated[
        AgentStatusName | None,
        Query(description='Only agents in this status ("active": seed 002\'s active agents).'),
    ] = None,
    enabled_only: Annotated[
        bool,
        Query(description="Only active agents enabled for the tenant (seed 004 Query 1)."),
    ] = False,
    role_name: Annotated[str, Query(max_length=200, description="Only this role.")] = "",
    include_global: Annotated[
        bool, Query(description="Whether the global agents the tenant may use are listed too.")
    ] = True,
    page_size: PageSize = 0,
    page_token: PageToken = "",
) -> AgentList:
    """The tenant's agents and the global ones it may use, by name (viewers); operators
    without a tenant_id list the global agents."""
    reply = await clients.agents.ListAgents(
        pb.ListAgentsRequest(
            tenant_id=tenant_id,
            status=enum_number(pb.AgentStatus, status),
            enabled_only=enabled_only,
            role_name=role_name,
            include_global=include_global,
            page_size=page_size,
            page_token=page_token,
        )
    )
    return AgentList.from_proto(reply)


@router.get("/{agent_id}")
async def get_agent(agent_id: AgentId, clients: Clients, tenant_id: TenantQuery = "") -> Agent:
    """One of the tenant's agents, or a global one it may use (viewers)."""
    reply = await clients.agents.GetAgent(
        pb.GetAgentRequest(tenant_id=tenant_id, agent_id=agent_id)
    )
    return Agent.from_proto(reply.agent)


@router.patch("/{agent_id}")
async def update_agent(
    agent_id: AgentId,
    body: UpdateAgentBody,
    clients: Clients,
    tenant_id: TenantQuery = "",
    update_mask: Annotated[
        str | None,
        Query(
            max_length=2000,
            description="The fields to change, comma-separated (AIP-134); a field named but "
            "left out of the body is reset. By default, the fields present in the body.",
        ),
    ] = None,
) -> Agent:
    """Change the agent (its tenant's admins; operators for a global one) when config_version
    is the one stored (409 otherwise); the change bumps config_version."""
    paths = (
        None if update_mask is None else [p.strip() for p in update_mask.split(",") if p.strip()]
    )
    if paths is None and not body.sent_fields():
        raise RequestValidationError(
            [
                {
                    "loc": ("body",),
                    "msg": "must set at least one field besides config_version "
                    "(or name the fields to reset in update_mask)",
                    "type": "value_error",
                }
            ]
        )
    reply = await clients.agents.UpdateAgent(
        body.to_proto(await owner(clients, tenant_id), agent_id, paths)
    )
    return Agent.from_proto(reply.agent)


@router.post("/{agent_id}:archive")
async def archive_agent(
    agent_id: AgentId,
    clients: Clients,
    tenant_id: TenantQuery = "",
    body: ArchiveAgentBody | None = None,
) -> Agent:
    """Archive the agent: it is no longer listed as active nor run (its tenant's admins;
    operators for a global one). Archiving again changes nothing more."""
    reply = await clients.agents.ArchiveAgent(
        pb.ArchiveAgentRequest(
            tenant_id=await owner(clients, tenant_id),
            agent_id=agent_id,
            config_version=body.config_version if body else 0,
        )
    )
    return Agent.from_proto(reply.agent)


@router.get("/{agent_id}/tools")
async def list_agent_tools(
    agent_id: AgentId,
    clients: Clients,
    tenant_id: TenantQuery = "",
    page_size: PageSize = 0,
    page_token: PageToken = "",
) -> AgentToolList:
    """The agent's tools by priority (viewers); a page of five is what the agent is offered
    (seed 004 Query 2)."""
    reply = await clients.agents.ListAgentTools(
        pb.ListAgentToolsRequest(
            tenant_id=tenant_id, agent_id=agent_id, page_size=page_size, page_token=page_token
        )
    )
    return AgentToolList.from_proto(reply)


@router.put("/{agent_id}/tools/{tool_id}")
async def set_agent_tool(
    agent_id: AgentId,
    tool_id: ToolId,
    clients: Clients,
    tenant_id: TenantQuery = "",
    body: SetAgentToolBody | None = None,
) -> AgentTool:
    """Offer the tool to the agent at a priority, or change its priority (the agent's tenant's
    admins; operators for a global agent, which may be given global tools only)."""
    reply = await clients.agents.SetAgentTool(
        pb.SetAgentToolRequest(
            tenant_id=await owner(clients, tenant_id),
            agent_id=agent_id,
            tool_id=tool_id,
            priority=body.priority if body else 0,
        )
    )
    return AgentTool.from_proto(reply.agent_tool)


@router.delete("/{agent_id}/tools/{tool_id}", status_code=204, response_class=Response)
async def remove_agent_tool(
    agent_id: AgentId, tool_id: ToolId, clients: Clients, tenant_id: TenantQuery = ""
) -> None:
    """Withdraw the tool from the agent (as for offering it)."""
    await clients.agents.RemoveAgentTool(
        pb.RemoveAgentToolRequest(
            tenant_id=await owner(clients, tenant_id), agent_id=agent_id, tool_id=tool_id
        )
    )


@router.post("/{agent_id}/tools/{tool_id}:execute")
async def execute_tool(
    agent_id: AgentId,
    tool_id: ToolId,
    clients: Clients,
    tenant_id: TenantQuery = "",
    body: ExecuteToolBody | None = None,
    idempotency_key: IdempotencyKey = None,
) -> ToolCall:
    """Run the tool for the agent (the tenant's members), after every check: the tenant has the
    tool enabled, the agent is enabled and offered it, the arguments satisfy its input schema,
    the agent role's limits allow it. The answer is the recorded call: ``ok`` with its result,
    ``error`` or ``timeout`` with the reason, or ``pending_approval`` when a tenant admin must
    approve it first. A repeat with the same Idempotency-Key never runs the tool again."""
    body = body or ExecuteToolBody()
    reply = await clients.executions.ExecuteTool(
        epb.ExecuteToolRequest(
            tenant_id=tenant_id,
            agent_id=agent_id,
            tool_id=tool_id,
            arguments=body.arguments_struct(),
            run_id=body.run_id,
            conversation_id=body.conversation_id,
            request_id=idempotency_key or "",
        )
    )
    return ToolCall.from_proto(reply.tool_call)


@limits.get("")
async def list_execution_limits(
    clients: Clients,
    agent_role: Annotated[str, Query(max_length=200, description="Only this role's limits.")] = "",
    page_size: PageSize = 0,
    page_token: PageToken = "",
) -> ExecutionLimitsList:
    """The execution limits of agent roles per cost tier, by role then tier (anyone signed
    in)."""
    reply = await clients.agents.ListExecutionLimits(
        pb.ListExecutionLimitsRequest(
            agent_role=agent_role, page_size=page_size, page_token=page_token
        )
    )
    return ExecutionLimitsList.from_proto(reply)


@limits.put("/{agent_role}/{cost_tier}")
async def set_execution_limits(
    agent_role: Annotated[str, Path(max_length=200, description="The agent role.")],
    cost_tier: Annotated[CostTierName, Path(description="The cost tier.")],
    body: SetExecutionLimitsBody,
    clients: Clients,
) -> ExecutionLimits:
    """Store every limit of the role at the tier (platform operators)."""
    reply = await clients.agents.SetExecutionLimits(body.to_proto(agent_role, cost_tier))
    return ExecutionLimits.from_proto(reply.limits)
