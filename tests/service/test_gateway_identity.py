"""The gateway's identity surface over real in-process identity and tenancy services, on SQLite
and on PostgreSQL: sign-up, sign-in with MFA, refresh, sessions, the caller's account, API keys
(as endpoints and as credentials at the gateway), operators' endpoints and the JWKS."""

from __future__ import annotations

import asyncio
import hashlib
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import grpc
import jwt
import pyotp
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from jwt.algorithms import ECAlgorithm

from quarterdeck.identity.v1 import identity_pb2 as ipb
from quarterdeck.identity.v1.identity_pb2_grpc import IdentityServiceStub
from quarterdeck.tenancy.v1 import tenancy_pb2 as tpb
from quarterdeck.tenancy.v1.tenancy_pb2_grpc import TenancyServiceStub
from services.gateway.config import GatewaySettings
from services.gateway.device import client_address, describe_user_agent
from services.identity.api_keys.handlers import ApiKeyHandlers
from services.identity.mfa.codes import TOTP_INTERVAL
from services.identity.models import UserStatus
from shared.api_key_tokens import EXPIRY_MARGIN_SECONDS, ApiKeyTokens, key_digest
from shared.auth import AUTHORIZATION_HEADER, PLATFORM_OPERATOR, Principal
from shared.grpc_client import open_channel
from tests.support.gateway import (
    USER_AGENT,
    Gateway,
    bearer,
    error_of,
    is_rfc3339_utc,
    reason_of,
    running_gateway,
    violations,
)
from tests.support.identity_users import STRONG_PASSWORD, TestUser, make_user
from tests.support.stack import Databases, IdentityStack, identity_stack
from tests.support.waiting import eventually

OTHER_AGENT = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)
NEW_PASSWORD = "Battery-Staple-77-horse"


# -- Fixtures and helpers ------------------------------------------------------------------------


@pytest.fixture(scope="module")
async def stack(backend: str, databases: Databases) -> AsyncIterator[IdentityStack]:
    async with identity_stack(databases, backend, label="gateway-identity") as running:
        yield running


@pytest.fixture(scope="module")
async def gw(stack: IdentityStack) -> AsyncIterator[Gateway]:
    async with running_gateway(stack) as gateway:
        yield gateway


async def sign_in(gw: Gateway, user: TestUser, **headers: str) -> dict[str, Any]:
    response = await gw.client.post(
        "/v1/auth/signin", json={"email": user.email, "password": user.password}, headers=headers
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


async def tokens_of(gw: Gateway, user: TestUser, **headers: str) -> dict[str, Any]:
    body = await sign_in(gw, user, **headers)
    assert set(body) == {"tokens", "user"}, body
    return dict(body["tokens"])


async def signed_in(gw: Gateway, user: TestUser) -> dict[str, str]:
    return bearer((await tokens_of(gw, user))["access_token"])


async def new_user(gw: Gateway, **kwargs: Any) -> tuple[TestUser, dict[str, str]]:
    user = await make_user(gw.stack, **kwargs)
    return user, await signed_in(gw, user)


async def operator(gw: Gateway) -> dict[str, str]:
    """A platform operator, signed in through the gateway."""
    return (await new_user(gw, platform_operator=True))[1]


# -- Sign-up and sign-in -----------------------------------------------------------------------


async def test_sign_up_returns_tokens_that_work_at_tenancy(gw: Gateway) -> None:
    email = f"new-{uuid.uuid4().hex[:8]}@example.com"
    slug = f"acme-{uuid.uuid4().hex[:8]}"
    response = await gw.client.post(
        "/v1/auth/signup",
        json={
            "email": email,
            "password": STRONG_PASSWORD,
            "tenant_name": "Acme",
            "tenant_slug": slug,
            "display_name": "Ada",
        },
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == {"tokens", "user"}
    tokens, user = body["tokens"], body["user"]
    assert set(tokens) == {
        "access_token",
        "access_token_expire_time",
        "refresh_token",
        "refresh_token_expire_time",
        "session_id",
        "tenant_id",
        "role",
    }
    assert tokens["role"] == "owner"
    assert is_rfc3339_utc(tokens["access_token_expire_time"])
    assert user["email"] == email and user["status"] == "active"
    assert user["platform_role"] is None and is_rfc3339_utc(user["create_time"])

    tenant = await gw.client.get(
        f"/v1/tenants/{tokens['tenant_id']}", headers=bearer(tokens["access_token"])
    )
    assert tenant.status_code == 200, tenant.text
    assert tenant.json()["slug"] == slug

    me = await gw.client.get("/v1/users/me", headers=bearer(tokens["access_token"]))
    assert me.status_code == 200, me.text
    assert me.json()["user"]["id"] == user["id"]
    assert me.json()["profile"]["display_name"] == "Ada" and me.json()["mfa_enabled"] is False

    # The same slug again is the service's conflict, in the one error body.
    again = await gw.client.post(
        "/v1/auth/signup",
        json={
            "email": f"other-{uuid.uuid4().hex[:8]}@example.com",
            "password": STRONG_PASSWORD,
            "tenant_name": "Acme",
            "tenant_slug": slug,
        },
    )
    assert again.status_code == 409, again.text


async def test_sign_in_returns_tokens_for_the_users_tenant(gw: Gateway) -> None:
    user = await make_user(gw.stack, role="admin")
    body = await sign_in(gw, user)
    assert body["user"]["id"] == user.user_id and body["user"]["email"] == user.email
    assert body["tokens"]["tenant_id"] == user.tenant_id and body["tokens"]["role"] == "admin"
    response = await gw.client.get(
        f"/v1/tenants/{user.tenant_id}", headers=bearer(body["tokens"]["access_token"])
    )
    assert response.status_code == 200, response.text


async def test_unknown_email_and_wrong_password_get_identical_401s(gw: Gateway) -> None:
    user = await make_user(gw.stack)
    wrong_password = await gw.client.post(
        "/v1/auth/signin", json={"email": user.email, "password": "Not-The-Password-1"}
    )
    unknown_email = await gw.client.post(
        "/v1/auth/signin",
        json={"email": f"nobody-{uuid.uuid4().hex[:8]}@example.com", "password": "Whatever-1x"},
    )
    assert reason_of(wrong_password, 401, "UNAUTHENTICATED") == "INVALID_CREDENTIALS"
    assert wrong_password.json() == unknown_email.json()
    assert wrong_password.status_code == unknown_email.status_code


async def test_totp_enrollment_then_sign_in_needs_the_second_factor(gw: Gateway) -> None:
    user, auth = await new_user(gw)
    begun = await gw.client.post("/v1/users/me/mfa/totp", json={"label": "phone"}, headers=auth)
    assert begun.status_code == 201, begun.text
    enrollment = begun.json()
    assert set(enrollment) == {"method_id", "secret", "otpauth_uri"}
    assert enrollment["otpauth_uri"].startswith("otpauth://totp/")
    totp = pyotp.TOTP(enrollment["secret"], interval=TOTP_INTERVAL)

    # The previous step's code confirms (drift allowed), so the current one is still unused.
    confirmed = await gw.client.post(
        f"/v1/users/me/mfa/totp/{enrollment['method_id']}/confirm",
        json={"code": totp.at(time.time() - TOTP_INTERVAL)},
        headers=auth,
    )
    assert confirmed.status_code == 200, confirmed.text
    recovery_codes = confirmed.json()["recovery_codes"]
    assert len(recovery_codes) == 10
    # Without a body, an authenticator gets the default label.
    unlabelled = await gw.client.post("/v1/users/me/mfa/totp", headers=auth)
    assert unlabelled.status_code == 201, unlabelled.text
    assert "authenticator" in unlabelled.json()["otpauth_uri"]
    assert (await gw.client.get("/v1/users/me", headers=auth)).json()["mfa_enabled"] is True

    challenged = await sign_in(gw, user)
    assert set(challenged) == {"mfa_challenge"}
    challenge = challenged["mfa_challenge"]
    assert challenge["methods"] == ["totp", "recovery_code"]
    assert is_rfc3339_utc(challenge["expire_time"])
    # The challenge is no access token.
    refused = await gw.client.get(
        f"/v1/tenants/{user.tenant_id}", headers=bearer(challenge["mfa_token"])
    )
    error_of(refused, 401, "UNAUTHENTICATED")

    done = await gw.client.post(
        "/v1/auth/signin/mfa",
        json={
            "mfa_token": challenge["mfa_token"],
            "totp_code": totp.at(time.time() + TOTP_INTERVAL),
        },
    )
    assert done.status_code == 200, done.text
    tokens = done.json()["tokens"]
    assert done.json()["user"]["id"] == user.user_id and tokens["tenant_id"] == user.tenant_id
    tenant = await gw.client.get(
        f"/v1/tenants/{user.tenant_id}", headers=bearer(tokens["access_token"])
    )
    assert tenant.status_code == 200, tenant.text

    # A recovery code answers a challenge too, once.
    challenge = (await sign_in(gw, user))["mfa_challenge"]
    by_code = await gw.client.post(
        "/v1/auth/signin/mfa",
        json={"mfa_token": challenge["mfa_token"], "recovery_code": recovery_codes[0]},
    )
    assert by_code.status_code == 200, by_code.text
    # Both codes, or neither, is bad input naming both fields.
    both = await gw.client.post(
        "/v1/auth/signin/mfa",
        json={"mfa_token": challenge["mfa_token"], "totp_code": "123456", "recovery_code": "x"},
    )
    assert {"totp_code", "recovery_code"} <= set(violations(both))

    regenerated = await gw.client.post(
        "/v1/users/me/mfa/recovery-codes", json={"password": user.password}, headers=auth
    )
    assert regenerated.status_code == 200, regenerated.text
    assert set(regenerated.json()["recovery_codes"]).isdisjoint(recovery_codes)

    wrong = await gw.client.request(
        "DELETE",
        f"/v1/users/me/mfa/totp/{enrollment['method_id']}",
        json={"password": "Not-The-Password-1"},
        headers=auth,
    )
    assert reason_of(wrong, 401, "UNAUTHENTICATED") == "PASSWORD_INCORRECT"
    disabled = await gw.client.request(
        "DELETE",
        f"/v1/users/me/mfa/totp/{enrollment['method_id']}",
        json={"password": user.password},
        headers=auth,
    )
    assert disabled.status_code == 204 and disabled.content == b""
    assert set(await sign_in(gw, user)) == {"tokens", "user"}


async def test_refresh_rotates_and_a_reused_token_is_refused(gw: Gateway) -> None:
    user = await make_user(gw.stack)
    first = await tokens_of(gw, user)
    response = await gw.client.post(
        "/v1/auth/refresh", json={"refresh_token": first["refresh_token"]}
    )
    assert response.status_code == 200, response.text
    second = response.json()["tokens"]
    assert second["session_id"] == first["session_id"]
    assert second["refresh_token"] != first["refresh_token"]
    tenant = await gw.client.get(
        f"/v1/tenants/{user.tenant_id}", headers=bearer(second["access_token"])
    )
    assert tenant.status_code == 200

    reused = await gw.client.post(
        "/v1/auth/refresh", json={"refresh_token": first["refresh_token"]}
    )
    assert reason_of(reused, 401, "UNAUTHENTICATED") == "REFRESH_TOKEN_REUSED"
    # The reuse ended the session: its current refresh token stops working too.
    after = await gw.client.post(
        "/v1/auth/refresh", json={"refresh_token": second["refresh_token"]}
    )
    error_of(after, 401, "UNAUTHENTICATED")


async def test_sessions_list_show_the_device_and_can_be_revoked(gw: Gateway) -> None:
    user = await make_user(gw.stack)
    mine = await tokens_of(gw, user, **{"X-Device-Fingerprint": "fp-1"})
    other = await tokens_of(gw, user, **{"User-Agent": OTHER_AGENT})
    auth = bearer(mine["access_token"])

    response = await gw.client.get("/v1/sessions", headers=auth)
    assert response.status_code == 200, response.text
    page = response.json()
    assert set(page) == {"sessions", "next_page_token"} and page["next_page_token"] == ""
    by_id = {s["id"]: s for s in page["sessions"]}
    assert set(by_id) == {mine["session_id"], other["session_id"]}
    current = by_id[mine["session_id"]]
    assert current["current"] is True and by_id[other["session_id"]]["current"] is False
    # The DeviceInfo the gateway made from the request reached identity.
    assert current["user_agent"] == USER_AGENT
    assert (current["client_platform"], current["client_browser"], current["client_device"]) == (
        "Linux",
        "Firefox",
        "desktop",
    )
    assert current["ip_masked"] == "127.0.0.x"
    phone = by_id[other["session_id"]]
    assert phone["user_agent"] == OTHER_AGENT
    assert (phone["client_platform"], phone["client_browser"], phone["client_device"]) == (
        "iOS",
        "Safari",
        "mobile",
    )
    assert current["revoke_time"] is None and is_rfc3339_utc(current["expire_time"])

    paged = await gw.client.get("/v1/sessions", params={"page_size": 1}, headers=auth)
    assert len(paged.json()["sessions"]) == 1 and paged.json()["next_page_token"]

    revoked = await gw.client.delete(f"/v1/sessions/{other['session_id']}", headers=auth)
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["id"] == other["session_id"]
    assert revoked.json()["revoke_time"] is not None and revoked.json()["revoke_reason"]
    listed = (await gw.client.get("/v1/sessions", headers=auth)).json()["sessions"]
    assert [s["id"] for s in listed] == [mine["session_id"]]
    inactive = await gw.client.get(
        "/v1/sessions", params={"include_inactive": "true"}, headers=auth
    )
    assert len(inactive.json()["sessions"]) == 2
    refused = await gw.client.post(
        "/v1/auth/refresh", json={"refresh_token": other["refresh_token"]}
    )
    error_of(refused, 401, "UNAUTHENTICATED")

    missing = await gw.client.delete(f"/v1/sessions/{uuid.uuid4()}", headers=auth)
    error_of(missing, 404, "NOT_FOUND")

    third = await tokens_of(gw, user)
    kept = await gw.client.delete("/v1/sessions", params={"keep_current": "true"}, headers=auth)
    assert kept.status_code == 200 and kept.json() == {"revoked_count": 1}
    error_of(
        await gw.client.post("/v1/auth/refresh", json={"refresh_token": third["refresh_token"]}),
        401,
        "UNAUTHENTICATED",
    )
    signed_out = await gw.client.post("/v1/auth/signout", headers=auth)
    assert signed_out.status_code == 204 and signed_out.content == b""
    error_of(
        await gw.client.post("/v1/auth/refresh", json={"refresh_token": mine["refresh_token"]}),
        401,
        "UNAUTHENTICATED",
    )


async def test_forwarded_for_is_read_only_from_a_trusted_proxy(gw: Gateway) -> None:
    user = await make_user(gw.stack)
    forwarded = {"X-Forwarded-For": "198.51.100.7"}
    untrusted = await tokens_of(gw, user, **forwarded)
    async with running_gateway(gw.stack, trusted_proxies="127.0.0.1") as behind_proxy:
        trusted = await tokens_of(behind_proxy, user, **forwarded)
    sessions = (
        await gw.client.get("/v1/sessions", headers=bearer(trusted["access_token"]))
    ).json()["sessions"]
    masked = {s["id"]: s["ip_masked"] for s in sessions}
    assert masked[untrusted["session_id"]] == "127.0.0.x"
    assert masked[trusted["session_id"]] == "198.51.100.x"


# -- The caller's account ----------------------------------------------------------------------


async def test_profile_consents_and_notification_preferences(gw: Gateway) -> None:
    _, auth = await new_user(gw)
    patched = await gw.client.patch(
        "/v1/users/me",
        json={"display_name": "Grace", "timezone": "Europe/Paris", "metadata": {"team": 7}},
        headers=auth,
    )
    assert patched.status_code == 200, patched.text
    profile = patched.json()
    assert profile["display_name"] == "Grace" and profile["timezone"] == "Europe/Paris"
    assert profile["metadata"] == {"team": 7} and profile["locale"] is None
    # Only the fields sent change; null clears one.
    cleared = await gw.client.patch("/v1/users/me", json={"timezone": None}, headers=auth)
    assert cleared.status_code == 200, cleared.text
    assert cleared.json()["timezone"] is None and cleared.json()["display_name"] == "Grace"
    assert cleared.json()["metadata"] == {"team": 7}
    me = (await gw.client.get("/v1/users/me", headers=auth)).json()
    assert me["profile"] == cleared.json()
    bad = await gw.client.patch("/v1/users/me", json={"timezone": "Mars/Olympus"}, headers=auth)
    assert "profile.timezone" in violations(bad)

    consent = await gw.client.post(
        "/v1/users/me/consents", json={"policy_key": "terms", "version": "2024-06"}, headers=auth
    )
    assert consent.status_code == 200, consent.text
    assert consent.json()["policy_key"] == "terms"
    assert is_rfc3339_utc(consent.json()["accept_time"])
    consents = (await gw.client.get("/v1/users/me/consents", headers=auth)).json()
    assert consents == {"consents": [consent.json()]}

    put = await gw.client.put(
        "/v1/users/me/notification-preferences",
        json={"channel": "email", "category": "billing", "enabled": False},
        headers=auth,
    )
    assert put.status_code == 200, put.text
    assert put.json() == {
        "tenant_id": None,
        "channel": "email",
        "category": "billing",
        "enabled": False,
    }
    listed = await gw.client.get("/v1/users/me/notification-preferences", headers=auth)
    assert listed.json() == {"preferences": [put.json()]}
    bad = await gw.client.put(
        "/v1/users/me/notification-preferences",
        json={"channel": "pigeon", "category": "billing", "enabled": True},
        headers=auth,
    )
    assert "preference.channel" in violations(bad)


class CapturingNotifier:
    def __init__(self) -> None:
        self.sent: asyncio.Queue[tuple[str, str]] = asyncio.Queue()

    async def send_password_reset(self, email: str, token: str) -> None:
        await self.sent.put((email, token))


async def test_password_change_and_reset(gw: Gateway, monkeypatch: pytest.MonkeyPatch) -> None:
    user, auth = await new_user(gw)
    other_session = await tokens_of(gw, user)
    changed = await gw.client.post(
        "/v1/auth/password/change",
        json={"current_password": user.password, "new_password": NEW_PASSWORD},
        headers=auth,
    )
    assert changed.status_code == 200, changed.text
    assert changed.json() == {"revoked_sessions": 1}
    error_of(
        await gw.client.post(
            "/v1/auth/refresh", json={"refresh_token": other_session["refresh_token"]}
        ),
        401,
        "UNAUTHENTICATED",
    )
    weak = await gw.client.post(
        "/v1/auth/password/change",
        json={"current_password": NEW_PASSWORD, "new_password": "short"},
        headers=auth,
    )
    assert "new_password" in violations(weak)

    notifier = CapturingNotifier()
    monkeypatch.setattr(gw.state, "notifier", notifier)
    known = await gw.client.post("/v1/auth/password/reset-request", json={"email": user.email})
    unknown = await gw.client.post(
        "/v1/auth/password/reset-request",
        json={"email": f"nobody-{uuid.uuid4().hex[:8]}@example.com"},
    )
    assert known.status_code == unknown.status_code == 202
    assert known.content == unknown.content == b""
    email, token = await asyncio.wait_for(notifier.sent.get(), timeout=5)
    assert email == user.email and notifier.sent.empty()

    reset = await gw.client.post(
        "/v1/auth/password/reset",
        json={"reset_token": token, "new_password": STRONG_PASSWORD + "!"},
    )
    assert reset.status_code == 204, reset.text
    again = await gw.client.post(
        "/v1/auth/password/reset", json={"reset_token": token, "new_password": NEW_PASSWORD + "?"}
    )
    assert reason_of(again, 401, "UNAUTHENTICATED") == "RESET_TOKEN_INVALID"
    renamed = TestUser(user.user_id, user.tenant_id, user.email, STRONG_PASSWORD + "!", user.role)
    assert set(await sign_in(gw, renamed)) == {"tokens", "user"}


async def test_access_requests_are_accepted_from_anyone(gw: Gateway) -> None:
    response = await gw.client.post(
        "/v1/auth/access-requests",
        json={"email": "lead@example.com", "organization": "Initech", "message": "Let us in"},
    )
    assert response.status_code == 202, response.text
    assert uuid.UUID(response.json()["id"])
    bad = await gw.client.post("/v1/auth/access-requests", json={"email": "not-an-email"})
    assert "email" in violations(bad)


# -- API keys ------------------------------------------------------------------------------------


async def create_key(gw: Gateway, auth: dict[str, str], tenant_id: str) -> dict[str, Any]:
    response = await gw.client.post(
        "/v1/service-accounts/keys",
        json={
            "tenant_id": tenant_id,
            "account": f"ci-{uuid.uuid4().hex[:8]}",
            "scopes": ["tenancy.read"],
            "role": "viewer",
        },
        headers=auth,
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


async def test_an_api_key_authenticates_at_the_gateway_until_revoked(gw: Gateway) -> None:
    owner, auth = await new_user(gw)
    created = await create_key(gw, auth, owner.tenant_id)
    api_key, key = created["api_key"], created["key"]
    assert api_key.startswith("qdk_")
    assert key["tenant_id"] == owner.tenant_id and key["role"] == "viewer"
    assert key["scopes"] == ["tenancy.read"] and key["revoke_time"] is None
    assert is_rfc3339_utc(key["expire_time"])

    path = f"/v1/tenants/{owner.tenant_id}"
    for credentials in ({"Authorization": f"Bearer {api_key}"}, {"X-API-Key": api_key}):
        response = await gw.client.get(path, headers=credentials)
        assert response.status_code == 200, response.text
        assert response.json()["id"] == owner.tenant_id
    # The exchanged token is kept under the key's SHA-256, never under the key.
    digests = gw.api_keys.digests()
    assert key_digest(api_key) in digests
    assert hashlib.sha256(api_key.encode()).hexdigest() == key_digest(api_key)
    assert all(api_key not in digest and len(digest) == 64 for digest in digests)
    # The key acts as what it is: a viewer cannot change the tenant.
    denied = await gw.client.patch(
        path, json={"version": 1, "name": "By key"}, headers={"X-API-Key": api_key}
    )
    assert reason_of(denied, 403, "PERMISSION_DENIED") == "ROLE_TOO_LOW"

    listed = await gw.client.get(
        "/v1/service-accounts/keys", params={"tenant_id": owner.tenant_id}, headers=auth
    )
    assert listed.status_code == 200, listed.text
    assert [k["id"] for k in listed.json()["keys"]] == [key["id"]]
    assert "api_key" not in listed.text and api_key not in listed.text

    exchanged = await gw.client.post("/v1/service-accounts/token", json={"api_key": api_key})
    assert exchanged.status_code == 200, exchanged.text
    assert set(exchanged.json()) == {"access_token", "expire_time"}
    direct = await gw.client.get(path, headers=bearer(exchanged.json()["access_token"]))
    assert direct.status_code == 200

    revoked = await gw.client.delete(
        f"/v1/service-accounts/keys/{key['id']}", params={"reason": "leaked"}, headers=auth
    )
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["revoke_time"] is not None and revoked.json()["revoke_reason"] == "leaked"
    assert key_digest(api_key) not in gw.api_keys.digests()
    for credentials in ({"Authorization": f"Bearer {api_key}"}, {"X-API-Key": api_key}):
        response = await gw.client.get(path, headers=credentials)
        assert reason_of(response, 401, "UNAUTHENTICATED") == "API_KEY_REVOKED"
    assert key_digest(api_key) not in gw.api_keys.digests()  # a refusal is not kept


async def test_the_exchange_is_cached_and_refusals_are_not(
    gw: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    owner, auth = await new_user(gw)
    api_key = (await create_key(gw, auth, owner.tenant_id))["api_key"]
    calls: list[str] = []
    original = ApiKeyHandlers.exchange_api_key

    async def counting(self: ApiKeyHandlers, request: ipb.ExchangeApiKeyRequest) -> Any:
        calls.append(request.api_key)
        return await original(self, request)

    monkeypatch.setattr(ApiKeyHandlers, "exchange_api_key", counting)
    path = f"/v1/tenants/{owner.tenant_id}"
    responses = await asyncio.gather(
        *(gw.client.get(path, headers={"X-API-Key": api_key}) for _ in range(5))
    )
    assert all(r.status_code == 200 for r in responses)
    assert (await gw.client.get(path, headers=bearer(api_key))).status_code == 200
    assert calls == [api_key]  # concurrent requests shared one exchange; later ones reused it

    forged = f"qdk_{uuid.uuid4().hex}.not-the-secret"
    for _ in range(2):
        response = await gw.client.get(path, headers={"X-API-Key": forged})
        assert reason_of(response, 401, "UNAUTHENTICATED") == "API_KEY_INVALID"
    assert calls == [api_key, forged, forged]
    assert key_digest(forged) not in gw.api_keys.digests()


async def test_an_api_key_keeps_working_after_the_signing_key_it_was_exchanged_under_retires(
    backend: str, databases: Databases
) -> None:
    # The gateway reuses an exchanged token for api_key_cache_seconds; a signing key retired
    # sooner than that made every request with the key 401 (the services refuse the token)
    # until the reuse ran out. Now a reused token that no longer verifies is exchanged afresh.
    async with (
        identity_stack(databases, backend, label="gateway-key-retired") as stack,
        running_gateway(stack, api_key_cache_seconds=3600, identity_jwks_cache_seconds=0.2) as gw,
        open_channel(stack.identity.target) as channel,
        open_channel(stack.tenancy.target) as tenancy_channel,
    ):
        owner, auth = await new_user(gw)
        api_key = (await create_key(gw, auth, owner.tenant_id))["api_key"]
        path = f"/v1/tenants/{owner.tenant_id}"
        assert (await gw.client.get(path, headers={"X-API-Key": api_key})).status_code == 200
        before = gw.api_keys.digests()

        identity = IdentityServiceStub(channel)
        operator_token, _ = await stack.state.issuer.access_token(
            Principal(subject=str(uuid.uuid4()), kind="user", platform_role=PLATFORM_OPERATOR)
        )
        as_operator = [(AUTHORIZATION_HEADER, f"Bearer {operator_token}")]
        rotated = await identity.RotateSigningKey(
            ipb.RotateSigningKeyRequest(overlap_seconds=3600), metadata=as_operator
        )
        new_operator_token, _ = await stack.state.issuer.access_token(
            Principal(subject=str(uuid.uuid4()), kind="user", platform_role=PLATFORM_OPERATOR)
        )
        await identity.RetireSigningKey(
            ipb.RetireSigningKeyRequest(kid=rotated.previous.kid),
            metadata=[(AUTHORIZATION_HEADER, f"Bearer {new_operator_token}")],
        )

        tenancy = TenancyServiceStub(tenancy_channel)

        async def old_key_refused() -> bool:
            try:
                await tenancy.ListTenants(tpb.ListTenantsRequest(), metadata=as_operator)
            except grpc.aio.AioRpcError as refused:
                return refused.code() == grpc.StatusCode.UNAUTHENTICATED
            return False

        await eventually(old_key_refused, "tenancy to refuse tokens of the retired key")

        async def key_answers() -> bool:
            response = await gw.client.get(path, headers={"X-API-Key": api_key})
            return response.status_code == 200

        await eventually(key_answers, "the API key to work under the new signing key")
        assert key_digest(api_key) in before and key_digest(api_key) in gw.api_keys.digests()


@pytest.mark.parametrize(
    "headers",
    [
        {"X-API-Key": "not-an-api-key"},
        {"X-API-Key": "qdk_x", "Authorization": "Bearer qdk_x"},
        [("X-API-Key", "qdk_a"), ("X-API-Key", "qdk_b")],
        {"X-API-Key": "qdk_" + "a" * 5000},
    ],
    ids=["not-a-key", "two-credentials", "two-keys", "outsized"],
)
async def test_malformed_api_key_headers_are_401(gw: Gateway, headers: Any) -> None:
    response = await gw.client.get(f"/v1/tenants/{uuid.uuid4()}", headers=headers)
    assert reason_of(response, 401, "UNAUTHENTICATED") == "UNAUTHENTICATED"


# -- Operators -----------------------------------------------------------------------------------


ADMIN_REQUESTS: list[tuple[str, str, dict[str, Any]]] = [
    ("GET", "/v1/admin/signing-keys", {}),
    ("POST", "/v1/admin/signing-keys/rotate", {"json": {"overlap_seconds": 60}}),
    ("POST", "/v1/admin/signing-keys/some-kid/retire", {}),
    ("GET", "/v1/admin/invites", {}),
    ("POST", "/v1/admin/invites", {"json": {"note": "hi"}}),
    ("POST", f"/v1/admin/invites/{uuid.uuid4()}/revoke", {}),
    ("GET", "/v1/admin/signup-requests", {}),
    ("POST", f"/v1/admin/signup-requests/{uuid.uuid4()}/decision", {"json": {"approve": True}}),
    ("POST", f"/v1/users/{uuid.uuid4()}/unlock", {}),
]


async def test_admin_endpoints_refuse_a_non_operator(gw: Gateway) -> None:
    owner, auth = await new_user(gw)
    for method, path, kwargs in ADMIN_REQUESTS:
        response = await gw.client.request(method, path, headers=auth, **kwargs)
        assert reason_of(response, 403, "PERMISSION_DENIED") == "OPERATOR_ONLY", path
        anonymous = await gw.client.request(method, path, **kwargs)
        error_of(anonymous, 401, "UNAUTHENTICATED")
    # A tenant's owner reads their own tenant's security events, and no one else's.
    own = await gw.client.get(
        "/v1/security-events", params={"tenant_id": owner.tenant_id}, headers=auth
    )
    assert own.status_code == 200, own.text
    everyone = await gw.client.get("/v1/security-events", headers=auth)
    assert "tenant_id" in violations(everyone)
    other = await gw.client.get(
        "/v1/security-events", params={"tenant_id": str(uuid.uuid4())}, headers=auth
    )
    assert reason_of(other, 403, "PERMISSION_DENIED") == "TENANT_MISMATCH"


async def test_operators_manage_invites_access_requests_and_users(gw: Gateway) -> None:
    auth = await operator(gw)
    keys = await gw.client.get("/v1/admin/signing-keys", headers=auth)
    assert keys.status_code == 200, keys.text
    assert any(k["state"] == "active" for k in keys.json()["keys"])

    created = await gw.client.post(
        "/v1/admin/invites",
        json={"invited_email": "invitee@example.com", "max_redemptions": 2, "note": "beta"},
        headers=auth,
    )
    assert created.status_code == 201, created.text
    invite = created.json()["invite"]
    assert created.json()["token"] and invite["status"] == "active"
    assert invite["max_redemptions"] == 2 and invite["expire_time"] is None
    listed = await gw.client.get("/v1/admin/invites", params={"page_size": 1000}, headers=auth)
    assert invite["id"] in {i["id"] for i in listed.json()["invites"]}
    revoked = await gw.client.post(
        f"/v1/admin/invites/{invite['id']}/revoke", json={"reason": "typo"}, headers=auth
    )
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["status"] == "revoked" and revoked.json()["revoke_time"]
    anyone = await gw.client.post("/v1/admin/invites", headers=auth)  # no body: the defaults
    assert anyone.status_code == 201, anyone.text
    assert anyone.json()["invite"]["invited_email"] is None
    assert anyone.json()["invite"]["max_redemptions"] == 1

    asked = await gw.client.post(
        "/v1/auth/access-requests", json={"email": f"req-{uuid.uuid4().hex[:6]}@example.com"}
    )
    request_id = asked.json()["id"]
    pending = await gw.client.get(
        "/v1/admin/signup-requests",
        params={"status": "pending", "page_size": 1000},
        headers=auth,
    )
    assert pending.status_code == 200, pending.text
    assert request_id in {r["id"] for r in pending.json()["requests"]}
    decided = await gw.client.post(
        f"/v1/admin/signup-requests/{request_id}/decision",
        json={"approve": True, "reason": "welcome"},
        headers=auth,
    )
    assert decided.status_code == 200, decided.text
    assert decided.json()["request"]["status"] == "approved" and decided.json()["invite_token"]
    twice = await gw.client.post(
        f"/v1/admin/signup-requests/{request_id}/decision", json={"approve": False}, headers=auth
    )
    assert reason_of(twice, 400, "FAILED_PRECONDITION") == "SIGNUP_REQUEST_DECIDED"

    locked = await make_user(gw.stack, status=UserStatus.LOCKED)
    unlocked = await gw.client.post(f"/v1/users/{locked.user_id}/unlock", headers=auth)
    assert unlocked.status_code == 200, unlocked.text
    assert unlocked.json()["id"] == locked.user_id and unlocked.json()["status"] == "active"
    assert set(await sign_in(gw, locked)) == {"tokens", "user"}

    events = await gw.client.get(
        "/v1/security-events",
        params={"user_id": locked.user_id, "event_type": "user_unlocked", "page_size": 10},
        headers=auth,
    )
    assert events.status_code == 200, events.text
    page = events.json()
    assert set(page) == {"events", "next_page_token"}
    for event in page["events"]:
        assert event["event_type"] == "user_unlocked" and event["user_id"] == locked.user_id
        assert is_rfc3339_utc(event["create_time"]) and isinstance(event["metadata"], dict)
    everything = await gw.client.get("/v1/security-events", params={"page_size": 5}, headers=auth)
    assert everything.status_code == 200 and len(everything.json()["events"]) == 5


# -- JWKS ----------------------------------------------------------------------------------------


async def test_jwks_is_standard_json_and_lists_the_signing_key(gw: Gateway) -> None:
    user = await make_user(gw.stack)
    access_token = (await tokens_of(gw, user))["access_token"]
    response = await gw.client.get("/.well-known/jwks.json")
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "public, max-age=60"
    jwks = response.json()
    assert set(jwks) == {"keys"} and jwks["keys"]
    for key in jwks["keys"]:
        assert set(key) == {"kty", "crv", "x", "y", "kid", "alg", "use"}
        assert (key["kty"], key["crv"], key["alg"], key["use"]) == ("EC", "P-256", "ES256", "sig")
    kid = jwt.get_unverified_header(access_token)["kid"]
    [jwk] = [key for key in jwks["keys"] if key["kid"] == kid]
    claims = jwt.decode(
        access_token,
        ECAlgorithm.from_jwk(jwk),
        algorithms=["ES256"],
        audience="quarterdeck",
    )
    assert claims["sub"] == user.user_id


# -- Bad input -----------------------------------------------------------------------------------


SIGNIN = "/v1/auth/signin"


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "field"),
    [
        ("POST", SIGNIN, {"json": {"email": "a@example.com"}}, "password"),
        ("POST", SIGNIN, {"json": {"email": 7, "password": "x"}}, "email"),
        ("POST", SIGNIN, {"json": {"email": "a@b.co", "password": "x", "extra": 1}}, "extra"),
        (
            "POST",
            SIGNIN,
            {
                "content": b'{"email": "a@b.co", "password": "\\ud800"}',
                "headers": {"content-type": "application/json"},
            },
            "password",
        ),
        ("POST", SIGNIN, {"json": {"email": "", "password": "x"}}, "email"),
        (
            "POST",
            SIGNIN,
            {"json": {"email": "a@b.co", "password": "x", "tenant_id": "t"}},
            "tenant_id",
        ),
        (
            "POST",
            SIGNIN,
            {
                "json": {"email": "a@b.co", "password": "x"},
                "headers": {"X-Device-Fingerprint": "f" * 300},
            },
            "X-Device-Fingerprint",
        ),
        (
            "POST",
            "/v1/auth/signup",
            {
                "json": {
                    "email": "not-an-email",
                    "password": STRONG_PASSWORD,
                    "tenant_name": "T",
                    "tenant_slug": "t-slug-ok",
                }
            },
            "email",
        ),
        ("POST", "/v1/auth/refresh", {"json": {}}, "refresh_token"),
        ("POST", "/v1/auth/password/reset-request", {"json": {"email": ""}}, "email"),
        ("POST", "/v1/auth/signin/mfa", {"json": {"mfa_token": "", "totp_code": "1"}}, "mfa_token"),
        ("GET", "/v1/sessions", {"params": {"page_size": -1}}, "page_size"),
        ("GET", "/v1/sessions", {"params": {"page_size": 2**31}}, "page_size"),
        ("DELETE", "/v1/sessions", {"params": {"keep_current": "maybe"}}, "keep_current"),
        ("DELETE", "/v1/sessions/not-a-uuid", {}, "session_id"),
        ("PATCH", "/v1/users/me", {"json": {}}, "body"),
        ("PATCH", "/v1/users/me", {"json": {"metadata": {"a": 2**60}}}, "metadata"),
        (
            "POST",
            "/v1/service-accounts/keys",
            {"json": {"tenant_id": "x", "account": "a", "expire_time": "2030-01-01T00:00:00"}},
            "expire_time",
        ),
        ("POST", "/v1/service-accounts/keys", {"json": {"account": "a"}}, "tenant_id"),
        ("GET", "/v1/service-accounts/keys", {"params": {"tenant_id": "nope"}}, "tenant_id"),
        ("POST", "/v1/admin/invites", {"json": {"max_redemptions": -1}}, "max_redemptions"),
        (
            "POST",
            "/v1/admin/signing-keys/rotate",
            {"json": {"overlap_seconds": -5}},
            "overlap_seconds",
        ),
        ("GET", "/v1/admin/signup-requests", {"params": {"status": "PENDING"}}, "status"),
        ("GET", "/v1/security-events", {"params": {"user_id": "nope"}}, "user_id"),
    ],
)
async def test_bad_input_is_400_naming_the_field(
    gw: Gateway, method: str, path: str, kwargs: dict[str, Any], field: str
) -> None:
    auth = await operator(gw)
    kwargs = {**kwargs, "headers": {**auth, **kwargs.get("headers", {})}}
    response = await gw.client.request(method, path, **kwargs)
    assert field in violations(response), response.text


async def test_openapi_documents_the_identity_surface(gw: Gateway) -> None:
    spec = (await gw.client.get("/openapi.json")).json()
    paths = spec["paths"]
    expected = {
        "/v1/auth/signup": {"post"},
        "/v1/auth/signin": {"post"},
        "/v1/auth/signin/mfa": {"post"},
        "/v1/auth/refresh": {"post"},
        "/v1/auth/signout": {"post"},
        "/v1/auth/access-requests": {"post"},
        "/v1/auth/password/change": {"post"},
        "/v1/auth/password/reset-request": {"post"},
        "/v1/auth/password/reset": {"post"},
        "/v1/users/me": {"get", "patch"},
        "/v1/users/me/mfa/totp": {"post"},
        "/v1/users/me/mfa/totp/{method_id}/confirm": {"post"},
        "/v1/users/me/mfa/totp/{method_id}": {"delete"},
        "/v1/users/me/mfa/recovery-codes": {"post"},
        "/v1/users/me/consents": {"get", "post"},
        "/v1/users/me/notification-preferences": {"get", "put"},
        "/v1/users/{user_id}/unlock": {"post"},
        "/v1/sessions": {"get", "delete"},
        "/v1/sessions/{session_id}": {"delete"},
        "/v1/service-accounts/keys": {"get", "post"},
        "/v1/service-accounts/keys/{key_id}": {"delete"},
        "/v1/service-accounts/token": {"post"},
        "/v1/admin/signing-keys": {"get"},
        "/v1/admin/signing-keys/rotate": {"post"},
        "/v1/admin/signing-keys/{kid}/retire": {"post"},
        "/v1/admin/invites": {"get", "post"},
        "/v1/admin/invites/{invite_id}/revoke": {"post"},
        "/v1/admin/signup-requests": {"get"},
        "/v1/admin/signup-requests/{request_id}/decision": {"post"},
        "/v1/security-events": {"get"},
        "/.well-known/jwks.json": {"get"},
    }
    for path, methods in expected.items():
        assert methods <= set(paths[path]), path
    schemas = spec["components"]["schemas"]
    assert {
        "SignedIn",
        "SignInChallenged",
        "TokenPair",
        "Session",
        "ApiKey",
        "JsonWebKeySet",
    } <= set(schemas)
    assert set(spec["components"]["securitySchemes"]) == {"bearer", "apiKey"}
    signin = paths["/v1/auth/signin"]["post"]["responses"]["200"]["content"]["application/json"]
    assert {ref["$ref"].rsplit("/", 1)[1] for ref in signin["schema"]["anyOf"]} == {
        "SignedIn",
        "SignInChallenged",
    }
    for path in paths.values():
        for operation in path.values():
            assert "422" not in operation["responses"]


async def test_rotation_through_the_gateway(gw: Gateway) -> None:
    """After the other tests of the stack: it changes which key signs."""
    auth = await operator(gw)
    rotated = await gw.client.post(
        "/v1/admin/signing-keys/rotate", json={"overlap_seconds": 3600}, headers=auth
    )
    assert rotated.status_code == 200, rotated.text
    active, previous = rotated.json()["active"], rotated.json()["previous"]
    assert active["state"] == "active" and previous["state"] == "retiring"
    assert is_rfc3339_utc(previous["retire_time"])
    kids = {k["kid"] for k in (await gw.client.get("/.well-known/jwks.json")).json()["keys"]}
    assert {active["kid"], previous["kid"]} <= kids
    user = await make_user(gw.stack)
    fresh = (await tokens_of(gw, user))["access_token"]
    assert jwt.get_unverified_header(fresh)["kid"] == active["kid"]
    # A new signer cannot be retired; the previous one can.
    refused = await gw.client.post(
        f"/v1/admin/signing-keys/{active['kid']}/retire", headers=await operator(gw)
    )
    assert reason_of(refused, 400, "FAILED_PRECONDITION") == "SIGNING_KEY_ACTIVE"
    retired = await gw.client.post(
        f"/v1/admin/signing-keys/{previous['kid']}/retire", headers=await operator(gw)
    )
    assert retired.status_code == 200, retired.text
    assert retired.json()["state"] == "retired"
    kids = {k["kid"] for k in (await gw.client.get("/.well-known/jwks.json")).json()["keys"]}
    assert previous["kid"] not in kids and active["kid"] in kids


# -- The pieces, without services ---------------------------------------------------------------


def expiring_in(seconds: float, token: str = "token") -> ipb.ExchangeApiKeyResponse:
    expire = Timestamp()
    expire.FromNanoseconds(int((time.time() + seconds) * 1e9))
    return ipb.ExchangeApiKeyResponse(access_token=token, expire_time=expire)


class FakeExchange:
    def __init__(self, lifetime: float = 900.0) -> None:
        self.calls: list[str] = []
        self.lifetime = lifetime
        self.refuse: set[str] = set()

    async def __call__(self, api_key: str) -> ipb.ExchangeApiKeyResponse:
        self.calls.append(api_key)
        await asyncio.sleep(0)
        if api_key in self.refuse:
            raise PermissionError(api_key)
        return expiring_in(self.lifetime, f"token-for-{api_key}-{len(self.calls)}")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_cache_reuses_until_its_max_age() -> None:
    exchange, clock = FakeExchange(), Clock()
    cache = ApiKeyTokens(exchange, max_entries=10, max_age_seconds=60, clock=clock)
    first = await cache.access_token("qdk_a")
    assert await cache.access_token("qdk_a") == first and exchange.calls == ["qdk_a"]
    assert cache.digests() == [key_digest("qdk_a")]
    clock.now += 61
    assert await cache.access_token("qdk_a") != first and len(exchange.calls) == 2


async def test_cache_stops_reusing_a_token_close_to_its_expiry() -> None:
    exchange, clock = FakeExchange(lifetime=EXPIRY_MARGIN_SECONDS + 10), Clock()
    cache = ApiKeyTokens(exchange, max_entries=10, max_age_seconds=600, clock=clock)
    await cache.access_token("qdk_a")
    clock.now += 9
    await cache.access_token("qdk_a")
    assert len(exchange.calls) == 1
    clock.now += 2
    await cache.access_token("qdk_a")
    assert len(exchange.calls) == 2
    # A token that expires within the margin is used once and never kept.
    short = ApiKeyTokens(
        FakeExchange(lifetime=EXPIRY_MARGIN_SECONDS / 2), max_entries=10, max_age_seconds=600
    )
    await short.access_token("qdk_b")
    assert short.digests() == []


async def test_cache_is_bounded_least_recently_used_first() -> None:
    exchange = FakeExchange()
    cache = ApiKeyTokens(exchange, max_entries=2, max_age_seconds=60)
    await cache.access_token("qdk_a")
    await cache.access_token("qdk_b")
    await cache.access_token("qdk_a")  # a is now the most recently used
    await cache.access_token("qdk_c")
    assert set(cache.digests()) == {key_digest("qdk_a"), key_digest("qdk_c")}
    assert len(cache) == 2


async def test_cache_shares_one_exchange_and_keeps_no_refusal() -> None:
    exchange = FakeExchange()
    cache = ApiKeyTokens(exchange, max_entries=10, max_age_seconds=60)
    tokens = await asyncio.gather(*(cache.access_token("qdk_a") for _ in range(10)))
    assert len(set(tokens)) == 1 and exchange.calls == ["qdk_a"]
    exchange.refuse.add("qdk_bad")
    for _ in range(2):
        with pytest.raises(PermissionError):
            await cache.access_token("qdk_bad")
    assert exchange.calls == ["qdk_a", "qdk_bad", "qdk_bad"]
    assert cache.digests() == [key_digest("qdk_a")]
    disabled = ApiKeyTokens(exchange, max_entries=10, max_age_seconds=0)
    await disabled.access_token("qdk_z")
    assert disabled.digests() == []


async def test_forget_key_drops_the_token_of_that_key_only() -> None:
    def signed(subject: str) -> str:
        return jwt.encode({"sub": subject}, "secret-for-the-test-only-32-bytes!", algorithm="HS256")

    tokens = {"qdk_a": signed("sa:key-a"), "qdk_b": signed("sa:key-b")}

    async def exchange(api_key: str) -> ipb.ExchangeApiKeyResponse:
        return expiring_in(900, tokens[api_key])

    cache = ApiKeyTokens(exchange, max_entries=10, max_age_seconds=60)
    await cache.access_token("qdk_a")
    await cache.access_token("qdk_b")
    cache.forget_key("key-a")
    assert cache.digests() == [key_digest("qdk_b")]

    # An exchange under way when a key is revoked is used, but not kept.
    release = asyncio.Event()

    async def slow(api_key: str) -> ipb.ExchangeApiKeyResponse:
        await release.wait()
        return expiring_in(900, tokens[api_key])

    slow_cache = ApiKeyTokens(slow, max_entries=10, max_age_seconds=60)
    pending = asyncio.ensure_future(slow_cache.access_token("qdk_a"))
    await asyncio.sleep(0)
    slow_cache.forget_key("key-a")
    release.set()
    assert await pending == tokens["qdk_a"]
    assert slow_cache.digests() == []


@pytest.mark.parametrize(
    ("peer", "forwarded", "trusted", "expected"),
    [
        ("10.0.0.5", ["198.51.100.7"], [], "10.0.0.5"),
        ("10.0.0.5", ["198.51.100.7"], ["10.0.0.0/8"], "198.51.100.7"),
        # A client cannot choose its address by writing further left.
        ("10.0.0.5", ["203.0.113.9, 198.51.100.7"], ["10.0.0.0/8"], "198.51.100.7"),
        ("10.0.0.5", ["203.0.113.9, 10.0.0.9"], ["10.0.0.0/8"], "203.0.113.9"),
        ("10.0.0.5", ["203.0.113.9", "10.0.0.9"], ["10.0.0.0/8"], "203.0.113.9"),
        ("10.0.0.5", ["garbage, 10.0.0.9"], ["10.0.0.0/8"], "10.0.0.9"),
        ("10.0.0.5", [], ["10.0.0.0/8"], "10.0.0.5"),
        ("192.0.2.1", ["198.51.100.7"], ["10.0.0.0/8"], "192.0.2.1"),
        ("::1", ["2001:db8::7"], ["::1"], "2001:db8::7"),
        (None, ["198.51.100.7"], ["10.0.0.0/8"], ""),
    ],
)
def test_client_address(
    peer: str | None, forwarded: list[str], trusted: list[str], expected: str
) -> None:
    networks = GatewaySettings(trusted_proxies=trusted).trusted_proxy_networks()
    assert client_address(peer, forwarded, networks) == expected


def test_trusted_proxies_must_be_addresses() -> None:
    with pytest.raises(ValueError, match="not an IP address"):
        GatewaySettings(trusted_proxies="10.0.0.0/8, proxy.local")
    assert GatewaySettings(trusted_proxies="10.0.0.0/8, ::1").trusted_proxies == (
        "10.0.0.0/8",
        "::1",
    )


@pytest.mark.parametrize(
    ("user_agent", "expected"),
    [
        (USER_AGENT, ("Linux", "Firefox", "desktop")),
        (OTHER_AGENT, ("iOS", "Safari", "mobile")),
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/126.0.0.0 Safari/537.36 Edg/126.0.0.0",
            ("Windows", "Edge", "desktop"),
        ),
        (
            "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/126.0.0.0 Mobile Safari/537.36",
            ("Android", "Chrome", "mobile"),
        ),
        ("curl/8.5.0", ("", "", "")),
        ("", ("", "", "")),
    ],
)
def test_describe_user_agent(user_agent: str, expected: tuple[str, str, str]) -> None:
    assert describe_user_agent(user_agent) == expected
