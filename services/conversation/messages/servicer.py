"""gRPC adapter for MessageService: one line per RPC, each handed to its handler."""

from __future__ import annotations

import grpc

from quarterdeck.conversation.v1 import messages_pb2 as pb
from quarterdeck.conversation.v1 import messages_pb2_grpc
from services.conversation.messages.handlers import MessageHandlers


class MessageServiceServicer(messages_pb2_grpc.MessageServiceServicer):
    def __init__(self, handlers: MessageHandlers) -> None:
        self._handlers = handlers

    async def AppendMessage(
        self, request: pb.AppendMessageRequest, context: grpc.aio.ServicerContext
    ) -> pb.AppendMessageResponse:
        return await self._handlers.append_message(request)

    async def ListMessages(
        self, request: pb.ListMessagesRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListMessagesResponse:
        return await self._handlers.list_messages(request)

    async def SearchMessages(
        self, request: pb.SearchMessagesRequest, context: grpc.aio.ServicerContext
    ) -> pb.SearchMessagesResponse:
        return await self._handlers.search_messages(request)

    async def EditMessage(
        self, request: pb.EditMessageRequest, context: grpc.aio.ServicerContext
    ) -> pb.EditMessageResponse:
        return await self._handlers.edit_message(request)
