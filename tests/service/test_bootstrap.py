"""What every service gets from the shared bootstrap: health, reflection, migrations checked at
start, credentials refused until identity verifies them, errors without internals, draining."""

from __future__ import annotations

import asyncio
import uuid

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from quarterdeck.tenancy.v1 import tenancy_pb2 as pb
from quarterdeck.tenancy.v1.tenancy_pb2_grpc import TenancyServiceStub
from services.registry import SERVICE_NAMES
from services.tenancy.tenants.handlers.tenants import TenantHandlers
from shared.errors import FailedPrecondition
from shared.grpc_client import open_channel
from tests.support.errors import rich_error
from tests.support.stack import IDENTITY_TEST_SETTINGS, Databases, running_service
from tests.support.tokens import TestIssuer
from tests.support.waiting import eventually

OWN_SERVICE = {
    "identity": "quarterdeck.identity.v1.IdentityService",
    "tenancy": "quarterdeck.tenancy.v1.TenancyService",
    "conversation": "quarterdeck.conversation.v1.ConversationService",
    "tooling": "quarterdeck.tooling.v1.AgentService",
    "telemetry": "quarterdeck.telemetry.v1.TelemetryService",
}
#: What a service needs to start at all: identity refuses to run without its secrets.
REQUIRED_SETTINGS: dict[str, dict[str, object]] = {"identity": IDENTITY_TEST_SETTINGS}


async def listed_services(channel: grpc.aio.Channel) -> set[str]:
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    request = reflection_pb2.ServerReflectionRequest(list_services="")
    async for response in stub.ServerReflectionInfo(iter([request])):
        return {s.name for s in response.list_services_response.service}
    return set()


@pytest.mark.parametrize("service", SERVICE_NAMES)
async def test_service_migrates_serves_health_and_lists_itself_over_reflection(
    service: str, backend: str, databases: Databases
) -> None:
    url = await databases.url(backend, service)
    async with (
        running_service(service, url, **REQUIRED_SETTINGS.get(service, {})) as running,
        open_channel(running.target) as channel,
    ):
        health = health_pb2_grpc.HealthStub(channel)
        for name in ("", OWN_SERVICE[service]):
            response = await health.Check(health_pb2.HealthCheckRequest(service=name))
            assert response.status == health_pb2.HealthCheckResponse.SERVING
        names = await listed_services(channel)
        assert {OWN_SERVICE[service], "grpc.health.v1.Health"} <= names
    status = await running.health.Check(
        health_pb2.HealthCheckRequest(service=OWN_SERVICE[service]), None
    )
    assert status.status == health_pb2.HealthCheckResponse.NOT_SERVING


async def test_a_service_refuses_to_start_on_an_unmigrated_database(tmp_path: object) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/empty.db"
    with pytest.raises(FailedPrecondition, match="quarterdeck migrate tenancy"):
        async with running_service("tenancy", url):
            pass


async def test_credentials_are_refused_until_a_verifier_is_configured(
    databases: Databases,
) -> None:
    url = await databases.url("sqlite", "tenancy")
    async with running_service("tenancy", url) as running, open_channel(running.target) as channel:
        stub = TenancyServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.ListTenants(
                pb.ListTenantsRequest(), metadata=[("authorization", "Bearer forged")]
            )
        assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_an_unexpected_failure_is_internal_and_leaks_nothing(
    databases: Databases, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def explode(self: TenantHandlers, request: object) -> None:
        raise RuntimeError("password=hunter2 in a stack trace")

    monkeypatch.setattr(TenantHandlers, "list_tenants", explode)
    url = await databases.url("sqlite", "tenancy")
    async with running_service("tenancy", url) as running, open_channel(running.target) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await TenancyServiceStub(channel).ListTenants(pb.ListTenantsRequest())
    error = rich_error(caught.value)
    assert error.code == grpc.StatusCode.INTERNAL
    assert "hunter2" not in error.message


async def test_stop_drains_in_flight_calls_within_the_grace_period(
    databases: Databases, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = TenantHandlers.create_tenant
    entered = asyncio.Event()
    released = asyncio.Event()

    async def slow_create(self: TenantHandlers, request: pb.CreateTenantRequest) -> object:
        entered.set()
        await released.wait()  # still in flight when the stop begins
        return await original(self, request)

    monkeypatch.setattr(TenantHandlers, "create_tenant", slow_create)
    url = await databases.url("sqlite", "tenancy")
    issuer = TestIssuer()
    async with (
        running_service("tenancy", url, authenticator=issuer.authenticator()) as running,
        open_channel(running.target) as channel,
    ):
        stub = TenancyServiceStub(channel)
        slug = f"drain-{uuid.uuid4().hex[:8]}"
        call = asyncio.ensure_future(
            stub.CreateTenant(
                pb.CreateTenantRequest(tenant=pb.Tenant(slug=slug, name="Drain")),
                metadata=issuer.operator(),
            )
        )
        await entered.wait()
        stopping = asyncio.ensure_future(running.stop(grace=30))
        health = health_pb2_grpc.HealthStub(channel)

        async def stop_began() -> bool:
            try:
                reply = await health.Check(health_pb2.HealthCheckRequest(service=""))
            except grpc.aio.AioRpcError:
                return True  # the server no longer takes new calls
            return reply.status == health_pb2.HealthCheckResponse.NOT_SERVING

        await eventually(stop_began, "the service to begin stopping")
        assert not call.done()
        released.set()
        await stopping
        assert (await call).tenant.slug == slug


async def test_a_taken_port_is_a_clear_error_and_releases_the_database(
    databases: Databases,
) -> None:
    url = await databases.url("sqlite", "tenancy")
    async with running_service("tenancy", url) as first:
        with pytest.raises(OSError, match="cannot listen"):
            async with running_service("tenancy", url, port=first.port):
                pass
