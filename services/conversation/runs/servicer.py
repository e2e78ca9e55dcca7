"""gRPC adapter for RunService: one line per RPC, each handed to its handler."""

from __future__ import annotations

import grpc

from quarterdeck.conversation.v1 import runs_pb2 as pb
from quarterdeck.conversation.v1 import runs_pb2_grpc
from services.conversation.runs.handlers import RunHandlers


class RunServiceServicer(runs_pb2_grpc.RunServiceServicer):
    def __init__(self, handlers: RunHandlers) -> None:
        self._handlers = handlers

    async def GetRun(
        self, request: pb.GetRunRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetRunResponse:
        return await self._handlers.get_run(request)

    async def ListRuns(
        self, request: pb.ListRunsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListRunsResponse:
        return await self._handlers.list_runs(request)

    async def CancelRun(
        self, request: pb.CancelRunRequest, context: grpc.aio.ServicerContext
    ) -> pb.CancelRunResponse:
        return await self._handlers.cancel_run(request)

    async def DecideToolCall(
        self, request: pb.DecideToolCallRequest, context: grpc.aio.ServicerContext
    ) -> pb.DecideToolCallResponse:
        return await self._handlers.decide_tool_call(request)

    async def ListRunTasks(
        self, request: pb.ListRunTasksRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListRunTasksResponse:
        return await self._handlers.list_run_tasks(request)
