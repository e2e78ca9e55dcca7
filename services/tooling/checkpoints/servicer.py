"""gRPC adapter for CheckpointService: one line per RPC, each handed to its handler."""

from __future__ import annotations

import grpc

from quarterdeck.tooling.v1 import checkpoints_pb2 as pb
from quarterdeck.tooling.v1 import checkpoints_pb2_grpc
from services.tooling.checkpoints.handlers import CheckpointHandlers


class CheckpointServiceServicer(checkpoints_pb2_grpc.CheckpointServiceServicer):
    def __init__(self, handlers: CheckpointHandlers) -> None:
        self._handlers = handlers

    async def PutCheckpoint(
        self, request: pb.PutCheckpointRequest, context: grpc.aio.ServicerContext
    ) -> pb.PutCheckpointResponse:
        return await self._handlers.put_checkpoint(request)

    async def PutWrites(
        self, request: pb.PutWritesRequest, context: grpc.aio.ServicerContext
    ) -> pb.PutWritesResponse:
        return await self._handlers.put_writes(request)

    async def GetCheckpoint(
        self, request: pb.GetCheckpointRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetCheckpointResponse:
        return await self._handlers.get_checkpoint(request)

    async def ListCheckpoints(
        self, request: pb.ListCheckpointsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListCheckpointsResponse:
        return await self._handlers.list_checkpoints(request)

    async def DeleteThread(
        self, request: pb.DeleteThreadRequest, context: grpc.aio.ServicerContext
    ) -> pb.DeleteThreadResponse:
        return await self._handlers.delete_thread(request)
