"""AgentService: agents (tenant-owned or global, versioned) and the tools each is offered.

A tenant's admins define its own agents; platform operators define global ones, which every
tenant may see unless the agent's allow/block lists say otherwise. Creating a tenant-owned agent
also grants it (and the tools given with it) to its tenant: seed 004's "Create New Agent" in one
call.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from typing import Any, cast

from sqlalchemy import Table, and_, delete, exists, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.exc import StaleDataError

from quarterdeck.tooling.v1 import agents_pb2 as pb
from services.tooling.access import (
    owner_for_write,
    reading_tenant,
    require_may_change,
    visible_to,
)
from services.tooling.agents.convert import (
    SAFETY_FROM_PROTO,
    STATUS_FROM_PROTO,
    agent_to_proto,
    agent_tool_to_proto,
    agent_totals,
    config_hash,
)
from services.tooling.agents.limits import ExecutionLimitHandlers
from services.tooling.agents.models import (
    POLICY_COLUMNS,
    AgentRecord,
    AgentStatus,
    AgentToolRecord,
    SafetyLevel,
)
from services.tooling.context import ToolingContext
from services.tooling.permissions.grants import grant_agents
from services.tooling.permissions.models import TenantAgentPermissionRecord
from services.tooling.tools.models import OutputFormatRecord, ToolConfigRecord
from services.tooling.validation import Violations
from shared.auth import require_internal, require_principal
from shared.db import (
    DriverTransaction,
    PreparedStatement,
    column_param,
    execute_prepared,
    rows_matched,
)
from shared.errors import Aborted, AlreadyExists, FieldViolation, InvalidArgument, NotFound
from shared.field_mask import paths_to_update
from shared.ids import parse_id
from shared.json_values import struct_to_dict
from shared.pagination import fetch_page

TENANT_SCOPES = ("multi_tenant", "single_tenant")
MAX_LONG_TEXT = 100_000
MAX_TOOLS_PER_AGENT = 100
#: Statuses in which an agent's configuration counts as active (seed 004 is_active).
_ACTIVE_STATUSES = {AgentStatus.ACTIVE, AgentStatus.PAUSED, AgentStatus.MAINTENANCE}

#: Text fields: (proto field, column, maximum length, required).
_TEXT_FIELDS: list[tuple[str, str, int, bool]] = [
    ("name", "name", 100, True),
    ("role_name", "role_name", 200, True),
    ("description", "description", 10_000, False),
    ("mode", "mode", 50, False),
    ("auth_strategy", "auth_strategy", 64, False),
    ("model", "model", 100, False),
    ("prompt_template", "prompt_template", MAX_LONG_TEXT, False),
    ("handler_class", "handler_class", 255, False),
    ("backstory", "backstory", 10_000, False),
    ("personality_emoji", "personality_emoji", 16, False),
    ("notes", "notes", 10_000, False),
]
_LIST_FIELDS: list[tuple[str, str, int]] = [
    ("required_roles", "required_roles", 64),
    ("mcp_services", "mcp_services", 255),
    ("specialties", "specialties", 100),
]
_AGENTS = cast(Table, AgentRecord.__table__)
#: RecordAgentUsage's tokens added to the agent's total, its totals returned. Neither
#: config_version nor updated_at moves: they track the definition.
_ADD_AGENT_TOKENS = PreparedStatement(
    update(_AGENTS)
    .where(_AGENTS.c.id == column_param("agent_id", _AGENTS.c.id))
    .values(
        total_tokens_used=_AGENTS.c.total_tokens_used
        + column_param("tokens_used", _AGENTS.c.total_tokens_used),
        updated_at=_AGENTS.c.updated_at,
    )
    .returning(
        _AGENTS.c.total_tasks_completed,
        _AGENTS.c.total_tokens_used,
        _AGENTS.c.average_latency_ms,
        _AGENTS.c.success_rate,
    )
)
UPDATABLE_FIELDS = frozenset(
    {name for name, *_ in _TEXT_FIELDS}
    | {name for name, *_ in _LIST_FIELDS}
    | {
        "status",
        "safety_level",
        "tenant_scope",
        "allowed_tenant_ids",
        "blocked_tenant_ids",
        "requires_human_approval",
        "policies",
        "telemetry_enabled",
        "llm_model_id",
        "default_output_format_id",
        "metadata",
        "contacts",
    }
)


def agent_visible(row: AgentRecord, tenant: uuid.UUID | None) -> bool:
    """Whether ``tenant`` may see ``row`` (None: an operator looking at global agents)."""
    if row.tenant_id is not None:
        return row.tenant_id == tenant
    if tenant is None:
        return True
    if str(tenant) in row.blocked_tenants:
        return False
    return not row.allowed_tenants or str(tenant) in row.allowed_tenants


async def visible_agent(
    session: AsyncSession, tenant: uuid.UUID | None, agent_id: uuid.UUID
) -> AgentRecord:
    row = await session.get(AgentRecord, agent_id)
    if row is None or not agent_visible(row, tenant):
        raise NotFound(f"agent {agent_id} not found", reason="AGENT_NOT_FOUND")
    return row


async def cached_agent(
    ctx: ToolingContext, tenant: uuid.UUID | None, agent_id: uuid.UUID
) -> AgentRecord:
    """:func:`visible_agent` through the replica's agent cache (the ExecuteTool path): the
    definition as read at most ``agent_cache_ttl_seconds`` ago, or at once after this replica
    changed it. The row is detached and shared: read it, never change it."""

    async def load() -> AgentRecord | None:
        async with ctx.database.reading() as session:
            return await session.get(AgentRecord, agent_id)

    row = await ctx.agent_cache.get(agent_id, load)
    if row is None or not agent_visible(row, tenant):
        raise NotFound(f"agent {agent_id} not found", reason="AGENT_NOT_FOUND")
    return row


async def changeable_agent(
    session: AsyncSession, tenant_id: str, agent_id: str, *, for_update: bool = False
) -> AgentRecord:
    """An agent the caller may change: its tenant's admins, or operators for a global one."""
    parsed = parse_id(agent_id, "agent_id")
    statement = select(AgentRecord).where(AgentRecord.id == parsed)
    row = await session.scalar(statement.with_for_update() if for_update else statement)
    owner = parse_id(tenant_id, "tenant_id") if tenant_id else None
    if row is None or row.tenant_id != owner:
        raise NotFound(f"agent {agent_id} not found", reason="AGENT_NOT_FOUND")
    require_may_change(owner)
    return row


def _apply_fields(  # noqa: C901 - one branch per FieldMask path
    row: AgentRecord, agent: pb.Agent, paths: Sequence[str], violations: Violations
) -> None:
    """Validate and copy the named fields of ``agent`` onto ``row``."""
    chosen = set(paths)
    for name, column, maximum, required in _TEXT_FIELDS:
        if name in chosen:
            value = getattr(agent, name)
            violations.text(name, value, maximum, required=required)
            setattr(row, column, value if required else (value or None))
    for name, column, maximum in _LIST_FIELDS:
        if name in chosen:
            values = list(getattr(agent, name))
            violations.strings(name, values, maximum)
            setattr(row, column, values)
    if "mode" in chosen and not agent.mode:
        row.mode = "orchestrator"
    if "status" in chosen:
        status = STATUS_FROM_PROTO.get(agent.status)
        if status is None:
            violations.add("status", "must be a known status")
        else:
            row.status = status
            row.is_active = status in _ACTIVE_STATUSES
    if "safety_level" in chosen:
        level = SAFETY_FROM_PROTO.get(agent.safety_level)
        if level is None:
            violations.add("safety_level", "must be strict, moderate or permissive")
        else:
            row.safety_level = level
    if "tenant_scope" in chosen:
        if agent.tenant_scope and agent.tenant_scope not in TENANT_SCOPES:
            violations.add("tenant_scope", f"must be one of {', '.join(TENANT_SCOPES)}")
        row.tenant_scope = agent.tenant_scope or "multi_tenant"
    for name, column in (
        ("allowed_tenant_ids", "allowed_tenants"),
        ("blocked_tenant_ids", "blocked_tenants"),
    ):
        if name in chosen:
            ids = list(getattr(agent, name))
            if ids and not row.is_global:
                violations.add(name, "applies to global agents only")
            parsed = [violations.required_uuid(f"{name}[{i}]", v) for i, v in enumerate(ids)]
            setattr(row, column, [str(v) for v in parsed if v is not None])
    if "requires_human_approval" in chosen:
        row.requires_human_approval = agent.requires_human_approval
    if "telemetry_enabled" in chosen:
        row.telemetry_enabled = agent.telemetry_enabled
    if "policies" in chosen:
        for policy, column in POLICY_COLUMNS.items():
            struct = getattr(agent.policies, policy)
            violations.json(f"policies.{policy}", struct)
            setattr(row, column, struct_to_dict(struct))
    if "metadata" in chosen:
        violations.json("metadata", agent.metadata)
        row.extra_metadata = struct_to_dict(agent.metadata)
    if "llm_model_id" in chosen:
        row.llm_model_id = violations.uuid("llm_model_id", agent.llm_model_id)
    if "default_output_format_id" in chosen:
        row.default_output_format_id = violations.uuid(
            "default_output_format_id", agent.default_output_format_id
        )
    if "contacts" in chosen:
        contacts = agent.contacts
        for name in ("user_email", "backup_user_email", "alert_escalation_email"):
            value = getattr(contacts, name)
            violations.text(f"contacts.{name}", value, 320)
            if value and "@" not in value:
                violations.add(f"contacts.{name}", "must be an email address")
            setattr(row, name, value or None)
        violations.strings(
            "contacts.additional_alert_emails", contacts.additional_alert_emails, 320
        )
        row.additional_alert_emails = list(contacts.additional_alert_emails)
        violations.text("contacts.owner_user_id", contacts.owner_user_id, 64)
        row.owner_user_id = contacts.owner_user_id or None


async def _check_output_format(session: AsyncSession, row: AgentRecord) -> None:
    if row.default_output_format_id is not None and (
        await session.get(OutputFormatRecord, row.default_output_format_id) is None
    ):
        raise InvalidArgument.field("agent.default_output_format_id", "names no output format")


async def _usable_tool(
    session: AsyncSession, owner: uuid.UUID | None, tool_id: uuid.UUID, field: str
) -> ToolConfigRecord:
    """A tool an agent of ``owner`` may be given: the owner's own, or a global one."""
    tool = await session.get(ToolConfigRecord, tool_id)
    if tool is None or not (tool.tenant_id is None or tool.tenant_id == owner):
        raise InvalidArgument.field(field, "names no tool this agent's owner may use")
    if owner is None and tool.tenant_id is not None:
        raise InvalidArgument.field(field, "a global agent may only be given global tools")
    return tool


#: A usage report's request_id (the run or model call it comes from).
MAX_USAGE_REQUEST_ID = 255


class AgentHandlers(ExecutionLimitHandlers):
    def __init__(self, ctx: ToolingContext) -> None:
        super().__init__(ctx)
        self._ctx = ctx

    # -- CreateAgent ------------------------------------------------------------------------

    async def create_agent(self, request: pb.CreateAgentRequest) -> pb.CreateAgentResponse:
        agent = request.agent
        owner = owner_for_write(agent.tenant_id, agent.is_global, "agent.tenant_id")
        principal = require_principal()
        violations = Violations()
        row = AgentRecord(
            id=uuid.uuid4(),
            tenant_id=owner,
            is_global=owner is None,
            status=AgentStatus.ACTIVE,
            is_active=True,
            safety_level=SafetyLevel.STRICT,
            created_by=principal.subject[:255],
        )
        given = {f.name for f, _ in agent.ListFields()} & UPDATABLE_FIELDS
        _apply_fields(
            row, agent, sorted(given | {"name", "role_name", "mode", "tenant_scope"}), violations
        )
        if agent.status == pb.AGENT_STATUS_UNSPECIFIED:
            violations.items = [v for v in violations.items if v.field != "status"]
            row.status, row.is_active = AgentStatus.ACTIVE, True
        seen: set[str] = set()
        if len(request.tools) > MAX_TOOLS_PER_AGENT:
            violations.add("tools", f"may hold at most {MAX_TOOLS_PER_AGENT} tools")
        for i, assignment in enumerate(request.tools):
            violations.required_uuid(f"tools[{i}].tool_id", assignment.tool_id)
            if assignment.priority < 0:
                violations.add(f"tools[{i}].priority", "must be 0 or more")
            if assignment.tool_id in seen:
                violations.add(f"tools[{i}].tool_id", "names a tool already given")
            seen.add(assignment.tool_id)
        violations.items = [
            FieldViolation(
                f"agent.{v.field}" if not v.field.startswith("tools") else v.field, v.description
            )
            for v in violations.items
        ]
        violations.raise_if_any()
        row.config_hash = config_hash(row)

        async def create(session: AsyncSession) -> pb.CreateAgentResponse:
            await _check_output_format(session, row)
            session.add(row)
            try:
                await session.flush()
            except IntegrityError:
                raise AlreadyExists(
                    f"an agent named {row.name!r} already exists", reason="AGENT_NAME_TAKEN"
                ) from None
            tools: list[pb.AgentTool] = []
            for i, assignment in enumerate(request.tools):
                tool = await _usable_tool(
                    session, owner, uuid.UUID(assignment.tool_id), f"tools[{i}].tool_id"
                )
                link = AgentToolRecord(
                    agent_id=row.id, tool_id=tool.id, priority=assignment.priority
                )
                session.add(link)
                await session.flush()
                tools.append(agent_tool_to_proto(link, tool))
            if owner is not None:
                await grant_agents(session, owner, [row.id])
            tools.sort(key=lambda t: (t.priority, t.tool_id))
            return pb.CreateAgentResponse(agent=agent_to_proto(row), tools=tools)

        return await self._ctx.idempotency.run(
            endpoint="tooling.CreateAgent",
            request=request,
            response_type=pb.CreateAgentResponse,
            create=create,
            resource_id_of=lambda response: response.agent.id,
            scope=str(owner or "global"),
        )

    # -- GetAgent / ListAgents --------------------------------------------------------------

    async def get_agent(self, request: pb.GetAgentRequest) -> pb.GetAgentResponse:
        tenant = reading_tenant(request.tenant_id)
        agent_id = parse_id(request.agent_id, "agent_id")
        async with self._ctx.database.reading() as session:
            row = await visible_agent(session, tenant, agent_id)
        return pb.GetAgentResponse(agent=agent_to_proto(row))

    async def list_agents(self, request: pb.ListAgentsRequest) -> pb.ListAgentsResponse:
        tenant = reading_tenant(request.tenant_id)
        include_global = not request.HasField("include_global") or request.include_global
        statement = select(AgentRecord)
        if tenant is None:
            statement = statement.where(AgentRecord.tenant_id.is_(None))
        elif include_global:
            statement = statement.where(visible_to(AgentRecord.tenant_id, tenant))
        else:
            statement = statement.where(AgentRecord.tenant_id == tenant)
        filters: dict[str, Any] = {"tenant": str(tenant), "global": include_global}
        if request.status != pb.AGENT_STATUS_UNSPECIFIED:
            status = STATUS_FROM_PROTO.get(request.status)
            if status is None:
                raise InvalidArgument.field("status", "must be a known status")
            statement = statement.where(AgentRecord.status == status)
            filters["status"] = status.value
        if request.role_name:
            statement = statement.where(AgentRecord.role_name == request.role_name)
            filters["role"] = request.role_name
        if request.enabled_only:
            if tenant is None:
                raise InvalidArgument.field("enabled_only", "needs a tenant_id")
            # Seed 004 Query 1: enabled for the tenant and active.
            statement = statement.where(
                AgentRecord.is_active.is_(True),
                exists().where(
                    and_(
                        TenantAgentPermissionRecord.tenant_id == tenant,
                        TenantAgentPermissionRecord.agent_id == AgentRecord.id,
                        TenantAgentPermissionRecord.enabled.is_(True),
                    )
                ),
            )
            filters["enabled"] = True
        async with self._ctx.database.reading() as session:
            page = await fetch_page(
                session,
                statement,
                sort_key=[AgentRecord.name, AgentRecord.id],
                position_of=lambda row: [row.name, row.id],
                codec=self._ctx.pages,
                query="tooling.ListAgents",
                filters=filters,
                page_size=request.page_size,
                page_token=request.page_token,
            )
        # A global agent's allow/block lists are JSON; they are applied per page (a page may
        # come back shorter than asked, which AIP-158 allows).
        return pb.ListAgentsResponse(
            agents=[agent_to_proto(row) for row in page.items if agent_visible(row, tenant)],
            next_page_token=page.next_page_token,
        )

    # -- UpdateAgent / ArchiveAgent ---------------------------------------------------------

    async def update_agent(self, request: pb.UpdateAgentRequest) -> pb.UpdateAgentResponse:
        agent = request.agent
        paths = paths_to_update(request.update_mask, agent, UPDATABLE_FIELDS)
        if agent.config_version <= 0:
            raise InvalidArgument.field("agent.config_version", "must be the version read")

        async def change(row: AgentRecord) -> None:
            violations = Violations()
            _apply_fields(row, agent, paths, violations)
            violations.items = [
                FieldViolation(f"agent.{v.field}", v.description) for v in violations.items
            ]
            violations.raise_if_any()

        row = await self._change(agent.tenant_id, agent.id, agent.config_version, change)
        return pb.UpdateAgentResponse(agent=agent_to_proto(row))

    async def archive_agent(self, request: pb.ArchiveAgentRequest) -> pb.ArchiveAgentResponse:
        async def archive(row: AgentRecord) -> None:
            row.status, row.is_active = AgentStatus.ARCHIVED, False

        row = await self._change(
            request.tenant_id, request.agent_id, request.config_version, archive
        )
        return pb.ArchiveAgentResponse(agent=agent_to_proto(row))

    async def _change(
        self,
        tenant_id: str,
        agent_id: str,
        version: int,
        change: Callable[[AgentRecord], Any],
    ) -> AgentRecord:
        try:
            async with self._ctx.database.transaction() as session:
                row = await changeable_agent(session, tenant_id, agent_id)
                if version and row.config_version != version:
                    raise Aborted(
                        f"the agent is at config_version {row.config_version}, not {version}; "
                        "read it again",
                        reason="STALE_VERSION",
                    )
                await change(row)
                await _check_output_format(session, row)
                row.config_hash = config_hash(row)
                try:
                    await session.flush()
                except IntegrityError:
                    raise AlreadyExists(
                        f"an agent named {row.name!r} already exists", reason="AGENT_NAME_TAKEN"
                    ) from None
        except StaleDataError:
            raise Aborted(
                "the agent changed meanwhile; read it again", reason="STALE_VERSION"
            ) from None
        self._ctx.agent_cache.forget(row.id)  # committed: this replica's next call reads it
        return row

    # -- Usage ------------------------------------------------------------------------------

    async def record_agent_usage(
        self, request: pb.RecordAgentUsageRequest
    ) -> pb.RecordAgentUsageResponse:
        """Adds the tokens to the agent's total_tokens_used in one prepared UPDATE of the row as
        stored, returning the totals (concurrent reports never lose a count); the request_id is
        claimed in the same transaction, so a repeated report is answered, not counted again."""
        require_internal()
        tenant = parse_id(request.tenant_id, "tenant_id")
        agent_id = parse_id(request.agent_id, "agent_id")
        violations = Violations()
        if request.tokens_used < 0:
            violations.add("tokens_used", "must be 0 or more")
        violations.text("request_id", request.request_id, MAX_USAGE_REQUEST_ID, required=True)
        violations.raise_if_any()

        async def record(transaction: DriverTransaction) -> pb.RecordAgentUsageResponse:
            # Whether the tenant may use the agent, from this replica's agent cache (the
            # ExecuteTool path's): the report then costs one UPDATE returning the totals.
            await cached_agent(self._ctx, tenant, agent_id)
            added = {"agent_id": agent_id, "tokens_used": request.tokens_used}
            totals = (await execute_prepared(transaction, _ADD_AGENT_TOKENS, added)).first()
            if totals is None:  # deleted since the cache read it
                raise NotFound(f"agent {agent_id} not found", reason="AGENT_NOT_FOUND")
            return pb.RecordAgentUsageResponse(totals=agent_totals(totals))

        return await self._ctx.idempotency.run_on_driver(
            endpoint="tooling.RecordAgentUsage",
            request=request,
            response_type=pb.RecordAgentUsageResponse,
            create=record,
            resource_id_of=lambda _response: str(agent_id),
            scope=str(tenant),
        )

    # -- Agent tools ------------------------------------------------------------------------

    async def set_agent_tool(self, request: pb.SetAgentToolRequest) -> pb.SetAgentToolResponse:
        tool_id = parse_id(request.tool_id, "tool_id")
        if request.priority < 0:
            raise InvalidArgument.field("priority", "must be 0 or more")
        async with self._ctx.database.transaction() as session:
            agent = await changeable_agent(session, request.tenant_id, request.agent_id)
            tool = await _usable_tool(session, agent.tenant_id, tool_id, "tool_id")
            link = await session.get(AgentToolRecord, (agent.id, tool.id))
            if link is None:
                link = AgentToolRecord(
                    agent_id=agent.id, tool_id=tool.id, priority=request.priority
                )
                session.add(link)
            else:
                link.priority = request.priority
            await session.flush()
            if agent.tenant_id is not None:
                await grant_agents(session, agent.tenant_id, [agent.id])
        self._ctx.tool_access_changed()
        return pb.SetAgentToolResponse(agent_tool=agent_tool_to_proto(link, tool))

    async def remove_agent_tool(
        self, request: pb.RemoveAgentToolRequest
    ) -> pb.RemoveAgentToolResponse:
        tool_id = parse_id(request.tool_id, "tool_id")
        async with self._ctx.database.transaction() as session:
            agent = await changeable_agent(session, request.tenant_id, request.agent_id)
            result = await session.execute(
                delete(AgentToolRecord).where(
                    AgentToolRecord.agent_id == agent.id, AgentToolRecord.tool_id == tool_id
                )
            )
            if not rows_matched(result):
                raise NotFound(f"agent {agent.id} has no tool {tool_id}", reason="NOT_FOUND")
        self._ctx.tool_access_changed()
        return pb.RemoveAgentToolResponse()

    async def list_agent_tools(
        self, request: pb.ListAgentToolsRequest
    ) -> pb.ListAgentToolsResponse:
        tenant = reading_tenant(request.tenant_id)
        agent_id = parse_id(request.agent_id, "agent_id")
        async with self._ctx.database.reading() as session:
            await visible_agent(session, tenant, agent_id)
            page = await fetch_page(
                session,
                select(AgentToolRecord).where(AgentToolRecord.agent_id == agent_id),
                sort_key=[AgentToolRecord.priority, AgentToolRecord.tool_id],
                position_of=lambda link: [link.priority, link.tool_id],
                codec=self._ctx.pages,
                query="tooling.ListAgentTools",
                filters={"agent": str(agent_id)},
                page_size=request.page_size,
                page_token=request.page_token,
            )
            tools = {
                tool.id: tool
                for tool in await session.scalars(
                    select(ToolConfigRecord).where(
                        ToolConfigRecord.id.in_([link.tool_id for link in page.items])
                    )
                )
            }
        return pb.ListAgentToolsResponse(
            agent_tools=[agent_tool_to_proto(link, tools[link.tool_id]) for link in page.items],
            next_page_token=page.next_page_token,
        )
