"""The HTTP gateway over a real in-process TenancyService, on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import socket
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import httpx
import pytest

from quarterdeck.tenancy.v1 import tenancy_pb2 as pb
from services.gateway import schemas
from services.gateway.app import create_app
from services.gateway.config import GatewaySettings
from services.tenancy.tenants import TenantHandlers
from shared.errors import ERROR_DOMAIN
from shared.tracing import current_trace_ids
from tests.support.stack import Databases, running_service

ERROR_INFO = "type.googleapis.com/google.rpc.ErrorInfo"
BAD_REQUEST = "type.googleapis.com/google.rpc.BadRequest"
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"


@asynccontextmanager
async def gateway_client(settings: GatewaySettings) -> AsyncIterator[httpx.AsyncClient]:
    """The app with its lifespan running, driven in-process over ASGI."""
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://gateway") as client,
    ):
        yield client


@pytest.fixture(scope="module")
async def tenancy_target(backend: str, databases: Databases) -> AsyncIterator[str]:
    # A database of its own, so listing sees only what this module created.
    url = await databases.url(backend, "tenancy", "gateway")
    async with running_service("tenancy", url) as running:
        yield running.target


@pytest.fixture(scope="module")
async def gateway(tenancy_target: str) -> AsyncIterator[httpx.AsyncClient]:
    settings = GatewaySettings(tenancy_target=tenancy_target, request_timeout_seconds=5)
    async with gateway_client(settings) as client:
        yield client


SETTINGS = f"/v1/tenants/{uuid.uuid4()}/settings"
DEEP = '{"x": ' * 40 + "1" + "}" * 40


def raw(text: str) -> dict[str, Any]:
    """Request arguments sending ``text`` as the JSON body unchanged (httpx refuses NaN)."""
    return {"content": text.encode(), "headers": {"content-type": "application/json"}}


def unique_slug(prefix: str = "gw") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


async def create(client: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    fields.setdefault("slug", unique_slug())
    fields.setdefault("name", "Acme Corp")
    response = await client.post("/v1/tenants", json=fields)
    assert response.status_code == 201, response.text
    return dict(response.json())


def error_of(response: httpx.Response, http_status: int, status: str) -> dict[str, Any]:
    """Asserts Google's JSON error shape and returns its ``error`` object."""
    assert response.status_code == http_status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"error"}
    error = body["error"]
    assert set(error) == {"code", "status", "message", "details"}
    assert error["code"] == http_status and error["status"] == status
    assert isinstance(error["message"], str) and error["message"]
    assert all("@type" in detail for detail in error["details"])
    return dict(error)


def error_info(error: dict[str, Any]) -> dict[str, Any]:
    [info] = [d for d in error["details"] if d["@type"] == ERROR_INFO]
    assert info["domain"] == ERROR_DOMAIN
    return dict(info)


def violations(error: dict[str, Any]) -> dict[str, str]:
    [bad_request] = [d for d in error["details"] if d["@type"] == BAD_REQUEST]
    return {v["field"]: v["description"] for v in bad_request["fieldViolations"]}


async def test_tenant_round_trip_create_get_patch(gateway: httpx.AsyncClient) -> None:
    slug, domain = unique_slug(), f"{unique_slug('d')}.example.com"
    response = await gateway.post(
        "/v1/tenants", json={"slug": slug, "name": "Acme", "domain": domain}
    )
    assert response.status_code == 201
    created = response.json()
    assert set(created) == {
        "id",
        "slug",
        "name",
        "domain",
        "status",
        "version",
        "create_time",
        "update_time",
    }
    assert uuid.UUID(created["id"])
    assert (created["slug"], created["name"], created["domain"]) == (slug, "Acme", domain)
    assert created["status"] == "active" and created["version"] == 1
    assert created["create_time"].endswith("Z")
    assert datetime.fromisoformat(created["create_time"]).utcoffset() is not None
    assert response.headers["location"] == f"/v1/tenants/{created['id']}"

    fetched = await gateway.get(f"/v1/tenants/{created['id']}")
    assert fetched.status_code == 200 and fetched.json() == created

    patched = await gateway.patch(
        f"/v1/tenants/{created['id']}", json={"version": 1, "name": "Acme Two", "domain": None}
    )
    assert patched.status_code == 200, patched.text
    after = patched.json()
    assert after["name"] == "Acme Two" and after["domain"] is None
    assert after["slug"] == slug and after["version"] == 2
    assert after["update_time"] >= created["update_time"]

    # An explicit update_mask wins over the body: only status changes here.
    masked = await gateway.patch(
        f"/v1/tenants/{created['id']}",
        params={"update_mask": "status"},
        json={"version": 2, "status": "suspended", "name": "ignored"},
    )
    assert masked.status_code == 200, masked.text
    assert masked.json()["status"] == "suspended" and masked.json()["name"] == "Acme Two"
    assert (await gateway.get(f"/v1/tenants/{created['id']}")).json() == masked.json()


async def test_settings_round_trip(gateway: httpx.AsyncClient) -> None:
    tenant = await create(gateway)
    path = f"/v1/tenants/{tenant['id']}/settings"
    initial = (await gateway.get(path)).json()
    assert initial["tenant_id"] == tenant["id"] and initial["version"] == 1
    assert initial["billing_contacts"] == [] and initial["billing_webhook_url"] is None
    assert initial["plan_metadata"] == {} and initial["flags"] == {}

    response = await gateway.patch(
        path,
        json={
            "version": 1,
            "billing_contacts": ["billing@acme.com"],
            "plan_metadata": {"tier": "pro", "seats": 5, "regions": ["eu", "us"]},
            "flags": {"beta": True},
        },
    )
    assert response.status_code == 200, response.text
    updated = response.json()
    assert updated["billing_contacts"] == ["billing@acme.com"]
    assert updated["plan_metadata"] == {"tier": "pro", "seats": 5, "regions": ["eu", "us"]}
    assert isinstance(
        updated["plan_metadata"]["seats"], int
    )  # not 5.0, though Struct holds doubles
    assert updated["flags"] == {"beta": True} and updated["version"] == 2

    # Only the fields sent change: the contacts and flags above stay.
    response = await gateway.patch(
        path, json={"version": 2, "billing_webhook_url": "https://acme.com/hooks/billing"}
    )
    assert response.status_code == 200, response.text
    latest = response.json()
    assert latest["billing_webhook_url"] == "https://acme.com/hooks/billing"
    assert latest["billing_contacts"] == ["billing@acme.com"] and latest["flags"] == {"beta": True}
    assert (await gateway.get(path)).json() == latest

    bad = await gateway.patch(path, json={"version": 3, "billing_contacts": ["nope"]})
    assert set(violations(error_of(bad, 400, "INVALID_ARGUMENT"))) == {
        "settings.billing_contacts[0]"
    }


async def test_list_pages_to_the_end(gateway: httpx.AsyncClient) -> None:
    mine = {(await create(gateway, status="deleted"))["id"] for _ in range(5)}
    seen: list[dict[str, Any]] = []
    token = ""
    while True:
        response = await gateway.get(
            "/v1/tenants", params={"page_size": 2, "page_token": token, "status": "deleted"}
        )
        assert response.status_code == 200, response.text
        page = response.json()
        assert set(page) == {"tenants", "next_page_token"}
        assert len(page["tenants"]) <= 2
        seen.extend(page["tenants"])
        token = page["next_page_token"]
        if not token:
            break
    ids = [t["id"] for t in seen]
    assert len(ids) == len(set(ids)) and mine <= set(ids)
    assert all(t["status"] == "deleted" for t in seen)
    everyone = (await gateway.get("/v1/tenants", params={"page_size": 1000})).json()
    assert mine <= {t["id"] for t in everyone["tenants"]}


async def test_bad_slug_keeps_the_services_field_violation(gateway: httpx.AsyncClient) -> None:
    response = await gateway.post("/v1/tenants", json={"slug": "Has Space", "name": "x"})
    error = error_of(response, 400, "INVALID_ARGUMENT")
    assert "tenant.slug" in violations(error)
    assert error_info(error)["reason"] == "INVALID_ARGUMENT"
    assert "tenant.slug" in error["message"]


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "field"),
    [
        ("POST", "/v1/tenants", {"json": {"slug": "ok-slug", "name": 123}}, "name"),
        ("POST", "/v1/tenants", {"json": {"name": "No slug"}}, "slug"),
        ("POST", "/v1/tenants", {"json": {"slug": "s", "name": "n", "status": "gone"}}, "status"),
        ("POST", "/v1/tenants", {"json": {"slug": "s", "name": "n", "extra": 1}}, "extra"),
        (
            "POST",
            "/v1/tenants",
            {"content": b"{not json", "headers": {"content-type": "application/json"}},
            "body",
        ),
        ("POST", "/v1/tenants", {"json": ["a", "list"]}, "body"),
        ("GET", "/v1/tenants", {"params": {"page_size": -1}}, "page_size"),
        ("GET", "/v1/tenants", {"params": {"page_size": "ten"}}, "page_size"),
        ("GET", "/v1/tenants", {"params": {"status": "ACTIVE"}}, "status"),
        ("PATCH", f"/v1/tenants/{uuid.uuid4()}", {"json": {"name": "no version"}}, "version"),
        ("PATCH", f"/v1/tenants/{uuid.uuid4()}", {"json": {"version": 0}}, "version"),
        (
            "PATCH",
            f"/v1/tenants/{uuid.uuid4()}/settings",
            {"json": {"version": 1, "billing_contacts": ["a@b.co", 7]}},
            "billing_contacts[1]",
        ),
        (
            "POST",
            "/v1/tenants",
            {"json": {"slug": "s", "name": "n"}, "headers": {"Idempotency-Key": "k" * 256}},
            "Idempotency-Key",
        ),
        # Valid JSON that protobuf cannot carry is bad input too, not an internal error.
        ("POST", "/v1/tenants", raw('{"slug": "s", "name": "\\ud800"}'), "name"),
        ("PATCH", f"/v1/tenants/{uuid.uuid4()}", {"json": {"version": 2**63}}, "version"),
        ("GET", "/v1/tenants", {"params": {"page_size": 2**31}}, "page_size"),
        ("PATCH", SETTINGS, raw('{"version": 1, "flags": {"a": NaN}}'), "flags"),
        ("PATCH", SETTINGS, raw('{"version": 1, "flags": {"a": [1e400]}}'), "flags"),
        ("PATCH", SETTINGS, {"json": {"version": 1, "flags": {"a": 2**60}}}, "flags"),
        ("PATCH", SETTINGS, raw('{"version": 1, "flags": {"\\udc00": 1}}'), "flags"),
        ("PATCH", SETTINGS, raw(f'{{"version": 1, "plan_metadata": {DEEP}}}'), "plan_metadata"),
    ],
)
async def test_request_validation_errors_share_the_error_shape(
    gateway: httpx.AsyncClient, method: str, path: str, kwargs: dict[str, Any], field: str
) -> None:
    response = await gateway.request(method, path, **kwargs)
    error = error_of(response, 400, "INVALID_ARGUMENT")
    assert field in violations(error), violations(error)
    assert error_info(error)["reason"] == "INVALID_ARGUMENT"


async def test_duplicate_slug_is_409_already_exists(gateway: httpx.AsyncClient) -> None:
    original = await create(gateway)
    response = await gateway.post("/v1/tenants", json={"slug": original["slug"], "name": "Other"})
    error = error_of(response, 409, "ALREADY_EXISTS")
    info = error_info(error)
    assert info["reason"] == "TENANT_SLUG_TAKEN" and info["metadata"] == {"field": "tenant.slug"}


async def test_stale_version_is_409_aborted_and_changes_nothing(
    gateway: httpx.AsyncClient,
) -> None:
    tenant = await create(gateway)
    path = f"/v1/tenants/{tenant['id']}"
    current = (await gateway.patch(path, json={"version": 1, "name": "v2"})).json()
    response = await gateway.patch(path, json={"version": 1, "name": "lost update"})
    error = error_of(response, 409, "ABORTED")
    info = error_info(error)
    assert info["reason"] == "VERSION_MISMATCH" and info["metadata"]["current_version"] == "2"
    assert (await gateway.get(path)).json() == current


async def test_unknown_id_is_404_and_malformed_id_is_400(gateway: httpx.AsyncClient) -> None:
    missing = uuid.uuid4()
    for path in (f"/v1/tenants/{missing}", f"/v1/tenants/{missing}/settings"):
        error = error_of(await gateway.get(path), 404, "NOT_FOUND")
        assert error_info(error)["reason"] == "TENANT_NOT_FOUND"
    error = error_of(await gateway.get("/v1/tenants/not-a-uuid"), 400, "INVALID_ARGUMENT")
    assert "id" in violations(error)
    error = error_of(
        await gateway.patch("/v1/tenants/not-a-uuid", json={"version": 1, "name": "x"}),
        400,
        "INVALID_ARGUMENT",
    )
    assert "tenant.id" in violations(error)


async def test_page_token_is_bound_to_its_filter(gateway: httpx.AsyncClient) -> None:
    for _ in range(3):
        await create(gateway)
    first = (await gateway.get("/v1/tenants", params={"page_size": 1})).json()
    assert first["next_page_token"]
    response = await gateway.get(
        "/v1/tenants",
        params={"page_size": 1, "page_token": first["next_page_token"], "status": "active"},
    )
    assert "page_token" in violations(error_of(response, 400, "INVALID_ARGUMENT"))


async def test_idempotency_key_repeat_returns_the_same_tenant(gateway: httpx.AsyncClient) -> None:
    key = str(uuid.uuid4())
    body = {"slug": unique_slug(), "name": "Once"}
    first = await gateway.post("/v1/tenants", json=body, headers={"Idempotency-Key": key})
    again = await gateway.post("/v1/tenants", json=body, headers={"Idempotency-Key": key})
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    other = await gateway.post(
        "/v1/tenants", json={**body, "name": "Twice"}, headers={"Idempotency-Key": key}
    )
    assert "request_id" in violations(error_of(other, 400, "INVALID_ARGUMENT"))
    # Without a key, the same body is a new request: the slug is now taken.
    error_of(await gateway.post("/v1/tenants", json=body), 409, "ALREADY_EXISTS")


async def test_openapi_describes_the_tenant_paths_and_the_error_body(
    gateway: httpx.AsyncClient,
) -> None:
    response = await gateway.get("/openapi.json")
    assert response.status_code == 200
    spec = response.json()
    paths = spec["paths"]
    assert {"/v1/tenants", "/v1/tenants/{tenant_id}", "/v1/tenants/{tenant_id}/settings"} <= set(
        paths
    )
    assert {"post", "get"} <= set(paths["/v1/tenants"])
    assert {"get", "patch"} <= set(paths["/v1/tenants/{tenant_id}"])
    assert {"get", "patch"} <= set(paths["/v1/tenants/{tenant_id}/settings"])
    assert {"Tenant", "TenantSettings", "TenantList", "ErrorResponse"} <= set(
        spec["components"]["schemas"]
    )
    for path in paths.values():
        for operation in path.values():
            assert "422" not in operation["responses"]  # validation errors are 400s here


async def test_healthz_and_unknown_routes(gateway: httpx.AsyncClient) -> None:
    response = await gateway.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}
    error_of(await gateway.get("/v1/nothing-here"), 404, "NOT_FOUND")
    error_of(await gateway.delete("/v1/tenants"), 405, "UNIMPLEMENTED")


async def test_unreachable_service_is_503_with_the_error_body() -> None:
    with socket.socket() as probe:  # a port nothing listens on once the socket closes
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    settings = GatewaySettings(tenancy_target=f"127.0.0.1:{closed_port}", request_timeout_seconds=5)
    async with gateway_client(settings) as client:
        response = await client.get(f"/v1/tenants/{uuid.uuid4()}")
        error = error_of(response, 503, "UNAVAILABLE")
        assert error_info(error)["reason"] == "UNAVAILABLE"
        assert str(closed_port) not in response.text  # transport details stay in the logs
        health = await client.get("/healthz")  # liveness does not depend on the service
        assert health.status_code == 200


async def test_every_call_carries_the_request_timeout(
    tenancy_target: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = TenantHandlers.get_tenant

    async def slow_get(self: TenantHandlers, request: pb.GetTenantRequest) -> Any:
        await asyncio.sleep(1.0)
        return await original(self, request)

    monkeypatch.setattr(TenantHandlers, "get_tenant", slow_get)
    settings = GatewaySettings(tenancy_target=tenancy_target, request_timeout_seconds=0.2)
    async with gateway_client(settings) as client:
        response = await client.get(f"/v1/tenants/{uuid.uuid4()}")
    error_of(response, 504, "DEADLINE_EXCEEDED")


async def test_unexpected_error_is_a_generic_500(
    gateway: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    tenant = await create(gateway)

    def broken(cls: type[schemas.Tenant], tenant: pb.Tenant) -> schemas.Tenant:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(schemas.Tenant, "from_proto", classmethod(broken))
    response = await gateway.get(f"/v1/tenants/{tenant['id']}")
    error = error_of(response, 500, "INTERNAL")
    assert error["message"] == "internal error" and "secret" not in response.text
    assert any("secret internals" in str(r.exc_info) for r in caplog.records if r.exc_info)


async def test_trace_context_continues_from_the_client_to_the_service(
    gateway: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenant = await create(gateway)
    seen_by_service: list[str] = []
    original = TenantHandlers.get_tenant

    async def spying_get(self: TenantHandlers, request: pb.GetTenantRequest) -> Any:
        seen_by_service.append(current_trace_ids()[0])
        return await original(self, request)

    monkeypatch.setattr(TenantHandlers, "get_tenant", spying_get)
    headers = {"traceparent": TRACEPARENT}
    response = await gateway.get(f"/v1/tenants/{tenant['id']}", headers=headers)
    assert response.status_code == 200
    assert response.headers["x-trace-id"] == TRACE_ID
    assert seen_by_service == [TRACE_ID]
    missing = await gateway.get(f"/v1/tenants/{uuid.uuid4()}", headers=headers)
    assert missing.status_code == 404 and missing.headers["x-trace-id"] == TRACE_ID
