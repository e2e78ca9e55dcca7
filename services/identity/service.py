"""The identity service as the shared bootstrap runs it."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import grpc

from quarterdeck.identity.v1 import identity_pb2, identity_pb2_grpc
from services.identity.config import IdentitySettings
from services.identity.models import Base, IdempotencyKey
from shared.server import ServiceContext, ServiceSpec


class IdentityServicer(identity_pb2_grpc.IdentityServiceServicer):
    """Declares the service; its RPCs arrive with the identity issue."""


def register(server: grpc.aio.Server, context: ServiceContext[IdentitySettings]) -> Sequence[str]:
    identity_pb2_grpc.add_IdentityServiceServicer_to_server(IdentityServicer(), server)
    return [identity_pb2.DESCRIPTOR.services_by_name["IdentityService"].full_name]


SPEC = ServiceSpec(
    name="identity",
    settings_type=IdentitySettings,
    metadata=Base.metadata,
    migrations_dir=Path(__file__).parent / "migrations",
    idempotency_model=IdempotencyKey,
    register=register,
)
