"""ToolService: the catalogue of base tools and output formats, and tool configurations
(global ones by platform operators, a tenant's own by its admins)."""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.exc import StaleDataError

from quarterdeck.tooling.v1 import tools_pb2 as pb
from services.tooling.access import owner_for_write, reading_tenant, require_may_change, visible_to
from services.tooling.context import ToolingContext
from services.tooling.egress import EgressDenied, EgressFailed
from services.tooling.json_schemas import schema_problem, violations_of
from services.tooling.mcp_client import STDIO_PREFIX, McpFailed, McpTool, list_mcp_tools
from services.tooling.tools.convert import (
    base_tool_to_proto,
    output_format_to_proto,
    tool_to_proto,
)
from services.tooling.tools.databases import list_databases, register_database
from services.tooling.tools.models import BaseToolRecord, OutputFormatRecord, ToolConfigRecord
from services.tooling.tools.seed_catalogue import base_tool_id
from services.tooling.validation import Violations
from shared.errors import (
    Aborted,
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
)
from shared.field_mask import paths_to_update
from shared.ids import parse_id
from shared.json_values import struct_to_dict
from shared.pagination import fetch_page
from shared.secret_box import SecretBox

TOOL_NAME_PATTERN = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")
_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")
MAX_NAME_PREFIX = 30
MAX_SERVER_URL = 2048
DEFAULT_MCP_TIMEOUT_SECONDS = 30.0
UPDATABLE_FIELDS = frozenset(
    {
        "secret_headers",
        "name",
        "config",
        "input_schema",
        "output_format_id",
        "description",
        "is_active",
        "requires_approval",
    }
)


async def base_types(session: AsyncSession) -> dict[uuid.UUID, BaseToolRecord]:
    return {row.id: row for row in await session.scalars(select(BaseToolRecord))}


HEADER_NAME = re.compile(r"^[A-Za-z0-9-]{1,64}$")
MAX_SECRET_HEADERS = 20
MAX_SECRET_VALUE = 4096
#: Headers the egress guard sets itself.
RESERVED_HEADERS = {"host", "content-length", "transfer-encoding", "connection"}


def _seal_secret_headers(
    row: ToolConfigRecord, headers: dict[str, str], box: SecretBox | None, violations: Violations
) -> None:
    """Store ``headers`` encrypted (only their names in the clear); none removes them."""
    if len(headers) > MAX_SECRET_HEADERS:
        violations.add("tool.secret_headers", f"may hold at most {MAX_SECRET_HEADERS} headers")
    for name, value in headers.items():
        if not HEADER_NAME.match(name) or name.lower() in RESERVED_HEADERS:
            violations.add(f"tool.secret_headers[{name}]", "is not a header a tool may set")
        if not value or len(value) > MAX_SECRET_VALUE or not value.isprintable():
            violations.add(
                f"tool.secret_headers[{name}]",
                f"must be 1 to {MAX_SECRET_VALUE} printable characters",
            )
    if not headers:
        row.sealed_secret_headers, row.secret_key_version, row.secret_header_names = None, None, []
        return
    if box is None:
        raise FailedPrecondition(
            "secret headers cannot be stored: no encryption key is configured "
            "(QD_TOOLING_SECRET_ENCRYPTION_KEYS)",
            reason="NO_ENCRYPTION_KEYS",
        )
    row.sealed_secret_headers = box.encrypt(json.dumps(headers).encode())
    row.secret_key_version = box.current_version
    row.secret_header_names = sorted(headers)


def _check_fields(
    row: ToolConfigRecord,
    tool: pb.ToolConfig,
    paths: set[str],
    base: BaseToolRecord,
    violations: Violations,
    box: SecretBox | None,
) -> None:
    if "secret_headers" in paths:
        _seal_secret_headers(row, dict(tool.secret_headers), box, violations)
    if "name" in paths:
        if not TOOL_NAME_PATTERN.match(tool.name):
            violations.add("tool.name", "must be 1 to 100 of A-Z, a-z, 0-9, '_', '.' or '-'")
        row.name = tool.name
    if "description" in paths:
        violations.text("tool.description", tool.description, 10_000)
        row.description = tool.description or None
    if "config" in paths:
        violations.json("tool.config", tool.config)
        config = struct_to_dict(tool.config)
        if base.default_config_schema:
            violations.items.extend(
                violations_of(base.default_config_schema, config, "tool.config")
            )
        row.config = config
    if "input_schema" in paths:
        violations.json("tool.input_schema", tool.input_schema)
        schema = struct_to_dict(tool.input_schema)
        if not schema:
            violations.add("tool.input_schema", "is required")
        else:
            violations.add("tool.input_schema", schema_problem(schema))
        row.input_schema = schema
    if "output_format_id" in paths:
        row.output_format_id = violations.uuid("tool.output_format_id", tool.output_format_id)
    if "is_active" in paths:
        row.is_active = tool.is_active
    if "requires_approval" in paths:
        row.requires_approval = tool.requires_approval


async def _check_output_format(session: AsyncSession, row: ToolConfigRecord) -> None:
    if row.output_format_id is not None and (
        await session.get(OutputFormatRecord, row.output_format_id) is None
    ):
        raise InvalidArgument.field("tool.output_format_id", "names no output format")


def _name_taken(name: str) -> AlreadyExists:
    return AlreadyExists(f"a tool named {name!r} already exists", reason="TOOL_NAME_TAKEN")


class ToolHandlers:
    def __init__(self, ctx: ToolingContext) -> None:
        self._ctx = ctx

    async def list_base_tools(self, request: pb.ListBaseToolsRequest) -> pb.ListBaseToolsResponse:
        async with self._ctx.database.reading() as session:
            page = await fetch_page(
                session,
                select(BaseToolRecord),
                sort_key=[BaseToolRecord.type],
                position_of=lambda row: [row.type],
                codec=self._ctx.pages,
                query="tooling.ListBaseTools",
                filters={},
                page_size=request.page_size,
                page_token=request.page_token,
            )
        return pb.ListBaseToolsResponse(
            base_tools=[base_tool_to_proto(row) for row in page.items],
            next_page_token=page.next_page_token,
        )

    async def list_output_formats(
        self, request: pb.ListOutputFormatsRequest
    ) -> pb.ListOutputFormatsResponse:
        async with self._ctx.database.reading() as session:
            page = await fetch_page(
                session,
                select(OutputFormatRecord),
                sort_key=[OutputFormatRecord.name],
                position_of=lambda row: [row.name],
                codec=self._ctx.pages,
                query="tooling.ListOutputFormats",
                filters={},
                page_size=request.page_size,
                page_token=request.page_token,
            )
        return pb.ListOutputFormatsResponse(
            output_formats=[output_format_to_proto(row) for row in page.items],
            next_page_token=page.next_page_token,
        )

    async def create_tool_config(
        self, request: pb.CreateToolConfigRequest
    ) -> pb.CreateToolConfigResponse:
        tool = request.tool
        owner = owner_for_write(tool.tenant_id, not tool.tenant_id, "tool.tenant_id")
        base_id = parse_id(tool.base_tool_id, "tool.base_tool_id")

        async def create(session: AsyncSession) -> pb.CreateToolConfigResponse:
            base = await session.get(BaseToolRecord, base_id)
            if base is None:
                raise InvalidArgument.field("tool.base_tool_id", "names no base tool")
            row = ToolConfigRecord(id=uuid.uuid4(), tenant_id=owner, base_tool_id=base.id)
            violations = Violations()
            paths = {"name", "config", "input_schema", "output_format_id", "description"}
            paths |= {f.name for f, _ in tool.ListFields()} & UPDATABLE_FIELDS
            _check_fields(row, tool, paths, base, violations, self._ctx.secrets)
            if "is_active" not in {f.name for f, _ in tool.ListFields()}:
                row.is_active = True
            violations.raise_if_any()
            await _check_output_format(session, row)
            session.add(row)
            try:
                await session.flush()
            except IntegrityError:
                raise _name_taken(row.name) from None
            return pb.CreateToolConfigResponse(tool=tool_to_proto(row, base.type))

        return await self._ctx.idempotency.run(
            endpoint="tooling.CreateToolConfig",
            request=request,
            response_type=pb.CreateToolConfigResponse,
            create=create,
            resource_id_of=lambda response: response.tool.id,
            scope=str(owner or "global"),
        )

    async def get_tool_config(self, request: pb.GetToolConfigRequest) -> pb.GetToolConfigResponse:
        tenant = reading_tenant(request.tenant_id)
        tool_id = parse_id(request.tool_id, "tool_id")
        async with self._ctx.database.reading() as session:
            row = await session.get(ToolConfigRecord, tool_id)
            if row is None or row.tenant_id not in (None, tenant):
                raise NotFound(f"tool {tool_id} not found", reason="TOOL_NOT_FOUND")
            base = await session.get(BaseToolRecord, row.base_tool_id)
        assert base is not None  # a foreign key
        return pb.GetToolConfigResponse(tool=tool_to_proto(row, base.type))

    async def list_tool_configs(
        self, request: pb.ListToolConfigsRequest
    ) -> pb.ListToolConfigsResponse:
        tenant = reading_tenant(request.tenant_id)
        statement = select(ToolConfigRecord).where(visible_to(ToolConfigRecord.tenant_id, tenant))
        filters: dict[str, Any] = {"tenant": str(tenant), "active": request.active_only}
        if request.active_only:
            statement = statement.where(ToolConfigRecord.is_active.is_(True))
        async with self._ctx.database.reading() as session:
            types = await base_types(session)
            if request.base_tool_type:
                ids = [row.id for row in types.values() if row.type == request.base_tool_type]
                if not ids:
                    raise InvalidArgument.field("base_tool_type", "names no base tool type")
                statement = statement.where(ToolConfigRecord.base_tool_id.in_(ids))
                filters["type"] = request.base_tool_type
            page = await fetch_page(
                session,
                statement,
                sort_key=[ToolConfigRecord.name, ToolConfigRecord.id],
                position_of=lambda row: [row.name, row.id],
                codec=self._ctx.pages,
                query="tooling.ListToolConfigs",
                filters=filters,
                page_size=request.page_size,
                page_token=request.page_token,
            )
        return pb.ListToolConfigsResponse(
            tools=[tool_to_proto(row, types[row.base_tool_id].type) for row in page.items],
            next_page_token=page.next_page_token,
        )

    async def import_mcp_tools(
        self, request: pb.ImportMcpToolsRequest
    ) -> pb.ImportMcpToolsResponse:
        return await import_mcp_tools(self._ctx, request)

    async def register_database(
        self, request: pb.RegisterDatabaseRequest
    ) -> pb.RegisterDatabaseResponse:
        return await register_database(self._ctx, request)

    async def list_databases(self, request: pb.ListDatabasesRequest) -> pb.ListDatabasesResponse:
        return await list_databases(self._ctx, request)

    async def update_tool_config(
        self, request: pb.UpdateToolConfigRequest
    ) -> pb.UpdateToolConfigResponse:
        tool = request.tool
        paths = set(paths_to_update(request.update_mask, tool, UPDATABLE_FIELDS))
        tool_id = parse_id(tool.id, "tool.id")
        owner = parse_id(tool.tenant_id, "tool.tenant_id") if tool.tenant_id else None
        if tool.version <= 0:
            raise InvalidArgument.field("tool.version", "must be the version read")
        try:
            async with self._ctx.database.transaction() as session:
                row = await session.get(ToolConfigRecord, tool_id)
                if row is None or row.tenant_id != owner:
                    raise NotFound(f"tool {tool_id} not found", reason="TOOL_NOT_FOUND")
                require_may_change(owner)
                if row.version != tool.version:
                    raise Aborted(
                        f"the tool is at version {row.version}, not {tool.version}; read it again",
                        reason="STALE_VERSION",
                    )
                base = await session.get(BaseToolRecord, row.base_tool_id)
                assert base is not None  # a foreign key
                violations = Violations()
                _check_fields(row, tool, paths, base, violations, self._ctx.secrets)
                violations.raise_if_any()
                await _check_output_format(session, row)
                try:
                    await session.flush()
                except IntegrityError:
                    raise _name_taken(row.name) from None
        except StaleDataError:
            raise Aborted(
                "the tool changed meanwhile; read it again", reason="STALE_VERSION"
            ) from None
        self._ctx.tool_access_changed()
        return pb.UpdateToolConfigResponse(tool=tool_to_proto(row, base.type))


def _mcp_tool_name(prefix: str, name: str) -> str:
    return (prefix + _NAME_UNSAFE.sub("_", name))[:100]


async def import_mcp_tools(
    ctx: ToolingContext, request: pb.ImportMcpToolsRequest
) -> pb.ImportMcpToolsResponse:
    """ImportMcpTools: list the server's tools, then store each as an MCP tool config."""
    owner = owner_for_write(request.tenant_id, not request.tenant_id)
    violations = Violations()
    url = request.server_url
    violations.text("server_url", url, MAX_SERVER_URL, required=True)
    stdio = url.startswith(STDIO_PREFIX)
    if stdio and url.removeprefix(STDIO_PREFIX) not in ctx.settings.stdio_servers:
        violations.add("server_url", "names no stdio MCP server the operators registered")
    elif url and not stdio and not url.startswith(("http://", "https://")):
        violations.add("server_url", "must be an http or https URL (or stdio:<registered name>)")
    if request.name_prefix and not TOOL_NAME_PATTERN.match(request.name_prefix):
        violations.add("name_prefix", "may hold only A-Z, a-z, 0-9, '_', '.' and '-'")
    violations.text("name_prefix", request.name_prefix, MAX_NAME_PREFIX)
    timeout = request.timeout_seconds or DEFAULT_MCP_TIMEOUT_SECONDS
    if not 0 < timeout <= ctx.settings.egress_timeout_seconds:
        violations.add(
            "timeout_seconds", f"must be above 0 and at most {ctx.settings.egress_timeout_seconds}"
        )
    violations.raise_if_any()
    if stdio and owner is not None:
        raise PermissionDenied(
            "tools of a stdio MCP server are imported as global tools, by platform operators",
            reason="MCP_STDIO_OPERATORS_ONLY",
        )

    async def tools_list() -> list[McpTool]:
        return await list_mcp_tools(ctx.mcp, url, timeout)

    if request.refresh:
        ctx.mcp_tools.forget(url)
    try:
        listed = await ctx.mcp_tools.get(url, tools_list)
    except EgressDenied as exc:
        raise PermissionDenied(str(exc), reason="EGRESS_DENIED") from None
    except TimeoutError:
        raise FailedPrecondition(
            f"the MCP server at {url} did not answer in time", reason="MCP_TIMEOUT"
        ) from None
    except (EgressFailed, McpFailed) as exc:
        raise FailedPrecondition(str(exc), reason=exc.reason) from None
    mcp_base = base_tool_id("MCP")
    async with ctx.database.transaction() as session:
        stored: list[ToolConfigRecord] = []
        for tool in listed:
            name = _mcp_tool_name(request.name_prefix, tool.name)
            schema = tool.input_schema if not schema_problem(tool.input_schema) else {}
            row = await session.scalar(
                select(ToolConfigRecord).where(
                    ToolConfigRecord.tenant_id.is_(None)
                    if owner is None
                    else ToolConfigRecord.tenant_id == owner,
                    ToolConfigRecord.name == name,
                )
            )
            if row is not None and row.base_tool_id != mcp_base:
                raise AlreadyExists(
                    f"a tool named {name!r} exists and is not an MCP tool; use name_prefix",
                    reason="TOOL_NAME_TAKEN",
                )
            if row is None:
                row = ToolConfigRecord(
                    id=uuid.uuid4(),
                    tenant_id=owner,
                    name=name,
                    base_tool_id=mcp_base,
                    is_active=True,
                )
                session.add(row)
            row.config = {"server_url": url, "tool_name": tool.name, "timeout": timeout}
            row.input_schema = schema or {"type": "object"}
            row.description = tool.description[:10_000] or None
            stored.append(row)
        await session.flush()
    ctx.tool_access_changed()
    return pb.ImportMcpToolsResponse(
        tools=[tool_to_proto(row, "MCP") for row in sorted(stored, key=lambda r: r.name)]
    )
