"""gRPC adapter for ConversationService: one line per RPC, each handed to its handler."""

from __future__ import annotations

import grpc

from quarterdeck.conversation.v1 import conversations_pb2 as pb
from quarterdeck.conversation.v1 import conversations_pb2_grpc
from services.conversation.conversations.handlers import ConversationHandlers


class ConversationServiceServicer(conversations_pb2_grpc.ConversationServiceServicer):
    def __init__(self, handlers: ConversationHandlers) -> None:
        self._handlers = handlers

    async def CreateConversation(
        self, request: pb.CreateConversationRequest, context: grpc.aio.ServicerContext
    ) -> pb.CreateConversationResponse:
        return await self._handlers.create_conversation(request)

    async def GetConversation(
        self, request: pb.GetConversationRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetConversationResponse:
        return await self._handlers.get_conversation(request)

    async def ListConversations(
        self, request: pb.ListConversationsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListConversationsResponse:
        return await self._handlers.list_conversations(request)

    async def UpdateConversation(
        self, request: pb.UpdateConversationRequest, context: grpc.aio.ServicerContext
    ) -> pb.UpdateConversationResponse:
        return await self._handlers.update_conversation(request)

    async def ArchiveConversation(
        self, request: pb.ArchiveConversationRequest, context: grpc.aio.ServicerContext
    ) -> pb.ArchiveConversationResponse:
        return await self._handlers.archive_conversation(request)

    async def GetConversationWithMessages(
        self, request: pb.GetConversationWithMessagesRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetConversationWithMessagesResponse:
        return await self._handlers.get_conversation_with_messages(request)

    async def TruncateConversation(
        self, request: pb.TruncateConversationRequest, context: grpc.aio.ServicerContext
    ) -> pb.TruncateConversationResponse:
        return await self._handlers.truncate_conversation(request)
