"""The gateway's channels and stubs: opened once at start-up, closed once at shutdown."""

from __future__ import annotations

import grpc
from fastapi import Request

from quarterdeck.tenancy.v1.tenancy_pb2_grpc import TenancyServiceStub
from services.gateway.config import GatewaySettings
from shared.grpc_client import open_channel


class GatewayClients:
    """One traced channel per downstream service and the stubs over it.

    A new service slots in as one more attribute built with :meth:`_channel`, which also makes
    sure :meth:`close` releases it.
    """

    def __init__(self, settings: GatewaySettings) -> None:
        self.timeout = settings.request_timeout_seconds
        self._channels: list[grpc.aio.Channel] = []
        self.tenancy = TenancyServiceStub(self._channel(settings.tenancy_target))

    def _channel(self, target: str) -> grpc.aio.Channel:
        channel = open_channel(target)
        self._channels.append(channel)
        return channel

    async def close(self, grace: float | None = None) -> None:
        channels, self._channels = self._channels, []
        for channel in channels:
            await channel.close(grace)


def clients_of(request: Request) -> GatewayClients:
    """FastAPI dependency: the clients the app's lifespan opened."""
    clients: GatewayClients = request.app.state.clients
    return clients
