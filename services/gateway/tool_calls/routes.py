"""``/v1/tool-calls``: the calls a tenant's agents made, and the approval of held ones
(ExecutionService), one gRPC call per request.

A tenant's viewers read its calls; its admins approve or deny a call held as
``pending_approval``. An approved call runs exactly once, however often it is approved; a denied
one never runs. ``tenant_id`` is your token's tenant when left out; operators name it. Another
tenant's call answers 404. Calls are made at ``POST /v1/agents/{agent_id}/tools/{tool_id}:execute``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from quarterdeck.tooling.v1 import executions_pb2 as pb
from services.gateway.proto_models import enum_number
from services.gateway.routing import ERROR_RESPONSES, Clients, PageSize, PageToken, TenantQuery
from services.gateway.tool_calls.schemas import (
    DenyToolCallBody,
    ToolCall,
    ToolCallList,
    ToolCallStateName,
)

router = APIRouter(prefix="/v1/tool-calls", tags=["tool calls"], responses=ERROR_RESPONSES)

ToolCallId = Annotated[str, Path(max_length=64, description="The call's id.")]


@router.get("")
async def list_tool_calls(
    clients: Clients,
    tenant_id: TenantQuery = "",
    agent_id: Annotated[str, Query(max_length=64, description="Only this agent's calls.")] = "",
    run_id: Annotated[str, Query(max_length=64, description="Only this run's calls.")] = "",
    state: Annotated[ToolCallStateName | None, Query(description="Only this state.")] = None,
    page_size: PageSize = 0,
    page_token: PageToken = "",
) -> ToolCallList:
    """The tenant's tool calls, newest first (viewers)."""
    reply = await clients.executions.ListToolCalls(
        pb.ListToolCallsRequest(
            tenant_id=tenant_id,
            agent_id=agent_id,
            run_id=run_id,
            state=enum_number(pb.ToolCallState, state),
            page_size=page_size,
            page_token=page_token,
        )
    )
    return ToolCallList.from_proto(reply)


@router.get("/{tool_call_id}")
async def get_tool_call(
    tool_call_id: ToolCallId, clients: Clients, tenant_id: TenantQuery = ""
) -> ToolCall:
    """One call with its result (viewers)."""
    reply = await clients.executions.GetToolCall(
        pb.GetToolCallRequest(tenant_id=tenant_id, tool_call_id=tool_call_id)
    )
    return ToolCall.from_proto(reply.tool_call)


@router.post("/{tool_call_id}:approve")
async def approve_tool_call(
    tool_call_id: ToolCallId, clients: Clients, tenant_id: TenantQuery = ""
) -> ToolCall:
    """Run a pending call (tenant admins); the answer is the call after it ran. Approving it
    again answers the same outcome without running it again."""
    reply = await clients.executions.ApproveToolCall(
        pb.ApproveToolCallRequest(tenant_id=tenant_id, tool_call_id=tool_call_id)
    )
    return ToolCall.from_proto(reply.tool_call)


@router.post("/{tool_call_id}:deny")
async def deny_tool_call(
    tool_call_id: ToolCallId,
    clients: Clients,
    tenant_id: TenantQuery = "",
    body: DenyToolCallBody | None = None,
) -> ToolCall:
    """Refuse a pending call (tenant admins); it never runs."""
    reply = await clients.executions.DenyToolCall(
        pb.DenyToolCallRequest(
            tenant_id=tenant_id, tool_call_id=tool_call_id, reason=body.reason if body else ""
        )
    )
    return ToolCall.from_proto(reply.tool_call)
