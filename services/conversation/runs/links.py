"""The conversation service's ways to the services a run needs, each call carrying its internal
token: tooling (agents, tools, execution), tenancy (status, model config and key, limits,
catalogue) and telemetry (usage)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
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
log = logging.getLogger("quarterdeck.conversation.links")

#: Waits before each further attempt of a call its service answered UNAVAILABLE (a connection
#: that could not be made or was lost, a replica going away): about 3 s in all, inside the
#: run's lease. Every call a run makes is idempotent (its request_id names the run's step), as
#: a run re-leased after a crash repeats them too.
UNAVAILABLE_RETRY_DELAYS: Sequence[float] = (0.1, 0.3, 0.9, 1.8)


def _name(method: Callable[..., Any]) -> str:
    """A stub's multi-callable names its method (``/pkg.Service/Method``); a test's may not."""
    name = getattr(method, "_method", None) or getattr(method, "__name__", "a call")
    return name.decode() if isinstance(name, bytes) else str(name)


class ServiceLinks:
    def __init__(
        self,
        *,
        token: InternalToken,
        tenancy_target: str,
        tooling_target: str,
        telemetry_target: str | None,
        call_timeout: float,
        retry_delays: Sequence[float] = UNAVAILABLE_RETRY_DELAYS,
    ) -> None:
        self._token = token
        self._timeout = call_timeout
        self._retry_delays = tuple(retry_delays)
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
        """One internal call, tried again while its service is UNAVAILABLE (see
        :data:`UNAVAILABLE_RETRY_DELAYS`); a refusal comes back as the domain error it carries."""
        for delay in (*self._retry_delays, None):
            try:
                return await call_internal(method, request, self._token, call_timeout=self._timeout)
            except grpc.aio.AioRpcError as error:
                if error.code() != grpc.StatusCode.UNAVAILABLE or delay is None:
                    raise domain_error_of(error) from None
                log.warning("%s unavailable (%s); trying again", _name(method), error.details())
                await asyncio.sleep(delay)
        raise AssertionError("unreachable")

    async def close(self) -> None:
        for channel in self._channels:
            await channel.close()
