"""A tenant's team over HTTP: invites, sign-up and acceptance by invite, the member list, role
changes, removal, leaving and switching tenants, through the gateway in front of real identity
and tenancy services on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.service.test_gateway_identity import new_user
from tests.support.gateway import Gateway, bearer, reason_of, running_gateway, violations
from tests.support.identity_users import STRONG_PASSWORD
from tests.support.stack import Databases, identity_stack


@pytest.fixture(scope="module")
async def gw(backend: str, databases: Databases) -> AsyncIterator[Gateway]:
    async with (
        identity_stack(databases, backend, label="gateway-team") as stack,
        running_gateway(stack) as gateway,
    ):
        yield gateway


async def call(gw: Gateway, method: str, path: str, status: int, **kwargs: Any) -> Any:
    response = await gw.client.request(method, path, **kwargs)
    assert response.status_code == status, response.text
    return response.json() if response.content else None


async def test_an_owner_builds_a_team_over_http(gw: Gateway) -> None:
    owner, owner_auth = await new_user(gw)
    tenant = owner.tenant_id
    email = f"colleague-{uuid.uuid4().hex[:8]}@example.com"
    created = await call(
        gw,
        "POST",
        f"/v1/tenants/{tenant}/invites",
        201,
        json={"invited_email": email, "role": "member"},
        headers=owner_auth,
    )
    invite = created["invite"]
    assert (invite["tenant_id"], invite["role"], invite["status"]) == (tenant, "member", "active")
    assert invite["max_redemptions"] == 1 and invite["expire_time"].endswith("Z")

    joined = await call(
        gw,
        "POST",
        "/v1/auth/signup",
        201,
        json={"email": email, "password": STRONG_PASSWORD, "invite_token": created["token"]},
    )
    colleague_id = joined["user"]["id"]
    colleague_auth = bearer(joined["tokens"]["access_token"])
    assert (joined["tokens"]["tenant_id"], joined["tokens"]["role"]) == (tenant, "member")
    # The colleague sees the tenant, and the member list.
    seen = await call(gw, "GET", "/v1/tenants", 200, headers=colleague_auth)
    assert [t["id"] for t in seen["tenants"]] == [tenant]
    members = await call(gw, "GET", f"/v1/tenants/{tenant}/members", 200, headers=colleague_auth)
    assert {m["user_id"]: m["role"] for m in members["members"]} == {
        owner.user_id: "owner",
        colleague_id: "member",
    }
    listed = await call(gw, "GET", f"/v1/tenants/{tenant}/invites", 200, headers=owner_auth)
    assert [i["status"] for i in listed["invites"]] == ["exhausted"]

    # A member may not invite; the owner promotes, demotes and keeps the last-owner rule.
    refused = await gw.client.post(
        f"/v1/tenants/{tenant}/invites",
        json={"invited_email": "x@example.com", "role": "viewer"},
        headers=colleague_auth,
    )
    assert reason_of(refused, 403, "PERMISSION_DENIED") == "ROLE_TOO_LOW"
    promoted = await call(
        gw,
        "PATCH",
        f"/v1/tenants/{tenant}/members/{colleague_id}",
        200,
        json={"role": "admin"},
        headers=owner_auth,
    )
    assert promoted["role"] == "admin"
    last = await gw.client.patch(
        f"/v1/tenants/{tenant}/members/{owner.user_id}", json={"role": "member"}, headers=owner_auth
    )
    assert reason_of(last, 400, "FAILED_PRECONDITION") == "LAST_OWNER"
    bad_role = await gw.client.post(
        f"/v1/tenants/{tenant}/invites",
        json={"invited_email": "y@example.com", "role": "owner"},
        headers=owner_auth,
    )
    assert "role" in violations(bad_role)

    # The colleague already has a tenant elsewhere: an invite there is accepted, and they
    # switch between the two without signing in again.
    other_owner, other_auth = await new_user(gw)
    second = await call(
        gw,
        "POST",
        f"/v1/tenants/{other_owner.tenant_id}/invites",
        201,
        json={"invited_email": email, "role": "viewer"},
        headers=other_auth,
    )
    accepted = await call(
        gw,
        "POST",
        "/v1/auth/invites:accept",
        200,
        json={"invite_token": second["token"]},
        headers=colleague_auth,
    )
    assert (accepted["tokens"]["tenant_id"], accepted["tokens"]["role"]) == (
        other_owner.tenant_id,
        "viewer",
    )
    there = bearer(accepted["tokens"]["access_token"])
    back = await call(
        gw, "POST", "/v1/auth/switch-tenant", 200, json={"tenant_id": tenant}, headers=there
    )
    assert (back["tokens"]["tenant_id"], back["tokens"]["role"]) == (tenant, "admin")
    both = await call(gw, "GET", "/v1/tenants", 200, headers=there)
    assert {t["id"] for t in both["tenants"]} == {tenant, other_owner.tenant_id}

    # The colleague leaves the second tenant; the owner removes them from the first.
    await call(gw, "POST", f"/v1/tenants/{other_owner.tenant_id}/members:leave", 204, headers=there)
    revoked = await call(
        gw,
        "POST",
        f"/v1/tenants/{tenant}/invites/{invite['id']}:revoke",
        200,
        json={"reason": "done"},
        headers=owner_auth,
    )
    assert revoked["status"] == "revoked" and revoked["revoke_time"] is not None
    await call(
        gw, "DELETE", f"/v1/tenants/{tenant}/members/{colleague_id}", 204, headers=owner_auth
    )
    remaining = await call(gw, "GET", f"/v1/tenants/{tenant}/members", 200, headers=owner_auth)
    assert [m["user_id"] for m in remaining["members"]] == [owner.user_id]
