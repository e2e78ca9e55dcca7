"""``/v1/tools``, ``/v1/base-tools`` and ``/v1/output-formats``: the tool catalogue
(ToolService), one gRPC call per request.

Everyone signed in reads the base tools (HTTP_GET, HTTP_POST, RAG, DB_QUERY, OCR, MCP) and the
output formats. A tenant's viewers read its tools and the global ones; its admins create and
change its tools and import an MCP server's tools; platform operators manage the global tools.
``tenant_id`` is your token's tenant when left out; operators name the tenant, or leave it out
for the global tools. Another tenant's tool answers 404.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response
from fastapi.exceptions import RequestValidationError

from quarterdeck.tooling.v1 import tools_pb2 as pb
from services.gateway.routing import (
    ERROR_RESPONSES,
    Clients,
    IdempotencyKey,
    PageSize,
    PageToken,
    TenantQuery,
)
from services.gateway.tools.schemas import (
    BaseToolList,
    CreateToolBody,
    ImportedTools,
    ImportMcpToolsBody,
    OutputFormatList,
    ToolConfig,
    ToolConfigList,
    UpdateToolBody,
)

router = APIRouter(tags=["tools"], responses=ERROR_RESPONSES)

ToolId = Annotated[str, Path(max_length=64, description="The tool configuration's id.")]


async def owner(clients: Clients, tenant_id: str) -> str:
    """The tenant named, else the caller's own: ToolService reads an empty tenant_id in a
    write as "a global tool", which only operators (who have no tenant) mean."""
    return tenant_id or await clients.own_tenant()


@router.get("/v1/base-tools")
async def list_base_tools(
    clients: Clients, page_size: PageSize = 0, page_token: PageToken = ""
) -> BaseToolList:
    """The tool types, each with the schema its tool configurations satisfy."""
    reply = await clients.tools.ListBaseTools(
        pb.ListBaseToolsRequest(page_size=page_size, page_token=page_token)
    )
    return BaseToolList.from_proto(reply)


@router.get("/v1/output-formats")
async def list_output_formats(
    clients: Clients, page_size: PageSize = 0, page_token: PageToken = ""
) -> OutputFormatList:
    """The shapes a tool's or an agent's output can take."""
    reply = await clients.tools.ListOutputFormats(
        pb.ListOutputFormatsRequest(page_size=page_size, page_token=page_token)
    )
    return OutputFormatList.from_proto(reply)


@router.post("/v1/tools", status_code=201)
async def create_tool(
    body: CreateToolBody,
    clients: Clients,
    response: Response,
    tenant_id: TenantQuery = "",
    idempotency_key: IdempotencyKey = None,
) -> ToolConfig:
    """Define a tool of a base type (tenant admins; platform operators for a global tool). A
    repeat with the same Idempotency-Key returns what the first request created."""
    reply = await clients.tools.CreateToolConfig(
        body.to_proto(await owner(clients, tenant_id), idempotency_key or "")
    )
    response.headers["Location"] = f"/v1/tools/{reply.tool.id}"
    return ToolConfig.from_proto(reply.tool)


@router.get("/v1/tools")
async def list_tools(
    clients: Clients,
    tenant_id: TenantQuery = "",
    active_only: Annotated[bool, Query(description="Only active tools.")] = False,
    base_tool_type: Annotated[
        str, Query(max_length=32, description='Only tools of this base type, such as "MCP".')
    ] = "",
    page_size: PageSize = 0,
    page_token: PageToken = "",
) -> ToolConfigList:
    """The tenant's tools and the global ones, by name (viewers); operators without a
    tenant_id list the global tools."""
    reply = await clients.tools.ListToolConfigs(
        pb.ListToolConfigsRequest(
            tenant_id=tenant_id,
            active_only=active_only,
            base_tool_type=base_tool_type,
            page_size=page_size,
            page_token=page_token,
        )
    )
    return ToolConfigList.from_proto(reply)


@router.post("/v1/tools:import-mcp")
async def import_mcp_tools(
    body: ImportMcpToolsBody, clients: Clients, tenant_id: TenantQuery = ""
) -> ImportedTools:
    """List an MCP server's tools and store each as a tool of base type MCP with the server's
    input schema (tenant admins; platform operators for global tools). A tool imported before
    under the same name is refreshed, not duplicated."""
    reply = await clients.tools.ImportMcpTools(body.to_proto(await owner(clients, tenant_id)))
    return ImportedTools.from_proto(reply)


@router.get("/v1/tools/{tool_id}")
async def get_tool(tool_id: ToolId, clients: Clients, tenant_id: TenantQuery = "") -> ToolConfig:
    """One of the tenant's tools, or a global one (viewers)."""
    reply = await clients.tools.GetToolConfig(
        pb.GetToolConfigRequest(tenant_id=tenant_id, tool_id=tool_id)
    )
    return ToolConfig.from_proto(reply.tool)


@router.patch("/v1/tools/{tool_id}")
async def update_tool(
    tool_id: ToolId, body: UpdateToolBody, clients: Clients, tenant_id: TenantQuery = ""
) -> ToolConfig:
    """Change the fields present in the body when version is the one stored (409 otherwise):
    the tool's tenant's admins, operators for a global tool."""
    if not body.mask_paths():
        raise RequestValidationError(
            [
                {
                    "loc": ("body",),
                    "msg": "must set at least one field besides version",
                    "type": "value_error",
                }
            ]
        )
    reply = await clients.tools.UpdateToolConfig(
        body.to_proto(await owner(clients, tenant_id), tool_id)
    )
    return ToolConfig.from_proto(reply.tool)
