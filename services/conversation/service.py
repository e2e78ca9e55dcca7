"""The conversation service as the shared bootstrap runs it."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import grpc

from quarterdeck.conversation.v1 import conversation_pb2, conversation_pb2_grpc
from services.conversation.config import ConversationSettings
from services.conversation.models import Base, IdempotencyKey
from shared.server import ServiceContext, ServiceSpec


class ConversationServicer(conversation_pb2_grpc.ConversationServiceServicer):
    """Declares the service; its RPCs arrive with the conversation issue."""


def register(
    server: grpc.aio.Server, context: ServiceContext[ConversationSettings, None]
) -> Sequence[str]:
    conversation_pb2_grpc.add_ConversationServiceServicer_to_server(ConversationServicer(), server)
    return [conversation_pb2.DESCRIPTOR.services_by_name["ConversationService"].full_name]


SPEC = ServiceSpec(
    name="conversation",
    settings_type=ConversationSettings,
    metadata=Base.metadata,
    migrations_dir=Path(__file__).parent / "migrations",
    idempotency_model=IdempotencyKey,
    register=register,
)
