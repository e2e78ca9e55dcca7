"""gRPC adapter for ExecutionService: one line per RPC, each handed to its handler."""

from __future__ import annotations

import grpc

from quarterdeck.tooling.v1 import executions_pb2 as pb
from quarterdeck.tooling.v1 import executions_pb2_grpc
from services.tooling.executions.handlers import ExecutionHandlers


class ExecutionServiceServicer(executions_pb2_grpc.ExecutionServiceServicer):
    def __init__(self, handlers: ExecutionHandlers) -> None:
        self._handlers = handlers

    async def ExecuteTool(
        self, request: pb.ExecuteToolRequest, context: grpc.aio.ServicerContext
    ) -> pb.ExecuteToolResponse:
        return await self._handlers.execute_tool(request)

    async def GetToolCall(
        self, request: pb.GetToolCallRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetToolCallResponse:
        return await self._handlers.get_tool_call(request)

    async def ListToolCalls(
        self, request: pb.ListToolCallsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListToolCallsResponse:
        return await self._handlers.list_tool_calls(request)

    async def ApproveToolCall(
        self, request: pb.ApproveToolCallRequest, context: grpc.aio.ServicerContext
    ) -> pb.ApproveToolCallResponse:
        return await self._handlers.approve_tool_call(request)

    async def DenyToolCall(
        self, request: pb.DenyToolCallRequest, context: grpc.aio.ServicerContext
    ) -> pb.DenyToolCallResponse:
        return await self._handlers.deny_tool_call(request)
