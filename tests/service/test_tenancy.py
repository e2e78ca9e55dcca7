"""TenancyService over a real in-process gRPC server, on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import grpc
import pytest
from google.protobuf.field_mask_pb2 import FieldMask

from quarterdeck.tenancy.v1 import tenancy_pb2 as pb
from quarterdeck.tenancy.v1.tenancy_pb2_grpc import TenancyServiceStub
from services.tenancy.tenants import TenantHandlers
from shared.errors import ERROR_DOMAIN
from shared.grpc_client import open_channel
from tests.support.errors import rich_error
from tests.support.stack import Databases, running_service


@pytest.fixture(scope="module")
async def tenancy(backend: str, databases: Databases) -> AsyncIterator[TenancyServiceStub]:
    url = await databases.url(backend, "tenancy")
    async with running_service("tenancy", url) as running, open_channel(running.target) as channel:
        yield TenancyServiceStub(channel)


def unique_slug(prefix: str = "t") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


async def create(stub: TenancyServiceStub, **fields: object) -> pb.Tenant:
    fields.setdefault("slug", unique_slug())
    fields.setdefault("name", "Acme Corp")
    response = await stub.CreateTenant(pb.CreateTenantRequest(tenant=pb.Tenant(**fields)))
    return response.tenant


async def failure(call: object) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call  # type: ignore[misc]
    return caught.value


async def test_create_then_get_returns_the_same_tenant(tenancy: TenancyServiceStub) -> None:
    created = await create(tenancy, domain=f"{unique_slug('d')}.example.com")
    assert created.status == pb.TENANT_STATUS_ACTIVE
    assert created.version == 1
    assert uuid.UUID(created.id)
    fetched = (await tenancy.GetTenant(pb.GetTenantRequest(id=created.id))).tenant
    assert fetched == created
    settings = (
        await tenancy.GetTenantSettings(pb.GetTenantSettingsRequest(tenant_id=created.id))
    ).settings
    assert settings.tenant_id == created.id and settings.version == 1


@pytest.mark.parametrize(
    ("tenant", "field"),
    [
        (pb.Tenant(slug="", name="x"), "tenant.slug"),
        (pb.Tenant(slug="Has Space", name="x"), "tenant.slug"),
        (pb.Tenant(slug="-leading", name="x"), "tenant.slug"),
        (pb.Tenant(slug="a" * 65, name="x"), "tenant.slug"),
        (pb.Tenant(slug="fine", name="  "), "tenant.name"),
        (pb.Tenant(slug="fine", name="n" * 129), "tenant.name"),
        (pb.Tenant(slug="fine", name="x", domain="not a domain"), "tenant.domain"),
        (pb.Tenant(slug="fine", name="x", status=42), "tenant.status"),  # type: ignore[arg-type]
    ],
)
async def test_bad_input_is_invalid_argument_naming_the_field(
    tenancy: TenancyServiceStub, tenant: pb.Tenant, field: str
) -> None:
    error = rich_error(await failure(tenancy.CreateTenant(pb.CreateTenantRequest(tenant=tenant))))
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert field in error.field_violations
    assert error.domain == ERROR_DOMAIN and error.reason == "INVALID_ARGUMENT"


async def test_duplicate_slug_or_domain_is_already_exists_and_changes_nothing(
    tenancy: TenancyServiceStub,
) -> None:
    domain = f"{unique_slug('d')}.example.org"
    original = await create(tenancy, domain=domain)
    error = rich_error(await failure(create(tenancy, slug=original.slug, name="Other")))
    assert error.code == grpc.StatusCode.ALREADY_EXISTS
    assert error.reason == "TENANT_SLUG_TAKEN" and error.metadata["field"] == "tenant.slug"
    error = rich_error(await failure(create(tenancy, domain=domain)))
    assert error.code == grpc.StatusCode.ALREADY_EXISTS and error.reason == "TENANT_DOMAIN_TAKEN"
    assert (await tenancy.GetTenant(pb.GetTenantRequest(id=original.id))).tenant == original


async def test_repeated_request_id_returns_the_first_response(tenancy: TenancyServiceStub) -> None:
    request = pb.CreateTenantRequest(
        tenant=pb.Tenant(slug=unique_slug(), name="Once"), request_id=str(uuid.uuid4())
    )
    first = await tenancy.CreateTenant(request)
    again = await tenancy.CreateTenant(request)
    assert again == first


async def test_concurrent_duplicates_create_one_tenant(tenancy: TenancyServiceStub) -> None:
    request = pb.CreateTenantRequest(
        tenant=pb.Tenant(slug=unique_slug(), name="Racer"), request_id=str(uuid.uuid4())
    )
    responses = await asyncio.gather(*(tenancy.CreateTenant(request) for _ in range(8)))
    assert len({r.tenant.id for r in responses}) == 1


async def test_request_id_reused_for_another_request_is_refused(
    tenancy: TenancyServiceStub,
) -> None:
    request_id = str(uuid.uuid4())
    await tenancy.CreateTenant(
        pb.CreateTenantRequest(
            tenant=pb.Tenant(slug=unique_slug(), name="A"), request_id=request_id
        )
    )
    other = pb.CreateTenantRequest(
        tenant=pb.Tenant(slug=unique_slug(), name="B"), request_id=request_id
    )
    error = rich_error(await failure(tenancy.CreateTenant(other)))
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert "request_id" in error.field_violations


async def test_missing_tenant_is_not_found_and_malformed_id_is_invalid(
    tenancy: TenancyServiceStub,
) -> None:
    error = rich_error(await failure(tenancy.GetTenant(pb.GetTenantRequest(id=str(uuid.uuid4())))))
    assert error.code == grpc.StatusCode.NOT_FOUND and error.reason == "TENANT_NOT_FOUND"
    error = rich_error(await failure(tenancy.GetTenant(pb.GetTenantRequest(id="nope"))))
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT and "id" in error.field_violations


async def test_pages_cover_every_tenant_once_in_creation_order(tenancy: TenancyServiceStub) -> None:
    mine = {(await create(tenancy, status=pb.TENANT_STATUS_SUSPENDED)).id for _ in range(7)}
    seen: list[pb.Tenant] = []
    token = ""
    while True:
        page = await tenancy.ListTenants(
            pb.ListTenantsRequest(page_size=3, page_token=token, status=pb.TENANT_STATUS_SUSPENDED)
        )
        assert len(page.tenants) <= 3
        seen.extend(page.tenants)
        token = page.next_page_token
        if not token:
            break
    ids = [t.id for t in seen]
    assert len(ids) == len(set(ids))
    assert mine <= set(ids)
    assert all(t.status == pb.TENANT_STATUS_SUSPENDED for t in seen)
    order = [(t.create_time.ToNanoseconds(), t.id) for t in seen]
    assert order == sorted(order)


async def test_page_token_is_bound_to_its_query(tenancy: TenancyServiceStub) -> None:
    for _ in range(3):
        await create(tenancy)
    page = await tenancy.ListTenants(pb.ListTenantsRequest(page_size=1))
    assert page.next_page_token
    assert str(uuid.UUID(int=0)) not in page.next_page_token
    for bad in [
        pb.ListTenantsRequest(
            page_size=1, page_token=page.next_page_token, status=pb.TENANT_STATUS_ACTIVE
        ),
        pb.ListTenantsRequest(page_size=1, page_token=page.next_page_token[:-2] + "xx"),
        pb.ListTenantsRequest(page_token="not-a-token"),
    ]:
        error = rich_error(await failure(tenancy.ListTenants(bad)))
        assert error.code == grpc.StatusCode.INVALID_ARGUMENT
        assert "page_token" in error.field_violations
    error = rich_error(await failure(tenancy.ListTenants(pb.ListTenantsRequest(page_size=-1))))
    assert "page_size" in error.field_violations


async def test_update_applies_only_masked_fields(tenancy: TenancyServiceStub) -> None:
    tenant = await create(tenancy, name="Before")
    update = pb.Tenant(id=tenant.id, version=tenant.version, name="After", slug="ignored-slug")
    updated = (
        await tenancy.UpdateTenant(
            pb.UpdateTenantRequest(tenant=update, update_mask=FieldMask(paths=["name"]))
        )
    ).tenant
    assert updated.name == "After" and updated.slug == tenant.slug
    assert updated.version == tenant.version + 1
    assert updated.update_time.ToNanoseconds() >= tenant.update_time.ToNanoseconds()


async def test_stale_version_is_aborted_and_changes_nothing(tenancy: TenancyServiceStub) -> None:
    tenant = await create(tenancy)
    mask = FieldMask(paths=["name"])
    current = (
        await tenancy.UpdateTenant(
            pb.UpdateTenantRequest(
                tenant=pb.Tenant(id=tenant.id, version=1, name="v2"), update_mask=mask
            )
        )
    ).tenant
    error = rich_error(
        await failure(
            tenancy.UpdateTenant(
                pb.UpdateTenantRequest(
                    tenant=pb.Tenant(id=tenant.id, version=1, name="lost"), update_mask=mask
                )
            )
        )
    )
    assert error.code == grpc.StatusCode.ABORTED and error.metadata["current_version"] == "2"
    assert (await tenancy.GetTenant(pb.GetTenantRequest(id=tenant.id))).tenant == current


async def test_concurrent_updates_of_one_version_let_exactly_one_win(
    tenancy: TenancyServiceStub,
) -> None:
    tenant = await create(tenancy)
    mask = FieldMask(paths=["name"])
    results = await asyncio.gather(
        *(
            tenancy.UpdateTenant(
                pb.UpdateTenantRequest(
                    tenant=pb.Tenant(id=tenant.id, version=1, name=f"writer {i}"), update_mask=mask
                )
            )
            for i in range(5)
        ),
        return_exceptions=True,
    )
    winners = [r for r in results if isinstance(r, pb.UpdateTenantResponse)]
    losers = [r for r in results if isinstance(r, grpc.aio.AioRpcError)]
    assert len(winners) == 1 and len(losers) == 4
    assert all(e.code() == grpc.StatusCode.ABORTED for e in losers)
    final = (await tenancy.GetTenant(pb.GetTenantRequest(id=tenant.id))).tenant
    assert final.version == 2 and final.name == winners[0].tenant.name


async def test_update_rejects_unknown_paths_missing_version_and_taken_slug(
    tenancy: TenancyServiceStub,
) -> None:
    first, second = await create(tenancy), await create(tenancy)
    cases = [
        (pb.Tenant(id=first.id, version=1, name="x"), ["id"], grpc.StatusCode.INVALID_ARGUMENT),
        (pb.Tenant(id=first.id, name="x"), ["name"], grpc.StatusCode.INVALID_ARGUMENT),
        (
            pb.Tenant(id=first.id, version=1, slug=second.slug),
            ["slug"],
            grpc.StatusCode.ALREADY_EXISTS,
        ),
        (pb.Tenant(id=str(uuid.uuid4()), version=1, name="x"), ["name"], grpc.StatusCode.NOT_FOUND),
    ]
    for tenant, paths, code in cases:
        request = pb.UpdateTenantRequest(tenant=tenant, update_mask=FieldMask(paths=paths))
        assert (await failure(tenancy.UpdateTenant(request))).code() == code
    assert (await tenancy.GetTenant(pb.GetTenantRequest(id=first.id))).tenant == first


async def test_settings_update_validates_and_versions(tenancy: TenancyServiceStub) -> None:
    tenant = await create(tenancy)
    settings = pb.TenantSettings(
        tenant_id=tenant.id,
        version=1,
        billing_contacts=["billing@acme.com"],
        billing_webhook_url="https://acme.com/hooks/billing",
    )
    settings.flags.update({"beta": True})
    updated = (
        await tenancy.UpdateTenantSettings(pb.UpdateTenantSettingsRequest(settings=settings))
    ).settings
    assert list(updated.billing_contacts) == ["billing@acme.com"]
    assert updated.flags["beta"] is True and updated.version == 2
    bad = pb.TenantSettings(
        tenant_id=tenant.id, version=2, billing_contacts=["nope"], billing_webhook_url="ftp://x"
    )
    error = rich_error(
        await failure(tenancy.UpdateTenantSettings(pb.UpdateTenantSettingsRequest(settings=bad)))
    )
    assert set(error.field_violations) == {
        "settings.billing_contacts[0]",
        "settings.billing_webhook_url",
    }
    not_json = pb.TenantSettings(tenant_id=tenant.id, version=2)
    not_json.flags.update({"ratio": float("nan"), "nested": {"limit": float("inf")}})
    error = rich_error(
        await failure(
            tenancy.UpdateTenantSettings(
                pb.UpdateTenantSettingsRequest(
                    settings=not_json, update_mask=FieldMask(paths=["flags"])
                )
            )
        )
    )
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert "settings.flags" in error.field_violations
    stale = pb.TenantSettings(tenant_id=tenant.id, version=1, billing_webhook_url="https://b.io")
    error = rich_error(
        await failure(tenancy.UpdateTenantSettings(pb.UpdateTenantSettingsRequest(settings=stale)))
    )
    assert error.code == grpc.StatusCode.ABORTED
    fetched = await tenancy.GetTenantSettings(pb.GetTenantSettingsRequest(tenant_id=tenant.id))
    assert fetched.settings == updated


async def test_a_call_past_its_deadline_is_cancelled_not_completed(
    tenancy: TenancyServiceStub, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = TenantHandlers._flush_unique
    started = asyncio.Event()

    async def slow_flush(self: TenantHandlers, session: object, tenant: pb.Tenant) -> None:
        started.set()
        await asyncio.sleep(1.0)
        await original(self, session, tenant)  # type: ignore[arg-type]

    monkeypatch.setattr(TenantHandlers, "_flush_unique", slow_flush)
    slug = unique_slug("late")
    request = pb.CreateTenantRequest(tenant=pb.Tenant(slug=slug, name="Too late"))
    error = await failure(tenancy.CreateTenant(request, timeout=0.3))
    assert error.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert started.is_set()
    monkeypatch.setattr(TenantHandlers, "_flush_unique", original)
    await asyncio.sleep(1.2)  # past the point where the slow call would have committed
    created = await create(tenancy, slug=slug)  # the slug is still free: nothing was written
    assert created.slug == slug
