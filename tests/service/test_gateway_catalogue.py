"""The gateway's model catalogue, prices, usage pricing, tenants' model configurations and
onboarding, over a real in-process tenancy service, on SQLite and on PostgreSQL."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from cryptography.fernet import Fernet

from tests.support.gateway import (
    error_of,
    headers,
    is_rfc3339_utc,
    member,
    operator,
    reason_of,
    tenancy_gateway,
    unique,
    violations,
)
from tests.support.stack import Databases
from tests.support.tokens import TestIssuer

ENCRYPTION_KEY = Fernet.generate_key().decode()


@pytest.fixture(scope="module")
def issuer() -> TestIssuer:
    return TestIssuer()


@pytest.fixture(scope="module")
async def gateway(
    backend: str, databases: Databases, issuer: TestIssuer
) -> AsyncIterator[httpx.AsyncClient]:
    async with tenancy_gateway(
        databases,
        backend,
        "gateway-catalogue",
        issuer,
        provider_key_encryption_keys=ENCRYPTION_KEY,
    ) as running:
        yield running.client


def provider_key() -> str:
    return f"sk-test-{secrets.token_urlsafe(24)}"


async def new_model(
    gateway: httpx.AsyncClient, issuer: TestIssuer, **fields: Any
) -> dict[str, Any]:
    fields.setdefault("provider", "gwprov")
    fields.setdefault("model_name", unique("model"))
    fields.setdefault("display_name", "Test Model")
    response = await gateway.post("/v1/models", json=fields, headers=operator(issuer))
    assert response.status_code == 201, response.text
    return dict(response.json())


async def new_tenant(gateway: httpx.AsyncClient, issuer: TestIssuer) -> str:
    response = await gateway.post(
        "/v1/tenants", json={"slug": unique("t"), "name": "Acme"}, headers=operator(issuer)
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def soon(seconds: int = 2) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat()


# -- Models ------------------------------------------------------------------------------------


async def test_create_get_list_and_update_models(
    gateway: httpx.AsyncClient, issuer: TestIssuer
) -> None:
    provider = unique("p")
    created = await new_model(
        gateway,
        issuer,
        provider=provider,
        model_name="big-1",
        display_name="Big One",
        context_window=200_000,
        supports_tools=True,
        capabilities=["json_mode"],
        size_class="large",
        metadata={"family": "big", "rank": 1},
    )
    assert set(created) == {
        "id",
        "provider",
        "model_name",
        "display_name",
        "billing_unit",
        "context_window",
        "context_default_tokens",
        "supports_cache",
        "supports_tools",
        "supports_vision",
        "supports_web_search",
        "supports_fast_mode",
        "capabilities",
        "size_class",
        "is_active",
        "metadata",
        "version",
        "create_time",
        "update_time",
    }
    assert created["provider"] == provider and created["model_name"] == "big-1"
    assert created["billing_unit"] == "tokens" and created["size_class"] == "large"
    assert created["supports_tools"] is True and created["supports_cache"] is False
    assert created["metadata"] == {"family": "big", "rank": 1} and created["is_active"] is True
    assert created["version"] == 1 and is_rfc3339_utc(created["create_time"])
    small = await new_model(gateway, issuer, provider=provider, model_name="small-1")
    assert small["size_class"] == "medium"

    fetched = await gateway.get(f"/v1/models/{created['id']}", headers=member(issuer))
    assert fetched.status_code == 200, fetched.text
    assert fetched.json() == created

    # Any authenticated caller lists, filtered by provider and activity, page by page.
    first = await gateway.get(
        "/v1/models", params={"provider": provider, "page_size": 1}, headers=member(issuer)
    )
    assert first.status_code == 200, first.text
    assert [m["model_name"] for m in first.json()["models"]] == ["big-1"]
    token = first.json()["next_page_token"]
    assert token
    second = await gateway.get(
        "/v1/models",
        params={"provider": provider, "page_size": 1, "page_token": token},
        headers=member(issuer),
    )
    assert [m["model_name"] for m in second.json()["models"]] == ["small-1"]
    assert second.json()["next_page_token"] == ""

    # The mask is the body's fields: false is a value, fields left out stay.
    updated = await gateway.patch(
        f"/v1/models/{small['id']}",
        json={"version": 1, "is_active": False, "display_name": "Small (retired)"},
        headers=operator(issuer),
    )
    assert updated.status_code == 200, updated.text
    body = updated.json()
    assert body["is_active"] is False and body["display_name"] == "Small (retired)"
    assert body["version"] == 2 and body["size_class"] == "medium"

    inactive = await gateway.get(
        "/v1/models", params={"provider": provider, "active": "false"}, headers=member(issuer)
    )
    assert [m["id"] for m in inactive.json()["models"]] == [small["id"]]
    active = await gateway.get(
        "/v1/models", params={"provider": provider, "active": "true"}, headers=member(issuer)
    )
    assert [m["id"] for m in active.json()["models"]] == [created["id"]]

    stale = await gateway.patch(
        f"/v1/models/{small['id']}",
        json={"version": 1, "is_active": True},
        headers=operator(issuer),
    )
    assert reason_of(stale, 409, "ABORTED") == "VERSION_MISMATCH"


async def test_members_cannot_change_the_catalogue(
    gateway: httpx.AsyncClient, issuer: TestIssuer
) -> None:
    model = await new_model(gateway, issuer)
    create = await gateway.post(
        "/v1/models",
        json={"provider": "gwprov", "model_name": unique("m"), "display_name": "No"},
        headers=member(issuer, role="owner"),
    )
    error_of(create, 403, "PERMISSION_DENIED")
    update = await gateway.patch(
        f"/v1/models/{model['id']}",
        json={"version": 1, "display_name": "No"},
        headers=member(issuer),
    )
    error_of(update, 403, "PERMISSION_DENIED")
    price = await gateway.post(
        f"/v1/models/{model['id']}/prices", json={"input_per_mtok": "1"}, headers=member(issuer)
    )
    error_of(price, 403, "PERMISSION_DENIED")
    anonymous = await gateway.get("/v1/models")
    error_of(anonymous, 401, "UNAUTHENTICATED")


async def test_model_bodies_are_checked(gateway: httpx.AsyncClient, issuer: TestIssuer) -> None:
    model = await new_model(gateway, issuer)
    bad = await gateway.post(
        "/v1/models",
        json={"provider": "Bad Provider", "model_name": "x", "display_name": "X"},
        headers=operator(issuer),
    )
    assert "model.provider" in violations(bad)
    null = await gateway.patch(
        f"/v1/models/{model['id']}",
        json={"version": 1, "is_active": None},
        headers=operator(issuer),
    )
    assert set(violations(null)) == {"is_active"}
    fixed = await gateway.patch(
        f"/v1/models/{model['id']}",
        json={"version": 1, "provider": "other"},
        headers=operator(issuer),
    )
    assert set(violations(fixed)) == {"provider"}
    taken = await gateway.post(
        "/v1/models",
        json={"provider": "gwprov", "model_name": model["model_name"], "display_name": "Again"},
        headers=operator(issuer),
    )
    assert reason_of(taken, 409, "ALREADY_EXISTS") == "MODEL_NAME_TAKEN"


async def test_unknown_model_is_404(gateway: httpx.AsyncClient, issuer: TestIssuer) -> None:
    missing = str(uuid.uuid4())
    for response in (
        await gateway.get(f"/v1/models/{missing}", headers=member(issuer)),
        await gateway.get(f"/v1/models/{missing}/prices", headers=member(issuer)),
        await gateway.post(
            "/v1/usage/price",
            json={"model_id": missing, "input_tokens": 1},
            headers=member(issuer),
        ),
        await gateway.post(
            "/v1/usage/price",
            json={"model_ref": {"provider": "gwprov", "model_name": "nope"}},
            headers=member(issuer),
        ),
    ):
        assert reason_of(response, 404, "NOT_FOUND") == "MODEL_NOT_FOUND"


# -- Prices and usage --------------------------------------------------------------------------


async def test_set_and_list_prices(gateway: httpx.AsyncClient, issuer: TestIssuer) -> None:
    model = await new_model(gateway, issuer)
    prices = f"/v1/models/{model['id']}/prices"
    first = await gateway.post(
        prices,
        json={"input_per_mtok": "3", "output_per_mtok": "15", "effective_from": soon(1)},
        headers=operator(issuer),
    )
    assert first.status_code == 201, first.text
    assert first.json()["previous"] is None
    price = first.json()["price"]
    assert price["model_id"] == model["id"] and price["tier"] == "standard"
    assert (price["input_per_mtok"], price["output_per_mtok"]) == ("3.000000", "15.000000")
    assert price["cache_read_per_mtok"] == "0.000000" and price["source"] == "operator"
    assert price["effective_to"] is None and is_rfc3339_utc(price["effective_from"])

    second = await gateway.post(
        prices,
        json={"input_per_mtok": "2.5", "effective_from": soon(3600), "source": "provider_list"},
        headers=operator(issuer),
    )
    assert second.status_code == 201, second.text
    previous = second.json()["previous"]
    assert previous["id"] == price["id"]
    assert previous["effective_to"] == second.json()["price"]["effective_from"]
    batch = await gateway.post(
        prices, json={"tier": "batch", "input_per_mtok": "1.5"}, headers=operator(issuer)
    )
    assert batch.status_code == 201, batch.text

    listed = await gateway.get(prices, headers=member(issuer))
    assert listed.status_code == 200, listed.text
    assert len(listed.json()["prices"]) == 3
    standard = await gateway.get(prices, params={"tier": "standard"}, headers=member(issuer))
    assert [p["input_per_mtok"] for p in standard.json()["prices"]] == ["2.500000", "3.000000"]
    paged = await gateway.get(prices, params={"page_size": 2}, headers=member(issuer))
    assert len(paged.json()["prices"]) == 2 and paged.json()["next_page_token"]

    # Money is a decimal string, never a JSON number; the service checks the digits.
    number = await gateway.post(prices, json={"input_per_mtok": 3.5}, headers=operator(issuer))
    assert set(violations(number)) == {"input_per_mtok"}
    precise = await gateway.post(
        prices, json={"output_per_mtok": "0.0000001"}, headers=operator(issuer)
    )
    assert "price.output_per_mtok" in violations(precise)


async def test_price_usage_is_exact(gateway: httpx.AsyncClient, issuer: TestIssuer) -> None:
    model = await new_model(gateway, issuer)
    at = datetime.now(UTC) + timedelta(seconds=1)
    response = await gateway.post(
        f"/v1/models/{model['id']}/prices",
        json={
            "input_per_mtok": "3",
            "output_per_mtok": "15",
            "cache_write_per_mtok": "3.75",
            "cache_read_per_mtok": "0.3",
            "web_search_per_1k": "10",
            "neurons_per_1k": "0.011",
            "code_exec_per_second": "0.00005",
            "effective_from": at.isoformat(),
        },
        headers=operator(issuer),
    )
    assert response.status_code == 201, response.text
    quote = await gateway.post(
        "/v1/usage/price",
        json={
            "model_ref": {"provider": "gwprov", "model_name": model["model_name"]},
            "occurred_at": (at + timedelta(minutes=1)).isoformat(),
            "token_convention": "input_excludes_cached",
            "input_tokens": 1234,
            "output_tokens": 567,
            "cache_creation_tokens": 89,
            "cache_read_tokens": 10_000,
            "web_search_requests": 3,
            "code_exec_seconds": 7,
            "neurons": 333,
        },
        headers=member(issuer),
    )
    assert quote.status_code == 200, quote.text
    body = quote.json()
    assert body["model_id"] == model["id"] and body["tier"] == "standard"
    assert body["uncached_input_tokens"] == 1234
    assert body["price"]["id"] == response.json()["price"]["id"]
    usd = {name: money["amount"] for name, money in body["cost"].items()}
    assert {money["currency_code"] for money in body["cost"].values()} == {"USD"}
    assert usd == {
        "input": "0.003702000000",
        "output": "0.008505000000",
        "cache_write": "0.000333750000",
        "cache_read": "0.003000000000",
        "web_search": "0.030000000000",
        "code_exec": "0.000350000000",
        "neurons": "0.003663000000",
        "total": "0.049553750000",
    }

    # OpenAI's convention: the cached tokens are inside input_tokens and paid for once.
    included = await gateway.post(
        "/v1/usage/price",
        json={
            "model_id": model["id"],
            "occurred_at": (at + timedelta(minutes=1)).isoformat(),
            "token_convention": "input_includes_cached",
            "input_tokens": 10_000,
            "cache_read_tokens": 8_000,
        },
        headers=member(issuer),
    )
    assert included.status_code == 200, included.text
    assert included.json()["uncached_input_tokens"] == 2_000
    assert included.json()["cost"]["total"]["amount"] == "0.008400000000"

    # No price for the batch tier: a precondition, not a missing model.
    batch = await gateway.post(
        "/v1/usage/price",
        json={"model_id": model["id"], "input_tokens": 1, "batch": True},
        headers=member(issuer),
    )
    assert reason_of(batch, 400, "FAILED_PRECONDITION") == "NO_PRICE"


async def test_bad_usage_is_400_naming_the_field(
    gateway: httpx.AsyncClient, issuer: TestIssuer
) -> None:
    model_id = str(uuid.uuid4())
    negative = await gateway.post(
        "/v1/usage/price",
        json={"model_id": model_id, "output_tokens": -5},
        headers=member(issuer),
    )
    assert set(violations(negative)) == {"output_tokens"}
    no_convention = await gateway.post(
        "/v1/usage/price",
        json={"model_id": model_id, "input_tokens": 10, "cache_read_tokens": 5},
        headers=member(issuer),
    )
    assert set(violations(no_convention)) == {"token_convention"}
    no_model = await gateway.post(
        "/v1/usage/price", json={"input_tokens": 10}, headers=member(issuer)
    )
    assert set(violations(no_model)) == {"model_id"}
    both = await gateway.post(
        "/v1/usage/price",
        json={"model_id": model_id, "model_ref": {"provider": "a", "model_name": "b"}},
        headers=member(issuer),
    )
    assert set(violations(both)) == {"body"}
    anonymous = await gateway.post("/v1/usage/price", json={"model_id": model_id})
    error_of(anonymous, 401, "UNAUTHENTICATED")


# -- Model configuration -----------------------------------------------------------------------


async def test_model_config_round_trip_never_shows_the_key(
    gateway: httpx.AsyncClient, issuer: TestIssuer
) -> None:
    model = await new_model(gateway, issuer)
    other = await new_model(gateway, issuer)
    tenant_id = await new_tenant(gateway, issuer)
    path = f"/v1/tenants/{tenant_id}/model-config"
    owner = member(issuer, tenant_id, role="owner")
    admin = member(issuer, tenant_id, role="admin")
    key = provider_key()
    bodies: list[str] = []

    missing = await gateway.get(path, headers=owner)
    bodies.append(missing.text)
    assert reason_of(missing, 404, "NOT_FOUND") == "MODEL_CONFIG_NOT_FOUND"

    # Only owners set the key.
    refused = await gateway.put(
        path, json={"llm_model_id": model["id"], "api_key": key}, headers=admin
    )
    bodies.append(refused.text)
    error_of(refused, 403, "PERMISSION_DENIED")

    created = await gateway.put(
        path,
        json={"llm_model_id": model["id"], "api_key": key, "rate_limit_rpm": 120},
        headers=owner,
    )
    bodies.append(created.text)
    assert created.status_code == 200, created.text
    config = created.json()
    assert set(config) == {
        "tenant_id",
        "llm_model_id",
        "api_key_hint",
        "rate_limit_rpm",
        "rate_limit_tpm",
        "version",
        "create_time",
        "update_time",
    }
    assert config["tenant_id"] == tenant_id and config["llm_model_id"] == model["id"]
    assert config["api_key_hint"] == key[-4:] and config["rate_limit_rpm"] == 120
    assert config["rate_limit_tpm"] == 10_000 and config["version"] == 1

    read = await gateway.get(path, headers=member(issuer, tenant_id, role="viewer"))
    bodies.append(read.text)
    assert read.status_code == 200 and read.json() == config

    # Admins change the model and the limits, with the version they read.
    changed = await gateway.patch(
        path,
        json={"version": 1, "llm_model_id": other["id"], "rate_limit_tpm": 50_000},
        headers=admin,
    )
    bodies.append(changed.text)
    assert changed.status_code == 200, changed.text
    assert changed.json()["llm_model_id"] == other["id"]
    assert changed.json()["rate_limit_tpm"] == 50_000 and changed.json()["rate_limit_rpm"] == 120
    assert changed.json()["version"] == 2 and changed.json()["api_key_hint"] == key[-4:]

    new_key = provider_key()
    rotated = await gateway.patch(path, json={"version": 2, "api_key": new_key}, headers=owner)
    bodies.append(rotated.text)
    assert rotated.status_code == 200, rotated.text
    assert rotated.json()["api_key_hint"] == new_key[-4:]

    stale = await gateway.patch(path, json={"version": 1, "rate_limit_rpm": 5}, headers=admin)
    bodies.append(stale.text)
    assert reason_of(stale, 409, "ABORTED") == "VERSION_MISMATCH"
    bad_key = await gateway.patch(path, json={"version": 3, "api_key": "sk short"}, headers=owner)
    bodies.append(bad_key.text)
    assert set(violations(bad_key)) == {"config.api_key"}
    outsider = await gateway.get(path, headers=member(issuer, role="owner"))
    bodies.append(outsider.text)
    error_of(outsider, 403, "PERMISSION_DENIED")

    for text in bodies:
        assert key not in text and new_key not in text and "sk short" not in text
        assert '"api_key"' not in text


# -- Onboarding --------------------------------------------------------------------------------


async def test_onboarding_is_201_and_idempotent(
    gateway: httpx.AsyncClient, issuer: TestIssuer
) -> None:
    model = await new_model(gateway, issuer)
    key = provider_key()
    slug = unique("onb")
    owner_id, agent_id, tool_id = (str(uuid.uuid4()) for _ in range(3))
    grants = {
        "agent_grants": [{"agent_id": agent_id}],
        "tool_grants": [{"tool_id": tool_id, "enabled": False}],
    }
    body = {
        "tenant": {"slug": slug, "name": "Onboarded"},
        "owner_user_id": owner_id,
        "model_config": {"llm_model_id": model["id"], "api_key": key, "rate_limit_rpm": 30},
    }
    # Grants are stored by the tooling service, which this stack does not run: refused, and
    # nothing is made (test_tenancy_onboarding.py onboards with grants across both services).
    no_tooling = await gateway.post(
        "/v1/onboarding", json={**body, **grants}, headers=operator(issuer)
    )
    assert reason_of(no_tooling, 400, "FAILED_PRECONDITION") == "TOOLING_NOT_CONFIGURED"
    idempotency = {"Idempotency-Key": str(uuid.uuid4())}
    refused = await gateway.post(
        "/v1/onboarding", json=body, headers={**member(issuer, role="owner"), **idempotency}
    )
    error_of(refused, 403, "PERMISSION_DENIED")

    first = await gateway.post(
        "/v1/onboarding", json=body, headers={**operator(issuer), **idempotency}
    )
    assert first.status_code == 201, first.text
    onboarded = first.json()
    assert set(onboarded) == {"tenant", "model_config", "agent_grants", "tool_grants"}
    tenant_id = onboarded["tenant"]["id"]
    assert first.headers["Location"] == f"/v1/tenants/{tenant_id}"
    assert onboarded["tenant"]["slug"] == slug and onboarded["tenant"]["status"] == "active"
    config = onboarded["model_config"]
    assert config["tenant_id"] == tenant_id and config["api_key_hint"] == key[-4:]
    assert config["rate_limit_rpm"] == 30 and config["rate_limit_tpm"] == 10_000
    assert onboarded["agent_grants"] == [] and onboarded["tool_grants"] == []
    assert key not in first.text and '"api_key"' not in first.text

    again = await gateway.post(
        "/v1/onboarding", json=body, headers={**operator(issuer), **idempotency}
    )
    assert again.status_code == 201, again.text
    assert again.json() == onboarded

    # The owner it named may read the configuration.
    read = await gateway.get(
        f"/v1/tenants/{tenant_id}/model-config",
        headers=headers(issuer.member(tenant_id, role="owner", user_id=owner_id)),
    )
    assert read.status_code == 200 and read.json() == config

    # Without the key, the same slug is a conflict; nothing half-made is left behind.
    taken = await gateway.post("/v1/onboarding", json=body, headers=operator(issuer))
    assert reason_of(taken, 409, "ALREADY_EXISTS") == "TENANT_SLUG_TAKEN"
    invalid = await gateway.post(
        "/v1/onboarding",
        json={
            **body,
            "tenant": {"slug": unique("onb"), "name": "X"},
            "model_config": {"llm_model_id": "not-a-uuid", "api_key": key},
        },
        headers=operator(issuer),
    )
    assert set(violations(invalid)) == {"model_config.llm_model_id"}
    missing = await gateway.post(
        "/v1/onboarding",
        json={"tenant": {"slug": unique("onb"), "name": "X"}},
        headers=operator(issuer),
    )
    assert set(violations(missing)) == {"model_config"}


# -- OpenAPI -----------------------------------------------------------------------------------


async def test_openapi_documents_the_new_paths(gateway: httpx.AsyncClient) -> None:
    response = await gateway.get("/openapi.json")
    assert response.status_code == 200
    document = response.json()
    paths = document["paths"]
    assert set(paths["/v1/models"]) == {"get", "post"}
    assert set(paths["/v1/models/{model_id}"]) == {"get", "patch"}
    assert set(paths["/v1/models/{model_id}/prices"]) == {"get", "post"}
    assert set(paths["/v1/usage/price"]) == {"post"}
    assert set(paths["/v1/tenants/{tenant_id}/model-config"]) == {"get", "put", "patch"}
    assert set(paths["/v1/onboarding"]) == {"post"}
    assert not [path for path in paths if "reveal" in path.lower()]
    schemas = document["components"]["schemas"]
    assert "api_key" not in schemas["ModelConfig"]["properties"]
    assert schemas["Money"]["properties"]["amount"]["type"] == "string"
    key = schemas["SetModelConfigBody"]["properties"]["api_key"]
    assert key["anyOf"][0]["writeOnly"] is True
    onboard = paths["/v1/onboarding"]["post"]
    assert "201" in onboard["responses"]
    assert "Idempotency-Key" in {p["name"] for p in onboard["parameters"]}
    for path in ("/v1/models", "/v1/usage/price", "/v1/onboarding"):
        for operation in paths[path].values():
            assert "422" not in operation["responses"]
