"""The simple GETs the gateway answers itself (services/gateway/direct_routes.py) answer exactly
as FastAPI answers them: each request here is sent twice to the real app, once answered directly
and once with ``dependency_overrides`` set (which sends every request through FastAPI), and the
two answers must be the same: status, headers (but a trace id) and body, for a success, a
service's error, a refused credential, a parameter FastAPI refuses and an unexpected failure."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import fastapi.routing
import grpc
import httpx
import pytest
from fastapi import APIRouter, FastAPI, Request
from google.protobuf.timestamp_pb2 import Timestamp
from starlette.routing import Mount

from quarterdeck.tenancy.v1 import tenancy_pb2 as pb
from services.gateway.config import GatewaySettings
from services.gateway.direct_routes import RouteTable
from services.gateway.routing import Clients
from services.gateway.tenants import schemas
from services.gateway.tracing import TRACE_ID_HEADER
from tests.support.gateway import client_of, gateway_app

TENANT_ID = str(uuid.uuid4())
AUTHORIZATION = {"Authorization": "Bearer not-checked-by-the-gateway"}


def _tenant() -> pb.Tenant:
    created = Timestamp()
    created.FromDatetime(datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC))
    return pb.Tenant(
        id=TENANT_ID,
        slug="direct",
        name="Direct",
        status=pb.TENANT_STATUS_ACTIVE,
        create_time=created,
        update_time=created,
        version=3,
    )


class FakeTenancy:
    """TenancyService as the gateway's clients call it: the requests it got, canned answers."""

    def __init__(self) -> None:
        self.requests: list[Any] = []
        self.metadata: list[Any] = []
        self.error: grpc.aio.AioRpcError | None = None

    async def _answer(self, request: Any, options: dict[str, Any], reply: Any) -> Any:
        self.requests.append(request)
        self.metadata.append(options["metadata"])
        if self.error is not None:
            raise self.error
        return reply

    async def GetTenant(self, request: Any, **options: Any) -> Any:  # noqa: N802
        return await self._answer(request, options, pb.GetTenantResponse(tenant=_tenant()))

    async def ListTenants(self, request: Any, **options: Any) -> Any:  # noqa: N802
        reply = pb.ListTenantsResponse(tenants=[_tenant()], next_page_token="next")
        return await self._answer(request, options, reply)


class Solved:
    """Counts FastAPI's dependency solving: zero for a request answered directly."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        original = fastapi.routing.solve_dependencies

        async def counting(*args: Any, **kwargs: Any) -> Any:
            self.count += 1
            return await original(*args, **kwargs)

        monkeypatch.setattr(fastapi.routing, "solve_dependencies", counting)


def _through_fastapi() -> None:
    """Never called: an override FastAPI looks up, which sends requests past DirectRoutes."""


@pytest.fixture
async def gateway() -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient, FakeTenancy]]:
    async with gateway_app(GatewaySettings(request_timeout_seconds=5)) as app:
        tenancy = FakeTenancy()
        app.state.clients.tenancy = tenancy
        async with client_of(app) as client:
            yield app, client, tenancy


async def _both(
    app: FastAPI,
    client: httpx.AsyncClient,
    solved: Solved,
    path: str,
    headers: dict[str, str] | list[tuple[str, str]] | None = None,
) -> httpx.Response:
    """The answer to ``GET path``, asserted the same answered directly and through FastAPI."""
    app.dependency_overrides.clear()
    direct = await client.get(path, headers=headers)
    assert solved.count == 0, "answered through FastAPI, not directly"
    app.dependency_overrides[_through_fastapi] = _through_fastapi
    try:
        through_fastapi = await client.get(path, headers=headers)
    finally:
        app.dependency_overrides.clear()
    assert solved.count == 1 or through_fastapi.status_code == 401  # 401: refused before solving
    solved.count = 0
    assert direct.status_code == through_fastapi.status_code
    assert direct.content == through_fastapi.content

    def without_trace_id(response: httpx.Response) -> list[tuple[str, str]]:
        return [(k, v) for k, v in response.headers.items() if k != TRACE_ID_HEADER.lower()]

    assert without_trace_id(direct) == without_trace_id(through_fastapi)
    return direct


async def test_a_read_answers_as_fastapi_does(
    gateway: tuple[FastAPI, httpx.AsyncClient, FakeTenancy], monkeypatch: pytest.MonkeyPatch
) -> None:
    app, client, tenancy = gateway
    response = await _both(
        app, client, Solved(monkeypatch), f"/v1/tenants/{TENANT_ID}", AUTHORIZATION
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {
        "id": TENANT_ID,
        "slug": "direct",
        "name": "Direct",
        "domain": None,
        "status": "active",
        "version": 3,
        "create_time": "2026-01-02T03:04:05.678901Z",
        "update_time": "2026-01-02T03:04:05.678901Z",
    }
    assert [r.id for r in tenancy.requests] == [TENANT_ID, TENANT_ID]
    # The caller's credentials go on as they came, whichever way the request went.
    assert tenancy.metadata[0] == tenancy.metadata[1]
    assert ("authorization", AUTHORIZATION["Authorization"]) in tenancy.metadata[0]


async def test_query_parameters_are_read_and_refused_as_fastapi_does(
    gateway: tuple[FastAPI, httpx.AsyncClient, FakeTenancy], monkeypatch: pytest.MonkeyPatch
) -> None:
    app, client, tenancy = gateway
    solved = Solved(monkeypatch)
    listed = await _both(
        app, client, solved, "/v1/tenants?page_size=5&status=suspended", AUTHORIZATION
    )
    assert listed.status_code == 200 and listed.json()["next_page_token"] == "next"
    assert tenancy.requests[0] == pb.ListTenantsRequest(
        page_size=5, status=pb.TENANT_STATUS_SUSPENDED
    )
    for query in ("page_size=-1", "page_size=x", "status=nonsense"):
        refused = await _both(app, client, solved, f"/v1/tenants?{query}", AUTHORIZATION)
        assert refused.status_code == 400
        assert refused.json()["error"]["status"] == "INVALID_ARGUMENT"
    assert len(tenancy.requests) == 2  # the refused ones never reached the service


async def test_errors_answer_as_fastapi_does(
    gateway: tuple[FastAPI, httpx.AsyncClient, FakeTenancy], monkeypatch: pytest.MonkeyPatch
) -> None:
    app, client, tenancy = gateway
    solved = Solved(monkeypatch)
    path = f"/v1/tenants/{TENANT_ID}"
    tenancy.error = grpc.aio.AioRpcError(
        grpc.StatusCode.NOT_FOUND, grpc.aio.Metadata(), grpc.aio.Metadata(), details="no tenant"
    )
    not_found = await _both(app, client, solved, path, AUTHORIZATION)
    assert not_found.status_code == 404 and not_found.json()["error"]["status"] == "NOT_FOUND"
    tenancy.error = grpc.aio.AioRpcError(
        grpc.StatusCode.UNAVAILABLE, grpc.aio.Metadata(), grpc.aio.Metadata(), details="down"
    )
    unavailable = await _both(app, client, solved, path, AUTHORIZATION)
    assert unavailable.status_code == 503
    tenancy.error = None
    # Credentials gRPC could not carry are refused before any call (clients_of's HTTPException).
    twice = [("Authorization", "Bearer one"), ("Authorization", "Bearer two")]
    refused = await _both(app, client, solved, path, twice)
    assert refused.status_code == 401
    assert len(tenancy.requests) == 4  # the two 404s and 503s only


async def test_an_unexpected_failure_is_the_same_generic_500(
    gateway: tuple[FastAPI, httpx.AsyncClient, FakeTenancy], monkeypatch: pytest.MonkeyPatch
) -> None:
    app, client, _ = gateway

    def broken(cls: type[schemas.Tenant], tenant: pb.Tenant) -> schemas.Tenant:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(schemas.Tenant, "from_proto", classmethod(broken))
    response = await _both(
        app, client, Solved(monkeypatch), f"/v1/tenants/{TENANT_ID}", AUTHORIZATION
    )
    assert response.status_code == 500
    assert response.json()["error"]["message"] == "internal error"
    assert "secret" not in response.text


def test_the_gateways_simple_reads_are_answered_directly() -> None:
    from services.gateway.app import create_app

    table = RouteTable(create_app(GatewaySettings()).routes)
    direct = {route.route.path_format for route in table.direct_routes}
    assert {"/v1/tenants/{tenant_id}", "/v1/tenants", "/v1/users/me", "/v1/runs/{run_id}"} <= direct
    # Writes never are, nor reads FastAPI must run itself (a Response parameter, a stream).
    assert table.match("/v1/conversations/c1/events") is None
    matched = table.match(f"/v1/tenants/{TENANT_ID}")
    assert matched is not None and matched[1] == {"tenant_id": TENANT_ID}


def test_routing_order_is_the_apps() -> None:
    """The first route that would take a GET decides, as in FastAPI: one that is not answered
    directly (it takes the Request, or is a mount) sends the request on to FastAPI."""
    router = APIRouter(prefix="/things")

    @router.post("/special")
    async def create_special(clients: Clients) -> schemas.Tenant:  # never a GET's route
        raise NotImplementedError

    @router.get("/special")
    async def special(request: Request) -> schemas.Tenant:  # needs FastAPI: the Request
        raise NotImplementedError

    @router.get("/{thing_id}")
    async def thing(thing_id: str, clients: Clients) -> schemas.Tenant:
        raise NotImplementedError

    app = FastAPI()
    app.router.routes.append(Mount("/things/mounted", app=FastAPI()))
    app.include_router(router)
    table = RouteTable(app.routes)
    assert table.match("/things/special") is None
    assert table.match("/things/mounted/anything") is None
    matched = table.match("/things/t1")
    assert matched is not None
    route, params = matched
    assert route.route.endpoint is thing and params == {"thing_id": "t1"}
    assert table.match("/elsewhere") is None
