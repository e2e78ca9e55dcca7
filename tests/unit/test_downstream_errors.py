"""A handler whose call to another service fails answers in its own terms, never UNKNOWN: a
dependency that is away is UNAVAILABLE, one too slow DEADLINE_EXCEEDED, each naming the method
that failed; a dependency's refusal (a domain error) is passed on as it is."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_status import rpc_status

from shared.errors import NotFound
from shared.grpc_client import open_channel
from shared.interceptors import ErrorMappingInterceptor, LayeredInterceptor
from shared.security_events import SecurityEvent
from tests.support.stack import free_port

HEALTH_CHECK = "Health.Check"


class Dependency(health_pb2_grpc.HealthServicer):
    """Refuses ``missing`` with a domain error, and never answers ``slow``."""

    def __init__(self) -> None:
        self.never = asyncio.Event()

    async def Check(self, request, context):  # type: ignore[no-untyped-def]  # noqa: N802
        if request.service == "slow":
            await self.never.wait()
        raise NotFound("no such thing", reason="THING_NOT_FOUND", metadata={"thing": "x"})


class Caller(health_pb2_grpc.HealthServicer):
    """Calls its dependency (or an address nothing listens on) with what it was asked."""

    def __init__(self, dependency_target: str, away_target: str) -> None:
        self._dependency = health_pb2_grpc.HealthStub(open_channel(dependency_target))
        self._away = health_pb2_grpc.HealthStub(open_channel(away_target))

    async def Check(self, request, context):  # type: ignore[no-untyped-def]  # noqa: N802
        stub = self._away if request.service == "away" else self._dependency
        return await stub.Check(request, timeout=0.5)


@asynccontextmanager
async def serving(servicer: health_pb2_grpc.HealthServicer) -> AsyncIterator[str]:
    events: list[SecurityEvent] = []
    server = grpc.aio.server(
        interceptors=[LayeredInterceptor([ErrorMappingInterceptor("test", events.append)])]
    )
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        await server.stop(None)


async def _status_of(target: str, service: str) -> tuple[grpc.StatusCode, str, dict[str, str]]:
    async with grpc.aio.insecure_channel(target) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=service), timeout=30
            )
    status = rpc_status.from_call(refused.value)
    info = error_details_pb2.ErrorInfo()
    for detail in status.details if status else []:
        if detail.Is(info.DESCRIPTOR):
            detail.Unpack(info)
    return refused.value.code(), refused.value.details() or "", dict(info.metadata)


async def test_failed_downstream_calls_are_answered_with_their_cause() -> None:
    dependency = Dependency()
    async with serving(dependency) as dependency_target:
        async with serving(Caller(dependency_target, f"127.0.0.1:{free_port()}")) as target:
            away = await _status_of(target, "away")
            slow = await _status_of(target, "slow")
            missing = await _status_of(target, "missing")
        dependency.never.set()

    assert away[0] == grpc.StatusCode.UNAVAILABLE
    assert HEALTH_CHECK in away[1] and away[2]["dependency"] == HEALTH_CHECK
    assert slow[0] == grpc.StatusCode.DEADLINE_EXCEEDED
    assert HEALTH_CHECK in slow[1] and slow[2]["dependency"] == HEALTH_CHECK
    assert missing == (grpc.StatusCode.NOT_FOUND, "no such thing", {"thing": "x"})
    for code, message, _ in (away, slow, missing):
        assert code not in (grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL)
        assert "AioRpcError" not in message
