"""The tooling service as the shared bootstrap runs it: one servicer per proto service (area),
each over its transport-free handlers, all built from one :class:`ToolingContext`."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import grpc

from quarterdeck.tooling.v1 import (
    agents_pb2,
    agents_pb2_grpc,
    checkpoints_pb2,
    checkpoints_pb2_grpc,
    executions_pb2,
    executions_pb2_grpc,
    memory_pb2,
    memory_pb2_grpc,
    permissions_pb2,
    permissions_pb2_grpc,
    tools_pb2,
    tools_pb2_grpc,
)
from services.tooling.agents.handlers import AgentHandlers
from services.tooling.agents.servicer import AgentServiceServicer
from services.tooling.checkpoints.handlers import CheckpointHandlers
from services.tooling.checkpoints.servicer import CheckpointServiceServicer
from services.tooling.config import ToolingSettings
from services.tooling.context import ToolingContext
from services.tooling.egress import EgressGuard
from services.tooling.executions.handlers import ExecutionHandlers
from services.tooling.executions.servicer import ExecutionServiceServicer
from services.tooling.memory.handlers import MemoryHandlers
from services.tooling.memory.servicer import MemoryServiceServicer
from services.tooling.models import IdempotencyKey
from services.tooling.permissions.handlers import PermissionHandlers
from services.tooling.permissions.servicer import PermissionServiceServicer
from services.tooling.schema import metadata
from services.tooling.telemetry_link import ToolUsageLink
from services.tooling.tools.handlers import ToolHandlers
from services.tooling.tools.servicer import ToolServiceServicer
from shared.server import ServiceContext, ServiceSpec


def _full_name(descriptor: Any, service: str) -> str:
    return str(descriptor.services_by_name[service].full_name)


async def prepare(context: ServiceContext[ToolingSettings, Any]) -> ToolingContext:
    settings = context.settings
    egress = EgressGuard(
        allowed_hosts=settings.allowed_egress_hosts,
        timeout_seconds=settings.egress_timeout_seconds,
        max_response_bytes=settings.egress_max_response_bytes,
        max_redirects=settings.egress_max_redirects,
    )
    context.resources.on_close(egress.close)
    tool_usage = ToolUsageLink(settings.telemetry_target, context.identity)
    context.resources.on_close(tool_usage.close)
    return ToolingContext.of(context, egress, tool_usage)


def register(
    server: grpc.aio.Server, context: ServiceContext[ToolingSettings, ToolingContext]
) -> Sequence[str]:
    ctx = context.state
    agents_pb2_grpc.add_AgentServiceServicer_to_server(
        AgentServiceServicer(AgentHandlers(ctx)), server
    )
    tools_pb2_grpc.add_ToolServiceServicer_to_server(ToolServiceServicer(ToolHandlers(ctx)), server)
    permissions_pb2_grpc.add_PermissionServiceServicer_to_server(
        PermissionServiceServicer(PermissionHandlers(ctx)), server
    )
    executions_pb2_grpc.add_ExecutionServiceServicer_to_server(
        ExecutionServiceServicer(ExecutionHandlers(ctx)), server
    )
    memory_pb2_grpc.add_MemoryServiceServicer_to_server(
        MemoryServiceServicer(MemoryHandlers(ctx)), server
    )
    checkpoints_pb2_grpc.add_CheckpointServiceServicer_to_server(
        CheckpointServiceServicer(CheckpointHandlers(ctx)), server
    )
    return [
        _full_name(agents_pb2.DESCRIPTOR, "AgentService"),
        _full_name(tools_pb2.DESCRIPTOR, "ToolService"),
        _full_name(permissions_pb2.DESCRIPTOR, "PermissionService"),
        _full_name(executions_pb2.DESCRIPTOR, "ExecutionService"),
        _full_name(memory_pb2.DESCRIPTOR, "MemoryService"),
        _full_name(checkpoints_pb2.DESCRIPTOR, "CheckpointService"),
    ]


SPEC = ServiceSpec(
    name="tooling",
    settings_type=ToolingSettings,
    metadata=metadata,
    migrations_dir=Path(__file__).parent / "migrations",
    idempotency_model=IdempotencyKey,
    register=register,
    prepare=prepare,
)
