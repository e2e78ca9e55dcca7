"""The gateway's channels and stubs: opened once at start-up, closed once at shutdown.

A request reaches them through :func:`clients_of`, which binds the caller's credentials to every
call: the gateway verifies nothing itself, it hands the ``Authorization`` header on unchanged and
the services decide.
"""

from __future__ import annotations

import functools
import re
from typing import Any, TypeVar, cast

import grpc
from fastapi import HTTPException, Request

from quarterdeck.tenancy.v1.tenancy_pb2_grpc import TenancyServiceStub
from services.gateway.config import GatewaySettings
from shared.auth import AUTHORIZATION_HEADER
from shared.grpc_client import open_channel

Metadata = tuple[tuple[str, str], ...]
StubT = TypeVar("StubT")

#: What gRPC accepts as an ASCII metadata value. grpc-core refuses anything else when the call
#: starts, and through an intercepted channel such a call never completes: it must not be sent.
_METADATA_VALUE = re.compile(r"[\x20-\x7e]*")
#: Far above any token identity issues, well below the 8 KiB a gRPC server takes as metadata
#: (beyond that the call fails with RESOURCE_EXHAUSTED, which would read as "retry later").
MAX_AUTHORIZATION_LENGTH = 4096


class GatewayClients:
    """One traced channel per downstream service and the stubs over it.

    A new service slots in as one more attribute built with :meth:`_channel`, which also makes
    sure :meth:`close` releases it, and as one more line in :class:`CallerClients`.
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


class _WithMetadata:
    """A stub whose every method sends ``metadata`` (a call may still pass its own)."""

    def __init__(self, stub: object, metadata: Metadata) -> None:
        self._stub = stub
        self._metadata = metadata

    def __getattr__(self, method: str) -> Any:
        return functools.partial(getattr(self._stub, method), metadata=self._metadata)


def _with_metadata(stub: StubT, metadata: Metadata) -> StubT:
    return cast(StubT, _WithMetadata(stub, metadata))


class CallerClients:
    """The gateway's stubs as one request uses them: every call carries that request's metadata."""

    def __init__(self, clients: GatewayClients, metadata: Metadata) -> None:
        self.timeout = clients.timeout
        self.metadata = metadata
        self.tenancy = _with_metadata(clients.tenancy, metadata)


def outgoing_metadata(request: Request) -> Metadata:
    """The metadata of every gRPC call made for ``request``: the caller's credentials.

    ``Authorization`` goes on unchanged as ``authorization``, for the service to verify; a
    request without one is sent without, and the service answers UNAUTHENTICATED where it needs
    a caller. A header gRPC could not carry (several of them, characters beyond printable ASCII,
    or an outsized one) is refused here with 401, as the service would refuse a malformed one.
    """
    values = request.headers.getlist(AUTHORIZATION_HEADER)
    if not values:
        return ()
    value = values[0]
    if (
        len(values) > 1
        or len(value) > MAX_AUTHORIZATION_LENGTH
        or not _METADATA_VALUE.fullmatch(value)
    ):
        raise HTTPException(401, "the Authorization header must be one 'Bearer <token>'")
    return ((AUTHORIZATION_HEADER, value),)


async def clients_of(request: Request) -> CallerClients:
    """FastAPI dependency: the clients the app's lifespan opened, bound to this caller."""
    clients: GatewayClients = request.app.state.clients
    return CallerClients(clients, outgoing_metadata(request))
