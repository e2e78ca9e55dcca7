"""The tooling service as the shared bootstrap runs it."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import grpc

from quarterdeck.tooling.v1 import tooling_pb2, tooling_pb2_grpc
from services.tooling.config import ToolingSettings
from services.tooling.models import Base, IdempotencyKey
from shared.server import ServiceContext, ServiceSpec


class ToolingServicer(tooling_pb2_grpc.ToolingServiceServicer):
    """Declares the service; its RPCs arrive with the tooling issue."""


def register(server: grpc.aio.Server, context: ServiceContext[ToolingSettings]) -> Sequence[str]:
    tooling_pb2_grpc.add_ToolingServiceServicer_to_server(ToolingServicer(), server)
    return [tooling_pb2.DESCRIPTOR.services_by_name["ToolingService"].full_name]


SPEC = ServiceSpec(
    name="tooling",
    settings_type=ToolingSettings,
    metadata=Base.metadata,
    migrations_dir=Path(__file__).parent / "migrations",
    idempotency_model=IdempotencyKey,
    register=register,
)
