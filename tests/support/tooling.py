"""The tooling service for tests: one in-process server per backend, stubs of every area, and
helpers that make tenants' agents and tools."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from quarterdeck.tooling.v1 import agents_pb2, tools_pb2
from quarterdeck.tooling.v1.agents_pb2_grpc import AgentServiceStub
from quarterdeck.tooling.v1.checkpoints_pb2_grpc import CheckpointServiceStub
from quarterdeck.tooling.v1.executions_pb2_grpc import ExecutionServiceStub
from quarterdeck.tooling.v1.memory_pb2_grpc import MemoryServiceStub
from quarterdeck.tooling.v1.permissions_pb2_grpc import PermissionServiceStub
from quarterdeck.tooling.v1.tools_pb2_grpc import ToolServiceStub
from services.tooling.tools.seed_catalogue import base_tool_id
from shared.auth import Authenticator
from shared.grpc_client import open_channel
from shared.json_values import dict_to_struct
from shared.server import RunningService
from tests.support.errors import failure as failure
from tests.support.stack import Databases, running_service
from tests.support.tokens import TestIssuer

ECHO_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"q": {"type": "string", "maxLength": 50}},
    "required": ["q"],
}


@dataclass
class Tooling:
    running: RunningService[Any, Any]
    agents: AgentServiceStub
    tools: ToolServiceStub
    permissions: PermissionServiceStub
    executions: ExecutionServiceStub
    memory: MemoryServiceStub
    checkpoints: CheckpointServiceStub


@asynccontextmanager
async def tooling_service(
    databases: Databases,
    backend: str,
    label: str,
    issuer: TestIssuer,
    authenticator: Authenticator | None = None,
    **overrides: Any,
) -> AsyncIterator[Tooling]:
    """``authenticator`` verifies callers; the issuer's by default."""
    url = await databases.url(backend, "tooling", label)
    async with (
        running_service(
            "tooling", url, authenticator=authenticator or issuer.authenticator(), **overrides
        ) as run,
        open_channel(run.target) as channel,
    ):
        yield Tooling(
            run,
            AgentServiceStub(channel),
            ToolServiceStub(channel),
            PermissionServiceStub(channel),
            ExecutionServiceStub(channel),
            MemoryServiceStub(channel),
            CheckpointServiceStub(channel),
        )


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


async def create_tool(
    tooling: Tooling,
    metadata: list[tuple[str, str]],
    *,
    tenant_id: str = "",
    endpoint: str = "https://erp.example.com/api/{q}",
    base_type: str = "HTTP_GET",
    input_schema: dict[str, Any] | None = None,
    **fields: Any,
) -> tools_pb2.ToolConfig:
    response = await tooling.tools.CreateToolConfig(
        tools_pb2.CreateToolConfigRequest(
            tool=tools_pb2.ToolConfig(
                tenant_id=tenant_id,
                name=unique("tool"),
                base_tool_id=str(base_tool_id(base_type)),
                config=dict_to_struct({"endpoint": endpoint, "timeout": 5}),
                input_schema=dict_to_struct(input_schema or ECHO_SCHEMA),
                description="looks something up",
                **fields,
            )
        ),
        metadata=metadata,
    )
    return response.tool


async def create_agent(
    tooling: Tooling,
    metadata: list[tuple[str, str]],
    *,
    tenant_id: str = "",
    tools: list[tuple[str, int]] = (),  # type: ignore[assignment]
    **fields: Any,
) -> agents_pb2.CreateAgentResponse:
    return await tooling.agents.CreateAgent(
        agents_pb2.CreateAgentRequest(
            agent=agents_pb2.Agent(
                tenant_id=tenant_id,
                is_global=not tenant_id,
                name=fields.pop("name", unique("Agent")),
                role_name=fields.pop("role_name", "debt_collection"),
                prompt_template="You are a helpful assistant.",
                **fields,
            ),
            tools=[
                agents_pb2.AgentToolAssignment(tool_id=tool_id, priority=priority)
                for tool_id, priority in tools
            ],
        ),
        metadata=metadata,
    )
