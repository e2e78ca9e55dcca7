"""gRPC adapter for PermissionService: one line per RPC, each handed to its handler."""

from __future__ import annotations

import grpc

from quarterdeck.tooling.v1 import permissions_pb2 as pb
from quarterdeck.tooling.v1 import permissions_pb2_grpc
from services.tooling.permissions.handlers import PermissionHandlers


class PermissionServiceServicer(permissions_pb2_grpc.PermissionServiceServicer):
    def __init__(self, handlers: PermissionHandlers) -> None:
        self._handlers = handlers

    async def SetAgentPermission(
        self, request: pb.SetAgentPermissionRequest, context: grpc.aio.ServicerContext
    ) -> pb.SetAgentPermissionResponse:
        return await self._handlers.set_agent_permission(request)

    async def ListAgentPermissions(
        self, request: pb.ListAgentPermissionsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListAgentPermissionsResponse:
        return await self._handlers.list_agent_permissions(request)

    async def SetToolPermission(
        self, request: pb.SetToolPermissionRequest, context: grpc.aio.ServicerContext
    ) -> pb.SetToolPermissionResponse:
        return await self._handlers.set_tool_permission(request)

    async def ListToolPermissions(
        self, request: pb.ListToolPermissionsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListToolPermissionsResponse:
        return await self._handlers.list_tool_permissions(request)

    async def GrantAgents(
        self, request: pb.GrantAgentsRequest, context: grpc.aio.ServicerContext
    ) -> pb.GrantAgentsResponse:
        return await self._handlers.grant_agents(request)

    async def GrantOnboarding(
        self, request: pb.GrantOnboardingRequest, context: grpc.aio.ServicerContext
    ) -> pb.GrantOnboardingResponse:
        return await self._handlers.grant_onboarding(request)

    async def RevokeOnboarding(
        self, request: pb.RevokeOnboardingRequest, context: grpc.aio.ServicerContext
    ) -> pb.RevokeOnboardingResponse:
        return await self._handlers.revoke_onboarding(request)
