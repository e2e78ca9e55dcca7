"""The whole platform a conversation turn crosses, in-process, for tests and benchmarks:
identity (internal tokens), tenancy (tenants, model configurations and keys, limits), tooling
(agents, tools, execution against a local HTTP server), telemetry (usage) and the conversation
service with its worker calling the local test provider; and tenants made ready to talk."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from cryptography.fernet import Fernet

from quarterdeck.conversation.v1 import events_pb2 as epb
from quarterdeck.conversation.v1 import messages_pb2 as mpb
from quarterdeck.telemetry.v1.usage_pb2_grpc import UsageServiceStub
from quarterdeck.tenancy.v1 import model_configs_pb2 as mcpb
from quarterdeck.tenancy.v1 import pricing_pb2 as ppb
from quarterdeck.tenancy.v1 import tenancy_pb2 as tpb
from quarterdeck.tenancy.v1.billing_pb2_grpc import BillingServiceStub
from quarterdeck.tenancy.v1.model_configs_pb2_grpc import TenantModelConfigServiceStub
from quarterdeck.tenancy.v1.pricing_pb2_grpc import ModelCatalogServiceStub
from quarterdeck.tenancy.v1.tenancy_pb2_grpc import TenancyServiceStub
from services.conversation.test_provider import (
    TEST_PROVIDER,
    ProviderBehaviour,
    RunningProvider,
    running_test_provider,
)
from shared.grpc_client import open_channel
from shared.identity_link import IdentityLink, internal_client_entry
from tests.support.conversation import ConversationStack
from tests.support.http_server import LocalServer, local_http_server
from tests.support.stack import IDENTITY_TEST_SETTINGS, Databases, identity_stack, running_service
from tests.support.tokens import TestIssuer
from tests.support.tooling import Tooling, create_agent, create_tool

ISSUER = TestIssuer()
CONVERSATION_SECRET = "conversation-internal-secret-for-tests"
#: Telemetry prices the run's usage rows through tenancy, as a Quarterdeck service.
TELEMETRY_SECRET = "telemetry-internal-secret-for-tests"
GOOD_KEY = "sk-test-good"


@dataclass
class TurnStack:
    conversation: ConversationStack
    tooling: Tooling
    tenants: TenancyServiceStub
    model_configs: TenantModelConfigServiceStub
    catalog: ModelCatalogServiceStub
    usage: UsageServiceStub
    provider: RunningProvider
    http: LocalServer
    #: An internal token identity issued: what the other services accept.
    internal: list[tuple[str, str]]
    model_id: str
    billing: BillingServiceStub


@asynccontextmanager
async def turn_stack(
    databases: Databases, backend: str, label: str = "turn", **conversation_overrides: Any
) -> AsyncIterator[TurnStack]:
    from quarterdeck.conversation.v1.conversations_pb2_grpc import ConversationServiceStub
    from quarterdeck.conversation.v1.events_pb2_grpc import EventServiceStub
    from quarterdeck.conversation.v1.messages_pb2_grpc import MessageServiceStub
    from quarterdeck.conversation.v1.runs_pb2_grpc import RunServiceStub
    from quarterdeck.tooling.v1.agents_pb2_grpc import AgentServiceStub
    from quarterdeck.tooling.v1.checkpoints_pb2_grpc import CheckpointServiceStub
    from quarterdeck.tooling.v1.executions_pb2_grpc import ExecutionServiceStub
    from quarterdeck.tooling.v1.memory_pb2_grpc import MemoryServiceStub
    from quarterdeck.tooling.v1.permissions_pb2_grpc import PermissionServiceStub
    from quarterdeck.tooling.v1.tools_pb2_grpc import ToolServiceStub

    clients = ",".join(
        [
            IDENTITY_TEST_SETTINGS["internal_clients"],
            internal_client_entry("conversation", CONVERSATION_SECRET),
            internal_client_entry("telemetry", TELEMETRY_SECRET),
        ]
    )
    with local_http_server() as http:
        async with (
            running_test_provider(ProviderBehaviour(api_keys={GOOD_KEY})) as provider,
            identity_stack(
                databases,
                backend,
                label,
                tenancy_overrides={"provider_key_encryption_keys": Fernet.generate_key().decode()},
                internal_clients=clients,
            ) as services,
        ):
            identity = services.identity.target
            async with (
                running_service(
                    "tooling",
                    await databases.url(backend, "tooling", label),
                    identity_target=identity,
                    egress_allowed_hosts="127.0.0.1",
                ) as tooling_run,
                running_service(
                    "telemetry",
                    await databases.url(backend, "telemetry", label),
                    identity_target=identity,
                    internal_secret=TELEMETRY_SECRET,
                    tenancy_target=services.tenancy.target,
                ) as telemetry_run,
                running_service(
                    "conversation",
                    await databases.url(backend, "conversation", label),
                    authenticator=ISSUER.authenticator(),
                    identity_target=identity,
                    internal_secret=CONVERSATION_SECRET,
                    tenancy_target=services.tenancy.target,
                    tooling_target=tooling_run.target,
                    telemetry_target=telemetry_run.target,
                    test_provider_base_url=provider.base_url,
                    provider_backoff_seconds=0,
                    run_reaper_interval_seconds=0,
                    run_worker_interval_seconds=0.2,
                    **conversation_overrides,
                ) as conversation_run,
                open_channel(conversation_run.target) as conversation_channel,
                open_channel(tooling_run.target) as tooling_channel,
                open_channel(services.tenancy.target) as tenancy_channel,
                open_channel(telemetry_run.target) as telemetry_channel,
            ):
                link = IdentityLink(identity, "conversation", CONVERSATION_SECRET, 60)
                internal = await link.internal_metadata()
                catalog = ModelCatalogServiceStub(tenancy_channel)
                model = await catalog.CreateModel(
                    ppb.CreateModelRequest(
                        model=ppb.Model(
                            provider=TEST_PROVIDER,
                            model_name=f"echo-{uuid.uuid4().hex[:6]}",
                            display_name="Echo (test provider)",
                            context_window=8192,
                            supports_tools=True,
                            is_active=True,
                        )
                    ),
                    metadata=internal,
                )
                yield TurnStack(
                    ConversationStack(
                        conversation_run,
                        ConversationServiceStub(conversation_channel),
                        MessageServiceStub(conversation_channel),
                        RunServiceStub(conversation_channel),
                        EventServiceStub(conversation_channel),
                    ),
                    Tooling(
                        tooling_run,
                        AgentServiceStub(tooling_channel),
                        ToolServiceStub(tooling_channel),
                        PermissionServiceStub(tooling_channel),
                        ExecutionServiceStub(tooling_channel),
                        MemoryServiceStub(tooling_channel),
                        CheckpointServiceStub(tooling_channel),
                    ),
                    TenancyServiceStub(tenancy_channel),
                    TenantModelConfigServiceStub(tenancy_channel),
                    catalog,
                    UsageServiceStub(telemetry_channel),
                    provider,
                    http,
                    internal,
                    model.model.id,
                    BillingServiceStub(tenancy_channel),
                )
                await link.close()


@dataclass
class Tenant:
    id: str
    agent_id: str
    tool_name: str
    member: list[tuple[str, str]]


async def new_tenant(
    stack: TurnStack, api_key: str = GOOD_KEY, *, tool_needs_approval: bool = False
) -> Tenant:
    created = await stack.tenants.CreateTenant(
        tpb.CreateTenantRequest(
            tenant=tpb.Tenant(slug=f"t-{uuid.uuid4().hex[:10]}", name="Acme Debt Collection")
        ),
        metadata=stack.internal,
    )
    tenant_id = created.tenant.id
    await stack.model_configs.SetTenantModelConfig(
        mcpb.SetTenantModelConfigRequest(
            config=mcpb.TenantModelConfig(
                tenant_id=tenant_id, llm_model_id=stack.model_id, api_key=api_key
            )
        ),
        metadata=stack.internal,
    )
    tool = await create_tool(
        stack.tooling,
        stack.internal,
        tenant_id=tenant_id,
        endpoint=f"{stack.http.base}/echo/{{q}}",
        requires_approval=tool_needs_approval,
    )
    agent = await create_agent(
        stack.tooling, stack.internal, tenant_id=tenant_id, tools=[(tool.id, 1)]
    )
    return Tenant(tenant_id, agent.agent.id, tool.name, ISSUER.member(tenant_id, "member"))


async def events_of(
    stack: TurnStack, tenant: Tenant, conversation_id: str
) -> list[epb.LedgerEvent]:
    """The conversation's ledger, as the tenant's member reads it (one page of up to 1,000)."""
    listed = await stack.conversation.events.ListEvents(
        epb.ListEventsRequest(conversation_id=conversation_id, page_size=1000),
        metadata=tenant.member,
    )
    return list(listed.events)


async def messages_of(stack: TurnStack, tenant: Tenant, conversation_id: str) -> list[mpb.Message]:
    """The conversation's visible messages, as the tenant's member reads them."""
    listed = await stack.conversation.messages.ListMessages(
        mpb.ListMessagesRequest(conversation_id=conversation_id), metadata=tenant.member
    )
    return list(listed.messages)
