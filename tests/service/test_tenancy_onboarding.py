"""One-call onboarding across tenancy and tooling (DESIGN flow 1, seed 004 "New Tenant
Onboarding"), on SQLite and on PostgreSQL, with identity, tenancy and tooling running for real:
tenancy creates the tenant, its owner and its model configuration, and tooling stores the agent
grants and the tool grants derived from the agents' tools (checked against real agent, tool and
output format ids) with tenancy's own internal token, before tenancy commits. All or nothing:
any bad part, a refusal by tooling, or a failure after tooling stored the grants leaves no
tenant in tenancy and no grant in tooling; a repeated request_id answers the first result.

(Moved from test_model_configs.py, where the grants went to tenancy's stand-in table.)"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
from cryptography.fernet import Fernet
from sqlalchemy import func, select

from quarterdeck.identity.v1.identity_pb2_grpc import IdentityServiceStub
from quarterdeck.tenancy.v1 import model_configs_pb2 as pb
from quarterdeck.tenancy.v1 import tenancy_pb2
from quarterdeck.tenancy.v1.model_configs_pb2_grpc import TenantModelConfigServiceStub
from quarterdeck.tenancy.v1.tenancy_pb2_grpc import TenancyServiceStub
from quarterdeck.tooling.v1 import permissions_pb2 as tpb
from services.tenancy.model_configs.models import TenantModelConfigRecord
from services.tenancy.pricing.models import ModelRecord
from services.tenancy.tenants.models import MembershipRecord, TenantRecord
from services.tooling.permissions.models import (
    TenantAgentPermissionRecord,
    TenantOnboardingRecord,
    TenantToolPermissionRecord,
)
from services.tooling.tools.seed_catalogue import output_format_id
from shared.db import Database
from shared.errors import Unavailable
from shared.grpc_client import open_channel
from shared.server import RunningService
from tests.support.errors import failure, rich_error
from tests.support.stack import (
    IDENTITY_TEST_SETTINGS,
    TENANCY_INTERNAL_SECRET,
    Databases,
    free_port,
    running_service,
)
from tests.support.tokens import TestIssuer
from tests.support.tooling import Tooling, create_agent, create_tool, tooling_service

ISSUER = TestIssuer()
KEY = Fernet.generate_key().decode()


@dataclass
class Platform:
    tenancy: RunningService[Any, Any]
    configs: TenantModelConfigServiceStub
    tenants: TenancyServiceStub
    tooling: Tooling
    model_id: str


@pytest.fixture(scope="module")
async def platform(backend: str, databases: Databases) -> AsyncIterator[Platform]:
    identity_port = free_port()
    identity_target = f"127.0.0.1:{identity_port}"
    async with (
        open_channel(identity_target) as identity_channel,
        # Tests call tooling with the issuer's tokens; tenancy calls it with the internal token
        # identity gave it.
        tooling_service(
            databases,
            backend,
            "onboarding-platform",
            ISSUER,
            authenticator=ISSUER.authenticator_also_trusting(IdentityServiceStub(identity_channel)),
        ) as tooling,
        running_service(
            "tenancy",
            await databases.url(backend, "tenancy", "onboarding-platform"),
            authenticator=ISSUER.authenticator(),
            identity_target=identity_target,
            internal_secret=TENANCY_INTERNAL_SECRET,
            jwks_max_age_seconds=1.0,
            provider_key_encryption_keys=KEY,
            tooling_target=tooling.running.target,
        ) as tenancy,
        running_service(
            "identity",
            await databases.url(backend, "identity", "onboarding-platform"),
            port=identity_port,
            tenancy_target=tenancy.target,
            **IDENTITY_TEST_SETTINGS,
        ),
        open_channel(tenancy.target) as channel,
    ):
        async with tenancy.context.database.reading() as session:
            model_id = await session.scalar(
                select(ModelRecord.id).where(ModelRecord.is_active.is_(True)).limit(1)
            )
        yield Platform(
            tenancy,
            TenantModelConfigServiceStub(channel),
            TenancyServiceStub(channel),
            tooling,
            str(model_id),
        )


@dataclass
class Catalogue:
    agent: str  # offered tools[0] and tools[1]
    other: str  # offered tools[2]
    tools: list[str]  # tools[3] is no agent's


async def catalogue(tooling: Tooling) -> Catalogue:
    operator = ISSUER.operator()
    tools = [(await create_tool(tooling, operator)).id for _ in range(4)]
    agent = (await create_agent(tooling, operator, tools=[(tools[0], 1), (tools[1], 2)])).agent
    other = (await create_agent(tooling, operator, tools=[(tools[2], 1)])).agent
    return Catalogue(agent.id, other.id, tools)


def onboarding(p: Platform, c: Catalogue, **fields: Any) -> pb.OnboardTenantRequest:
    request = pb.OnboardTenantRequest(
        tenant=tenancy_pb2.Tenant(slug=f"onb-{uuid.uuid4().hex[:12]}", name="Onboarded Inc"),
        owner_user_id=str(uuid.uuid4()),
        model_config=pb.TenantModelConfig(
            llm_model_id=p.model_id, api_key=f"sk-test-{uuid.uuid4().hex}", rate_limit_rpm=30
        ),
        agent_grants=[
            pb.AgentGrant(agent_id=c.agent),
            pb.AgentGrant(
                agent_id=c.other,
                enabled=False,
                output_format_id=str(output_format_id("markdown_table")),
            ),
        ],
        tool_grants=[pb.ToolGrant(tool_id=c.tools[3], enabled=True)],
    )
    for name, value in fields.items():
        setattr(request, name, value)
    return request


async def footprint(p: Platform, request: pb.OnboardTenantRequest) -> tuple[int, int, int, int]:
    """Tenants and configurations (tenancy), onboardings of those tenants and permissions of the
    request's agents for any tenant (tooling) the request left behind."""
    async with p.tenancy.context.database.reading() as session:
        tenant_ids = (
            await session.scalars(
                select(TenantRecord.id).where(TenantRecord.slug == request.tenant.slug)
            )
        ).all()
        configs = await session.scalar(
            select(func.count()).where(TenantModelConfigRecord.tenant_id.in_(tenant_ids))
        )
    database: Database = p.tooling.running.context.database
    async with database.reading() as session:
        onboardings = await session.scalar(
            select(func.count()).where(TenantOnboardingRecord.tenant_id.in_(tenant_ids))
        )
        agents = await session.scalar(
            select(func.count()).where(
                TenantAgentPermissionRecord.agent_id.in_(
                    [uuid.UUID(g.agent_id) for g in request.agent_grants if _is_uuid(g.agent_id)]
                )
            )
        )
    return len(tenant_ids), int(configs or 0), int(onboardings or 0), int(agents or 0)


async def tool_grants_of(p: Platform, tenant_id: str) -> set[tuple[str, bool]]:
    async with p.tooling.running.context.database.reading() as session:
        rows = await session.scalars(
            select(TenantToolPermissionRecord).where(
                TenantToolPermissionRecord.tenant_id == uuid.UUID(tenant_id)
            )
        )
        return {(str(row.tool_id), row.enabled) for row in rows}


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


async def test_onboarding_creates_everything_in_one_call(platform: Platform) -> None:
    c = await catalogue(platform.tooling)
    request = onboarding(platform, c, request_id=str(uuid.uuid4()))
    response = await platform.configs.OnboardTenant(request, metadata=ISSUER.operator())
    tenant_id = response.tenant.id
    assert response.tenant.slug == request.tenant.slug
    assert response.tenant.status == tenancy_pb2.TENANT_STATUS_ACTIVE
    assert response.model_config.api_key_hint == request.model_config.api_key[-4:]
    assert response.model_config.rate_limit_rpm == 30
    assert response.model_config.rate_limit_tpm == 10000
    assert [(g.agent_id, g.enabled, g.output_format_id) for g in response.agent_grants] == [
        (c.agent, True, ""),
        (c.other, False, str(output_format_id("markdown_table"))),
    ]
    # The tool named, then the tools the enabled agent is offered (seed 004 step 4); the
    # disabled agent's tool is not granted.
    expected_tools = [(c.tools[3], True), *sorted([(c.tools[0], True), (c.tools[1], True)])]
    assert [(g.tool_id, g.enabled) for g in response.tool_grants] == expected_tools
    assert await footprint(platform, request) == (1, 1, 1, 2)
    assert await tool_grants_of(platform, tenant_id) == set(expected_tools)

    owner = ISSUER.member(tenant_id, "owner", user_id=request.owner_user_id)
    config = await platform.configs.GetTenantModelConfig(
        pb.GetTenantModelConfigRequest(tenant_id=tenant_id), metadata=owner
    )
    assert config.config == response.model_config
    async with platform.tenancy.context.database.reading() as session:
        membership = await session.scalar(
            select(MembershipRecord).where(MembershipRecord.tenant_id == uuid.UUID(tenant_id))
        )
    assert membership is not None and str(membership.user_id) == request.owner_user_id
    assert membership.role == "owner"
    # The tenant's members see the grants in tooling.
    listed = await platform.tooling.permissions.ListAgentPermissions(
        tpb.ListAgentPermissionsRequest(tenant_id=tenant_id), metadata=owner
    )
    assert {(p.agent_id, p.enabled) for p in listed.permissions} == {
        (c.agent, True),
        (c.other, False),
    }

    again = await platform.configs.OnboardTenant(request, metadata=ISSUER.operator())
    assert again == response
    assert await footprint(platform, request) == (1, 1, 1, 2)


async def test_onboarding_is_for_operators_and_internal_callers(platform: Platform) -> None:
    c = await catalogue(platform.tooling)
    request = onboarding(platform, c)
    error = rich_error(
        await failure(
            platform.configs.OnboardTenant(
                request, metadata=ISSUER.member(str(uuid.uuid4()), "owner")
            )
        )
    )
    assert error.code == grpc.StatusCode.PERMISSION_DENIED
    assert await footprint(platform, request) == (0, 0, 0, 0)
    await platform.configs.OnboardTenant(request, metadata=ISSUER.internal())
    assert await footprint(platform, request) == (1, 1, 1, 2)


def _break(
    request: pb.OnboardTenantRequest, part: str, taken_slug: str, c: Catalogue
) -> tuple[str, str]:
    """Spoils one part of a valid request; returns the expected code name and field."""
    if part == "slug":
        request.tenant.slug = "Not A Slug"
        return "INVALID_ARGUMENT", "tenant.slug"
    if part == "taken_slug":
        request.tenant.slug = taken_slug
        return "ALREADY_EXISTS", ""
    if part == "unknown_model":
        request.model_config.llm_model_id = str(uuid.uuid4())
        return "INVALID_ARGUMENT", "model_config.llm_model_id"
    if part == "negative_limit":
        request.model_config.rate_limit_tpm = -5
        return "INVALID_ARGUMENT", "model_config.rate_limit_tpm"
    if part == "missing_key":
        request.model_config.api_key = ""
        return "INVALID_ARGUMENT", "model_config.api_key"
    if part == "bad_agent_id":
        request.agent_grants[1].agent_id = "agent-42"
        return "INVALID_ARGUMENT", "agent_grants[1].agent_id"
    if part == "bad_output_format":
        request.agent_grants[0].output_format_id = "json"
        return "INVALID_ARGUMENT", "agent_grants[0].output_format_id"
    if part == "duplicate_tool":
        request.tool_grants.append(pb.ToolGrant(tool_id=request.tool_grants[0].tool_id))
        return "INVALID_ARGUMENT", "tool_grants[1].tool_id"
    # Refused by tooling, after tenancy's own checks passed.
    if part == "unknown_agent":
        request.agent_grants[1].agent_id = str(uuid.uuid4())
        return "INVALID_ARGUMENT", "agent_grants[1].agent_id"
    if part == "unknown_tool":
        request.tool_grants[0].tool_id = str(uuid.uuid4())
        return "INVALID_ARGUMENT", "tool_grants[0].tool_id"
    if part == "unknown_output_format":
        request.agent_grants[1].output_format_id = str(uuid.uuid4())
        return "INVALID_ARGUMENT", "agent_grants[1].output_format_id"
    raise AssertionError(part)


@pytest.mark.parametrize(
    "part",
    [
        "slug",
        "taken_slug",
        "unknown_model",
        "negative_limit",
        "missing_key",
        "bad_agent_id",
        "bad_output_format",
        "duplicate_tool",
        "unknown_agent",
        "unknown_tool",
        "unknown_output_format",
    ],
)
async def test_onboarding_with_any_bad_part_leaves_nothing_behind(
    platform: Platform, part: str
) -> None:
    c = await catalogue(platform.tooling)
    taken = await platform.configs.OnboardTenant(
        onboarding(platform, await catalogue(platform.tooling)), metadata=ISSUER.operator()
    )
    request_id = str(uuid.uuid4())
    request = onboarding(platform, c, request_id=request_id)
    code, field = _break(request, part, taken.tenant.slug, c)
    before = await footprint(platform, request)
    error = rich_error(
        await failure(platform.configs.OnboardTenant(request, metadata=ISSUER.operator()))
    )
    assert error.code.name == code
    if field:
        assert field in error.field_violations
    assert await footprint(platform, request) == before
    if part != "taken_slug":
        assert before == (0, 0, 0, 0)
    assert request.model_config.api_key == "" or request.model_config.api_key not in error.message
    # The failed attempt kept no claim on its request_id: a corrected request goes through.
    fixed = onboarding(platform, c, request_id=request_id)
    created = await platform.configs.OnboardTenant(fixed, metadata=ISSUER.operator())
    assert created.tenant.slug == fixed.tenant.slug
    assert await footprint(platform, fixed) == (1, 1, 1, 2)


async def test_a_failure_after_tooling_granted_revokes_the_grants(
    platform: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Tooling stored the grants, then tenancy failed before its commit (here: the answer never
    arrived): the tenant is not kept, and tenancy takes the grants back from tooling."""
    c = await catalogue(platform.tooling)
    link = platform.tenancy.context.state.tooling
    real_grant = link.grant
    granted_tenants: list[uuid.UUID] = []

    async def grant_then_fail(tenant_id: uuid.UUID, *args: Any) -> Any:
        await real_grant(tenant_id, *args)
        granted_tenants.append(tenant_id)
        raise Unavailable("the answer was lost", reason="TOOLING_UNAVAILABLE")

    monkeypatch.setattr(link, "grant", grant_then_fail)
    request = onboarding(platform, c, request_id=str(uuid.uuid4()))
    error = rich_error(
        await failure(platform.configs.OnboardTenant(request, metadata=ISSUER.operator()))
    )
    assert (error.code, error.reason) == (grpc.StatusCode.UNAVAILABLE, "TOOLING_UNAVAILABLE")
    [tenant_id] = granted_tenants
    assert await footprint(platform, request) == (0, 0, 0, 0)
    assert await tool_grants_of(platform, str(tenant_id)) == set()

    monkeypatch.undo()  # tooling answers again: the same request goes through
    created = await platform.configs.OnboardTenant(request, metadata=ISSUER.operator())
    assert created.tenant.id != str(tenant_id)
    assert await footprint(platform, request) == (1, 1, 1, 2)
