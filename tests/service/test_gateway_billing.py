"""The gateway's billing (usage, plans, subscriptions, roll-ups, invoices) and rate-limit
reservations, over a real in-process tenancy service, on SQLite and on PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from quarterdeck.tenancy.v1 import billing_pb2 as pb
from quarterdeck.tenancy.v1.billing_pb2_grpc import BillingServiceStub
from shared.grpc_client import open_channel
from tests.support.gateway import (
    error_of,
    info_of,
    is_rfc3339_utc,
    member,
    operator,
    tenancy_gateway,
    unique,
    violations,
)
from tests.support.stack import Databases
from tests.support.tokens import TestIssuer


@dataclass
class Stack:
    client: httpx.AsyncClient
    billing: BillingServiceStub


@pytest.fixture(scope="module")
def issuer() -> TestIssuer:
    return TestIssuer()


@pytest.fixture(scope="module")
async def stack(backend: str, databases: Databases, issuer: TestIssuer) -> AsyncIterator[Stack]:
    async with (
        tenancy_gateway(databases, backend, "gateway-billing", issuer) as running,
        open_channel(running.tenancy.target) as channel,
    ):
        yield Stack(running.client, BillingServiceStub(channel))


@pytest.fixture
def gateway(stack: Stack) -> httpx.AsyncClient:
    return stack.client


async def new_tenant(gateway: httpx.AsyncClient, issuer: TestIssuer) -> str:
    response = await gateway.post(
        "/v1/tenants", json={"slug": unique("t"), "name": unique("Acme")}, headers=operator(issuer)
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


TOKENS_FEATURE = {
    "feature_key": "tokens",
    "display_name": "Tokens",
    "metric": "total_tokens",
    "unit": "tokens",
    "is_metered": True,
    "included_quantity": 1000,
    "overage_unit_price": "0.002500",
    "overage_unit_block": 1000,
}


async def new_plan(gateway: httpx.AsyncClient, issuer: TestIssuer, **fields: Any) -> dict[str, Any]:
    fields.setdefault("code", unique("plan"))
    fields.setdefault("name", "Team")
    fields.setdefault("price", "49.000000")
    response = await gateway.post("/v1/plans", json=fields, headers=operator(issuer))
    assert response.status_code == 201, response.text
    return dict(response.json())


async def subscribe(
    gateway: httpx.AsyncClient, issuer: TestIssuer, tenant_id: str, plan_id: str
) -> dict[str, Any]:
    response = await gateway.post(
        f"/v1/tenants/{tenant_id}/subscription",
        json={"plan_id": plan_id, "seat_count": 2, "billing_email": "billing@example.com"},
        headers=member(issuer, tenant_id, "owner"),
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


def stamp(value: datetime) -> Timestamp:
    result = Timestamp()
    result.FromDatetime(value)
    return result


# -- Plans -------------------------------------------------------------------------------------


async def test_operators_create_plans_and_set_features(
    gateway: httpx.AsyncClient, issuer: TestIssuer
) -> None:
    plan = await new_plan(gateway, issuer, seat_included=5, features=[TOKENS_FEATURE])
    assert set(plan) == {
        "id",
        "code",
        "name",
        "interval",
        "interval_count",
        "price",
        "currency",
        "trial_days",
        "seat_included",
        "is_active",
        "features",
        "create_time",
    }
    assert plan["interval"] == "monthly" and plan["currency"] == "USD"
    assert isinstance(plan["price"], str) and plan["seat_included"] == 5
    assert is_rfc3339_utc(plan["create_time"])
    [feature] = plan["features"]
    assert feature["metric"] == "total_tokens" and feature["hard_limit"] is None
    assert feature["overage_unit_price"] == "0.002500"

    fetched = await gateway.get(f"/v1/plans/{plan['id']}", headers=member(issuer))
    assert fetched.status_code == 200, fetched.text
    assert fetched.json() == plan
    listed = await gateway.get("/v1/plans", headers=member(issuer))
    assert listed.status_code == 200, listed.text
    assert plan["id"] in [p["id"] for p in listed.json()["plans"]]

    requests_feature = {
        "feature_key": "requests",
        "metric": "requests",
        "unit": "requests",
        "hard_limit": 10000,
    }
    put = await gateway.put(
        f"/v1/plans/{plan['id']}/features", json=requests_feature, headers=operator(issuer)
    )
    assert put.status_code == 200, put.text
    keys = {f["feature_key"]: f for f in put.json()["features"]}
    assert set(keys) == {"tokens", "requests"} and keys["requests"]["hard_limit"] == 10000
    post = await gateway.post(
        f"/v1/plans/{plan['id']}/features",
        json={**requests_feature, "hard_limit": 20000},
        headers=operator(issuer),
    )
    assert post.status_code == 200, post.text
    keys = {f["feature_key"]: f for f in post.json()["features"]}
    assert keys["requests"]["hard_limit"] == 20000


async def test_members_cannot_manage_plans(gateway: httpx.AsyncClient, issuer: TestIssuer) -> None:
    refused = await gateway.post(
        "/v1/plans",
        json={"code": unique("plan"), "name": "No", "price": "1"},
        headers=member(issuer, role="owner"),
    )
    info = info_of(refused, 403, "PERMISSION_DENIED")
    assert info["reason"] == "OPERATOR_ONLY"
    plan = await new_plan(gateway, issuer)
    feature = await gateway.put(
        f"/v1/plans/{plan['id']}/features", json=TOKENS_FEATURE, headers=member(issuer)
    )
    error_of(feature, 403, "PERMISSION_DENIED")


# -- Subscriptions -----------------------------------------------------------------------------


async def test_owners_subscribe_and_change_viewers_cannot(
    gateway: httpx.AsyncClient, issuer: TestIssuer
) -> None:
    tenant_id = await new_tenant(gateway, issuer)
    plan = await new_plan(gateway, issuer, features=[TOKENS_FEATURE])
    other = await new_plan(gateway, issuer, price="99")

    viewer = member(issuer, tenant_id, "viewer")
    refused = await gateway.post(
        f"/v1/tenants/{tenant_id}/subscription", json={"plan_id": plan["id"]}, headers=viewer
    )
    error_of(refused, 403, "PERMISSION_DENIED")

    sub = await subscribe(gateway, issuer, tenant_id, plan["id"])
    assert sub["tenant_id"] == tenant_id and sub["plan_id"] == plan["id"]
    assert sub["status"] == "active" and sub["seat_count"] == 2
    assert sub["billing_email"] == "billing@example.com" and sub["cancel_at_period_end"] is False
    assert is_rfc3339_utc(sub["current_period_start"]) and sub["trial_end_time"] is None

    got = await gateway.get(f"/v1/tenants/{tenant_id}/subscription", headers=viewer)
    assert got.status_code == 200, got.text
    assert got.json() == sub

    refused = await gateway.patch(
        f"/v1/tenants/{tenant_id}/subscription", json={"seat_count": 3}, headers=viewer
    )
    error_of(refused, 403, "PERMISSION_DENIED")
    changed = await gateway.patch(
        f"/v1/tenants/{tenant_id}/subscription",
        json={"plan_id": other["id"], "seat_count": 3, "cancel_at_period_end": True},
        headers=member(issuer, tenant_id, "owner"),
    )
    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert body["plan_id"] == other["id"] and body["seat_count"] == 3
    assert body["cancel_at_period_end"] is True

    # Status moves are for operators.
    refused = await gateway.post(
        f"/v1/tenants/{tenant_id}/subscription/status",
        json={"status": "past_due"},
        headers=member(issuer, tenant_id, "owner"),
    )
    error_of(refused, 403, "PERMISSION_DENIED")
    moved = await gateway.post(
        f"/v1/tenants/{tenant_id}/subscription/status",
        json={"status": "past_due"},
        headers=operator(issuer),
    )
    assert moved.status_code == 200, moved.text
    assert moved.json()["status"] == "past_due"


# -- Usage, roll-up and invoices ---------------------------------------------------------------


async def test_usage_rollup_and_invoice_lifecycle(stack: Stack, issuer: TestIssuer) -> None:
    gateway = stack.client
    tenant_id = await new_tenant(gateway, issuer)
    plan = await new_plan(gateway, issuer, features=[TOKENS_FEATURE])
    now = datetime.now(UTC)
    # Usage is recorded by Quarterdeck services only: straight at the service, not the gateway.
    await stack.billing.RecordUsage(
        pb.RecordUsageRequest(
            tenant_id=tenant_id,
            occurred_at=stamp(now),
            input_tokens=1500,
            output_tokens=500,
            requests=3,
        ),
        metadata=issuer.internal(),
    )
    today = now.date()
    usage = await gateway.get(
        "/v1/usage",
        params={
            "tenant_id": tenant_id,
            "start_date": today.isoformat(),
            "end_date": (today + timedelta(days=1)).isoformat(),
        },
        headers=member(issuer, tenant_id, "viewer"),
    )
    assert usage.status_code == 200, usage.text
    # With no parameters: the caller's tenant over the last 30 days, and the answer says which.
    defaulted = await gateway.get("/v1/usage", headers=member(issuer, tenant_id, "viewer"))
    assert defaulted.status_code == 200, defaulted.text
    assert defaulted.json()["tenants"] == usage.json()["tenants"]
    assert defaulted.json()["end_date"] == (today + timedelta(days=1)).isoformat()
    assert defaulted.json()["start_date"] == (today - timedelta(days=29)).isoformat()
    [row] = usage.json()["tenants"]
    assert row["tenant_id"] == tenant_id
    assert (row["input_tokens"], row["output_tokens"], row["total_tokens"], row["requests"]) == (
        1500,
        500,
        2000,
        3,
    )

    start = datetime(today.year, today.month, today.day, tzinfo=UTC)
    response = await gateway.post(
        f"/v1/tenants/{tenant_id}/subscription",
        json={"plan_id": plan["id"], "start_time": start.isoformat()},
        headers=member(issuer, tenant_id, "owner"),
    )
    assert response.status_code == 201, response.text
    sub = response.json()

    owner = member(issuer, tenant_id, "owner")
    refused = await gateway.post(
        f"/v1/tenants/{tenant_id}/subscription/usage-rollup", headers=owner
    )
    error_of(refused, 403, "PERMISSION_DENIED")
    rolled = await gateway.post(
        f"/v1/tenants/{tenant_id}/subscription/usage-rollup", headers=operator(issuer)
    )
    assert rolled.status_code == 200, rolled.text
    [line] = rolled.json()["usage"]
    assert line["subscription_id"] == sub["id"] and line["feature_key"] == "tokens"
    assert line["quantity"] == 2000 and is_rfc3339_utc(line["period_start"])

    refused = await gateway.post(f"/v1/tenants/{tenant_id}/invoices", headers=owner)
    error_of(refused, 403, "PERMISSION_DENIED")
    generated = await gateway.post(f"/v1/tenants/{tenant_id}/invoices", headers=operator(issuer))
    assert generated.status_code == 201, generated.text
    invoice = generated.json()
    assert generated.headers["Location"] == f"/v1/invoices/{invoice['id']}"
    assert invoice["subscription_id"] == sub["id"] and invoice["status"] == "draft"
    assert invoice["total"]["currency_code"] == "USD"
    assert isinstance(invoice["total"]["amount"], str)
    lines = {item["description"]: item for item in invoice["line_items"]}
    assert set(lines) == {f"plan:{plan['code']}", "overage:tokens"}
    assert lines[f"plan:{plan['code']}"]["amount"] == {
        "currency_code": "USD",
        "amount": "49.000000000000",
    }
    # 2000 tokens, 1000 included: 1000 over at 0.0025 per 1000.
    overage = lines["overage:tokens"]
    assert overage["quantity"] == 1000 and overage["unit_price"] == "0.002500"
    assert overage["amount"]["amount"] == "0.002500000000"
    assert invoice["total"]["amount"] == "49.002500000000"

    got = await gateway.get(
        f"/v1/invoices/{invoice['id']}", headers=member(issuer, tenant_id, "viewer")
    )
    assert got.status_code == 200, got.text
    assert got.json() == invoice
    hidden = await gateway.get(f"/v1/invoices/{invoice['id']}", headers=member(issuer))
    error_of(hidden, 404, "NOT_FOUND")

    # draft -> paid skips open: refused as FAILED_PRECONDITION, which is 400.
    invalid = await gateway.post(
        f"/v1/invoices/{invoice['id']}/status", json={"status": "paid"}, headers=operator(issuer)
    )
    info = info_of(invalid, 400, "FAILED_PRECONDITION")
    assert info["reason"] == "INVALID_INVOICE_TRANSITION"
    opened = await gateway.post(
        f"/v1/invoices/{invoice['id']}/status", json={"status": "open"}, headers=operator(issuer)
    )
    assert opened.status_code == 200, opened.text
    assert opened.json()["status"] == "open"
    paid = await gateway.post(
        f"/v1/invoices/{invoice['id']}/status", json={"status": "paid"}, headers=operator(issuer)
    )
    assert paid.status_code == 200, paid.text
    assert paid.json()["status"] == "paid"


# -- Limits ------------------------------------------------------------------------------------


async def test_reserve_until_refused_then_settle_and_release(
    gateway: httpx.AsyncClient, issuer: TestIssuer
) -> None:
    tenant_id = await new_tenant(gateway, issuer)  # no model configuration: 60 rpm, 10000 tpm
    caller = member(issuer, tenant_id, "member")
    first = await gateway.post(
        "/v1/limits/reservations",
        json={"tenant_id": tenant_id, "tokens": 6000, "request_id": "req-1"},
        headers=caller,
    )
    assert first.status_code == 201, first.text
    body = first.json()
    reservation = body["reservation"]
    assert reservation["state"] == "open" and reservation["tokens"] == 6000
    assert reservation["requests"] == 1 and reservation["request_id"] == "req-1"
    assert body["remaining_tokens"] == 4000 and body["remaining_requests"] == 59
    assert is_rfc3339_utc(reservation["expire_time"])

    second = await gateway.post(
        "/v1/limits/reservations", json={"tenant_id": tenant_id, "tokens": 3000}, headers=caller
    )
    assert second.status_code == 201, second.text

    refused = await gateway.post(
        "/v1/limits/reservations", json={"tenant_id": tenant_id, "tokens": 3000}, headers=caller
    )
    info = info_of(refused, 429, "RESOURCE_EXHAUSTED")
    assert info["reason"] == "RATE_LIMITED" and info["metadata"]["limit"] == "tpm"
    retry_ms = int(info["metadata"]["retry_after_ms"])
    retry_after = int(refused.headers["Retry-After"])
    assert 1 <= retry_after <= 60 and retry_after * 1000 >= retry_ms

    # More than the whole limit: refused, with no window to wait for, so no Retry-After.
    too_big = await gateway.post(
        "/v1/limits/reservations", json={"tenant_id": tenant_id, "tokens": 20000}, headers=caller
    )
    assert info_of(too_big, 429, "RESOURCE_EXHAUSTED")["reason"] == "EXCEEDS_LIMIT"
    assert "Retry-After" not in too_big.headers

    settled = await gateway.post(
        f"/v1/limits/reservations/{reservation['id']}/settle",
        json={"tenant_id": tenant_id, "actual_tokens": 1000},
        headers=caller,
    )
    assert settled.status_code == 200, settled.text
    assert settled.json()["state"] == "settled" and settled.json()["actual_tokens"] == 1000
    released = await gateway.post(
        f"/v1/limits/reservations/{second.json()['reservation']['id']}/release",
        json={"tenant_id": tenant_id},
        headers=caller,
    )
    assert released.status_code == 200, released.text
    assert released.json()["state"] == "released"

    # The refunds make room again.
    again = await gateway.post(
        "/v1/limits/reservations", json={"tenant_id": tenant_id, "tokens": 3000}, headers=caller
    )
    assert again.status_code == 201, again.text
    # Settling again with another value is a failed precondition (400).
    resettle = await gateway.post(
        f"/v1/limits/reservations/{reservation['id']}/settle",
        json={"tenant_id": tenant_id, "actual_tokens": 2000},
        headers=caller,
    )
    error_of(resettle, 400, "FAILED_PRECONDITION")

    viewer = await gateway.post(
        "/v1/limits/reservations",
        json={"tenant_id": tenant_id, "tokens": 1},
        headers=member(issuer, tenant_id, "viewer"),
    )
    error_of(viewer, 403, "PERMISSION_DENIED")


# -- Bad input and the OpenAPI document --------------------------------------------------------


async def test_bad_input_names_the_field(gateway: httpx.AsyncClient, issuer: TestIssuer) -> None:
    tenant_id = str(uuid.uuid4())
    caller = member(issuer, tenant_id)
    assert "tokens" in violations(
        await gateway.post(
            "/v1/limits/reservations", json={"tenant_id": tenant_id, "tokens": 0}, headers=caller
        )
    )
    assert "actual_tokens" in violations(
        await gateway.post(
            f"/v1/limits/reservations/{uuid.uuid4()}/settle",
            json={"tenant_id": tenant_id, "actual_tokens": -1},
            headers=caller,
        )
    )
    assert "start_date" in violations(
        await gateway.get(
            "/v1/usage",
            params={"tenant_id": tenant_id, "start_date": "yesterday", "end_date": "2026-01-02"},
            headers=caller,
        )
    )
    assert "end_date" in violations(
        await gateway.get("/v1/usage", params={"start_date": "2999-01-01"}, headers=caller)
    )
    assert "price" in violations(
        await gateway.post(
            "/v1/plans", json={"code": "x", "name": "X", "price": 49}, headers=operator(issuer)
        )
    )
    assert "features[0].metric" in violations(
        await gateway.post(
            "/v1/plans",
            json={
                "code": "x",
                "name": "X",
                "price": "1",
                "features": [{**TOKENS_FEATURE, "metric": "minutes"}],
            },
            headers=operator(issuer),
        )
    )
    assert "status" in violations(
        await gateway.post(
            f"/v1/invoices/{uuid.uuid4()}/status",
            json={"status": "refunded"},
            headers=operator(issuer),
        )
    )
    assert "seat_count" in violations(
        await gateway.patch(
            f"/v1/tenants/{tenant_id}/subscription",
            json={"seat_count": None},
            headers=member(issuer, tenant_id, "owner"),
        )
    )
    assert "colour" in violations(
        await gateway.post(
            f"/v1/tenants/{tenant_id}/subscription",
            json={"plan_id": "p", "colour": "red"},
            headers=member(issuer, tenant_id, "owner"),
        )
    )
    # Invalid at the service, named by the service.
    assert "end_date" in violations(
        await gateway.get(
            "/v1/usage",
            params={"tenant_id": tenant_id, "start_date": "2026-01-02", "end_date": "2026-01-01"},
            headers=member(issuer, tenant_id, "viewer"),
        )
    )


async def test_openapi_lists_the_paths_and_not_record_usage(gateway: httpx.AsyncClient) -> None:
    response = await gateway.get("/openapi.json")
    assert response.status_code == 200, response.text
    document = response.json()
    paths = document["paths"]
    expected = {
        "/v1/usage": {"get"},
        "/v1/plans": {"get", "post"},
        "/v1/plans/{plan_id}": {"get", "patch"},
        "/v1/plans/{plan_id}/features": {"put", "post"},
        "/v1/billing/periods:advance": {"post"},
        "/v1/tenants/{tenant_id}/subscription": {"get", "post", "patch"},
        "/v1/tenants/{tenant_id}/subscription/status": {"post"},
        "/v1/tenants/{tenant_id}/subscription/usage-rollup": {"post"},
        "/v1/tenants/{tenant_id}/invoices": {"post"},
        "/v1/invoices/{invoice_id}": {"get"},
        "/v1/invoices/{invoice_id}/status": {"post"},
        "/v1/limits/reservations": {"post"},
        "/v1/limits/reservations/{reservation_id}/settle": {"post"},
        "/v1/limits/reservations/{reservation_id}/release": {"post"},
    }
    for path, methods in expected.items():
        assert path in paths, path
        assert methods <= set(paths[path]), (path, set(paths[path]))
    # BillingService.RecordUsage is for Quarterdeck services only: no route reaches it (the
    # telemetry service's own usage records are another matter, under /v1/telemetry).
    billing_paths = {path: ops for path, ops in paths.items() if "/telemetry/" not in path}
    text = str(billing_paths).lower()
    assert "recordusage" not in text and "record_usage" not in text
    assert not any("record" in path for path in billing_paths)
    assert set(paths["/v1/usage"]) == {"get"}
    reserve = paths["/v1/limits/reservations"]["post"]["responses"]
    assert "201" in reserve and "429" in reserve
    money = document["components"]["schemas"]["Money"]["properties"]
    assert money["amount"]["type"] == "string"


# -- Plan updates, pagination and periods that advance -----------------------------------------


async def test_operators_update_and_deactivate_plans(
    gateway: httpx.AsyncClient, issuer: TestIssuer
) -> None:
    plan = await new_plan(gateway, issuer, seat_included=5)
    changed = await gateway.patch(
        f"/v1/plans/{plan['id']}",
        json={"price": "59.5", "is_active": False, "seat_included": None},
        headers=operator(issuer),
    )
    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert (body["price"], body["is_active"], body["seat_included"]) == ("59.500000", False, None)
    assert body["name"] == plan["name"]  # left out, left alone
    tenant = await new_tenant(gateway, issuer)
    refused = await gateway.post(
        f"/v1/tenants/{tenant}/subscription",
        json={"plan_id": plan["id"]},
        headers=member(issuer, tenant, "owner"),
    )
    assert info_of(refused, 400, "FAILED_PRECONDITION")["reason"] == "PLAN_INACTIVE"
    bad = await gateway.patch(
        f"/v1/plans/{plan['id']}", json={"price": "cheap"}, headers=operator(issuer)
    )
    assert "plan.price" in violations(bad)
    forbidden = await gateway.patch(
        f"/v1/plans/{plan['id']}", json={"name": "Mine"}, headers=member(issuer, tenant, "owner")
    )
    assert info_of(forbidden, 403, "PERMISSION_DENIED")["reason"] == "OPERATOR_ONLY"
    unknown = await gateway.patch(
        f"/v1/plans/{plan['id']}", json={"code": "x"}, headers=operator(issuer)
    )
    assert unknown.status_code == 400
    got = (await gateway.get(f"/v1/plans/{plan['id']}", headers=operator(issuer))).json()
    assert got["price"] == "59.500000" and got["is_active"] is False


async def test_plans_list_in_pages(gateway: httpx.AsyncClient, issuer: TestIssuer) -> None:
    mine = {(await new_plan(gateway, issuer))["id"] for _ in range(3)}
    seen: list[str] = []
    token = ""
    while True:
        response = await gateway.get(
            "/v1/plans",
            params={"page_size": 2, "page_token": token, "include_inactive": True},
            headers=member(issuer),
        )
        assert response.status_code == 200, response.text
        page = response.json()
        assert set(page) == {"plans", "next_page_token"} and len(page["plans"]) <= 2
        seen += [p["id"] for p in page["plans"]]
        token = page["next_page_token"]
        if not token:
            break
    assert len(seen) == len(set(seen)) and mine <= set(seen)
    bad = await gateway.get("/v1/plans", params={"page_token": "forged"}, headers=member(issuer))
    assert "page_token" in violations(bad)


async def test_operators_advance_billing_periods(
    gateway: httpx.AsyncClient, issuer: TestIssuer
) -> None:
    plan = await new_plan(gateway, issuer, price="10")
    tenant = await new_tenant(gateway, issuer)
    # Long ago, so no other subscription of this module is due at that time.
    start = datetime(2019, 1, 1, tzinfo=UTC)
    created = await gateway.post(
        f"/v1/tenants/{tenant}/subscription",
        json={"plan_id": plan["id"], "start_time": start.isoformat()},
        headers=member(issuer, tenant, "owner"),
    )
    assert created.status_code == 201, created.text
    advance = {"now": "2019-03-01T00:00:00Z"}
    response = await gateway.post(
        "/v1/billing/periods:advance", json=advance, headers=operator(issuer)
    )
    assert response.status_code == 200, response.text
    assert response.json() == {
        "periods_renewed": 2,
        "subscriptions_canceled": 0,
        "trials_ended": 0,
        "invoices_drafted": 2,
        "limit_counters_pruned": 0,
        "remaining": 0,
        "subscription_ids": [created.json()["id"]],
        "failed_subscription_ids": [],
    }
    again = await gateway.post(
        "/v1/billing/periods:advance", json=advance, headers=operator(issuer)
    )
    assert again.json()["periods_renewed"] == 0 and again.json()["invoices_drafted"] == 0
    sub = (
        await gateway.get(
            f"/v1/tenants/{tenant}/subscription", headers=member(issuer, tenant, "viewer")
        )
    ).json()
    assert sub["current_period_start"] == "2019-03-01T00:00:00Z"
    refused = await gateway.post(
        "/v1/billing/periods:advance", json=advance, headers=member(issuer, tenant, "owner")
    )
    assert info_of(refused, 403, "PERMISSION_DENIED")["reason"] == "OPERATOR_ONLY"
    too_many = await gateway.post(
        "/v1/billing/periods:advance", json={"limit": 5000}, headers=operator(issuer)
    )
    assert "limit" in violations(too_many)
