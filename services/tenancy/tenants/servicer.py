"""gRPC adapter for the tenancy handlers: one line per RPC, no logic."""

from __future__ import annotations

import grpc

from quarterdeck.tenancy.v1 import tenancy_pb2 as pb
from quarterdeck.tenancy.v1 import tenancy_pb2_grpc
from services.tenancy.tenants.handlers.memberships import MembershipHandlers
from services.tenancy.tenants.handlers.tenants import TenantHandlers


class TenancyServicer(tenancy_pb2_grpc.TenancyServiceServicer):
    def __init__(self, handlers: TenantHandlers, memberships: MembershipHandlers) -> None:
        self._handlers = handlers
        self._memberships = memberships

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

    async def PurgeTenant(
        self, request: pb.PurgeTenantRequest, context: grpc.aio.ServicerContext
    ) -> pb.PurgeTenantResponse:
        return await self._handlers.purge_tenant(request)

    async def CheckTenantStatus(
        self, request: pb.CheckTenantStatusRequest, context: grpc.aio.ServicerContext
    ) -> pb.CheckTenantStatusResponse:
        return await self._handlers.check_tenant_status(request)

    async def SuspendTenant(
        self, request: pb.SuspendTenantRequest, context: grpc.aio.ServicerContext
    ) -> pb.SuspendTenantResponse:
        return await self._handlers.suspend_tenant(request)

    async def ReactivateTenant(
        self, request: pb.ReactivateTenantRequest, context: grpc.aio.ServicerContext
    ) -> pb.ReactivateTenantResponse:
        return await self._handlers.reactivate_tenant(request)

    async def DeleteTenant(
        self, request: pb.DeleteTenantRequest, context: grpc.aio.ServicerContext
    ) -> pb.DeleteTenantResponse:
        return await self._handlers.delete_tenant(request)

    async def AddMembership(
        self, request: pb.AddMembershipRequest, context: grpc.aio.ServicerContext
    ) -> pb.AddMembershipResponse:
        return await self._memberships.add_membership(request)

    async def GetMembership(
        self, request: pb.GetMembershipRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetMembershipResponse:
        return await self._memberships.get_membership(request)

    async def ListMemberships(
        self, request: pb.ListMembershipsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListMembershipsResponse:
        return await self._memberships.list_memberships(request)

    async def UpdateMembershipRole(
        self, request: pb.UpdateMembershipRoleRequest, context: grpc.aio.ServicerContext
    ) -> pb.UpdateMembershipRoleResponse:
        return await self._memberships.update_membership_role(request)

    async def RemoveMembership(
        self, request: pb.RemoveMembershipRequest, context: grpc.aio.ServicerContext
    ) -> pb.RemoveMembershipResponse:
        return await self._memberships.remove_membership(request)

    async def ListMembershipRevocations(
        self, request: pb.ListMembershipRevocationsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListMembershipRevocationsResponse:
        return await self._memberships.list_membership_revocations(request)
