"""Identity end to end: sign up through the gateway, sign in with TOTP, create an API key and use
it from a separate process against another service, rotate the signing key and watch old and new
tokens verify until the old key retires; then look for every secret used in every database file
and in everything the platform logged."""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import httpx
import jwt
import pyotp

from tests.e2e.conftest import E2E_MARKS, Platform
from tests.support.waiting import eventually_sync

pytestmark = E2E_MARKS

PASSWORD = "Quiet-Lagoon-Sailing-77"

#: Run in another process: exchange the API key at identity, then read the tenant at tenancy.
SEPARATE_PROCESS = textwrap.dedent(
    """
    import json, sys, grpc
    from quarterdeck.identity.v1 import identity_pb2, identity_pb2_grpc
    from quarterdeck.tenancy.v1 import tenancy_pb2, tenancy_pb2_grpc
    identity_target, tenancy_target, api_key, tenant_id = sys.argv[1:5]
    with grpc.insecure_channel(identity_target) as channel:
        token = identity_pb2_grpc.IdentityServiceStub(channel).ExchangeApiKey(
            identity_pb2.ExchangeApiKeyRequest(api_key=api_key)
        ).access_token
    with grpc.insecure_channel(tenancy_target) as channel:
        tenant = tenancy_pb2_grpc.TenancyServiceStub(channel).GetTenant(
            tenancy_pb2.GetTenantRequest(id=tenant_id),
            metadata=[("authorization", "Bearer " + token)],
        ).tenant
    print(json.dumps({"slug": tenant.slug, "kid": __import__("jwt").get_unverified_header(token)["kid"]}))
    """
)


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def kid_of(token: str) -> str:
    return str(jwt.get_unverified_header(token)["kid"])


def call(client: httpx.Client, method: str, path: str, expected: int, **kwargs: Any) -> Any:
    response = client.request(method, path, **kwargs)
    assert response.status_code == expected, (path, response.status_code, response.text)
    return response.json() if response.content else None


def test_sign_up_totp_api_key_rotation_and_no_secret_in_clear(
    platform: Platform, operator_token: str
) -> None:
    used_secrets: dict[str, str] = {"password": PASSWORD}
    email = f"founder-{secrets.token_hex(4)}@example.com"
    slug = f"crew-{secrets.token_hex(4)}"
    with httpx.Client(base_url=platform.gateway, timeout=30) as gateway:
        # Sign up: a user, a tenant and its owner membership, and a first session.
        signed_up = call(
            gateway,
            "POST",
            "/v1/auth/signup",
            201,
            json={"email": email, "password": PASSWORD, "tenant_name": "Crew", "tenant_slug": slug},
            headers={"user-agent": "e2e-browser/1.0"},
        )
        tokens = signed_up["tokens"]
        tenant_id = tokens["tenant_id"]
        assert tokens["role"] == "owner"
        used_secrets["first refresh token"] = tokens["refresh_token"]
        call(
            gateway, "GET", f"/v1/tenants/{tenant_id}", 200, headers=bearer(tokens["access_token"])
        )

        # Enrol TOTP; the secret and the recovery codes are shown once.
        enrollment = call(
            gateway,
            "POST",
            "/v1/users/me/mfa/totp",
            201,
            json={},
            headers=bearer(tokens["access_token"]),
        )
        totp = pyotp.TOTP(enrollment["secret"])
        used_secrets["totp secret"] = enrollment["secret"]
        codes = call(
            gateway,
            "POST",
            f"/v1/users/me/mfa/totp/{enrollment['method_id']}/confirm",
            200,
            json={"code": totp.now()},
            headers=bearer(tokens["access_token"]),
        )["recovery_codes"]
        used_secrets.update({f"recovery code {i}": code for i, code in enumerate(codes)})

        # Sign in again: the password alone only earns a challenge; TOTP completes it. The
        # confirmation used this window's code, which is accepted once, so answer with the next.
        challenged = call(
            gateway, "POST", "/v1/auth/signin", 200, json={"email": email, "password": PASSWORD}
        )
        assert "tokens" not in challenged
        mfa_token = challenged["mfa_challenge"]["mfa_token"]
        used_secrets["mfa token"] = mfa_token
        signed_in = call(
            gateway,
            "POST",
            "/v1/auth/signin/mfa",
            200,
            json={"mfa_token": mfa_token, "totp_code": totp.at(time.time() + 30)},
        )["tokens"]
        used_secrets["refresh token"] = signed_in["refresh_token"]
        old_token = signed_in["access_token"]

        # An API key for the tenant, used from another process against the tenancy service.
        created = call(
            gateway,
            "POST",
            "/v1/service-accounts/keys",
            201,
            json={
                "tenant_id": tenant_id,
                "account": "ci-deployer",
                "scopes": ["tenancy.read"],
                "role": "viewer",
            },
            headers=bearer(old_token),
        )
        api_key = created["api_key"]
        used_secrets["api key"] = api_key
        used_secrets["api key secret"] = api_key.split(".", 1)[1]
        elsewhere = subprocess.run(
            [
                sys.executable,
                "-c",
                SEPARATE_PROCESS,
                platform.target("identity"),
                platform.target("tenancy"),
                api_key,
                tenant_id,
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert elsewhere.returncode == 0, elsewhere.stderr
        assert json.loads(elsewhere.stdout)["slug"] == slug
        call(gateway, "GET", f"/v1/tenants/{tenant_id}", 200, headers={"x-api-key": api_key})

        # Rotate: the old key keeps verifying for the overlap, the new one verifies at once.
        overlap = 6
        rotated = call(
            gateway,
            "POST",
            "/v1/admin/signing-keys/rotate",
            200,
            json={"overlap_seconds": overlap},
            headers=bearer(operator_token),
        )
        old_kid, new_kid = rotated["previous"]["kid"], rotated["active"]["kid"]
        assert kid_of(old_token) == old_kid and new_kid != old_kid
        refreshed = call(
            gateway,
            "POST",
            "/v1/auth/refresh",
            200,
            json={"refresh_token": signed_in["refresh_token"]},
        )["tokens"]
        new_token = refreshed["access_token"]
        used_secrets["rotated refresh token"] = refreshed["refresh_token"]
        assert kid_of(new_token) == new_kid
        published = {
            key["kid"] for key in call(gateway, "GET", "/.well-known/jwks.json", 200)["keys"]
        }
        assert {old_kid, new_kid} <= published
        for token in (old_token, new_token):
            call(gateway, "GET", f"/v1/tenants/{tenant_id}", 200, headers=bearer(token))
        reexchanged = subprocess.run(
            [
                sys.executable,
                "-c",
                SEPARATE_PROCESS,
                platform.target("identity"),
                platform.target("tenancy"),
                api_key,
                tenant_id,
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert json.loads(reexchanged.stdout)["kid"] == new_kid

        # Past the overlap the old key retires everywhere: its tokens are refused, new ones not.
        refusals: list[httpx.Response] = []

        def old_token_refused() -> bool:
            response = gateway.get(f"/v1/tenants/{tenant_id}", headers=bearer(old_token))
            refusals.append(response)
            return response.status_code != 200

        # The overlap, plus the services' one-second JWKS cache.
        eventually_sync(old_token_refused, f"the old key to retire {overlap} s after rotation")
        refused = refusals[-1]
        assert refused.status_code == 401
        reasons = [d.get("reason") for d in refused.json()["error"]["details"]]
        assert "UNKNOWN_SIGNING_KEY" in reasons
        call(gateway, "GET", f"/v1/tenants/{tenant_id}", 200, headers=bearer(new_token))
        assert old_kid not in {
            key["kid"] for key in call(gateway, "GET", "/.well-known/jwks.json", 200)["keys"]
        }

    # No secret was stored or logged in clear, anywhere.
    stored = b"".join(path.read_bytes() for path in sorted(Path(platform.data_dir).glob("*.db*")))
    logged = platform.output.text
    for name, value in used_secrets.items():
        assert value.encode() not in stored, f"{name} is stored in clear"
        assert value not in logged, f"{name} was logged"
