"""Tooling's catalogue, agents, agent tools and tenant permissions over a real in-process gRPC
server, on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import grpc
import pytest
from google.protobuf.field_mask_pb2 import FieldMask

from quarterdeck.tooling.v1 import agents_pb2 as apb
from quarterdeck.tooling.v1 import permissions_pb2 as ppb
from quarterdeck.tooling.v1 import tools_pb2 as tpb
from services.tooling.tools.seed_catalogue import base_tool_id
from shared.json_values import dict_to_struct
from tests.support.errors import rich_error
from tests.support.stack import Databases
from tests.support.tokens import TestIssuer
from tests.support.tooling import (
    Tooling,
    create_agent,
    create_tool,
    failure,
    tooling_service,
    unique,
)

ISSUER = TestIssuer()


@pytest.fixture(scope="module")
async def tooling(backend: str, databases: Databases) -> AsyncIterator[Tooling]:
    async with tooling_service(databases, backend, "agents", ISSUER) as service:
        yield service


def new_tenant() -> str:
    return str(uuid.uuid4())


async def test_the_seeded_catalogue_lists_base_tools_and_output_formats(tooling: Tooling) -> None:
    viewer = ISSUER.member(new_tenant(), "viewer")
    bases = await tooling.tools.ListBaseTools(tpb.ListBaseToolsRequest(), metadata=viewer)
    assert [b.type for b in bases.base_tools] == sorted(
        ["HTTP_GET", "HTTP_POST", "RAG", "DB_QUERY", "OCR", "MCP"]
    )
    formats = await tooling.tools.ListOutputFormats(
        tpb.ListOutputFormatsRequest(page_size=3), metadata=viewer
    )
    rest = await tooling.tools.ListOutputFormats(
        tpb.ListOutputFormatsRequest(page_size=3, page_token=formats.next_page_token),
        metadata=viewer,
    )
    names = [f.name for f in [*formats.output_formats, *rest.output_formats]]
    assert names == ["chart_data", "markdown_table", "structured_json", "summary_text"]
    assert rest.next_page_token == ""


async def test_a_tenant_admin_creates_an_agent_with_its_tools_in_one_call(
    tooling: Tooling,
) -> None:
    tenant = new_tenant()
    admin = ISSUER.member(tenant, "admin")
    own_tool = await create_tool(tooling, admin, tenant_id=tenant)
    global_tool = await create_tool(tooling, ISSUER.operator())
    created = await create_agent(
        tooling,
        admin,
        tenant_id=tenant,
        tools=[(own_tool.id, 2), (global_tool.id, 1)],
        specialties=["security", "performance"],
        personality_emoji="🦊",
    )
    agent = created.agent
    assert agent.tenant_id == tenant and not agent.is_global
    assert agent.status == apb.AGENT_STATUS_ACTIVE and agent.is_active
    assert agent.config_version == 1 and len(agent.config_hash) == 64
    assert [t.tool_id for t in created.tools] == [global_tool.id, own_tool.id]
    assert list(agent.specialties) == ["security", "performance"]

    # Granted to its tenant with its tools (seed "Create New Agent", steps 1 to 3).
    viewer = ISSUER.member(tenant, "viewer")
    enabled = await tooling.agents.ListAgents(
        apb.ListAgentsRequest(tenant_id=tenant, enabled_only=True), metadata=viewer
    )
    assert [a.id for a in enabled.agents] == [agent.id]
    tool_permissions = await tooling.permissions.ListToolPermissions(
        ppb.ListToolPermissionsRequest(tenant_id=tenant, page_size=1000), metadata=viewer
    )
    granted = {p.tool_id for p in tool_permissions.permissions if p.enabled}
    assert {own_tool.id, global_tool.id} <= granted


async def test_only_operators_define_global_agents_and_tools(tooling: Tooling) -> None:
    tenant = new_tenant()
    owner = ISSUER.member(tenant, "owner")
    error = await failure(create_agent(tooling, owner))
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED
    error = await failure(create_tool(tooling, owner))
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED
    viewer = ISSUER.member(tenant, "viewer")
    error = await failure(create_agent(tooling, viewer, tenant_id=tenant))
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_another_tenants_agent_is_not_found(tooling: Tooling) -> None:
    tenant, other = new_tenant(), new_tenant()
    agent = (await create_agent(tooling, ISSUER.member(tenant, "admin"), tenant_id=tenant)).agent
    error = await failure(
        tooling.agents.GetAgent(
            apb.GetAgentRequest(tenant_id=other, agent_id=agent.id),
            metadata=ISSUER.member(other, "owner"),
        )
    )
    assert error.code() == grpc.StatusCode.NOT_FOUND
    error = await failure(
        tooling.agents.GetAgent(
            apb.GetAgentRequest(tenant_id=tenant, agent_id=agent.id),
            metadata=ISSUER.member(other, "owner"),
        )
    )
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_global_agents_honour_their_block_list(tooling: Tooling) -> None:
    allowed, blocked = new_tenant(), new_tenant()
    agent = (await create_agent(tooling, ISSUER.operator(), blocked_tenant_ids=[blocked])).agent
    assert agent.is_global and agent.tenant_id == ""
    seen = await tooling.agents.GetAgent(
        apb.GetAgentRequest(tenant_id=allowed, agent_id=agent.id),
        metadata=ISSUER.member(allowed, "viewer"),
    )
    assert seen.agent.id == agent.id
    error = await failure(
        tooling.agents.GetAgent(
            apb.GetAgentRequest(tenant_id=blocked, agent_id=agent.id),
            metadata=ISSUER.member(blocked, "viewer"),
        )
    )
    assert error.code() == grpc.StatusCode.NOT_FOUND
    listed = await tooling.agents.ListAgents(
        apb.ListAgentsRequest(tenant_id=blocked, page_size=1000),
        metadata=ISSUER.member(blocked, "viewer"),
    )
    assert agent.id not in {a.id for a in listed.agents}


async def test_list_filters_active_agents_by_status_and_role(tooling: Tooling) -> None:
    tenant = new_tenant()
    admin = ISSUER.member(tenant, "admin")
    active = (await create_agent(tooling, admin, tenant_id=tenant, role_name="code_review")).agent
    paused = (
        await create_agent(
            tooling,
            admin,
            tenant_id=tenant,
            role_name="code_review",
            status=apb.AGENT_STATUS_PAUSED,
        )
    ).agent
    other_role = (await create_agent(tooling, admin, tenant_id=tenant, role_name="qa")).agent
    listed = await tooling.agents.ListAgents(
        apb.ListAgentsRequest(
            tenant_id=tenant, status=apb.AGENT_STATUS_ACTIVE, include_global=False
        ),
        metadata=admin,
    )
    assert {a.id for a in listed.agents} == {active.id, other_role.id}
    by_role = await tooling.agents.ListAgents(
        apb.ListAgentsRequest(tenant_id=tenant, role_name="code_review", include_global=False),
        metadata=admin,
    )
    assert {a.id for a in by_role.agents} == {active.id, paused.id}


async def test_update_bumps_the_config_version_and_refuses_a_stale_one(tooling: Tooling) -> None:
    tenant = new_tenant()
    admin = ISSUER.member(tenant, "admin")
    agent = (await create_agent(tooling, admin, tenant_id=tenant)).agent
    change = apb.Agent(
        id=agent.id,
        tenant_id=tenant,
        config_version=agent.config_version,
        description="collects overdue invoices",
        safety_level=apb.SAFETY_LEVEL_MODERATE,
    )
    updated = await tooling.agents.UpdateAgent(
        apb.UpdateAgentRequest(
            agent=change, update_mask=FieldMask(paths=["description", "safety_level"])
        ),
        metadata=admin,
    )
    assert updated.agent.config_version == agent.config_version + 1
    assert updated.agent.config_hash != agent.config_hash
    assert updated.agent.description == "collects overdue invoices"
    assert updated.agent.name == agent.name  # not in the mask, not changed

    stale = await failure(
        tooling.agents.UpdateAgent(
            apb.UpdateAgentRequest(agent=change, update_mask=FieldMask(paths=["description"])),
            metadata=admin,
        )
    )
    assert stale.code() == grpc.StatusCode.ABORTED
    bad_mask = await failure(
        tooling.agents.UpdateAgent(
            apb.UpdateAgentRequest(
                agent=apb.Agent(id=agent.id, tenant_id=tenant, config_version=2),
                update_mask=FieldMask(paths=["config_hash"]),
            ),
            metadata=admin,
        )
    )
    assert bad_mask.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "update_mask" in rich_error(bad_mask).field_violations

    archived = await tooling.agents.ArchiveAgent(
        apb.ArchiveAgentRequest(tenant_id=tenant, agent_id=agent.id), metadata=admin
    )
    assert archived.agent.status == apb.AGENT_STATUS_ARCHIVED
    assert not archived.agent.is_active
    enabled = await tooling.agents.ListAgents(
        apb.ListAgentsRequest(tenant_id=tenant, enabled_only=True), metadata=admin
    )
    assert agent.id not in {a.id for a in enabled.agents}


async def test_bad_agent_input_names_each_field(tooling: Tooling) -> None:
    tenant = new_tenant()
    admin = ISSUER.member(tenant, "admin")
    error = await failure(
        tooling.agents.CreateAgent(
            apb.CreateAgentRequest(
                agent=apb.Agent(
                    tenant_id=tenant,
                    name="",
                    role_name="x" * 201,
                    tenant_scope="everywhere",
                    blocked_tenant_ids=[str(uuid.uuid4())],
                    llm_model_id="not-a-uuid",
                ),
                tools=[apb.AgentToolAssignment(tool_id="nope", priority=-1)],
            ),
            metadata=admin,
        )
    )
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert {
        "agent.name",
        "agent.role_name",
        "agent.tenant_scope",
        "agent.blocked_tenant_ids",
        "agent.llm_model_id",
        "tools[0].tool_id",
        "tools[0].priority",
    } <= set(rich_error(error).field_violations)
    name = unique("Dup")
    await create_agent(tooling, admin, tenant_id=tenant, name=name)
    duplicate = await failure(create_agent(tooling, admin, tenant_id=tenant, name=name))
    assert duplicate.code() == grpc.StatusCode.ALREADY_EXISTS
    other = new_tenant()
    same_name_elsewhere = await create_agent(
        tooling, ISSUER.member(other, "admin"), tenant_id=other, name=name
    )
    assert same_name_elsewhere.agent.name == name


async def test_create_with_a_request_id_creates_once(tooling: Tooling) -> None:
    tenant = new_tenant()
    admin = ISSUER.member(tenant, "admin")
    request = apb.CreateAgentRequest(
        agent=apb.Agent(tenant_id=tenant, name=unique("Once"), role_name="ops"),
        request_id=str(uuid.uuid4()),
    )
    first = await tooling.agents.CreateAgent(request, metadata=admin)
    again = await tooling.agents.CreateAgent(request, metadata=admin)
    assert again.agent.id == first.agent.id


async def test_an_agent_is_offered_its_top_five_tools_by_priority(tooling: Tooling) -> None:
    tenant = new_tenant()
    admin = ISSUER.member(tenant, "admin")
    agent = (await create_agent(tooling, admin, tenant_id=tenant)).agent
    tools = [await create_tool(tooling, admin, tenant_id=tenant) for _ in range(7)]
    for priority, tool in zip([5, 1, 7, 3, 2, 6, 4], tools, strict=True):
        await tooling.agents.SetAgentTool(
            apb.SetAgentToolRequest(
                tenant_id=tenant, agent_id=agent.id, tool_id=tool.id, priority=priority
            ),
            metadata=admin,
        )
    offered = await tooling.agents.ListAgentTools(
        apb.ListAgentToolsRequest(tenant_id=tenant, agent_id=agent.id, page_size=5),
        metadata=ISSUER.member(tenant, "viewer"),
    )
    assert [t.priority for t in offered.agent_tools] == [1, 2, 3, 4, 5]
    assert offered.next_page_token
    await tooling.agents.RemoveAgentTool(
        apb.RemoveAgentToolRequest(tenant_id=tenant, agent_id=agent.id, tool_id=tools[1].id),
        metadata=admin,
    )
    offered = await tooling.agents.ListAgentTools(
        apb.ListAgentToolsRequest(tenant_id=tenant, agent_id=agent.id, page_size=5),
        metadata=admin,
    )
    assert [t.priority for t in offered.agent_tools] == [2, 3, 4, 5, 6]
    other = new_tenant()
    foreign_tool = await create_tool(tooling, ISSUER.member(other, "admin"), tenant_id=other)
    error = await failure(
        tooling.agents.SetAgentTool(
            apb.SetAgentToolRequest(
                tenant_id=tenant, agent_id=agent.id, tool_id=foreign_tool.id, priority=1
            ),
            metadata=admin,
        )
    )
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_tool_configs_are_checked_against_their_base_type(tooling: Tooling) -> None:
    tenant = new_tenant()
    admin = ISSUER.member(tenant, "admin")
    error = await failure(
        tooling.tools.CreateToolConfig(
            tpb.CreateToolConfigRequest(
                tool=tpb.ToolConfig(
                    tenant_id=tenant,
                    name="bad name!",
                    base_tool_id=str(base_tool_id("HTTP_GET")),
                    config=dict_to_struct({"endpoint": "ftp://x", "verb": "GET"}),
                    input_schema=dict_to_struct({"type": "nonsense"}),
                )
            ),
            metadata=admin,
        )
    )
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    fields = set(rich_error(error).field_violations)
    assert {"tool.name", "tool.config.endpoint", "tool.input_schema"} <= fields

    tool = await create_tool(tooling, admin, tenant_id=tenant)
    updated = await tooling.tools.UpdateToolConfig(
        tpb.UpdateToolConfigRequest(
            tool=tpb.ToolConfig(
                id=tool.id, tenant_id=tenant, version=tool.version, is_active=False
            ),
            update_mask=FieldMask(paths=["is_active"]),
        ),
        metadata=admin,
    )
    assert not updated.tool.is_active and updated.tool.version == tool.version + 1
    active = await tooling.tools.ListToolConfigs(
        tpb.ListToolConfigsRequest(tenant_id=tenant, active_only=True, page_size=1000),
        metadata=admin,
    )
    assert tool.id not in {t.id for t in active.tools}


async def test_permissions_switch_agents_and_tools_for_a_tenant(tooling: Tooling) -> None:
    tenant = new_tenant()
    admin = ISSUER.member(tenant, "admin")
    tool = await create_tool(tooling, ISSUER.operator())
    agent = (await create_agent(tooling, ISSUER.operator(), tools=[(tool.id, 1)])).agent

    # Seed Query 3: the global tool is listed, not enabled, until the tenant is granted it.
    before = await tooling.permissions.ListToolPermissions(
        ppb.ListToolPermissionsRequest(tenant_id=tenant, page_size=1000), metadata=admin
    )
    assert {p.tool_id: p.enabled for p in before.permissions}[tool.id] is False

    bad = await failure(
        tooling.permissions.GrantAgents(
            ppb.GrantAgentsRequest(tenant_id=tenant, agent_ids=[agent.id, str(uuid.uuid4())]),
            metadata=admin,
        )
    )
    assert bad.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "agent_ids[1]" in rich_error(bad).field_violations
    nothing = await tooling.permissions.ListAgentPermissions(
        ppb.ListAgentPermissionsRequest(tenant_id=tenant), metadata=admin
    )
    assert list(nothing.permissions) == []  # all or nothing

    granted = await tooling.permissions.GrantAgents(
        ppb.GrantAgentsRequest(tenant_id=tenant, agent_ids=[agent.id]), metadata=admin
    )
    assert [p.agent_id for p in granted.agent_permissions] == [agent.id]
    assert [p.tool_id for p in granted.tool_permissions] == [tool.id]

    switched = await tooling.permissions.SetToolPermission(
        ppb.SetToolPermissionRequest(
            permission=ppb.ToolPermission(tenant_id=tenant, tool_id=tool.id, enabled=False)
        ),
        metadata=admin,
    )
    assert not switched.permission.enabled
    await tooling.permissions.SetAgentPermission(
        ppb.SetAgentPermissionRequest(
            permission=ppb.AgentPermission(tenant_id=tenant, agent_id=agent.id, enabled=False)
        ),
        metadata=admin,
    )
    enabled = await tooling.permissions.ListAgentPermissions(
        ppb.ListAgentPermissionsRequest(tenant_id=tenant, enabled_only=True), metadata=admin
    )
    assert list(enabled.permissions) == []
    viewer_error = await failure(
        tooling.permissions.SetToolPermission(
            ppb.SetToolPermissionRequest(
                permission=ppb.ToolPermission(tenant_id=tenant, tool_id=tool.id, enabled=True)
            ),
            metadata=ISSUER.member(tenant, "viewer"),
        )
    )
    assert viewer_error.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_secret_headers_need_an_encryption_key(tooling: Tooling) -> None:
    tenant = new_tenant()
    error = await failure(
        create_tool(
            tooling,
            ISSUER.member(tenant, "admin"),
            tenant_id=tenant,
            secret_headers={"X-Api-Key": "k-123"},
        )
    )
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert rich_error(error).reason == "NO_ENCRYPTION_KEYS"


async def test_reported_tokens_add_up_in_the_agents_totals_once_per_request_id(
    tooling: Tooling,
) -> None:
    tenant = new_tenant()
    admin = ISSUER.member(tenant, "admin")
    agent = (await create_agent(tooling, admin, tenant_id=tenant)).agent
    worker = ISSUER.internal("conversation")

    def report(tokens: int, request_id: str, **fields: str) -> apb.RecordAgentUsageRequest:
        return apb.RecordAgentUsageRequest(
            tenant_id=fields.get("tenant_id", tenant),
            agent_id=fields.get("agent_id", agent.id),
            tokens_used=tokens,
            request_id=request_id,
        )

    first = await tooling.agents.RecordAgentUsage(report(120, "run-1"), metadata=worker)
    assert first.totals.tokens_used == 120
    again = await tooling.agents.RecordAgentUsage(report(120, "run-1"), metadata=worker)
    assert again == first  # a repeated report is answered, not counted again
    # Concurrent reports never lose a count.
    await asyncio.gather(
        *(
            tooling.agents.RecordAgentUsage(report(7, f"run-c{i}"), metadata=worker)
            for i in range(8)
        )
    )
    got = (
        await tooling.agents.GetAgent(
            apb.GetAgentRequest(tenant_id=tenant, agent_id=agent.id), metadata=admin
        )
    ).agent
    assert got.totals.tokens_used == 120 + 8 * 7
    assert got.config_version == agent.config_version  # totals are no change of definition
    assert got.update_time == agent.update_time

    refused = await failure(tooling.agents.RecordAgentUsage(report(5, "run-2"), metadata=admin))
    assert refused.code() == grpc.StatusCode.PERMISSION_DENIED
    bad = await failure(tooling.agents.RecordAgentUsage(report(-1, ""), metadata=worker))
    assert bad.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert set(rich_error(bad).field_violations) == {"tokens_used", "request_id"}
    other = await failure(
        tooling.agents.RecordAgentUsage(report(5, "run-3", tenant_id=new_tenant()), metadata=worker)
    )
    assert other.code() == grpc.StatusCode.NOT_FOUND  # another tenant's agent is not found
    reused = await failure(tooling.agents.RecordAgentUsage(report(9, "run-1"), metadata=worker))
    assert reused.code() == grpc.StatusCode.INVALID_ARGUMENT  # run-1 reported other tokens
