"""gRPC adapter for tenants' model configurations and onboarding: one line per RPC, no logic."""

from __future__ import annotations

import grpc

from quarterdeck.tenancy.v1 import model_configs_pb2 as pb
from quarterdeck.tenancy.v1 import model_configs_pb2_grpc
from services.tenancy.model_configs.handlers import ModelConfigHandlers


class TenantModelConfigServicer(model_configs_pb2_grpc.TenantModelConfigServiceServicer):
    def __init__(self, handlers: ModelConfigHandlers) -> None:
        self._handlers = handlers

    async def SetTenantModelConfig(
        self, request: pb.SetTenantModelConfigRequest, context: grpc.aio.ServicerContext
    ) -> pb.SetTenantModelConfigResponse:
        return await self._handlers.set_tenant_model_config(request)

    async def GetTenantModelConfig(
        self, request: pb.GetTenantModelConfigRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetTenantModelConfigResponse:
        return await self._handlers.get_tenant_model_config(request)

    async def RevealProviderKey(
        self, request: pb.RevealProviderKeyRequest, context: grpc.aio.ServicerContext
    ) -> pb.RevealProviderKeyResponse:
        return await self._handlers.reveal_provider_key(request)

    async def OnboardTenant(
        self, request: pb.OnboardTenantRequest, context: grpc.aio.ServicerContext
    ) -> pb.OnboardTenantResponse:
        return await self._handlers.onboard_tenant(request)
