"""Telemetry end to end: spans exported by the stock OTLP exporter from another process come back
as a tree, and a usage row recorded during a gateway request joins a stored span of that request."""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
import time

import httpx

from quarterdeck.telemetry.v1 import telemetry_pb2
from services.telemetry.traces.ingest_auth import INGEST_SCOPE
from tests.e2e.conftest import E2E_MARKS, Platform, platform_env, wait_for_trace

pytestmark = E2E_MARKS


def test_spans_from_the_stock_exporter_in_another_process_read_back_as_a_tree(
    platform: Platform, operator_token: str
) -> None:
    with httpx.Client(base_url=platform.gateway, timeout=30) as gateway:
        tenant_id, owner = signed_up_owner(gateway)
        created = gateway.post(
            "/v1/service-accounts/keys",
            json={"tenant_id": tenant_id, "account": "agent-exporter", "scopes": [INGEST_SCOPE]},
            headers=owner,
        )
        assert created.status_code == 201, created.text
        api_key = created.json()["api_key"]

    def export(headers: str | None) -> subprocess.CompletedProcess[str]:
        env = platform_env()
        if headers is not None:
            env["OTEL_EXPORTER_OTLP_HEADERS"] = headers
        return subprocess.run(
            [
                sys.executable,
                "-m",
                "tests.e2e.export_spans",
                platform.target("telemetry"),
                "e2e-agent",
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    # No credential: refused (the exporter logs it and exits normally), nothing stored.
    anonymous = export(None)
    assert anonymous.returncode == 0, anonymous.stderr
    assert "UNAUTHENTICATED" in anonymous.stderr
    # The tenant's ingest key, the way any agent configures the stock exporter.
    exported = export(f"authorization=Bearer%20{api_key}")
    assert exported.returncode == 0, exported.stderr
    ids = json.loads(exported.stdout.strip().splitlines()[-1])

    spans = wait_for_trace(platform, operator_token, ids["trace"], lambda s: len(s) >= 3)
    by_id = {span.span_id: span for span in spans}
    assert set(by_id) == {ids["run"], ids["llm"], ids["tool"]}
    # The tree: run is the root, llm its child, tool the grandchild; parents come first.
    assert by_id[ids["run"]].parent_span_id == ""
    assert by_id[ids["llm"]].parent_span_id == ids["run"]
    assert by_id[ids["tool"]].parent_span_id == ids["llm"]
    order = [span.span_id for span in spans]
    assert order.index(ids["run"]) < order.index(ids["llm"]) < order.index(ids["tool"])
    assert {span.service_name for span in spans} == {"e2e-agent"}
    assert {span.tenant_id for span in spans} == {tenant_id}  # stamped by the key's tenant
    assert by_id[ids["run"]].kind == telemetry_pb2.SPAN_KIND_SERVER
    assert by_id[ids["tool"]].status_code == telemetry_pb2.SPAN_STATUS_CODE_ERROR
    assert by_id[ids["tool"]].status_message == "search backend timed out"
    assert by_id[ids["llm"]].attributes["gen_ai.request.model"] == "gpt-4o-mini"
    with httpx.Client(base_url=platform.gateway, timeout=30) as gateway:
        mine = gateway.get(f"/v1/traces/{ids['trace']}", headers=owner)
    assert mine.status_code == 200 and len(mine.json()["spans"]) == 3


def signed_up_owner(gateway: httpx.Client) -> tuple[str, dict[str, str]]:
    """A new tenant through sign-up: its id and its owner's Authorization header."""
    suffix = secrets.token_hex(4)
    response = gateway.post(
        "/v1/auth/signup",
        json={
            "email": f"finance-{suffix}@example.com",
            "password": "Ledger-Lanterns-2026!",
            "tenant_name": f"Ledger {suffix}",
            "tenant_slug": f"ledger-{suffix}",
        },
    )
    assert response.status_code == 201, response.text
    tokens = response.json()["tokens"]
    return tokens["tenant_id"], {"authorization": f"Bearer {tokens['access_token']}"}


def test_a_usage_row_recorded_during_a_gateway_request_joins_a_span_of_that_request(
    platform: Platform,
) -> None:
    with httpx.Client(base_url=platform.gateway, timeout=30) as gateway:
        tenant_id, owner = signed_up_owner(gateway)
        caller_trace_id = secrets.token_hex(16)
        usage = {
            "event_id": f"turn-{secrets.token_hex(6)}",
            "provider": "openai",
            "model_used": "gpt-4o-mini",
            "agent_id": "agent-e2e",
            "token_convention": "input_includes_cached",
            "input_tokens": 12_000,
            "cache_read_input_tokens": 4_000,
            "output_tokens": 800,
        }
        recorded = gateway.post(
            "/v1/telemetry/usage",
            json={"record": usage},
            headers={**owner, "traceparent": f"00-{caller_trace_id}-{secrets.token_hex(8)}-01"},
        )
        assert recorded.status_code == 200, recorded.text
        # The gateway started the request's trace; the caller's is only linked to it.
        trace_id = recorded.headers["x-trace-id"]
        assert trace_id != caller_trace_id
        row = recorded.json()["record"]
        assert row["tenant_id"] == tenant_id
        assert row["trace_id"] == trace_id
        assert len(row["span_id"]) == 16

        # Priced exactly as tenancy's PriceUsage prices the same usage.
        priced = gateway.post(
            "/v1/usage/price",
            json={
                "model_ref": {"provider": "openai", "model_name": "gpt-4o-mini"},
                "token_convention": "input_includes_cached",
                "input_tokens": 12_000,
                "cache_read_tokens": 4_000,
                "output_tokens": 800,
            },
            headers=owner,
        )
        assert priced.status_code == 200, priced.text
        assert row["computed_cost_usd"] == priced.json()["cost"]["total"]["amount"]

        # The row's span is a stored span of that same request's trace, under the gateway's span,
        # and the tenant reads the trace through the gateway.
        spans: dict[str, dict[str, object]] = {}
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            response = gateway.get(f"/v1/traces/{trace_id}", headers=owner)
            if response.status_code == 200:
                spans = {span["span_id"]: span for span in response.json()["spans"]}
                if row["span_id"] in spans and any(
                    span["service_name"] == "gateway" for span in spans.values()
                ):
                    break
            else:
                assert response.status_code == 404, response.text
            time.sleep(0.3)
        assert row["span_id"] in spans, sorted(spans)
        usage_span = spans[row["span_id"]]
        assert usage_span["service_name"] == "telemetry"
        assert str(usage_span["name"]).endswith("RecordUsage")
        ancestor = usage_span
        while ancestor["parent_span_id"] in spans:
            ancestor = spans[str(ancestor["parent_span_id"])]
        assert ancestor["service_name"] == "gateway"

        # Found again by its trace id.
        listed = gateway.get("/v1/telemetry/usage", params={"trace_id": trace_id}, headers=owner)
        assert listed.status_code == 200, listed.text
        assert [r["event_id"] for r in listed.json()["records"]] == [usage["event_id"]]

        # Another tenant sees neither the trace nor the row.
        _, stranger = signed_up_owner(gateway)
        assert gateway.get(f"/v1/traces/{trace_id}", headers=stranger).status_code == 404
        hidden = gateway.get("/v1/telemetry/usage", params={"trace_id": trace_id}, headers=stranger)
        assert hidden.status_code == 200, hidden.text
        assert hidden.json()["records"] == []
