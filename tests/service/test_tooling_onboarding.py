"""GrantOnboarding and RevokeOnboarding over a real tooling server, on SQLite and PostgreSQL: an
onboarding grants the agents named and the tools their enabled agents are offered, checked
against real agent, tool and output format ids, all or nothing, idempotent by onboarding id;
revoking takes back only that onboarding's grants."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import grpc
import pytest

from quarterdeck.tooling.v1 import agents_pb2 as apb
from quarterdeck.tooling.v1 import permissions_pb2 as pb
from services.tooling.tools.seed_catalogue import output_format_id
from tests.support.errors import rich_error
from tests.support.stack import Databases
from tests.support.tokens import TestIssuer
from tests.support.tooling import Tooling, create_agent, create_tool, failure, tooling_service

ISSUER = TestIssuer()


@pytest.fixture(scope="module")
async def tooling(backend: str, databases: Databases) -> AsyncIterator[Tooling]:
    async with tooling_service(databases, backend, "onboarding", ISSUER) as service:
        yield service


@dataclass
class Catalogue:
    agent: str  # offered tools one and two
    other: str  # offered tool three
    archived: str
    tools: list[str]  # one, two, three, four (none of an agent)
    foreign_tool: str  # another tenant's


async def catalogue(tooling: Tooling) -> Catalogue:
    operator = ISSUER.operator()
    tools = [(await create_tool(tooling, operator)).id for _ in range(4)]
    agent = (await create_agent(tooling, operator, tools=[(tools[0], 1), (tools[1], 2)])).agent
    other = (await create_agent(tooling, operator, tools=[(tools[2], 1)])).agent
    archived = (await create_agent(tooling, operator)).agent
    await tooling.agents.ArchiveAgent(
        apb.ArchiveAgentRequest(agent_id=archived.id), metadata=operator
    )
    someone = str(uuid.uuid4())
    foreign = await create_tool(tooling, ISSUER.member(someone, "admin"), tenant_id=someone)
    return Catalogue(agent.id, other.id, archived.id, tools, foreign.id)


def onboarding(c: Catalogue, tenant: str, onboarding_id: str) -> pb.GrantOnboardingRequest:
    return pb.GrantOnboardingRequest(
        tenant_id=tenant,
        onboarding_id=onboarding_id,
        agent_grants=[
            pb.OnboardingAgentGrant(agent_id=c.agent),
            pb.OnboardingAgentGrant(
                agent_id=c.other,
                enabled=False,
                output_format_id=str(output_format_id("markdown_table")),
            ),
        ],
        tool_grants=[pb.OnboardingToolGrant(tool_id=c.tools[3], enabled=False)],
    )


async def stored(tooling: Tooling, tenant: str) -> tuple[set[tuple[str, bool]], set[str]]:
    """The tenant's agent permissions (id, enabled) and the tools it has enabled."""
    viewer = ISSUER.member(tenant, "viewer")
    agents = await tooling.permissions.ListAgentPermissions(
        pb.ListAgentPermissionsRequest(tenant_id=tenant, page_size=100), metadata=viewer
    )
    tools = await tooling.permissions.ListToolPermissions(
        pb.ListToolPermissionsRequest(tenant_id=tenant, page_size=1000), metadata=viewer
    )
    return (
        {(p.agent_id, p.enabled) for p in agents.permissions},
        {p.tool_id for p in tools.permissions if p.enabled},
    )


async def test_an_onboarding_grants_the_agents_and_the_tools_they_are_offered(
    tooling: Tooling,
) -> None:
    c = await catalogue(tooling)
    tenant, onboarding_id = str(uuid.uuid4()), str(uuid.uuid4())
    granted = await tooling.permissions.GrantOnboarding(
        onboarding(c, tenant, onboarding_id), metadata=ISSUER.internal("tenancy")
    )
    assert [(p.agent_id, p.enabled, p.output_override_id) for p in granted.agent_permissions] == [
        (c.agent, True, ""),
        (c.other, False, str(output_format_id("markdown_table"))),
    ]
    # The tool named first (as given), then those the enabled agent is offered; the disabled
    # agent's tool is not derived.
    assert [(p.tool_id, p.enabled) for p in granted.tool_permissions] == [
        (c.tools[3], False),
        *sorted([(c.tools[0], True), (c.tools[1], True)]),
    ]
    assert await stored(tooling, tenant) == (
        {(c.agent, True), (c.other, False)},
        {c.tools[0], c.tools[1]},
    )
    again = await tooling.permissions.GrantOnboarding(
        onboarding(c, tenant, onboarding_id), metadata=ISSUER.operator()
    )
    assert {p.agent_id for p in again.agent_permissions} == {c.agent, c.other}
    assert {(p.tool_id, p.enabled) for p in again.tool_permissions} == {
        (p.tool_id, p.enabled) for p in granted.tool_permissions
    }
    another = await failure(
        tooling.permissions.GrantOnboarding(
            onboarding(c, tenant, str(uuid.uuid4())), metadata=ISSUER.operator()
        )
    )
    assert another.code() == grpc.StatusCode.ALREADY_EXISTS
    assert rich_error(another).reason == "TENANT_ALREADY_ONBOARDED"


@pytest.mark.parametrize("part", ["unknown_agent", "archived", "foreign_tool", "bad_format"])
async def test_any_unknown_id_refuses_the_whole_onboarding(tooling: Tooling, part: str) -> None:
    c = await catalogue(tooling)
    tenant, onboarding_id = str(uuid.uuid4()), str(uuid.uuid4())
    request = onboarding(c, tenant, onboarding_id)
    if part == "unknown_agent":
        request.agent_grants[1].agent_id = str(uuid.uuid4())
        field, why = "agent_grants[1].agent_id", "names no agent this tenant may use"
    elif part == "archived":
        request.agent_grants.append(pb.OnboardingAgentGrant(agent_id=c.archived))
        field, why = "agent_grants[2].agent_id", "names an archived agent"
    elif part == "foreign_tool":
        request.tool_grants[0].tool_id = c.foreign_tool
        field, why = "tool_grants[0].tool_id", "names no tool this tenant may use"
    else:
        request.agent_grants[0].output_format_id = str(uuid.uuid4())
        field, why = "agent_grants[0].output_format_id", "names no output format"
    refused = await failure(
        tooling.permissions.GrantOnboarding(request, metadata=ISSUER.operator())
    )
    assert refused.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert rich_error(refused).field_violations == {field: why}
    assert await stored(tooling, tenant) == (set(), set())
    # Nothing was claimed: the corrected onboarding goes through under the same id.
    await tooling.permissions.GrantOnboarding(
        onboarding(c, tenant, onboarding_id), metadata=ISSUER.operator()
    )
    assert (await stored(tooling, tenant))[1] == {c.tools[0], c.tools[1]}


async def test_malformed_grants_are_named_and_members_are_refused(tooling: Tooling) -> None:
    tenant = str(uuid.uuid4())
    bad = await failure(
        tooling.permissions.GrantOnboarding(
            pb.GrantOnboardingRequest(
                tenant_id=tenant,
                agent_grants=[
                    pb.OnboardingAgentGrant(agent_id="agent-42"),
                    pb.OnboardingAgentGrant(),
                ],
                tool_grants=[
                    pb.OnboardingToolGrant(tool_id=str(uuid.UUID(int=7))),
                    pb.OnboardingToolGrant(tool_id=str(uuid.UUID(int=7))),
                ],
            ),
            metadata=ISSUER.operator(),
        )
    )
    assert set(rich_error(bad).field_violations) == {
        "onboarding_id",
        "agent_grants[0].agent_id",
        "agent_grants[1].agent_id",
        "tool_grants[1].tool_id",
    }
    member = await failure(
        tooling.permissions.GrantOnboarding(
            pb.GrantOnboardingRequest(tenant_id=tenant, onboarding_id="x"),
            metadata=ISSUER.member(tenant, "owner"),
        )
    )
    assert member.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_revoking_takes_back_only_that_onboardings_grants(tooling: Tooling) -> None:
    c = await catalogue(tooling)
    tenant, onboarding_id = str(uuid.uuid4()), str(uuid.uuid4())
    await tooling.permissions.GrantOnboarding(
        onboarding(c, tenant, onboarding_id), metadata=ISSUER.internal("tenancy")
    )
    other = await tooling.permissions.RevokeOnboarding(
        pb.RevokeOnboardingRequest(tenant_id=tenant, onboarding_id=str(uuid.uuid4())),
        metadata=ISSUER.internal("tenancy"),
    )
    assert other.revoked_count == 0
    assert (await stored(tooling, tenant))[1] == {c.tools[0], c.tools[1]}
    revoked = await tooling.permissions.RevokeOnboarding(
        pb.RevokeOnboardingRequest(tenant_id=tenant, onboarding_id=onboarding_id),
        metadata=ISSUER.internal("tenancy"),
    )
    assert revoked.revoked_count == 2 + 3
    assert await stored(tooling, tenant) == (set(), set())
    again = await tooling.permissions.RevokeOnboarding(
        pb.RevokeOnboardingRequest(tenant_id=tenant, onboarding_id=onboarding_id),
        metadata=ISSUER.internal("tenancy"),
    )
    assert again.revoked_count == 0
    # Revoked, the tenant may be onboarded again.
    await tooling.permissions.GrantOnboarding(
        onboarding(c, tenant, str(uuid.uuid4())), metadata=ISSUER.internal("tenancy")
    )
