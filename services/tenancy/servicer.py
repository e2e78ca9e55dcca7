"""gRPC adapter for the tenancy handlers: one line per RPC, no logic."""

from __future__ import annotations

import grpc

from quarterdeck.tenancy.v1 import tenancy_pb2 as pb
from quarterdeck.tenancy.v1 import tenancy_pb2_grpc
from services.tenancy.tenants import TenantHandlers


class TenancyServicer(tenancy_pb2_grpc.TenancyServiceServicer):
    def __init__(self, handlers: TenantHandlers) -> None:
        self._handlers = handlers

    async def CreateTenant(
        self, request: pb.CreateTenantRequest, context: grpc.aio.ServicerContext
    ) -> pb.CreateTenantResponse:
        return await self._handlers.create_tenant(request)

    async def GetTenant(
        self, request: pb.GetTenantRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetTenantResponse:
        return await self._handlers.get_tenant(request)

    async def ListTenants(
        self, request: pb.ListTenantsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListTenantsResponse:
        return await self._handlers.list_tenants(request)

    async def UpdateTenant(
        self, request: pb.UpdateTenantRequest, context: grpc.aio.ServicerContext
    ) -> pb.UpdateTenantResponse:
        return await self._handlers.update_tenant(request)

    async def GetTenantSettings(
        self, request: pb.GetTenantSettingsRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetTenantSettingsResponse:
        return await self._handlers.get_tenant_settings(request)

    async def UpdateTenantSettings(
        self, request: pb.UpdateTenantSettingsRequest, context: grpc.aio.ServicerContext
    ) -> pb.UpdateTenantSettingsResponse:
        return await self._handlers.update_tenant_settings(request)
