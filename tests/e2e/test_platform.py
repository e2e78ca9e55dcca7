"""The whole platform as separate processes, driven through the gateway and through gRPC stubs,
with the resulting trace read back from the telemetry store."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
from pathlib import Path

import grpc
import httpx
import pytest

from quarterdeck.telemetry.v1 import telemetry_pb2
from quarterdeck.tenancy.v1 import tenancy_pb2
from quarterdeck.tenancy.v1.tenancy_pb2_grpc import TenancyServiceStub
from services.registry import SERVICE_NAMES
from tests.e2e.conftest import (
    E2E_MARKS,
    OWN_PLATFORM,
    Platform,
    bearer,
    platform_env,
    up_command,
    wait_for_trace,
)
from tests.support.postgres import PostgresServer
from tests.support.processes import (
    alive,
    children_of,
    free_port_block,
    grpc_serving,
    quarterdeck,
    started,
    wait_until,
)

pytestmark = E2E_MARKS
#: What a gateway call may take on a loaded machine (the tests check answers, not speed), as the
#: other end-to-end modules allow.
HTTP_TIMEOUT = 60.0


def new_traceparent() -> tuple[str, str]:
    trace_id, span_id = secrets.token_hex(16), secrets.token_hex(8)
    return trace_id, f"00-{trace_id}-{span_id}-01"


def test_every_service_is_serving(platform: Platform) -> None:
    for service in SERVICE_NAMES:
        assert grpc_serving(platform.target(service)), service
    assert httpx.get(f"{platform.gateway}/healthz", timeout=HTTP_TIMEOUT).status_code == 200
    # The first /openapi.json builds the schema (1.7 s for 111 paths at load 11; it outlasted
    # httpx's default 5 s timeout at load 15).
    openapi = httpx.get(f"{platform.gateway}/openapi.json", timeout=HTTP_TIMEOUT).json()
    assert "/v1/tenants" in openapi["paths"]


def test_a_tenant_created_through_the_gateway_leaves_one_connected_trace(
    platform: Platform, operator_token: str
) -> None:
    trace_id, traceparent = new_traceparent()
    slug = f"e2e-{secrets.token_hex(6)}"
    response = httpx.post(
        f"{platform.gateway}/v1/tenants",
        json={"slug": slug, "name": "End To End"},
        headers={"traceparent": traceparent, "authorization": f"Bearer {operator_token}"},
        timeout=HTTP_TIMEOUT,
    )
    assert response.status_code == 201, response.text
    tenant = response.json()
    # The gateway starts the trace of an outside caller's request, linking the caller's.
    caller_trace_id, trace_id = trace_id, response.headers["x-trace-id"]
    assert trace_id != caller_trace_id

    with grpc.insecure_channel(platform.target("tenancy")) as channel:
        fetched = TenancyServiceStub(channel).GetTenant(
            tenancy_pb2.GetTenantRequest(id=tenant["id"]), metadata=bearer(operator_token)
        )
    assert fetched.tenant.slug == slug

    def complete(spans: list[telemetry_pb2.Span]) -> bool:
        services = {s.service_name for s in spans}
        has_db = any("db.system" in s.attributes or "db.system.name" in s.attributes for s in spans)
        return {"gateway", "tenancy"} <= services and has_db

    def orphans(spans: list[telemetry_pb2.Span]) -> list[tuple[str, str]]:
        """Spans whose parent is not (yet) stored: each process exports on its own schedule, so
        a child can arrive before its parent (seen: one run read the trace in between)."""
        stored = {s.span_id for s in spans}
        return [
            (s.service_name, s.name)
            for s in spans
            if s.parent_span_id and s.parent_span_id not in stored
        ]

    spans = wait_for_trace(
        platform, operator_token, trace_id, lambda spans: complete(spans) and not orphans(spans)
    )
    assert complete(spans), [(s.service_name, s.name) for s in spans]
    by_id = {s.span_id: s for s in spans}
    caller_span = traceparent.split("-")[2]
    assert all(s.trace_id == trace_id for s in spans)
    # Parent links are intact: one root, the gateway's, naming the caller's span as its link.
    (root,) = [s for s in spans if not s.parent_span_id]
    assert root.service_name == "gateway"
    assert root.attributes["quarterdeck.caller.trace_id"] == caller_trace_id
    assert root.attributes["quarterdeck.caller.span_id"] == caller_span
    assert all(s.parent_span_id in by_id for s in spans if s is not root), orphans(spans)

    def ancestors(span: telemetry_pb2.Span) -> list[telemetry_pb2.Span]:
        chain = []
        while span.parent_span_id in by_id:
            span = by_id[span.parent_span_id]
            chain.append(span)
        return chain

    tenancy_server = next(
        s
        for s in spans
        if s.service_name == "tenancy"
        and s.kind == telemetry_pb2.SPAN_KIND_SERVER
        and s.name.endswith("CreateTenant")
    )
    assert any(a.service_name == "gateway" for a in ancestors(tenancy_server))
    db_spans = [
        s for s in spans if s.service_name == "tenancy" and s.kind == telemetry_pb2.SPAN_KIND_CLIENT
    ]
    assert db_spans and all(tenancy_server in ancestors(s) for s in db_spans)


def test_bad_input_through_the_gateway_is_a_4xx_with_the_field_named(
    platform: Platform, operator_token: str
) -> None:
    response = httpx.post(
        f"{platform.gateway}/v1/tenants",
        json={"slug": "Bad Slug", "name": "x"},
        headers={"authorization": f"Bearer {operator_token}"},
        timeout=HTTP_TIMEOUT,
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["status"] == "INVALID_ARGUMENT"
    violations = [
        v for d in error["details"] if "fieldViolations" in d for v in d["fieldViolations"]
    ]
    assert any(v["field"] == "tenant.slug" for v in violations)


@OWN_PLATFORM
def test_sigterm_stops_every_process_and_leaves_no_orphans(tmp_path: Path) -> None:
    base = free_port_block(6)
    command = up_command(tmp_path, base, base + 5)
    with started(command, platform_env(), "Press Ctrl-C to stop.") as (process, _output):
        children = children_of(process.pid)
        assert len(children) == len(SERVICE_NAMES) + 1
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0
        assert wait_until(lambda: not any(alive(pid) for pid in children), timeout=10)


@OWN_PLATFORM
def test_children_die_with_a_killed_supervisor(tmp_path: Path) -> None:
    base = free_port_block(6)
    command = up_command(tmp_path, base, base + 5)
    with started(command, platform_env(), "Press Ctrl-C to stop.") as (process, _output):
        children = children_of(process.pid)
        process.kill()
        process.wait()
        assert wait_until(lambda: not any(alive(pid) for pid in children), timeout=30)


@OWN_PLATFORM
def test_one_service_runs_against_postgresql_and_drains_on_sigterm(
    postgres: PostgresServer,
) -> None:
    import asyncio

    name = asyncio.run(postgres.create_database("e2e_tenancy"))
    port = free_port_block(1)
    env = {
        **os.environ,
        "QD_TENANCY_DATABASE_URL": postgres.database_url(name),
        "QD_TENANCY_PORT": str(port),
        "OTEL_TRACES_EXPORTER": "none",
    }
    try:
        migrate = subprocess.run(
            quarterdeck("migrate", "tenancy"), env=env, capture_output=True, text=True
        )
        assert migrate.returncode == 0, migrate.stderr
        with started(quarterdeck("serve", "tenancy"), env, "tenancy serving on") as (process, _):
            assert grpc_serving(f"127.0.0.1:{port}")
            with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
                # SERVING above means it reached PostgreSQL and found its schema at head; the
                # data itself is guarded by tokens, which this identity-less run cannot mint.
                with pytest.raises(grpc.RpcError) as caught:
                    TenancyServiceStub(channel).ListTenants(tenancy_pb2.ListTenantsRequest())
                assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=30) == 0
    finally:
        asyncio.run(postgres.drop_databases([name]))
