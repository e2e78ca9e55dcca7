"""gRPC adapter for EventService: one line per RPC, each handed to its handler."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc

from quarterdeck.conversation.v1 import events_pb2 as pb
from quarterdeck.conversation.v1 import events_pb2_grpc
from services.conversation.events.handlers import EventHandlers


class EventServiceServicer(events_pb2_grpc.EventServiceServicer):
    def __init__(self, handlers: EventHandlers) -> None:
        self._handlers = handlers

    async def ListEvents(
        self, request: pb.ListEventsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListEventsResponse:
        return await self._handlers.list_events(request)

    async def FollowEvents(
        self, request: pb.FollowEventsRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.FollowEventsResponse]:
        async for response in self._handlers.follow_events(request):
            yield response
