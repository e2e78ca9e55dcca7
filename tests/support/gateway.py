"""The gateway in tests: the app with its lifespan running, driven in-process over ASGI, in front
of services started by tests.support.stack; and the checks every gateway test makes of an answer
(Google's JSON error shape, its ErrorInfo and BadRequest details, RFC 3339 times)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
from cryptography.fernet import Fernet
from fastapi import FastAPI

from services.gateway.app import create_app
from services.gateway.config import GatewaySettings
from services.identity.context import IdentityContext
from shared.api_key_tokens import ApiKeyTokens
from shared.errors import ERROR_DOMAIN
from shared.identity_link import internal_client_entry
from shared.server import RunningService
from tests.support.stack import (
    TENANCY_INTERNAL_SECRET,
    Databases,
    IdentityStack,
    free_port,
    identity_stack,
    running_service,
)
from tests.support.tokens import TestIssuer

ERROR_INFO = "type.googleapis.com/google.rpc.ErrorInfo"
BAD_REQUEST = "type.googleapis.com/google.rpc.BadRequest"
#: The browser identity's gateway tests sign in from (its sessions show the device).
USER_AGENT = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"


@asynccontextmanager
async def gateway_app(settings: GatewaySettings) -> AsyncIterator[FastAPI]:
    """The app built from ``settings`` with its lifespan running."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        yield app


def client_of(app: FastAPI, headers: Mapping[str, str] | None = None) -> httpx.AsyncClient:
    """An HTTP client driving ``app`` in-process, sending ``headers`` with every request."""
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://gateway", headers=headers
    )


@asynccontextmanager
async def gateway_client(
    settings: GatewaySettings, headers: Mapping[str, str] | None = None
) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the app built from ``settings``, its lifespan running."""
    async with gateway_app(settings) as app, client_of(app, headers) as client:
        yield client


@dataclass
class Gateway:
    """The gateway in front of identity and tenancy (tests.support.stack.identity_stack)."""

    app: FastAPI
    client: httpx.AsyncClient
    stack: IdentityStack

    @property
    def state(self) -> IdentityContext:
        return self.stack.state

    @property
    def api_keys(self) -> ApiKeyTokens:
        return self.app.state.clients.api_keys


@asynccontextmanager
async def running_gateway(stack: IdentityStack, **settings: Any) -> AsyncIterator[Gateway]:
    """The gateway in front of ``stack``, its client signing in from :data:`USER_AGENT`."""
    gateway_settings = GatewaySettings(
        identity_target=stack.identity.target,
        tenancy_target=stack.tenancy.target,
        request_timeout_seconds=10,
        **settings,
    )
    async with (
        gateway_app(gateway_settings) as app,
        client_of(app, {"User-Agent": USER_AGENT}) as client,
    ):
        yield Gateway(app, client, stack)


def headers(metadata: list[tuple[str, str]]) -> dict[str, str]:
    """Call metadata from the TestIssuer as HTTP headers: ``Authorization: Bearer <token>``."""
    return {key.title(): value for key, value in metadata}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def operator(issuer: TestIssuer) -> dict[str, str]:
    """A platform operator's headers."""
    return headers(issuer.operator())


def member(
    issuer: TestIssuer, tenant_id: str | None = None, role: str = "member"
) -> dict[str, str]:
    """Headers of a member of ``tenant_id`` (a new tenant's by default) in ``role``."""
    return headers(issuer.member(tenant_id or str(uuid.uuid4()), role=role))


def unique(prefix: str = "gw") -> str:
    """A name no other test uses (a slug, a plan's name)."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


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
    """The error's ErrorInfo detail, in this platform's domain."""
    [info] = [d for d in error["details"] if d["@type"] == ERROR_INFO]
    assert info["domain"] == ERROR_DOMAIN
    return dict(info)


def info_of(response: httpx.Response, http_status: int, status: str) -> dict[str, Any]:
    return error_info(error_of(response, http_status, status))


def reason_of(response: httpx.Response, http_status: int, status: str) -> str:
    return str(info_of(response, http_status, status)["reason"])


def field_violations(error: dict[str, Any]) -> dict[str, str]:
    """The error's BadRequest detail: each field violation's description by its field."""
    [bad_request] = [d for d in error["details"] if d["@type"] == BAD_REQUEST]
    return {v["field"]: v["description"] for v in bad_request["fieldViolations"]}


def violations(response: httpx.Response) -> dict[str, str]:
    """Asserts a 400 INVALID_ARGUMENT and returns its field violations."""
    return field_violations(error_of(response, 400, "INVALID_ARGUMENT"))


def is_rfc3339_utc(value: str) -> bool:
    return value.endswith("Z") and datetime.fromisoformat(value).utcoffset() is not None


@dataclass
class TenancyGateway:
    """Tenancy verifying the TestIssuer's tokens, and a client of the gateway in front of it."""

    tenancy: RunningService[Any, Any]
    client: httpx.AsyncClient


@asynccontextmanager
async def tenancy_gateway(
    databases: Databases, backend: str, label: str, issuer: TestIssuer, **tenancy_overrides: Any
) -> AsyncIterator[TenancyGateway]:
    """Tenancy on its own ``label`` database and the gateway in front of it."""
    url = await databases.url(backend, "tenancy", label)
    async with (
        running_service(
            "tenancy", url, authenticator=issuer.authenticator(), **tenancy_overrides
        ) as tenancy,
        gateway_client(
            GatewaySettings(tenancy_target=tenancy.target, request_timeout_seconds=5)
        ) as client,
    ):
        yield TenancyGateway(tenancy, client)


#: The gateway's internal secret where it writes the request log to telemetry.
GATEWAY_SECRET = "gateway-internal-secret-for-tests"


@dataclass
class PlatformStack:
    """Identity and tenancy (knowing the gateway as an internal client), telemetry and tooling."""

    identity: IdentityStack
    telemetry: RunningService[Any, Any]
    tooling: RunningService[Any, Any]

    def gateway_settings(self, **settings: Any) -> GatewaySettings:
        """Settings of a gateway in front of all four, holding the internal secret."""
        return GatewaySettings(
            **{
                "identity_target": self.identity.identity.target,
                "tenancy_target": self.identity.tenancy.target,
                "telemetry_target": self.telemetry.target,
                "tooling_target": self.tooling.target,
                "internal_secret": GATEWAY_SECRET,
                "request_timeout_seconds": 10,
                **settings,
            }
        )


@asynccontextmanager
async def platform_stack(
    databases: Databases,
    backend: str,
    label: str,
    tenancy_overrides: dict[str, Any] | None = None,
    **telemetry_overrides: Any,
) -> AsyncIterator[PlatformStack]:
    """Identity, tenancy, telemetry and tooling on ``label`` databases, the gateway their
    internal client. Tenancy's onboarding stores grants in this tooling (its port is chosen
    first, as identity_stack does for identity); tooling's egress guard lets tools reach the
    tests' servers on 127.0.0.1."""
    tooling_port = free_port()
    clients = ",".join(
        [
            internal_client_entry("tenancy", TENANCY_INTERNAL_SECRET),
            internal_client_entry("gateway", GATEWAY_SECRET),
        ]
    )
    async with (
        identity_stack(
            databases,
            backend,
            label=label,
            internal_clients=clients,
            tenancy_overrides={
                "tooling_target": f"127.0.0.1:{tooling_port}",
                **(tenancy_overrides or {}),
            },
        ) as identity,
        running_service(
            "telemetry",
            await databases.url(backend, "telemetry", label),
            identity_target=identity.identity.target,
            **telemetry_overrides,
        ) as telemetry,
        running_service(
            "tooling",
            await databases.url(backend, "tooling", label),
            port=tooling_port,
            identity_target=identity.identity.target,
            egress_allowed_hosts="127.0.0.1",
            secret_encryption_keys=Fernet.generate_key().decode(),
        ) as tooling,
    ):
        yield PlatformStack(identity, telemetry, tooling)
