"""A run's call to another service is tried again while that service is UNAVAILABLE (a
connection not made yet, a replica going away), never when it refuses: the run fails only once
the retries are spent, with the dependency's error."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import grpc
import pytest

from quarterdeck.tenancy.v1 import tenancy_pb2 as tpb
from services.conversation.runs.links import ServiceLinks
from shared.errors import NotFound, Unavailable
from tests.support.stack import free_port

GET_TENANT = "/quarterdeck.tenancy.v1.TenancyService/GetTenant"


class NoToken:
    async def internal_metadata(self) -> list[tuple[str, str]]:
        return []

    def forget_internal_token(self) -> None:
        pass


class Tenancy:
    """Answers GetTenant with ``code`` (OK: a tenant), counting the calls."""

    def __init__(self, code: grpc.StatusCode = grpc.StatusCode.OK) -> None:
        self.code = code
        self.calls = 0

    async def get_tenant(self, request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        self.calls += 1
        if self.code is not grpc.StatusCode.OK:
            await context.abort(self.code, "not now")
        return tpb.GetTenantResponse(tenant=tpb.Tenant(id="t-1")).SerializeToString()


@asynccontextmanager
async def serving(tenancy: Tenancy, port: int) -> AsyncIterator[None]:
    server = grpc.aio.server()
    server.add_generic_rpc_handlers(
        [
            grpc.method_handlers_generic_handler(
                "quarterdeck.tenancy.v1.TenancyService",
                {"GetTenant": grpc.unary_unary_rpc_method_handler(tenancy.get_tenant)},
            )
        ]
    )
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    try:
        yield
    finally:
        await server.stop(None)


def _links(port: int, retry_delays: tuple[float, ...]) -> ServiceLinks:
    return ServiceLinks(
        token=NoToken(),
        tenancy_target=f"127.0.0.1:{port}",
        tooling_target=f"127.0.0.1:{free_port()}",
        telemetry_target=None,
        call_timeout=5.0,
        retry_delays=retry_delays,
    )


async def test_a_call_waits_out_a_service_that_is_not_listening_yet() -> None:
    port = free_port()
    links = _links(port, (0.1, 0.3, 0.9, 1.8))
    tenancy = Tenancy()
    call = asyncio.ensure_future(
        links.call(links.tenants.GetTenant, tpb.GetTenantRequest(id="t-1"))
    )
    await asyncio.sleep(0.2)  # the first attempt finds nothing listening
    async with serving(tenancy, port):
        answer = await call
    await links.close()
    assert answer.tenant.id == "t-1"
    assert tenancy.calls == 1


@pytest.mark.parametrize(
    ("code", "error", "attempts"),
    [
        # Still unavailable after the retries: the run fails with the dependency's error.
        (grpc.StatusCode.UNAVAILABLE, Unavailable, 4),
        # A refusal is the service's answer: never asked again.
        (grpc.StatusCode.NOT_FOUND, NotFound, 1),
    ],
)
async def test_a_failed_call_is_tried_again_only_while_unavailable(
    code: grpc.StatusCode, error: type[Exception], attempts: int
) -> None:
    port = free_port()
    links = _links(port, (0.01, 0.01, 0.01))
    tenancy = Tenancy(code)
    async with serving(tenancy, port):
        with pytest.raises(error):
            await links.call(links.tenants.GetTenant, tpb.GetTenantRequest(id="t-1"))
    await links.close()
    assert tenancy.calls == attempts
