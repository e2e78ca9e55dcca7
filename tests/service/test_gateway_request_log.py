"""Every request through the gateway lands in telemetry's agent_requests, over real in-process
identity, tenancy and telemetry services on SQLite and on PostgreSQL: its route template, status,
latency, error, trace id, and the tenant of the token the gateway verified itself. A telemetry
service that is down neither slows nor fails a request."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from google.protobuf.timestamp_pb2 import Timestamp
from sqlalchemy import select

from quarterdeck.telemetry.v1 import metrics_pb2 as mpb
from quarterdeck.telemetry.v1 import tool_usage_pb2 as tpb
from quarterdeck.telemetry.v1.metrics_pb2_grpc import AgentMetricsServiceStub
from quarterdeck.telemetry.v1.tool_usage_pb2_grpc import ToolUsageServiceStub
from services.gateway.request_log import RequestLogWriter
from services.telemetry.requests.models import AgentRequestRecord
from shared.grpc_client import open_channel
from tests.support.gateway import PlatformStack, gateway_app, platform_stack
from tests.support.gateway import client_of as gateway_client_of
from tests.support.identity_users import make_user
from tests.support.stack import (
    Databases,
    free_port,
)
from tests.support.tokens import TestIssuer

TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
TRACEPARENT = f"00-{TRACE_ID}-b7ad6b7169203331-01"
USER_AGENT = "request-log-test/1.0"


@pytest.fixture(scope="module")
async def stack(backend: str, databases: Databases) -> AsyncIterator[PlatformStack]:
    async with platform_stack(databases, backend, "gateway-request-log") as running:
        yield running


@asynccontextmanager
async def running_gateway(stack: PlatformStack, telemetry_target: str) -> AsyncIterator[FastAPI]:
    settings = stack.gateway_settings(
        telemetry_target=telemetry_target,
        request_log_flush_seconds=0.05,
        # Room for a send to a busy telemetry on a loaded machine (1 s failed a send now and
        # then at load 8-10); a dead target fails at once whatever the timeout.
        request_log_timeout_seconds=5,
        # The test's traceparent is adopted, so rows carry a trace id it knows.
        trusted_trace_sources="127.0.0.0/8",
    )
    async with gateway_app(settings) as app:
        yield app


def client_of(app: FastAPI) -> httpx.AsyncClient:
    return gateway_client_of(app, {"User-Agent": USER_AGENT})


def writer_of(app: FastAPI) -> RequestLogWriter:
    return app.state.request_log  # type: ignore[no-any-return]


async def stored(stack: PlatformStack) -> list[AgentRequestRecord]:
    async with stack.telemetry.context.database.reading() as session:
        return list((await session.scalars(select(AgentRequestRecord))).all())


async def signed_in(client: httpx.AsyncClient, stack: PlatformStack) -> tuple[str, str, str]:
    """(access token, tenant id, user id) of a new tenant owner, signed in through the gateway."""
    user = await make_user(stack.identity)
    response = await client.post(
        "/v1/auth/signin", json={"email": user.email, "password": user.password}
    )
    assert response.status_code == 200, response.text
    return response.json()["tokens"]["access_token"], user.tenant_id, user.user_id


async def test_requests_through_the_gateway_land_in_agent_requests(stack: PlatformStack) -> None:
    async with running_gateway(stack, stack.telemetry.target) as app, client_of(app) as client:
        token, tenant_id, user_id = await signed_in(client, stack)
        auth = {"Authorization": f"Bearer {token}", "traceparent": TRACEPARENT}
        listed = await client.get("/v1/telemetry/requests", headers=auth)
        assert listed.status_code == 200, listed.text
        assert listed.headers["x-trace-id"] == TRACE_ID
        missing = await client.get(f"/v1/tenants/{uuid.uuid4()}", headers=auth)
        assert missing.status_code in (403, 404)
        reason = next(d["reason"] for d in missing.json()["error"]["details"] if "reason" in d)
        bad = await client.get("/v1/telemetry/metrics", headers=auth)  # agent_id is required
        assert bad.status_code == 400
        nowhere = await client.get("/no/such/path", headers=auth)
        assert nowhere.status_code == 404
        healthy = await client.get("/healthz")
        assert healthy.status_code == 200
        await asyncio.wait_for(writer_of(app).flushed(), 5)
        assert writer_of(app).failed == 0 and writer_of(app).dropped == 0

        # The tenant reads its own request log back through the gateway.
        page = await client.get("/v1/telemetry/requests", headers=auth)
        rows = {row["endpoint"]: row for row in page.json()["requests"]}
        assert set(rows) == {
            "/v1/telemetry/requests",
            "/v1/tenants/{tenant_id}",
            "/v1/telemetry/metrics",
            "(no route)",
        }
        first = rows["/v1/telemetry/requests"]
        assert (first["method"], first["status_code"], first["tenant_id"]) == (
            "GET",
            200,
            tenant_id,
        )
        assert first["principal_id"] == user_id and first["user_agent"] == USER_AGENT
        assert first["trace_id"] == TRACE_ID and len(first["span_id"]) == 16
        assert first["latency_ms"] >= 0 and first["error_code"] is None
        failed = rows["/v1/tenants/{tenant_id}"]
        assert failed["status_code"] == missing.status_code and failed["error_code"] == reason
        assert failed["error_message"] == missing.json()["error"]["message"]
        assert rows["/v1/telemetry/metrics"]["error_code"] == "INVALID_ARGUMENT"
        errors = await client.get("/v1/telemetry/errors", headers=auth)
        assert {row["endpoint"] for row in errors.json()["requests"]} == {
            "/v1/tenants/{tenant_id}",
            "/v1/telemetry/metrics",
            "(no route)",
        }

    # Sign-in named no tenant; /healthz is never logged; no row holds the token.
    everything = await stored(stack)
    signin = [row for row in everything if row.endpoint == "/v1/auth/signin"]
    assert signin and all(row.tenant_id is None for row in signin)
    assert not any(row.endpoint == "/healthz" for row in everything)
    assert not any(token in str(vars(row)) for row in everything)


async def test_unverified_claims_attribute_nothing(stack: PlatformStack) -> None:
    issuer = TestIssuer()  # a key identity never published
    victim = str(uuid.uuid4())
    [(_, header)] = issuer.member(victim)
    async with running_gateway(stack, stack.telemetry.target) as app, client_of(app) as client:
        response = await client.get("/v1/telemetry/requests", headers={"Authorization": header})
        assert response.status_code == 401
        await asyncio.wait_for(writer_of(app).flushed(), 5)
    rows = [row for row in await stored(stack) if row.status_code == 401]
    assert rows and all(row.tenant_id != victim for row in rows)
    assert all(row.tenant_id is None for row in rows)


async def test_a_stopped_telemetry_service_neither_slows_nor_fails_requests(
    stack: PlatformStack,
) -> None:
    dead_telemetry = f"127.0.0.1:{free_port()}"
    async with running_gateway(stack, dead_telemetry) as app, client_of(app) as client:
        # Warm up: the first JWKS fetch pays identity's round trip once.
        assert (await client.get("/.well-known/jwks.json")).status_code == 200
        writer = writer_of(app)
        # Every send to telemetry is held at a gate: a request that waited on its own logging
        # would never be answered while the gate is shut.
        gate = asyncio.Event()
        held = asyncio.Event()
        send_to_telemetry = writer._sink

        async def held_at_the_gate(rows: list[Any]) -> None:
            held.set()
            await gate.wait()
            await send_to_telemetry(rows)

        writer._sink = held_at_the_gate
        for _ in range(20):
            response = await client.get("/.well-known/jwks.json")
            assert response.status_code == 200
        await asyncio.wait_for(held.wait(), 30)
        assert writer.sent == 0 and writer.failed == 0, "a send finished while the gate was shut"
        gate.set()
        await asyncio.wait_for(writer.flushed(), 30)
        assert writer.sent == 0 and writer.failed == 21 and writer.dropped == 0
    # Stopping does not wait on the dead target either: the writer drained and is stopped.
    assert not writer.accepting


async def test_an_api_key_request_is_attributed_from_its_exchanged_token(
    stack: PlatformStack,
) -> None:
    async with running_gateway(stack, stack.telemetry.target) as app, client_of(app) as client:
        token, tenant_id, _ = await signed_in(client, stack)
        created = await client.post(
            "/v1/service-accounts/keys",
            json={
                "tenant_id": tenant_id,
                "account": f"ci-{uuid.uuid4().hex[:8]}",
                "scopes": ["tenancy.read"],
                "role": "viewer",
            },
            headers={"Authorization": f"Bearer {token}"},
        )
        assert created.status_code == 201, created.text
        api_key = created.json()["api_key"]
        response = await client.get(f"/v1/tenants/{tenant_id}", headers={"X-API-Key": api_key})
        assert response.status_code == 200, response.text
        await asyncio.wait_for(writer_of(app).flushed(), 5)
    [row] = [
        row
        for row in await stored(stack)
        if row.endpoint == "/v1/tenants/{tenant_id}" and row.tenant_id == tenant_id
    ]
    assert row.status_code == 200 and row.principal_id and row.principal_id.startswith("sa:")
    assert api_key not in str(vars(row))


async def test_metrics_statistics_and_tool_usage_read_through_the_gateway(
    stack: PlatformStack,
) -> None:
    async with running_gateway(stack, stack.telemetry.target) as app, client_of(app) as client:
        token, _, _ = await signed_in(client, stack)
        bearer = [("authorization", f"Bearer {token}")]
        now = Timestamp()
        now.GetCurrentTime()
        now.seconds -= 60
        async with open_channel(stack.telemetry.target) as channel:
            recorded = await AgentMetricsServiceStub(channel).RecordMetrics(
                mpb.RecordMetricsRequest(
                    metrics=[
                        mpb.AgentMetric(
                            agent_id="akira",
                            metric_type="latency",
                            metric_value=120,
                            record_time=now,
                        ),
                        mpb.AgentMetric(
                            agent_id="akira",
                            metric_type="cost",
                            cost_usd="0.25",
                            record_time=now,
                        ),
                    ]
                ),
                metadata=bearer,
            )
            assert recorded.recorded_count == 2
            calls = await ToolUsageServiceStub(channel).RecordToolUsage(
                tpb.RecordToolUsageRequest(
                    calls=[
                        tpb.ToolUsage(
                            tool_name="search",
                            status=tpb.TOOL_CALL_STATUS_OK,
                            latency_ms=30,
                            create_time=now,
                        ),
                        tpb.ToolUsage(
                            tool_name="search",
                            status=tpb.TOOL_CALL_STATUS_ERROR,
                            latency_ms=90,
                            error="upstream failed",
                            create_time=now,
                        ),
                    ]
                ),
                metadata=bearer,
            )
            assert calls.recorded_count == 2
        auth = {"Authorization": f"Bearer {token}"}
        series = await client.get(
            "/v1/telemetry/metrics", params={"agent_id": "akira"}, headers=auth
        )
        assert series.status_code == 200, series.text
        points = series.json()["metrics"]
        assert sorted((m["metric_type"], m["cost_usd"] or "") for m in points) == [
            ("cost", "0.250000000000"),
            ("latency", ""),
        ]
        stats = (await client.get("/v1/telemetry/agents/statistics", headers=auth)).json()
        assert stats["total"]["task_count"] == 1
        assert stats["total"]["total_cost_usd"] == "0.250000000000"
        assert [(a["agent_id"], a["average_latency_ms"]) for a in stats["agents"]] == [
            ("akira", 120.0)
        ]
        analytics = (await client.get("/v1/telemetry/tools/analytics", headers=auth)).json()
        [search] = analytics["tools"]
        assert (search["call_count"], search["success_count"], search["error_count"]) == (2, 1, 1)
        assert (search["average_latency_ms"], search["max_latency_ms"]) == (60.0, 90)
        errors = (await client.get("/v1/telemetry/tools/errors", headers=auth)).json()
        assert [(c["tool_name"], c["status"], c["error"]) for c in errors["calls"]] == [
            ("search", "error", "upstream failed")
        ]
        # Another tenant is refused, whoever's data it is.
        other = await client.get(
            "/v1/telemetry/tools/analytics",
            params={"tenant_id": str(uuid.uuid4())},
            headers=auth,
        )
        assert other.status_code == 403
        unauthenticated = await client.get("/v1/telemetry/agents/statistics")
        assert unauthenticated.status_code == 401
