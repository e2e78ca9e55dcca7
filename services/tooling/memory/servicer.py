"""gRPC adapter for MemoryService: one line per RPC, each handed to its handler."""

from __future__ import annotations

import grpc

from quarterdeck.tooling.v1 import memory_pb2 as pb
from quarterdeck.tooling.v1 import memory_pb2_grpc
from services.tooling.memory.handlers import MemoryHandlers


class MemoryServiceServicer(memory_pb2_grpc.MemoryServiceServicer):
    def __init__(self, handlers: MemoryHandlers) -> None:
        self._handlers = handlers

    async def UpsertMemory(
        self, request: pb.UpsertMemoryRequest, context: grpc.aio.ServicerContext
    ) -> pb.UpsertMemoryResponse:
        return await self._handlers.upsert_memory(request)

    async def GetMemory(
        self, request: pb.GetMemoryRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetMemoryResponse:
        return await self._handlers.get_memory(request)

    async def ListMemories(
        self, request: pb.ListMemoriesRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListMemoriesResponse:
        return await self._handlers.list_memories(request)

    async def DeleteMemory(
        self, request: pb.DeleteMemoryRequest, context: grpc.aio.ServicerContext
    ) -> pb.DeleteMemoryResponse:
        return await self._handlers.delete_memory(request)

    async def SearchMemories(
        self, request: pb.SearchMemoriesRequest, context: grpc.aio.ServicerContext
    ) -> pb.SearchMemoriesResponse:
        return await self._handlers.search_memories(request)
