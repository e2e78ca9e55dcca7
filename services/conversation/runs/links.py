"""The conversation service's ways to the services a run needs, each call carrying its internal
token: tooling (agents, tools, execution), tenancy (status, model config and key, limits,
catalogue) and telemetry (usage)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import grpc

from quarterdeck.telemetry.v1.usage_pb2_grpc import UsageServiceStub
from quarterdeck.tenancy.v1.billing_pb2_grpc import BillingServiceStub
from quarterdeck.tenancy.v1.limits_pb2_grpc import LimitsServiceStub
from quarterdeck.tenancy.v1.model_configs_pb2_grpc import TenantModelConfigServiceStub
from quarterdeck.tenancy.v1.pricing_pb2_grpc import ModelCatalogServiceStub
from quarterdeck.tenancy.v1.tenancy_pb2_grpc import TenancyServiceStub
from quarterdeck.tooling.v1.agents_pb2_grpc import AgentServiceStub
from quarterdeck.tooling.v1.executions_pb2_grpc import ExecutionServiceStub
from quarterdeck.tooling.v1.tools_pb2_grpc import ToolServiceStub
from shared.grpc_client import open_channel
from shared.internal_client import InternalToken, call_internal, domain_error_of
from shared.tenant_status import TenantStatusClient

ResponseT = TypeVar("ResponseT")


class ServiceLinks:
    def __init__(
        self,
        *,
        token: InternalToken,
        tenancy_target: str,
        tooling_target: str,
        telemetry_target: str | None,
        call_timeout: float,
    ) -> None:
        self._token = token
        self._timeout = call_timeout
        self._channels = [open_channel(tenancy_target), open_channel(tooling_target)]
        tenancy, tooling = self._channels
        self.tenants = TenancyServiceStub(tenancy)
        self.model_configs = TenantModelConfigServiceStub(tenancy)
        self.catalog = ModelCatalogServiceStub(tenancy)
        self.limits = LimitsServiceStub(tenancy)
        self.billing = BillingServiceStub(tenancy)
        self.agents = AgentServiceStub(tooling)
        self.tools = ToolServiceStub(tooling)
        self.executions = ExecutionServiceStub(tooling)
        self.usage: UsageServiceStub | None = None
        if telemetry_target:
            telemetry = open_channel(telemetry_target)
            self._channels.append(telemetry)
            self.usage = UsageServiceStub(telemetry)
        self.tenant_status = TenantStatusClient(self.tenants, token.internal_metadata)

    async def call(self, method: Callable[..., Awaitable[ResponseT]], request: Any) -> ResponseT:
        """One internal call; a refusal comes back as the domain error it carries."""
        try:
            return await call_internal(method, request, self._token, call_timeout=self._timeout)
        except grpc.aio.AioRpcError as error:
            raise domain_error_of(error) from None

    async def close(self) -> None:
        for channel in self._channels:
            await channel.close()
