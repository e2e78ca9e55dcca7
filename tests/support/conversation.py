"""The conversation service for tests: one in-process server per backend, stubs of every area,
and helpers that make a tenant's conversations and messages."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from quarterdeck.conversation.v1 import conversations_pb2, events_pb2, messages_pb2
from quarterdeck.conversation.v1.conversations_pb2_grpc import ConversationServiceStub
from quarterdeck.conversation.v1.events_pb2_grpc import EventServiceStub
from quarterdeck.conversation.v1.messages_pb2_grpc import MessageServiceStub
from quarterdeck.conversation.v1.runs_pb2_grpc import RunServiceStub
from services.conversation.context import ConversationContext
from shared.grpc_client import open_channel
from shared.server import RunningService
from tests.support.stack import Databases, running_service
from tests.support.tokens import TestIssuer


@dataclass
class ConversationStack:
    running: RunningService[Any, ConversationContext]
    conversations: ConversationServiceStub
    messages: MessageServiceStub
    runs: RunServiceStub
    events: EventServiceStub

    @property
    def ctx(self) -> ConversationContext:
        """The service's own context: tests drive workers and the reaper with it."""
        return self.running.context.state


@asynccontextmanager
async def conversation_service(
    databases: Databases, backend: str, label: str, issuer: TestIssuer, **overrides: Any
) -> AsyncIterator[ConversationStack]:
    url = await databases.url(backend, "conversation", label)
    # Background passes run when a test asks for them, at the moment it chooses.
    overrides.setdefault("run_reaper_interval_seconds", 0)
    async with (
        running_service(
            "conversation", url, authenticator=issuer.authenticator(), **overrides
        ) as run,
        open_channel(run.target) as channel,
    ):
        yield ConversationStack(
            run,
            ConversationServiceStub(channel),
            MessageServiceStub(channel),
            RunServiceStub(channel),
            EventServiceStub(channel),
        )


async def new_conversation(
    stack: ConversationStack, caller: list[tuple[str, str]], **fields: Any
) -> conversations_pb2.Conversation:
    fields.setdefault("agent_id", str(uuid.uuid4()))
    response = await stack.conversations.CreateConversation(
        conversations_pb2.CreateConversationRequest(
            conversation=conversations_pb2.Conversation(**fields)
        ),
        metadata=caller,
    )
    return response.conversation


async def say(
    stack: ConversationStack,
    metadata: list[tuple[str, str]],
    conversation_id: str,
    text: str,
    *,
    role: int = messages_pb2.MESSAGE_ROLE_USER,
    **request_fields: Any,
) -> messages_pb2.AppendMessageResponse:
    return await stack.messages.AppendMessage(
        messages_pb2.AppendMessageRequest(
            conversation_id=conversation_id,
            message=messages_pb2.Message(role=role, text=text),  # type: ignore[arg-type]
            **request_fields,
        ),
        metadata=metadata,
    )


class Follower:
    """One FollowEvents call whose events land in ``seen`` until :meth:`stop`."""

    def __init__(
        self,
        stack: ConversationStack,
        caller: list[tuple[str, str]],
        conversation_id: str,
        after: int,
        seen: list[events_pb2.LedgerEvent],
    ) -> None:
        self.seen = seen
        self._call = stack.events.FollowEvents(
            events_pb2.FollowEventsRequest(
                conversation_id=conversation_id, after_sequence_number=after
            ),
            metadata=caller,
        )
        self._reader = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        async for response in self._call:
            self.seen.append(response.event)

    async def stop(self) -> None:
        self._call.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader


async def has(events: list[events_pb2.LedgerEvent], wanted: int) -> bool:
    return len(events) >= wanted
