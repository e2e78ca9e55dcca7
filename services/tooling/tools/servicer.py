"""gRPC adapter for ToolService: one line per RPC, each handed to its handler."""

from __future__ import annotations

import grpc

from quarterdeck.tooling.v1 import tools_pb2 as pb
from quarterdeck.tooling.v1 import tools_pb2_grpc
from services.tooling.tools.handlers import ToolHandlers


class ToolServiceServicer(tools_pb2_grpc.ToolServiceServicer):
    def __init__(self, handlers: ToolHandlers) -> None:
        self._handlers = handlers

    async def ListBaseTools(
        self, request: pb.ListBaseToolsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListBaseToolsResponse:
        return await self._handlers.list_base_tools(request)

    async def ListOutputFormats(
        self, request: pb.ListOutputFormatsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListOutputFormatsResponse:
        return await self._handlers.list_output_formats(request)

    async def CreateToolConfig(
        self, request: pb.CreateToolConfigRequest, context: grpc.aio.ServicerContext
    ) -> pb.CreateToolConfigResponse:
        return await self._handlers.create_tool_config(request)

    async def GetToolConfig(
        self, request: pb.GetToolConfigRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetToolConfigResponse:
        return await self._handlers.get_tool_config(request)

    async def ListToolConfigs(
        self, request: pb.ListToolConfigsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListToolConfigsResponse:
        return await self._handlers.list_tool_configs(request)

    async def UpdateToolConfig(
        self, request: pb.UpdateToolConfigRequest, context: grpc.aio.ServicerContext
    ) -> pb.UpdateToolConfigResponse:
        return await self._handlers.update_tool_config(request)

    async def ImportMcpTools(
        self, request: pb.ImportMcpToolsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ImportMcpToolsResponse:
        return await self._handlers.import_mcp_tools(request)

    async def RegisterDatabase(
        self, request: pb.RegisterDatabaseRequest, context: grpc.aio.ServicerContext
    ) -> pb.RegisterDatabaseResponse:
        return await self._handlers.register_database(request)

    async def ListDatabases(
        self, request: pb.ListDatabasesRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListDatabasesResponse:
        return await self._handlers.list_databases(request)
