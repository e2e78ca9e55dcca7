"""gRPC adapter for AgentService: one line per RPC, each handed to its handler."""

from __future__ import annotations

import grpc

from quarterdeck.tooling.v1 import agents_pb2 as pb
from quarterdeck.tooling.v1 import agents_pb2_grpc
from services.tooling.agents.handlers import AgentHandlers


class AgentServiceServicer(agents_pb2_grpc.AgentServiceServicer):
    def __init__(self, handlers: AgentHandlers) -> None:
        self._handlers = handlers

    async def CreateAgent(
        self, request: pb.CreateAgentRequest, context: grpc.aio.ServicerContext
    ) -> pb.CreateAgentResponse:
        return await self._handlers.create_agent(request)

    async def GetAgent(
        self, request: pb.GetAgentRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetAgentResponse:
        return await self._handlers.get_agent(request)

    async def ListAgents(
        self, request: pb.ListAgentsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListAgentsResponse:
        return await self._handlers.list_agents(request)

    async def UpdateAgent(
        self, request: pb.UpdateAgentRequest, context: grpc.aio.ServicerContext
    ) -> pb.UpdateAgentResponse:
        return await self._handlers.update_agent(request)

    async def ArchiveAgent(
        self, request: pb.ArchiveAgentRequest, context: grpc.aio.ServicerContext
    ) -> pb.ArchiveAgentResponse:
        return await self._handlers.archive_agent(request)

    async def SetAgentTool(
        self, request: pb.SetAgentToolRequest, context: grpc.aio.ServicerContext
    ) -> pb.SetAgentToolResponse:
        return await self._handlers.set_agent_tool(request)

    async def RemoveAgentTool(
        self, request: pb.RemoveAgentToolRequest, context: grpc.aio.ServicerContext
    ) -> pb.RemoveAgentToolResponse:
        return await self._handlers.remove_agent_tool(request)

    async def ListAgentTools(
        self, request: pb.ListAgentToolsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListAgentToolsResponse:
        return await self._handlers.list_agent_tools(request)

    async def SetExecutionLimits(
        self, request: pb.SetExecutionLimitsRequest, context: grpc.aio.ServicerContext
    ) -> pb.SetExecutionLimitsResponse:
        return await self._handlers.set_execution_limits(request)

    async def ListExecutionLimits(
        self, request: pb.ListExecutionLimitsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListExecutionLimitsResponse:
        return await self._handlers.list_execution_limits(request)

    async def RecordAgentUsage(
        self, request: pb.RecordAgentUsageRequest, context: grpc.aio.ServicerContext
    ) -> pb.RecordAgentUsageResponse:
        return await self._handlers.record_agent_usage(request)
