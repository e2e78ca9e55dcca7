"""Every route of the gateway answers what its OpenAPI document says, over real in-process
identity, tenancy, telemetry and tooling services on SQLite and on PostgreSQL, and a conversation
service whose turns run through tooling and the local test provider (with a tenancy, tooling and
telemetry of its own, verifying the test issuer's tokens).

The routes are walked from the app itself; each is called with valid inputs (a realistic flow:
an operator sets up a tenant, its model, plan, subscription and invoice; a user manages their
account; telemetry is recorded and read) and its JSON is validated with jsonschema against the
response schema /openapi.json gives for that route and status, with every object closed
(``additionalProperties: false``): a field the document does not name, or a missing required
one, fails. A server-sent events route is read (served by uvicorn, since the in-process
transport never ends a stream) until the events the step waits for, each checked for its id and
JSON. A route added to the app without a step here fails the coverage check, unless it is
listed in NOT_CALLABLE with the reason.
"""

from __future__ import annotations

import asyncio
import copy
import json
import re
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jsonschema
import pyotp
import pytest
from cryptography.fernet import Fernet
from fastapi import FastAPI
from fastapi.routing import APIRoute
from google.protobuf.struct_pb2 import Struct, Value
from google.protobuf.timestamp_pb2 import Timestamp
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2_grpc import TraceServiceStub
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status
from sqlalchemy import update

from quarterdeck.telemetry.v1 import activity_pb2 as apb
from quarterdeck.telemetry.v1 import metrics_pb2 as mpb
from quarterdeck.telemetry.v1 import tool_usage_pb2 as tpb
from quarterdeck.telemetry.v1.activity_pb2_grpc import ActivityServiceStub
from quarterdeck.telemetry.v1.metrics_pb2_grpc import AgentMetricsServiceStub
from quarterdeck.telemetry.v1.tool_usage_pb2_grpc import ToolUsageServiceStub
from services.gateway.app import create_app
from services.telemetry.status.models import StatusSubscriptionRecord
from services.tenancy.stripe.signature import signature_header
from services.tooling.tools.seed_catalogue import base_tool_id
from shared.grpc_client import open_channel
from shared.identity_link import internal_api_key
from tests.support.asgi_server import served
from tests.support.conversation_turn import ISSUER as TURN_ISSUER
from tests.support.conversation_turn import TurnStack, new_tenant, turn_stack
from tests.support.gateway import PlatformStack, bearer, client_of, gateway_app, platform_stack
from tests.support.http_server import LocalServer, local_http_server
from tests.support.identity_users import STRONG_PASSWORD, TestUser, make_user
from tests.support.mcp_server import LocalMcpServer, local_mcp_server
from tests.support.sse import SseEvent, sse_items
from tests.support.stack import (
    TENANCY_INTERNAL_SECRET,
    Databases,
    spans_stored,
)
from tests.support.waiting import eventually

STRIPE_SECRET = "whsec_shape_tests"
NEW_PASSWORD = "Battery-Staple-77-horse"

#: Routes whose success cannot be reached from a test through the gateway, with the reason. They
#: are still called, and their refusal is checked against the document's error schema.
NOT_CALLABLE: dict[tuple[str, str], str] = {
    ("POST", "/v1/auth/password/reset"): "the reset token reaches only the user's mailbox",
    ("POST", "/v1/status-subscriptions/verify"): "the token reaches only the subscribed target",
    ("POST", "/v1/status-subscriptions/unsubscribe"): "the token reaches only the target",
}


# -- The document, closed ------------------------------------------------------------------------


def closed(node: Any) -> Any:
    """``node`` with every object schema that lists its properties refusing any other."""
    if isinstance(node, dict):
        node = {key: closed(value) for key, value in node.items()}
        if "properties" in node and "additionalProperties" not in node:
            node["additionalProperties"] = False
        return node
    if isinstance(node, list):
        return [closed(value) for value in node]
    return node


def api_routes(app: FastAPI) -> Iterator[tuple[str, str]]:
    """Every (method, path template) the app serves and documents."""

    def walk(routes: list[Any]) -> Iterator[APIRoute]:
        for route in routes:
            if isinstance(route, APIRoute):
                yield route
            elif hasattr(route, "original_router"):  # an included router, resolved lazily
                yield from walk(route.original_router.routes)

    for route in walk(app.routes):
        if route.include_in_schema:
            # As the document names it: "{key:path}" is "{key}" there.
            path = re.sub(r"\{(\w+):\w+\}", r"{\1}", route.path)
            for method in sorted(route.methods):
                yield method, path


@dataclass
class Shapes:
    """Calls routes by their template and checks each answer against the document."""

    client: httpx.AsyncClient
    document: dict[str, Any]
    routes: set[tuple[str, str]]
    #: The same app served for real, for the routes that stream.
    streaming: httpx.AsyncClient | None = None
    succeeded: set[tuple[str, str]] = field(default_factory=set)
    refused: set[tuple[str, str]] = field(default_factory=set)

    async def call(
        self,
        method: str,
        template: str,
        *,
        status: int = 200,
        headers: dict[str, str] | None = None,
        **options: Any,
    ) -> Any:
        path_params = {key: options.pop(key) for key in list(options) if f"{{{key}}}" in template}
        response = await self.client.request(
            method, template.format(**path_params), headers=headers, **options
        )
        assert response.status_code == status, f"{method} {template}: {response.text}"
        self.check(method, template, response)
        (self.succeeded if status < 400 else self.refused).add((method, template))
        return response.json() if response.content else None

    async def stream(
        self,
        template: str,
        until: Callable[[list[SseEvent]], bool],
        *,
        headers: dict[str, str] | None = None,
        params: dict[str, Any] | None = None,
        **path_params: str,
    ) -> list[SseEvent]:
        """GET a server-sent events route and read it until ``until(events)``; each event's
        ``id:`` is the ``sequence_number`` of its JSON, ``event:`` its ``type``."""
        assert self.streaming is not None
        operation = self.document["paths"][template]["get"]
        assert "text/event-stream" in operation["responses"]["200"]["content"]
        events: list[SseEvent] = []

        async def read() -> None:
            assert self.streaming is not None
            url = template.format(**path_params)
            async with self.streaming.stream("GET", url, headers=headers, params=params) as reply:
                assert reply.status_code == 200, (await reply.aread()).decode()
                assert reply.headers["content-type"].startswith("text/event-stream")
                async for item in sse_items(reply):
                    if item.event is not None:
                        events.append(item.event)
                        if until(events):
                            return

        try:
            await asyncio.wait_for(read(), 60)
        except TimeoutError:
            pytest.fail(f"{template}: the awaited events never came; got {events}")
        for event in events:
            assert isinstance(event.data, dict), event.data_lines
            assert event.data["sequence_number"] == event.cursor
            assert event.data["type"] == event.event
        self.succeeded.add(("GET", template))
        return events

    def check(self, method: str, template: str, response: httpx.Response) -> None:
        operation = self.document["paths"][template][method.lower()]
        responses = operation["responses"]
        code = str(response.status_code)
        documented = responses.get(code) or responses.get(f"{code[0]}XX")
        assert documented is not None, f"{method} {template}: {code} is not documented"
        content = documented.get("content", {}).get("application/json")
        if not response.content:
            assert response.status_code in (202, 204), f"{method} {template}: empty {code}"
            return
        assert content is not None, f"{method} {template}: a {code} body is not documented"
        schema = {**content["schema"], "components": self.document["components"]}
        try:
            jsonschema.validate(response.json(), schema, cls=jsonschema.Draft202012Validator)
        except jsonschema.ValidationError as error:
            pytest.fail(f"{method} {template} ({code}) differs from its schema: {error}")


# -- The stack -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
async def stack(backend: str, databases: Databases) -> AsyncIterator[PlatformStack]:
    async with platform_stack(
        databases,
        backend,
        "gateway-shapes",
        tenancy_overrides={
            "stripe_webhook_secret": STRIPE_SECRET,
            "provider_key_encryption_keys": Fernet.generate_key().decode(),
        },
        status_encryption_keys=Fernet.generate_key().decode(),
        status_hashing_key="status-hashing-key-for-shape-tests",
    ) as running:
        yield running


@pytest.fixture(scope="module")
async def turn(backend: str, databases: Databases) -> AsyncIterator[TurnStack]:
    """The conversation service with what its runs call (its own tenancy, tooling, telemetry
    and the test provider), verifying the test issuer's tokens."""
    async with turn_stack(databases, backend, "gateway-shapes") as built:
        yield built


@pytest.fixture(scope="module")
async def shapes(stack: PlatformStack, turn: TurnStack) -> AsyncIterator[Shapes]:
    settings = stack.gateway_settings(conversation_target=turn.conversation.running.target)
    async with (
        gateway_app(settings) as app,
        client_of(app) as client,
        served(create_app(settings)) as streaming_url,
        httpx.AsyncClient(base_url=streaming_url, timeout=httpx.Timeout(10, read=None)) as stream,
    ):
        yield Shapes(client, closed(copy.deepcopy(app.openapi())), set(api_routes(app)), stream)


@pytest.fixture(scope="module")
def http() -> Iterator[LocalServer]:
    with local_http_server() as server:
        yield server


@pytest.fixture(scope="module")
def mcp() -> Iterator[LocalMcpServer]:
    with local_mcp_server() as server:
        yield server


def timestamp(seconds: float) -> Timestamp:
    stamp = Timestamp()
    stamp.FromNanoseconds(int(seconds * 1e9))
    return stamp


def struct(values: dict[str, Any]) -> Struct:
    message = Struct()
    message.update(values)
    return message


def value(values: dict[str, Any]) -> Value:
    return Value(struct_value=struct(values))


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


async def signed_in(shapes: Shapes, user: TestUser) -> tuple[dict[str, str], dict[str, Any]]:
    body = await shapes.call(
        "POST", "/v1/auth/signin", json={"email": user.email, "password": user.password}
    )
    return bearer(body["tokens"]["access_token"]), body["tokens"]


# -- The flow ------------------------------------------------------------------------------------


async def tenancy_and_billing(shapes: Shapes, operator: dict[str, str], owner: TestUser) -> str:
    """The operator's tenancy, catalogue and billing routes; answers the new tenant's id."""
    call = shapes.call
    await call("GET", "/healthz")
    tenant = await call(
        "POST",
        "/v1/tenants",
        status=201,
        headers=operator,
        json={"slug": unique("shape"), "name": "Shapes", "domain": f"{unique('d')}.example"},
    )
    tenant_id = tenant["id"]
    await call("GET", "/v1/tenants", headers=operator, params={"page_size": 2})
    tenant = await call("GET", "/v1/tenants/{tenant_id}", headers=operator, tenant_id=tenant_id)
    await call(
        "PATCH",
        "/v1/tenants/{tenant_id}",
        headers=operator,
        tenant_id=tenant_id,
        json={"version": tenant["version"], "name": "Shapes Inc."},
    )
    settings = await call(
        "GET", "/v1/tenants/{tenant_id}/settings", headers=operator, tenant_id=tenant_id
    )
    await call(
        "PATCH",
        "/v1/tenants/{tenant_id}/settings",
        headers=operator,
        tenant_id=tenant_id,
        json={"version": settings["version"], "flags": {"beta": True, "seats": 3, "ratio": 2.5}},
    )
    await call(
        "POST", "/v1/tenants/status:batchCheck", headers=operator, json={"tenant_ids": [tenant_id]}
    )
    await call("GET", "/v1/tenants/{tenant_id}/status", headers=operator, tenant_id=tenant_id)
    await call("POST", "/v1/tenants/{tenant_id}:suspend", headers=operator, tenant_id=tenant_id)
    await call("POST", "/v1/tenants/{tenant_id}:reactivate", headers=operator, tenant_id=tenant_id)

    # The catalogue, prices and the tenant's model configuration.
    model = await call(
        "POST",
        "/v1/models",
        status=201,
        headers=operator,
        json={
            "provider": "anthropic",
            "model_name": unique("claude"),
            "display_name": "Claude",
            "context_window": 200000,
            "size_class": "large",
            "metadata": {"family": "claude", "generation": 4},
        },
    )
    model_id = model["id"]
    await call("GET", "/v1/models", headers=operator)
    await call("GET", "/v1/models/{model_id}", headers=operator, model_id=model_id)
    await call(
        "PATCH",
        "/v1/models/{model_id}",
        headers=operator,
        model_id=model_id,
        json={"version": model["version"], "supports_tools": True},
    )
    for tier in ("standard", "batch"):
        await call(
            "POST",
            "/v1/models/{model_id}/prices",
            status=201,
            headers=operator,
            model_id=model_id,
            json={"tier": tier, "input_per_mtok": "3", "output_per_mtok": "15"},
        )
    await call("GET", "/v1/models/{model_id}/prices", headers=operator, model_id=model_id)
    await call(
        "POST",
        "/v1/usage/price",
        headers=operator,
        json={"model_id": model_id, "input_tokens": 1200, "output_tokens": 300},
    )
    config = {"llm_model_id": model_id, "api_key": "sk-shape-test-key-0001"}
    await call(
        "PUT",
        "/v1/tenants/{tenant_id}/model-config",
        headers=operator,
        tenant_id=tenant_id,
        json=config,
    )
    current = await call(
        "GET", "/v1/tenants/{tenant_id}/model-config", headers=operator, tenant_id=tenant_id
    )
    await call(
        "PATCH",
        "/v1/tenants/{tenant_id}/model-config",
        headers=operator,
        tenant_id=tenant_id,
        json={"version": current["version"], "rate_limit_rpm": 120},
    )
    # The grants name a global agent and tool the tooling service holds.
    granted_tool = await call(
        "POST",
        "/v1/tools",
        status=201,
        headers=operator,
        json={
            "name": unique("granted"),
            "base_tool_id": str(base_tool_id("HTTP_GET")),
            "config": {"endpoint": "https://erp.example.com/{q}"},
            "input_schema": {"type": "object"},
            "is_global": True,
        },
    )
    granted_agent = await call(
        "POST",
        "/v1/agents",
        status=201,
        headers=operator,
        json={"name": unique("Granted"), "role_name": "support", "is_global": True},
    )
    onboarded = await call(
        "POST",
        "/v1/onboarding",
        status=201,
        headers=operator,
        json={
            "tenant": {"slug": unique("onboarded"), "name": "Onboarded"},
            "owner_user_id": owner.user_id,
            "model_config": config,
            "agent_grants": [{"agent_id": granted_agent["agent"]["id"]}],
            "tool_grants": [{"tool_id": granted_tool["id"], "enabled": False}],
        },
    )
    assert [g["agent_id"] for g in onboarded["agent_grants"]] == [granted_agent["agent"]["id"]]
    await call(
        "DELETE", "/v1/tenants/{tenant_id}", headers=operator, tenant_id=onboarded["tenant"]["id"]
    )

    # Plans, a subscription, its usage and invoice.
    feature = {
        "feature_key": "tokens",
        "metric": "total_tokens",
        "is_metered": True,
        "included_quantity": 1000,
        "overage_unit_price": "0.002500",
        "overage_unit_block": 1000,
        "hard_limit": 1000000,
    }
    plan = await call(
        "POST",
        "/v1/plans",
        status=201,
        headers=operator,
        json={"code": unique("plan"), "name": "Team", "price": "49", "features": [feature]},
    )
    plan_id = plan["id"]
    await call("GET", "/v1/plans", headers=operator)
    await call("GET", "/v1/plans/{plan_id}", headers=operator, plan_id=plan_id)
    await call(
        "PATCH",
        "/v1/plans/{plan_id}",
        headers=operator,
        plan_id=plan_id,
        json={"seat_included": 10},
    )
    requests_feature = {"feature_key": "requests", "metric": "requests"}
    await call(
        "POST",
        "/v1/plans/{plan_id}/features",
        headers=operator,
        plan_id=plan_id,
        json=requests_feature,
    )
    await call(
        "PUT",
        "/v1/plans/{plan_id}/features",
        headers=operator,
        plan_id=plan_id,
        json={**requests_feature, "soft_limit": 500},
    )
    await call(
        "POST",
        "/v1/tenants/{tenant_id}/subscription",
        status=201,
        headers=operator,
        tenant_id=tenant_id,
        json={"plan_id": plan_id, "billing_email": "billing@example.com"},
    )
    await call("GET", "/v1/tenants/{tenant_id}/subscription", headers=operator, tenant_id=tenant_id)
    await call(
        "PATCH",
        "/v1/tenants/{tenant_id}/subscription",
        headers=operator,
        tenant_id=tenant_id,
        json={"seat_count": 2},
    )
    await call(
        "POST",
        "/v1/tenants/{tenant_id}/subscription/usage-rollup",
        headers=operator,
        tenant_id=tenant_id,
    )
    invoice = await call(
        "POST",
        "/v1/tenants/{tenant_id}/invoices",
        status=201,
        headers=operator,
        tenant_id=tenant_id,
    )
    await call("GET", "/v1/invoices/{invoice_id}", headers=operator, invoice_id=invoice["id"])
    await call(
        "POST",
        "/v1/invoices/{invoice_id}/status",
        headers=operator,
        invoice_id=invoice["id"],
        json={"status": "open"},
    )
    await call(
        "POST",
        "/v1/tenants/{tenant_id}/subscription/status",
        headers=operator,
        tenant_id=tenant_id,
        json={"status": "past_due"},
    )
    await call("POST", "/v1/billing/periods:advance", headers=operator, json={})
    await call(
        "GET",
        "/v1/usage",
        headers=operator,
        params={"start_date": "2000-01-01", "end_date": "2100-01-01"},
    )

    # Rate-limit reservations, by a member of the tenant.
    member, _ = await signed_in(shapes, owner)
    reservation = await call(
        "POST",
        "/v1/limits/reservations",
        status=201,
        headers=member,
        json={"tenant_id": owner.tenant_id, "tokens": 100, "request_id": unique("req")},
    )
    await call(
        "POST",
        "/v1/limits/reservations/{reservation_id}/settle",
        headers=member,
        reservation_id=reservation["reservation"]["id"],
        json={"tenant_id": owner.tenant_id, "actual_tokens": 80},
    )
    unused = await call(
        "POST",
        "/v1/limits/reservations",
        status=201,
        headers=member,
        json={"tenant_id": owner.tenant_id, "tokens": 100},
    )
    await call(
        "POST",
        "/v1/limits/reservations/{reservation_id}/release",
        headers=member,
        reservation_id=unused["reservation"]["id"],
        json={"tenant_id": owner.tenant_id},
    )

    # A Stripe event, as Stripe signs it.
    event = {
        "id": f"evt_{uuid.uuid4().hex}",
        "object": "event",
        "type": "charge.succeeded",
        "created": int(time.time()),
        "livemode": False,
        "data": {"object": {"id": "ch_1"}},
    }
    body = json.dumps(event, indent=2)
    await call(
        "POST",
        "/v1/webhooks/stripe",
        content=body.encode(),
        headers={
            "Stripe-Signature": signature_header(STRIPE_SECRET, int(time.time()), body.encode()),
            "Content-Type": "application/json",
        },
    )
    return str(tenant_id)


async def auth_and_account(
    shapes: Shapes, operator: dict[str, str], stack: PlatformStack
) -> TestUser:
    """Sign-up, sign-in with a second factor, the caller's account, sessions, API keys and
    operators' identity routes; answers a user with a tenant of their own."""
    call = shapes.call
    email = f"{unique('signup')}@example.com"
    signup = await call(
        "POST",
        "/v1/auth/signup",
        status=201,
        json={
            "email": email,
            "password": STRONG_PASSWORD,
            "tenant_name": "Signed Up",
            "tenant_slug": unique("signup"),
        },
    )
    tokens = signup["tokens"]
    auth = bearer(tokens["access_token"])
    await call("POST", "/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    await call("GET", "/v1/users/me", headers=auth)
    await call(
        "PATCH",
        "/v1/users/me",
        headers=auth,
        json={"display_name": "Ada", "metadata": {"team": "core", "level": 3, "score": 0.5}},
    )
    await call(
        "POST", "/v1/users/me/consents", headers=auth, json={"policy_key": "terms", "version": "1"}
    )
    await call("GET", "/v1/users/me/consents", headers=auth)
    await call(
        "PUT",
        "/v1/users/me/notification-preferences",
        headers=auth,
        json={"channel": "email", "category": "billing", "enabled": False},
    )
    await call("GET", "/v1/users/me/notification-preferences", headers=auth)
    await call("GET", "/v1/sessions", headers=auth)
    await call(
        "POST",
        "/v1/auth/access-requests",
        status=202,
        json={"email": f"{unique('ask')}@example.com"},
    )

    # A second factor, then a sign-in that needs it.
    enrollment = await call("POST", "/v1/users/me/mfa/totp", status=201, headers=auth, json={})
    totp = pyotp.TOTP(enrollment["secret"])
    await call(
        "POST",
        "/v1/users/me/mfa/totp/{method_id}/confirm",
        headers=auth,
        method_id=enrollment["method_id"],
        json={"code": totp.now()},
    )
    await call(
        "POST", "/v1/users/me/mfa/recovery-codes", headers=auth, json={"password": STRONG_PASSWORD}
    )
    challenged = await call(
        "POST", "/v1/auth/signin", json={"email": email, "password": STRONG_PASSWORD}
    )
    codes = await call(
        "POST", "/v1/users/me/mfa/recovery-codes", headers=auth, json={"password": STRONG_PASSWORD}
    )
    mfa = await call(
        "POST",
        "/v1/auth/signin/mfa",
        json={
            "mfa_token": challenged["mfa_challenge"]["mfa_token"],
            "recovery_code": codes["recovery_codes"][0],
        },
    )
    await call(
        "DELETE",
        "/v1/sessions/{session_id}",
        headers=auth,
        session_id=mfa["tokens"]["session_id"],
    )
    await call(
        "DELETE",
        "/v1/users/me/mfa/totp/{method_id}",
        status=204,
        headers=auth,
        method_id=enrollment["method_id"],
        json={"password": STRONG_PASSWORD},
    )

    # API keys of the user's tenant.
    tenant_id = tokens["tenant_id"]
    created = await call(
        "POST",
        "/v1/service-accounts/keys",
        status=201,
        headers=auth,
        json={"tenant_id": tenant_id, "account": "ci", "scopes": ["tenancy.read"]},
    )
    await call("POST", "/v1/service-accounts/token", json={"api_key": created["api_key"]})
    await call("GET", "/v1/service-accounts/keys", headers=auth, params={"tenant_id": tenant_id})
    await call(
        "DELETE", "/v1/service-accounts/keys/{key_id}", headers=auth, key_id=created["key"]["id"]
    )

    # Operators' identity routes.
    invite = await call(
        "POST", "/v1/admin/invites", status=201, headers=operator, json={"note": "for shapes"}
    )
    await call("GET", "/v1/admin/invites", headers=operator)
    await call(
        "POST",
        "/v1/admin/invites/{invite_id}/revoke",
        headers=operator,
        invite_id=invite["invite"]["id"],
        json={},
    )
    requests = await call("GET", "/v1/admin/signup-requests", headers=operator)
    await call(
        "POST",
        "/v1/admin/signup-requests/{request_id}/decision",
        headers=operator,
        request_id=requests["requests"][0]["id"],
        json={"approve": True},
    )
    await call("GET", "/v1/security-events", headers=operator)
    locked = await make_user(stack.identity)
    await call("POST", "/v1/users/{user_id}/unlock", headers=operator, user_id=locked.user_id)
    await call("POST", "/v1/auth/password/reset-request", status=202, json={"email": email})
    await call(
        "POST",
        "/v1/auth/password/change",
        headers=auth,
        json={"current_password": STRONG_PASSWORD, "new_password": NEW_PASSWORD},
    )
    fresh = await call("POST", "/v1/auth/signin", json={"email": email, "password": NEW_PASSWORD})
    fresh_auth = bearer(fresh["tokens"]["access_token"])
    await call("DELETE", "/v1/sessions", headers=fresh_auth, params={"keep_current": True})
    await call("POST", "/v1/auth/signout", status=204, headers=fresh_auth)
    return TestUser(signup["user"]["id"], tenant_id, email, NEW_PASSWORD, "owner")


def export_request(service: str, trace_id: bytes, tenant_id: str) -> ExportTraceServiceRequest:
    start = time.time_ns()
    tenant = KeyValue(key="quarterdeck.tenant_id", value=AnyValue(string_value=tenant_id))
    count = KeyValue(key="rows", value=AnyValue(int_value=3))
    spans = [
        Span(
            trace_id=trace_id,
            span_id=bytes([number]) * 8,
            parent_span_id=bytes([number - 1]) * 8 if number > 1 else b"",
            name=f"step-{number}",
            kind=Span.SPAN_KIND_SERVER,
            start_time_unix_nano=start + number * 1_000_000,
            end_time_unix_nano=start + number * 3_000_000,
            attributes=[tenant, count],
            events=[Span.Event(name="retry", time_unix_nano=start, attributes=[count])],
            status=Status(code=Status.STATUS_CODE_ERROR if number == 2 else Status.STATUS_CODE_OK),
        )
        for number in (1, 2)
    ]
    resource = Resource(
        attributes=[KeyValue(key="service.name", value=AnyValue(string_value=service))]
    )
    return ExportTraceServiceRequest(
        resource_spans=[ResourceSpans(resource=resource, scope_spans=[ScopeSpans(spans=spans)])]
    )


async def telemetry(
    shapes: Shapes, stack: PlatformStack, owner: TestUser, operator: dict[str, str]
) -> None:
    """Usage, costs, operations, traces, activity and status subscriptions of one tenant."""
    call = shapes.call
    auth, _ = await signed_in(shapes, owner)
    metadata = [(key.lower(), value) for key, value in auth.items()]
    tenant_id = owner.tenant_id
    record = {
        "event_id": unique("evt"),
        "model_used": "claude",
        "provider": "anthropic",
        "agent_id": "agent-7",
        "input_tokens": 1000,
        "output_tokens": 200,
        "metadata": {"turn": 3, "temperature": 0.5},
    }
    await call("POST", "/v1/telemetry/usage", headers=auth, json={"record": record})
    await call(
        "POST",
        "/v1/telemetry/usage",
        headers=auth,
        json={"records": [{**record, "event_id": unique("evt")}, {"event_id": ""}]},
    )
    await call("GET", "/v1/telemetry/usage", headers=auth)
    today = datetime.now(UTC)
    window = {
        "start_time": (today - timedelta(days=1)).isoformat(),
        "end_time": (today + timedelta(days=1)).isoformat(),
    }
    await call(
        "GET",
        "/v1/telemetry/costs",
        headers=auth,
        params={**window, "group_by": ["model", "day"]},
    )
    await call("GET", "/v1/telemetry/cache-savings", headers=auth, params=window)

    # What only services may call (exporting spans, appending activity) runs as tenancy does.
    internal = await call(
        "POST",
        "/v1/service-accounts/token",
        json={"api_key": internal_api_key("tenancy", TENANCY_INTERNAL_SECRET)},
    )
    service = [("authorization", f"Bearer {internal['access_token']}")]
    async with open_channel(stack.telemetry.target) as channel:
        now = time.time()
        await AgentMetricsServiceStub(channel).RecordMetrics(
            mpb.RecordMetricsRequest(
                metrics=[
                    mpb.AgentMetric(
                        agent_id="agent-7",
                        metric_type="latency",
                        metric_value=3,
                        metric_unit="ms",
                        record_time=timestamp(now),
                        context=struct({"step": 3, "share": 0.25}),
                    )
                ]
            ),
            metadata=metadata,
        )
        await ToolUsageServiceStub(channel).RecordToolUsage(
            tpb.RecordToolUsageRequest(
                calls=[
                    tpb.ToolUsage(
                        tool_name="search",
                        status=tpb.TOOL_CALL_STATUS_ERROR,
                        args=value({"query": "x", "limit": 3}),
                        latency_ms=12,
                        error="timeout upstream",
                        create_time=timestamp(now),
                    )
                ]
            ),
            metadata=metadata,
        )
        trace_id = uuid.uuid4().bytes
        await TraceServiceStub(channel).Export(
            export_request("shapes", trace_id, tenant_id), metadata=service
        )
    await spans_stored(stack.telemetry)
    await call("GET", "/v1/telemetry/metrics", headers=auth, params={"agent_id": "agent-7"})
    await call("GET", "/v1/telemetry/agents/statistics", headers=auth)
    await call("GET", "/v1/telemetry/tools/analytics", headers=auth)
    await call("GET", "/v1/telemetry/tools/errors", headers=auth)
    await call("GET", "/v1/telemetry/requests", headers=auth)
    await call("GET", "/v1/telemetry/errors", headers=auth)
    await call("GET", "/v1/traces", headers=auth)
    await call("GET", "/v1/traces/{trace_id}", headers=auth, trace_id=trace_id.hex())

    # The activity feed, with one event appended as a service would.
    async with open_channel(stack.telemetry.target) as channel:
        appended = await ActivityServiceStub(channel).AppendActivity(
            apb.AppendActivityRequest(
                event=apb.ActivityEvent(
                    tenant_id=tenant_id,
                    action="membership.added",
                    actor_type=apb.ACTIVITY_ACTOR_TYPE_USER,
                    metadata=struct({"role": "member", "seats": 2}),
                )
            ),
            metadata=service,
        )
    await call("GET", "/v1/activity", headers=auth)
    await call("GET", "/v1/activity/unread-count", headers=auth)
    await call("POST", "/v1/activity/read", headers=auth, json={"event_ids": [appended.event.id]})
    await call("POST", "/v1/activity/seen", headers=auth, json={})

    # Status subscriptions of the tenant.
    created = await call(
        "POST",
        "/v1/status-subscriptions",
        status=201,
        headers=auth,
        json={"channel": "email", "target": "ops@example.com", "metadata": {"priority": 1}},
    )
    subscription_id = created["subscription"]["id"]
    await call("GET", "/v1/status-subscriptions", headers=auth)
    await call(
        "GET",
        "/v1/status-subscriptions/{subscription_id}",
        headers=auth,
        subscription_id=subscription_id,
    )
    async with stack.telemetry.context.database.transaction() as session:
        # A challenge may be resent once a minute: this one was sent "an hour ago".
        await session.execute(
            update(StatusSubscriptionRecord)
            .where(StatusSubscriptionRecord.id == uuid.UUID(subscription_id))
            .values(last_challenge_sent_at=datetime.now(UTC) - timedelta(hours=1))
        )
    await call(
        "POST",
        "/v1/status-subscriptions/{subscription_id}:resend-verification",
        headers=auth,
        subscription_id=subscription_id,
    )
    await call(
        "POST",
        "/v1/status-subscriptions/{subscription_id}:revoke",
        headers=auth,
        subscription_id=subscription_id,
        json={"reason": "done"},
    )
    for template in ("/v1/status-subscriptions/verify", "/v1/status-subscriptions/unsubscribe"):
        await call("POST", template, status=404, json={"token": "not-a-token-anyone-was-sent"})
    await call(
        "POST",
        "/v1/auth/password/reset",
        status=401,
        json={"reset_token": "not-a-token-anyone-was-sent", "new_password": NEW_PASSWORD},
    )
    del operator


async def team(shapes: Shapes, stack: PlatformStack) -> None:
    """Team invites, sign-up and acceptance by invite, members, leaving and switching tenants."""
    call = shapes.call
    owner = await make_user(stack.identity)
    owner_auth, _ = await signed_in(shapes, owner)
    tenant = owner.tenant_id
    email = f"{unique('teammate')}@example.com"
    created = await call(
        "POST",
        "/v1/tenants/{tenant_id}/invites",
        status=201,
        headers=owner_auth,
        tenant_id=tenant,
        json={"invited_email": email, "role": "member"},
    )
    await call("GET", "/v1/tenants/{tenant_id}/invites", headers=owner_auth, tenant_id=tenant)
    joined = await call(
        "POST",
        "/v1/auth/signup",
        status=201,
        json={"email": email, "password": STRONG_PASSWORD, "invite_token": created["token"]},
    )
    member_id, member_auth = joined["user"]["id"], bearer(joined["tokens"]["access_token"])
    await call("GET", "/v1/tenants/{tenant_id}/members", headers=member_auth, tenant_id=tenant)
    await call(
        "PATCH",
        "/v1/tenants/{tenant_id}/members/{user_id}",
        headers=owner_auth,
        tenant_id=tenant,
        user_id=member_id,
        json={"role": "viewer"},
    )
    # The downgrade revokes the member's tokens for the tenant (once the revocation feed is read):
    # sign in again, as the member's client would, rather than race the feed.
    again = await call(
        "POST", "/v1/auth/signin", json={"email": email, "password": STRONG_PASSWORD}
    )
    member_auth = bearer(again["tokens"]["access_token"])
    other = await make_user(stack.identity)
    other_auth, _ = await signed_in(shapes, other)
    second = await call(
        "POST",
        "/v1/tenants/{tenant_id}/invites",
        status=201,
        headers=other_auth,
        tenant_id=other.tenant_id,
        json={"invited_email": email, "role": "admin"},
    )
    accepted = await call(
        "POST",
        "/v1/auth/invites:accept",
        headers=member_auth,
        json={"invite_token": second["token"]},
    )
    there = bearer(accepted["tokens"]["access_token"])
    await call("POST", "/v1/auth/switch-tenant", headers=there, json={"tenant_id": tenant})
    await call(
        "POST",
        "/v1/tenants/{tenant_id}/members:leave",
        status=204,
        headers=there,
        tenant_id=other.tenant_id,
    )
    third = await call(
        "POST",
        "/v1/tenants/{tenant_id}/invites",
        status=201,
        headers=owner_auth,
        tenant_id=tenant,
        json={"invited_email": f"{unique('later')}@example.com", "role": "viewer"},
    )
    await call(
        "POST",
        "/v1/tenants/{tenant_id}/invites/{invite_id}:revoke",
        headers=owner_auth,
        tenant_id=tenant,
        invite_id=third["invite"]["id"],
        json={"reason": "not needed"},
    )
    await call(
        "DELETE",
        "/v1/tenants/{tenant_id}/members/{user_id}",
        status=204,
        headers=owner_auth,
        tenant_id=tenant,
        user_id=member_id,
    )


async def tooling(
    shapes: Shapes,
    stack: PlatformStack,
    operator: dict[str, str],
    http: LocalServer,
    mcp: LocalMcpServer,
) -> None:
    """Agents, tools, agent tools, permissions, tool calls with approval, execution against a
    local HTTP server, MCP import and memory; operators' global agents and tools."""
    call = shapes.call
    owner = await make_user(stack.identity)
    admin, _ = await signed_in(shapes, owner)
    await call("GET", "/v1/base-tools", headers=admin)
    await call("GET", "/v1/output-formats", headers=admin)
    schema = {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]}
    tool = await call(
        "POST",
        "/v1/tools",
        status=201,
        headers=admin,
        json={
            "name": unique("echo"),
            "base_tool_id": str(base_tool_id("HTTP_GET")),
            "config": {"endpoint": f"{http.base}/echo/{{q}}", "timeout": 5},
            "input_schema": schema,
            "requires_approval": True,
            "secret_headers": {"X-Api-Key": "secret"},
        },
    )
    await call(
        "POST",
        "/v1/tools",
        status=201,
        headers=operator,
        json={
            "name": unique("global"),
            "base_tool_id": str(base_tool_id("HTTP_GET")),
            "config": {"endpoint": "https://erp.example.com/{q}"},
            "input_schema": schema,
            "is_global": True,
        },
    )
    await call("GET", "/v1/tools", headers=admin)
    await call("GET", "/v1/tools/{tool_id}", headers=admin, tool_id=tool["id"])
    tool = await call(
        "PATCH",
        "/v1/tools/{tool_id}",
        headers=admin,
        tool_id=tool["id"],
        json={"version": tool["version"], "description": "echoes"},
    )
    await call(
        "POST",
        "/v1/tools:import-mcp",
        headers=admin,
        json={"server_url": mcp.url, "name_prefix": "inv."},
    )
    created = await call(
        "POST",
        "/v1/agents",
        status=201,
        headers=admin,
        json={
            "name": unique("Agent"),
            "role_name": "support",
            "policies": {"budgets": {"monthly": "5.00"}},
            "contacts": {"user_email": "owner@example.com"},
            "tools": [{"tool_id": tool["id"], "priority": 1}],
        },
    )
    agent_id = created["agent"]["id"]
    await call(
        "POST",
        "/v1/agents",
        status=201,
        headers=operator,
        json={"name": unique("Global"), "role_name": "support", "is_global": True},
    )
    await call("GET", "/v1/agents", headers=admin, params={"enabled_only": "true"})
    await call("GET", "/v1/agents/{agent_id}", headers=admin, agent_id=agent_id)
    await call(
        "PATCH",
        "/v1/agents/{agent_id}",
        headers=admin,
        agent_id=agent_id,
        json={"config_version": 1, "description": "answers", "safety_level": "moderate"},
    )
    await call("GET", "/v1/agents/{agent_id}/tools", headers=admin, agent_id=agent_id)
    await call(
        "PUT",
        "/v1/agents/{agent_id}/tools/{tool_id}",
        headers=admin,
        agent_id=agent_id,
        tool_id=tool["id"],
        json={"priority": 0},
    )
    await call("GET", "/v1/tool-permissions", headers=admin)
    await call(
        "PUT",
        "/v1/tool-permissions/{tool_id}",
        headers=admin,
        tool_id=tool["id"],
        json={"enabled": True},
    )
    await call("GET", "/v1/agent-permissions", headers=admin)
    await call(
        "PUT",
        "/v1/agent-permissions/{agent_id}",
        headers=admin,
        agent_id=agent_id,
        json={"enabled": True},
    )
    await call("POST", "/v1/agent-permissions:grant", headers=admin, json={"agent_ids": [agent_id]})
    execute = "/v1/agents/{agent_id}/tools/{tool_id}:execute"
    held = await call(
        "POST",
        execute,
        headers=admin,
        agent_id=agent_id,
        tool_id=tool["id"],
        json={"arguments": {"q": "shape"}},
    )
    await call("GET", "/v1/tool-calls", headers=admin)
    await call("GET", "/v1/tool-calls/{tool_call_id}", headers=admin, tool_call_id=held["id"])
    await call(
        "POST", "/v1/tool-calls/{tool_call_id}:approve", headers=admin, tool_call_id=held["id"]
    )
    second = await call(
        "POST",
        execute,
        headers=admin,
        agent_id=agent_id,
        tool_id=tool["id"],
        json={"arguments": {"q": "again"}},
    )
    await call(
        "POST",
        "/v1/tool-calls/{tool_call_id}:deny",
        headers=admin,
        tool_call_id=second["id"],
        json={"reason": "no"},
    )
    memory = "/v1/memories/{scope}/{key}"
    await call(
        "PUT",
        memory,
        headers=admin,
        scope="user",
        key="tone",
        params={"scope_key": "u1"},
        json={"value": {"tone": "formal"}, "confidence": 70},
    )
    await call("GET", memory, headers=admin, scope="user", key="tone", params={"scope_key": "u1"})
    await call("GET", "/v1/memories", headers=admin, params={"scope": "user"})
    await call("GET", "/v1/memories:search", headers=admin, params={"query": "formal"})
    await call(
        "DELETE",
        memory,
        status=204,
        headers=admin,
        scope="user",
        key="tone",
        params={"scope_key": "u1"},
    )
    await call(
        "DELETE",
        "/v1/agents/{agent_id}/tools/{tool_id}",
        status=204,
        headers=admin,
        agent_id=agent_id,
        tool_id=tool["id"],
    )
    await call("POST", "/v1/agents/{agent_id}:archive", headers=admin, agent_id=agent_id)
    await call(
        "PUT",
        "/v1/agent-execution-limits/{agent_role}/{cost_tier}",
        headers=operator,
        agent_role=unique("role"),
        cost_tier="pro",
        json={"rate_limit_per_minute": 30, "max_tool_calls_per_day": 500},
    )
    await call("GET", "/v1/agent-execution-limits", headers=admin)


def turn_headers(tenant_id: str, role: str) -> dict[str, str]:
    return {key.title(): value for key, value in TURN_ISSUER.member(tenant_id, role)}


async def conversations(shapes: Shapes, turn: TurnStack) -> None:
    """A conversation with an agent whose tool needs approval: one call approved, one denied,
    one run cancelled, followed by token and by stream ticket; then archived."""
    call = shapes.call
    tenant = await new_tenant(turn, tool_needs_approval=True)
    member = turn_headers(tenant.id, "member")
    viewer = turn_headers(tenant.id, "viewer")
    admin = turn_headers(tenant.id, "admin")
    conversation = await call(
        "POST",
        "/v1/conversations",
        status=201,
        headers=member,
        json={
            "agent_id": tenant.agent_id,
            "display_name": "Shapes",
            "session_key": f"shapes-{tenant.id}",
            "memory": {"strategy": "window", "max_turns": 10},
            "metadata": {"channel": "shapes", "seats": 3},
        },
    )
    cid = conversation["id"]
    await call("GET", "/v1/conversations", headers=viewer, params={"status": "active"})
    conversation = await call(
        "GET", "/v1/conversations/{conversation_id}", headers=viewer, conversation_id=cid
    )
    await call(
        "PATCH",
        "/v1/conversations/{conversation_id}",
        headers=member,
        conversation_id=cid,
        json={"version": conversation["version"], "topic_hint": "shapes"},
    )

    async def finished(run_id: str) -> dict[str, Any]:
        async def settled() -> bool:
            run = await call("GET", "/v1/runs/{run_id}", headers=viewer, run_id=run_id)
            return run["status"] in ("requires_action", "completed", "failed")

        await eventually(settled, f"run {run_id} to settle")
        return dict(await call("GET", "/v1/runs/{run_id}", headers=viewer, run_id=run_id))

    for decision, query in (("approve", "shape-yes"), ("deny", "shape-no")):
        posted = await call(
            "POST",
            "/v1/conversations/{conversation_id}/messages",
            status=201,
            headers=member,
            conversation_id=cid,
            json={"text": f'/tool {tenant.tool_name} {{"q": "{query}"}}'},
        )
        run_id = posted["run"]["id"]
        assert (await finished(run_id))["status"] == "requires_action"
        events = await shapes.stream(
            "/v1/conversations/{conversation_id}/events",
            lambda seen, run=run_id: any(
                e.event == "run.requires_action" and e.data.get("run_id") == run for e in seen
            ),
            headers=viewer,
            conversation_id=cid,
        )
        tool_call_id = events[-1].data["tool_call_id"]
        await call(
            "POST",
            f"/v1/runs/{{run_id}}/tool-calls/{{tool_call_id}}:{decision}",
            headers=admin,
            run_id=run_id,
            tool_call_id=tool_call_id,
            **({"json": {"reason": "not today"}} if decision == "deny" else {}),
        )
        run = await finished(run_id)
        assert run["status"] == "completed", run
        tasks = await call("GET", "/v1/runs/{run_id}/tasks", headers=viewer, run_id=run_id)
        assert [(t["run_id"], t["parent_task_id"]) for t in tasks["tasks"]] == [(run_id, None)]

    posted = await call(
        "POST",
        "/v1/conversations/{conversation_id}/messages",
        status=201,
        headers=member,
        conversation_id=cid,
        json={"text": "one more thing", "multitask_strategy": "enqueue"},
    )
    await call(
        "POST",
        "/v1/runs/{run_id}:cancel",
        headers=member,
        run_id=posted["run"]["id"],
        json={"reason": "never mind"},
    )
    await call(
        "GET", "/v1/conversations/{conversation_id}/runs", headers=viewer, conversation_id=cid
    )
    await call(
        "GET", "/v1/conversations/{conversation_id}/messages", headers=viewer, conversation_id=cid
    )
    await call(
        "GET",
        "/v1/messages:search",
        headers=viewer,
        params={"query": "shape-yes", "include_hidden": True},
    )
    await call(
        "GET",
        "/v1/conversations/{conversation_id}:withMessages",
        headers=viewer,
        conversation_id=cid,
    )
    await call(
        "GET",
        "/v1/conversations:withMessages",
        headers=viewer,
        params={"session_key": f"shapes-{tenant.id}", "max_messages": 2},
    )
    await call(
        "GET",
        "/v1/conversations/{conversation_id}/ledger",
        headers=viewer,
        conversation_id=cid,
        params={"after": 1, "page_size": 5},
    )
    ticket = await call(
        "POST",
        "/v1/conversations/{conversation_id}/stream-tickets",
        status=201,
        headers=viewer,
        conversation_id=cid,
        json={"ttl_seconds": 30},
    )
    await shapes.stream(
        "/v1/conversations/{conversation_id}/events",
        lambda seen: len(seen) >= 2,
        params={"ticket": ticket["ticket"], "after": 1},
        conversation_id=cid,
    )
    await call(
        "POST",
        "/v1/conversations/{conversation_id}:truncate",
        headers=member,
        conversation_id=cid,
        json={"keep_through_position": 1},
    )
    await call(
        "POST",
        "/v1/conversations/{conversation_id}/messages/{position}:edit",
        headers=member,
        conversation_id=cid,
        position=0,
        json={"text": "shape, edited", "start_run": False},
    )
    await call(
        "POST", "/v1/conversations/{conversation_id}:archive", headers=member, conversation_id=cid
    )


async def signing_keys(shapes: Shapes, operator: dict[str, str]) -> None:
    """Last: retiring the key the tokens so far were signed with ends them."""
    call = shapes.call
    await call("GET", "/v1/admin/signing-keys", headers=operator)
    await call("POST", "/v1/admin/signing-keys/rotate", headers=operator, json={})
    keys = await call("GET", "/v1/admin/signing-keys", headers=operator)
    [retiring, *_] = [key for key in keys["keys"] if key["state"] == "retiring"]
    await call("POST", "/v1/admin/signing-keys/{kid}/retire", headers=operator, kid=retiring["kid"])
    await call("GET", "/.well-known/jwks.json")


async def test_every_route_answers_the_shape_its_document_gives(
    shapes: Shapes,
    stack: PlatformStack,
    turn: TurnStack,
    http: LocalServer,
    mcp: LocalMcpServer,
) -> None:
    operator_user = await make_user(stack.identity, platform_operator=True)
    operator, _ = await signed_in(shapes, operator_user)
    user = await auth_and_account(shapes, operator, stack)
    await tenancy_and_billing(shapes, operator, user)
    await telemetry(shapes, stack, user, operator)
    await team(shapes, stack)
    await tooling(shapes, stack, operator, http, mcp)
    await conversations(shapes, turn)
    await signing_keys(shapes, operator)

    routes = shapes.routes
    uncovered = routes - shapes.succeeded - set(NOT_CALLABLE)
    assert not uncovered, f"routes without a step in this test: {sorted(uncovered)}"
    assert set(NOT_CALLABLE) <= shapes.refused
    assert len(shapes.succeeded) == len(routes) - len(NOT_CALLABLE)
