"""A team's first hour, as a new user would go through it with only the README and /openapi.json:
the platform is up and bootstrapped, an owner signs up, invites a colleague as a member, the
colleague signs up with the invite and sees the tenant, the owner reads usage and costs without
naming a tenant or a window, the operator reads that tenant's feed by naming it, and /docs
renders from the gateway's own files."""

from __future__ import annotations

import re
import secrets
from typing import Any

import httpx

from tests.e2e.conftest import E2E_MARKS, OPERATOR_PASSWORD, Platform
from tests.support.waiting import eventually_sync

pytestmark = E2E_MARKS

PASSWORD = "Harbour-Morning-Tide-31"
ASSET_REFERENCE = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']""")


def call(client: httpx.Client, method: str, path: str, status: int, **kwargs: Any) -> Any:
    response = client.request(method, path, **kwargs)
    assert response.status_code == status, f"{method} {path}: {response.text}"
    return response.json() if response.content else None


def bearer(tokens: dict[str, Any]) -> dict[str, str]:
    return {"authorization": f"Bearer {tokens['access_token']}"}


def test_a_teams_first_hour(platform: Platform, operator_account: str) -> None:
    # `quarterdeck up` (the platform fixture) printed its banner; bootstrap made the operator.
    assert "Quarterdeck is up (" in platform.output.text
    suffix = secrets.token_hex(4)
    owner_email = f"owner-{suffix}@example.com"
    colleague_email = f"colleague-{suffix}@example.com"
    with httpx.Client(base_url=platform.gateway, timeout=60) as gateway:
        # An owner signs up: a user, their tenant and its owner membership.
        owner = call(
            gateway,
            "POST",
            "/v1/auth/signup",
            201,
            json={
                "email": owner_email,
                "password": PASSWORD,
                "tenant_name": "Harbour Labs",
                "tenant_slug": f"harbour-{suffix}",
            },
        )["tokens"]
        tenant_id = owner["tenant_id"]

        # ... and invites a colleague as a member; the invitee hears of it through the notifier
        # (on a laptop, the log).
        invite = call(
            gateway,
            "POST",
            f"/v1/tenants/{tenant_id}/invites",
            201,
            json={"invited_email": colleague_email, "role": "member"},
            headers=bearer(owner),
        )
        eventually_sync(
            lambda: f"team invite for {colleague_email}" in platform.output.text,
            f"identity's notifier to log the invite for {colleague_email}",
        )

        # The colleague signs up with it, signs in, and sees the tenant.
        call(
            gateway,
            "POST",
            "/v1/auth/signup",
            201,
            json={"email": colleague_email, "password": PASSWORD, "invite_token": invite["token"]},
        )
        colleague = call(
            gateway,
            "POST",
            "/v1/auth/signin",
            200,
            json={"email": colleague_email, "password": PASSWORD},
        )["tokens"]
        assert (colleague["tenant_id"], colleague["role"]) == (tenant_id, "member")
        tenants = call(gateway, "GET", "/v1/tenants", 200, headers=bearer(colleague))["tenants"]
        assert [t["id"] for t in tenants] == [tenant_id]
        members = call(
            gateway, "GET", f"/v1/tenants/{tenant_id}/members", 200, headers=bearer(colleague)
        )["members"]
        assert sorted(m["role"] for m in members) == ["member", "owner"]

        # The owner records usage and reads usage and costs with no parameters at all.
        call(
            gateway,
            "POST",
            "/v1/telemetry/usage",
            200,
            json={
                "record": {
                    "event_id": f"first-call-{suffix}",
                    "agent_id": "concierge",
                    "provider": "anthropic",
                    "model_used": "claude-3-5-sonnet-20241022",
                    "input_tokens": 1200,
                    "output_tokens": 300,
                }
            },
            headers=bearer(owner),
        )
        usage = call(gateway, "GET", "/v1/usage", 200, headers=bearer(owner))
        assert usage["start_date"] < usage["end_date"]
        assert all(row["tenant_id"] == tenant_id for row in usage["tenants"])
        costs = call(gateway, "GET", "/v1/telemetry/costs", 200, headers=bearer(owner))
        assert (costs["total"]["record_count"], costs["total"]["unpriced_count"]) == (1, 0)
        assert costs["total"]["cost_usd"] != "0.000000000000"
        assert costs["start_time"] < costs["end_time"]
        agents = call(gateway, "GET", "/v1/telemetry/agents/statistics", 200, headers=bearer(owner))
        assert [a["agent_id"] for a in agents["agents"]] == ["concierge"]
        assert agents["agents"][0]["usage_record_count"] == 1

        # The operator the README creates reads that tenant's feed by naming it.
        operator = call(
            gateway,
            "POST",
            "/v1/auth/signin",
            200,
            json={"email": operator_account, "password": OPERATOR_PASSWORD},
        )["tokens"]
        actions: list[str] = []

        def feed_has_the_team() -> bool:
            events = call(
                gateway,
                "GET",
                "/v1/activity",
                200,
                params={"tenant_id": tenant_id},
                headers=bearer(operator),
            )["events"]
            actions[:] = [event["action"] for event in events]
            return {"invite.created", "membership.added"} <= set(actions)

        eventually_sync(
            feed_has_the_team, f"the invite and the new member in the feed of {tenant_id}"
        )
        unread = call(
            gateway,
            "GET",
            "/v1/activity/unread-count",
            200,
            params={"tenant_id": tenant_id},
            headers=bearer(operator),
        )
        assert unread["unread_count"] >= 2  # the operator has read none of it

        # /docs renders offline: every script and style it names is the gateway's own.
        page = gateway.get("/docs")
        assert page.status_code == 200
        assets = ASSET_REFERENCE.findall(page.text)
        assert any(url.endswith(".js") for url in assets), page.text
        for url in assets:
            assert url.startswith("/"), f"/docs loads {url} from elsewhere"
            assert gateway.get(url).status_code == 200, url
