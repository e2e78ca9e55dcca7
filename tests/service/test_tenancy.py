"""TenancyService over a real in-process gRPC server, on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from google.protobuf.field_mask_pb2 import FieldMask

from quarterdeck.identity.v1 import identity_pb2 as ipb
from quarterdeck.telemetry.v1 import activity_pb2 as apb
from quarterdeck.telemetry.v1.activity_pb2_grpc import ActivityServiceStub
from quarterdeck.tenancy.v1 import tenancy_pb2 as pb
from quarterdeck.tenancy.v1.tenancy_pb2_grpc import TenancyServiceStub
from services.identity.models import User
from services.identity.sessions.opening import open_session
from services.tenancy.tenants.handlers.tenants import TenantHandlers
from shared.activity_link import ActivityLink
from shared.auth import AUTHORIZATION_HEADER, Principal
from shared.errors import ERROR_DOMAIN
from shared.grpc_client import open_channel
from shared.tenant_status import TenantStatusClient
from tests.support.errors import failure, rich_error
from tests.support.identity_users import make_user
from tests.support.stack import (
    Databases,
    FeedStack,
    IdentityStack,
    feed_stack,
    running_service,
)
from tests.support.tokens import TestIssuer
from tests.support.waiting import DEFAULT_WAIT_SECONDS


@pytest.fixture(scope="module")
def issuer() -> TestIssuer:
    return TestIssuer()


@pytest.fixture(scope="module")
async def tenancy(
    backend: str, databases: Databases, issuer: TestIssuer
) -> AsyncIterator[TenancyServiceStub]:
    url = await databases.url(backend, "tenancy")
    async with (
        running_service("tenancy", url, authenticator=issuer.authenticator()) as running,
        open_channel(running.target) as channel,
    ):
        yield TenancyServiceStub(channel)


def unique_slug(prefix: str = "t") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


async def create(stub: TenancyServiceStub, issuer: TestIssuer, **fields: object) -> pb.Tenant:
    """Creates a tenant as a platform operator, the only users who may."""
    fields.setdefault("slug", unique_slug())
    fields.setdefault("name", "Acme Corp")
    response = await stub.CreateTenant(
        pb.CreateTenantRequest(tenant=pb.Tenant(**fields)), metadata=issuer.operator()
    )
    return response.tenant


def bearer(token: str) -> list[tuple[str, str]]:
    return [(AUTHORIZATION_HEADER, f"Bearer {token}")]


async def test_create_then_get_returns_the_same_tenant(
    tenancy: TenancyServiceStub, issuer: TestIssuer
) -> None:
    created = await create(tenancy, issuer, domain=f"{unique_slug('d')}.example.com")
    assert created.status == pb.TENANT_STATUS_ACTIVE
    assert created.version == 1
    assert uuid.UUID(created.id)
    owner = issuer.member(created.id, "owner")
    fetched = (await tenancy.GetTenant(pb.GetTenantRequest(id=created.id), metadata=owner)).tenant
    assert fetched == created
    settings = (
        await tenancy.GetTenantSettings(
            pb.GetTenantSettingsRequest(tenant_id=created.id),
            metadata=issuer.member(created.id, "viewer"),
        )
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
    tenancy: TenancyServiceStub, issuer: TestIssuer, tenant: pb.Tenant, field: str
) -> None:
    error = rich_error(
        await failure(
            tenancy.CreateTenant(pb.CreateTenantRequest(tenant=tenant), metadata=issuer.operator())
        )
    )
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert field in error.field_violations
    assert error.domain == ERROR_DOMAIN and error.reason == "INVALID_ARGUMENT"


async def test_duplicate_slug_or_domain_is_already_exists_and_changes_nothing(
    tenancy: TenancyServiceStub, issuer: TestIssuer
) -> None:
    domain = f"{unique_slug('d')}.example.org"
    original = await create(tenancy, issuer, domain=domain)
    error = rich_error(await failure(create(tenancy, issuer, slug=original.slug, name="Other")))
    assert error.code == grpc.StatusCode.ALREADY_EXISTS
    assert error.reason == "TENANT_SLUG_TAKEN" and error.metadata["field"] == "tenant.slug"
    error = rich_error(await failure(create(tenancy, issuer, domain=domain)))
    assert error.code == grpc.StatusCode.ALREADY_EXISTS and error.reason == "TENANT_DOMAIN_TAKEN"
    fetched = await tenancy.GetTenant(
        pb.GetTenantRequest(id=original.id), metadata=issuer.member(original.id, "viewer")
    )
    assert fetched.tenant == original


async def test_repeated_request_id_returns_the_first_response(
    tenancy: TenancyServiceStub, issuer: TestIssuer
) -> None:
    request = pb.CreateTenantRequest(
        tenant=pb.Tenant(slug=unique_slug(), name="Once"), request_id=str(uuid.uuid4())
    )
    first = await tenancy.CreateTenant(request, metadata=issuer.operator())
    again = await tenancy.CreateTenant(request, metadata=issuer.operator())
    assert again == first


async def test_concurrent_duplicates_create_one_tenant(
    tenancy: TenancyServiceStub, issuer: TestIssuer
) -> None:
    request = pb.CreateTenantRequest(
        tenant=pb.Tenant(slug=unique_slug(), name="Racer"), request_id=str(uuid.uuid4())
    )
    operator = issuer.operator()
    responses = await asyncio.gather(
        *(tenancy.CreateTenant(request, metadata=operator) for _ in range(8))
    )
    assert len({r.tenant.id for r in responses}) == 1


async def test_request_id_reused_for_another_request_is_refused(
    tenancy: TenancyServiceStub, issuer: TestIssuer
) -> None:
    request_id = str(uuid.uuid4())
    await tenancy.CreateTenant(
        pb.CreateTenantRequest(
            tenant=pb.Tenant(slug=unique_slug(), name="A"), request_id=request_id
        ),
        metadata=issuer.operator(),
    )
    other = pb.CreateTenantRequest(
        tenant=pb.Tenant(slug=unique_slug(), name="B"), request_id=request_id
    )
    error = rich_error(await failure(tenancy.CreateTenant(other, metadata=issuer.operator())))
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert "request_id" in error.field_violations


async def test_missing_tenant_is_not_found_and_malformed_id_is_invalid(
    tenancy: TenancyServiceStub, issuer: TestIssuer
) -> None:
    missing = str(uuid.uuid4())
    for metadata in (issuer.operator(), issuer.member(missing, "owner")):
        error = rich_error(
            await failure(tenancy.GetTenant(pb.GetTenantRequest(id=missing), metadata=metadata))
        )
        assert error.code == grpc.StatusCode.NOT_FOUND and error.reason == "TENANT_NOT_FOUND"
    error = rich_error(
        await failure(tenancy.GetTenant(pb.GetTenantRequest(id="nope"), metadata=issuer.operator()))
    )
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT and "id" in error.field_violations


async def test_pages_cover_every_tenant_once_in_creation_order(
    tenancy: TenancyServiceStub, issuer: TestIssuer
) -> None:
    mine = {(await create(tenancy, issuer, status=pb.TENANT_STATUS_SUSPENDED)).id for _ in range(7)}
    seen: list[pb.Tenant] = []
    token = ""
    while True:
        page = await tenancy.ListTenants(
            pb.ListTenantsRequest(page_size=3, page_token=token, status=pb.TENANT_STATUS_SUSPENDED),
            metadata=issuer.operator(),
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


async def test_page_token_is_bound_to_its_query(
    tenancy: TenancyServiceStub, issuer: TestIssuer
) -> None:
    for _ in range(3):
        await create(tenancy, issuer)
    operator = issuer.operator()
    page = await tenancy.ListTenants(pb.ListTenantsRequest(page_size=1), metadata=operator)
    assert page.next_page_token
    assert str(uuid.UUID(int=0)) not in page.next_page_token
    for bad in [
        pb.ListTenantsRequest(
            page_size=1, page_token=page.next_page_token, status=pb.TENANT_STATUS_ACTIVE
        ),
        pb.ListTenantsRequest(page_size=1, page_token=page.next_page_token[:-2] + "xx"),
        pb.ListTenantsRequest(page_token="not-a-token"),
    ]:
        error = rich_error(await failure(tenancy.ListTenants(bad, metadata=operator)))
        assert error.code == grpc.StatusCode.INVALID_ARGUMENT
        assert "page_token" in error.field_violations
    error = rich_error(
        await failure(tenancy.ListTenants(pb.ListTenantsRequest(page_size=-1), metadata=operator))
    )
    assert "page_size" in error.field_violations


async def test_update_applies_only_masked_fields(
    tenancy: TenancyServiceStub, issuer: TestIssuer
) -> None:
    tenant = await create(tenancy, issuer, name="Before")
    update = pb.Tenant(id=tenant.id, version=tenant.version, name="After", slug="ignored-slug")
    updated = (
        await tenancy.UpdateTenant(
            pb.UpdateTenantRequest(tenant=update, update_mask=FieldMask(paths=["name"])),
            metadata=issuer.member(tenant.id, "admin"),
        )
    ).tenant
    assert updated.name == "After" and updated.slug == tenant.slug
    assert updated.version == tenant.version + 1
    assert updated.update_time.ToNanoseconds() >= tenant.update_time.ToNanoseconds()


async def test_stale_version_is_aborted_and_changes_nothing(
    tenancy: TenancyServiceStub, issuer: TestIssuer
) -> None:
    tenant = await create(tenancy, issuer)
    admin = issuer.member(tenant.id, "admin")
    mask = FieldMask(paths=["name"])
    current = (
        await tenancy.UpdateTenant(
            pb.UpdateTenantRequest(
                tenant=pb.Tenant(id=tenant.id, version=1, name="v2"), update_mask=mask
            ),
            metadata=admin,
        )
    ).tenant
    error = rich_error(
        await failure(
            tenancy.UpdateTenant(
                pb.UpdateTenantRequest(
                    tenant=pb.Tenant(id=tenant.id, version=1, name="lost"), update_mask=mask
                ),
                metadata=admin,
            )
        )
    )
    assert error.code == grpc.StatusCode.ABORTED and error.metadata["current_version"] == "2"
    fetched = await tenancy.GetTenant(pb.GetTenantRequest(id=tenant.id), metadata=admin)
    assert fetched.tenant == current


async def test_concurrent_updates_of_one_version_let_exactly_one_win(
    tenancy: TenancyServiceStub, issuer: TestIssuer
) -> None:
    tenant = await create(tenancy, issuer)
    admin = issuer.member(tenant.id, "admin")
    mask = FieldMask(paths=["name"])
    results = await asyncio.gather(
        *(
            tenancy.UpdateTenant(
                pb.UpdateTenantRequest(
                    tenant=pb.Tenant(id=tenant.id, version=1, name=f"writer {i}"), update_mask=mask
                ),
                metadata=admin,
            )
            for i in range(5)
        ),
        return_exceptions=True,
    )
    winners = [r for r in results if isinstance(r, pb.UpdateTenantResponse)]
    losers = [r for r in results if isinstance(r, grpc.aio.AioRpcError)]
    assert len(winners) == 1 and len(losers) == 4
    assert all(e.code() == grpc.StatusCode.ABORTED for e in losers)
    final = (await tenancy.GetTenant(pb.GetTenantRequest(id=tenant.id), metadata=admin)).tenant
    assert final.version == 2 and final.name == winners[0].tenant.name


async def test_update_rejects_unknown_paths_missing_version_and_taken_slug(
    tenancy: TenancyServiceStub, issuer: TestIssuer
) -> None:
    first, second = await create(tenancy, issuer), await create(tenancy, issuer)
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
        admin = issuer.member(tenant.id, "admin")
        assert (await failure(tenancy.UpdateTenant(request, metadata=admin))).code() == code
    fetched = await tenancy.GetTenant(
        pb.GetTenantRequest(id=first.id), metadata=issuer.member(first.id, "viewer")
    )
    assert fetched.tenant == first


async def test_settings_update_validates_and_versions(
    tenancy: TenancyServiceStub, issuer: TestIssuer
) -> None:
    tenant = await create(tenancy, issuer)
    admin = issuer.member(tenant.id, "admin")
    settings = pb.TenantSettings(
        tenant_id=tenant.id,
        version=1,
        billing_contacts=["billing@acme.com"],
        billing_webhook_url="https://acme.com/hooks/billing",
    )
    settings.flags.update({"beta": True})
    updated = (
        await tenancy.UpdateTenantSettings(
            pb.UpdateTenantSettingsRequest(settings=settings), metadata=admin
        )
    ).settings
    assert list(updated.billing_contacts) == ["billing@acme.com"]
    assert updated.flags["beta"] is True and updated.version == 2
    bad = pb.TenantSettings(
        tenant_id=tenant.id, version=2, billing_contacts=["nope"], billing_webhook_url="ftp://x"
    )
    error = rich_error(
        await failure(
            tenancy.UpdateTenantSettings(
                pb.UpdateTenantSettingsRequest(settings=bad), metadata=admin
            )
        )
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
                ),
                metadata=admin,
            )
        )
    )
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert "settings.flags" in error.field_violations
    stale = pb.TenantSettings(tenant_id=tenant.id, version=1, billing_webhook_url="https://b.io")
    error = rich_error(
        await failure(
            tenancy.UpdateTenantSettings(
                pb.UpdateTenantSettingsRequest(settings=stale), metadata=admin
            )
        )
    )
    assert error.code == grpc.StatusCode.ABORTED
    fetched = await tenancy.GetTenantSettings(
        pb.GetTenantSettingsRequest(tenant_id=tenant.id),
        metadata=issuer.member(tenant.id, "viewer"),
    )
    assert fetched.settings == updated


async def test_a_call_past_its_deadline_is_cancelled_not_completed(
    tenancy: TenancyServiceStub, issuer: TestIssuer, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = TenantHandlers._flush_unique
    started, cancelled, never = asyncio.Event(), asyncio.Event(), asyncio.Event()

    async def stuck_flush(self: TenantHandlers, session: object, tenant: pb.Tenant) -> None:
        started.set()
        try:
            await never.wait()  # held until the deadline cancels the handler
        except asyncio.CancelledError:
            cancelled.set()
            raise
        await original(self, session, tenant)  # type: ignore[arg-type]

    monkeypatch.setattr(TenantHandlers, "_flush_unique", stuck_flush)
    slug = unique_slug("late")
    request = pb.CreateTenantRequest(tenant=pb.Tenant(slug=slug, name="Too late"))
    error = await failure(tenancy.CreateTenant(request, timeout=0.3, metadata=issuer.operator()))
    assert error.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert started.is_set()
    # The handler is cancelled, not left to commit later.
    await asyncio.wait_for(cancelled.wait(), DEFAULT_WAIT_SECONDS)
    monkeypatch.setattr(TenantHandlers, "_flush_unique", original)
    created = await create(tenancy, issuer, slug=slug)  # the slug is still free: nothing written
    assert created.slug == slug


# Authorization: who may call what. Every refusal leaves the data as it was.


def every_call(tenant_id: str) -> dict[str, object]:
    """One request per method, each naming ``tenant_id`` where it names a tenant."""
    return {
        "CreateTenant": pb.CreateTenantRequest(tenant=pb.Tenant(slug=unique_slug(), name="X")),
        "ListTenants": pb.ListTenantsRequest(),
        "GetTenant": pb.GetTenantRequest(id=tenant_id),
        "UpdateTenant": pb.UpdateTenantRequest(
            tenant=pb.Tenant(id=tenant_id, version=1, name="Changed"),
            update_mask=FieldMask(paths=["name"]),
        ),
        "GetTenantSettings": pb.GetTenantSettingsRequest(tenant_id=tenant_id),
        "UpdateTenantSettings": pb.UpdateTenantSettingsRequest(
            settings=pb.TenantSettings(tenant_id=tenant_id, version=1, billing_contacts=["a@b.co"])
        ),
        "PurgeTenant": pb.PurgeTenantRequest(id=tenant_id),
    }


async def assert_unchanged(stub: TenancyServiceStub, issuer: TestIssuer, tenant: pb.Tenant) -> None:
    operator = issuer.operator()
    assert (await stub.GetTenant(pb.GetTenantRequest(id=tenant.id), metadata=operator)).tenant == (
        tenant
    )
    settings = await stub.GetTenantSettings(
        pb.GetTenantSettingsRequest(tenant_id=tenant.id), metadata=operator
    )
    assert settings.settings.version == 1 and not settings.settings.billing_contacts


async def test_a_call_without_a_token_is_unauthenticated(
    tenancy: TenancyServiceStub, issuer: TestIssuer
) -> None:
    tenant = await create(tenancy, issuer)
    calls = every_call(tenant.id)
    for method, request in calls.items():
        error = rich_error(await failure(getattr(tenancy, method)(request)))
        assert error.code == grpc.StatusCode.UNAUTHENTICATED, method
        assert error.reason == "UNAUTHENTICATED", method
    await assert_unchanged(tenancy, issuer, tenant)
    slug = calls["CreateTenant"].tenant.slug  # type: ignore[attr-defined]
    assert (await create(tenancy, issuer, slug=slug)).slug == slug  # nothing was created


async def test_a_token_for_another_tenant_is_refused_and_changes_nothing(
    tenancy: TenancyServiceStub, issuer: TestIssuer
) -> None:
    mine, theirs = await create(tenancy, issuer), await create(tenancy, issuer)
    owner_of_mine = issuer.member(mine.id, "owner")
    calls = every_call(theirs.id)
    for method in ("GetTenant", "UpdateTenant", "GetTenantSettings", "UpdateTenantSettings"):
        error = rich_error(
            await failure(getattr(tenancy, method)(calls[method], metadata=owner_of_mine))
        )
        assert error.code == grpc.StatusCode.PERMISSION_DENIED, method
        assert error.reason == "TENANT_MISMATCH", method
    await assert_unchanged(tenancy, issuer, theirs)


async def test_a_viewer_or_member_reads_but_cannot_update(
    tenancy: TenancyServiceStub, issuer: TestIssuer
) -> None:
    tenant = await create(tenancy, issuer)
    calls = every_call(tenant.id)
    for role in ("viewer", "member"):
        token = issuer.member(tenant.id, role)
        assert (await tenancy.GetTenant(calls["GetTenant"], metadata=token)).tenant == tenant
        await tenancy.GetTenantSettings(calls["GetTenantSettings"], metadata=token)
        for method in ("UpdateTenant", "UpdateTenantSettings"):
            error = rich_error(
                await failure(getattr(tenancy, method)(calls[method], metadata=token))
            )
            assert error.code == grpc.StatusCode.PERMISSION_DENIED, (role, method)
            assert error.reason == "ROLE_TOO_LOW", (role, method)
    await assert_unchanged(tenancy, issuer, tenant)


async def test_only_an_operator_changes_a_tenants_status(
    tenancy: TenancyServiceStub, issuer: TestIssuer
) -> None:
    tenant = await create(tenancy, issuer)
    for role in ("admin", "owner"):
        for paths in (["status"], ["name", "status"]):
            request = pb.UpdateTenantRequest(
                tenant=pb.Tenant(
                    id=tenant.id, version=1, name="Renamed", status=pb.TENANT_STATUS_DELETED
                ),
                update_mask=FieldMask(paths=paths),
            )
            error = rich_error(
                await failure(
                    tenancy.UpdateTenant(request, metadata=issuer.member(tenant.id, role))
                )
            )
            assert error.code == grpc.StatusCode.PERMISSION_DENIED
            assert error.reason == "OPERATOR_ONLY"
    await assert_unchanged(tenancy, issuer, tenant)
    suspended = await tenancy.UpdateTenant(
        pb.UpdateTenantRequest(
            tenant=pb.Tenant(id=tenant.id, version=1, status=pb.TENANT_STATUS_SUSPENDED),
            update_mask=FieldMask(paths=["status"]),
        ),
        metadata=issuer.operator(),
    )
    assert suspended.tenant.status == pb.TENANT_STATUS_SUSPENDED


async def test_a_tenant_member_cannot_create_tenants(
    tenancy: TenancyServiceStub, issuer: TestIssuer
) -> None:
    tenant = await create(tenancy, issuer)
    calls = every_call(tenant.id)
    for role in ("owner", "viewer"):
        token = issuer.member(tenant.id, role)
        error = rich_error(
            await failure(tenancy.CreateTenant(calls["CreateTenant"], metadata=token))
        )
        assert error.code == grpc.StatusCode.PERMISSION_DENIED, role
        assert error.reason == "OPERATOR_ONLY", role
    slug = calls["CreateTenant"].tenant.slug  # type: ignore[attr-defined]
    assert (await create(tenancy, issuer, slug=slug)).slug == slug  # nothing was created
    # Quarterdeck's own services may list, as operators do.
    listed = await tenancy.ListTenants(
        pb.ListTenantsRequest(page_size=1), metadata=issuer.internal()
    )
    assert len(listed.tenants) == 1


async def test_a_user_lists_the_tenants_they_belong_to_and_no_others(
    tenancy: TenancyServiceStub, issuer: TestIssuer
) -> None:
    user_id = str(uuid.uuid4())
    first = await create(tenancy, issuer)
    second = await create(tenancy, issuer)
    stranger = await create(tenancy, issuer)
    for tenant, role in ((first, pb.MEMBERSHIP_ROLE_OWNER), (second, pb.MEMBERSHIP_ROLE_VIEWER)):
        await tenancy.AddMembership(
            pb.AddMembershipRequest(
                membership=pb.Membership(tenant_id=tenant.id, user_id=user_id, role=role)
            ),
            metadata=issuer.operator(),
        )
    # Whichever tenant the token is for, the list is every tenant of the user's.
    token = issuer.member(second.id, "viewer", user_id=user_id)
    page = await tenancy.ListTenants(pb.ListTenantsRequest(page_size=1), metadata=token)
    listed = [t.id for t in page.tenants]
    page = await tenancy.ListTenants(
        pb.ListTenantsRequest(page_size=1, page_token=page.next_page_token), metadata=token
    )
    listed += [t.id for t in page.tenants]
    assert listed == [first.id, second.id] and not page.next_page_token
    assert stranger.id not in listed
    # A page token of the user's list is bound to it: another user cannot page on with it.
    first_page = await tenancy.ListTenants(pb.ListTenantsRequest(page_size=1), metadata=token)
    other = issuer.member(stranger.id, "owner")
    error = rich_error(
        await failure(
            tenancy.ListTenants(
                pb.ListTenantsRequest(page_size=1, page_token=first_page.next_page_token),
                metadata=other,
            )
        )
    )
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT


async def test_expired_forged_and_malformed_tokens_are_unauthenticated(
    tenancy: TenancyServiceStub, issuer: TestIssuer
) -> None:
    tenant = await create(tenancy, issuer)
    owner = Principal(subject=str(uuid.uuid4()), kind="user", tenant_id=tenant.id, role="owner")
    stranger = TestIssuer()  # a key the service has never seen
    impostor = TestIssuer()  # a key of its own, claiming the trusted key's kid
    impostor.kid = issuer.kid
    cases = [
        (bearer(issuer.token(owner, ttl_seconds=-120)), "TOKEN_EXPIRED"),
        (bearer(stranger.token(owner)), "UNKNOWN_SIGNING_KEY"),
        (bearer(impostor.token(owner)), "TOKEN_INVALID"),
        (bearer("not-a-jwt"), "TOKEN_MALFORMED"),
        ([(AUTHORIZATION_HEADER, f"Basic {issuer.token(owner)}")], "TOKEN_MALFORMED"),
    ]
    for metadata, reason in cases:
        for method, request in every_call(tenant.id).items():
            error = rich_error(await failure(getattr(tenancy, method)(request, metadata=metadata)))
            assert error.code == grpc.StatusCode.UNAUTHENTICATED, (reason, method)
            assert error.reason == reason, method
    await assert_unchanged(tenancy, issuer, tenant)


async def test_purge_is_for_internal_callers_and_removes_everything_the_tenant_owns(
    tenancy: TenancyServiceStub, issuer: TestIssuer
) -> None:
    owner_id, member_id = str(uuid.uuid4()), str(uuid.uuid4())
    request_id = str(uuid.uuid4())
    create_request = pb.CreateTenantRequest(
        tenant=pb.Tenant(slug=unique_slug("purge"), name="Doomed"),
        request_id=request_id,
        owner_user_id=owner_id,
    )
    tenant = (await tenancy.CreateTenant(create_request, metadata=issuer.operator())).tenant
    owner = issuer.member(tenant.id, "owner", owner_id)
    await tenancy.AddMembership(
        pb.AddMembershipRequest(
            membership=pb.Membership(
                tenant_id=tenant.id, user_id=member_id, role=pb.MEMBERSHIP_ROLE_MEMBER
            )
        ),
        metadata=owner,
    )
    await tenancy.UpdateTenantSettings(
        pb.UpdateTenantSettingsRequest(
            settings=pb.TenantSettings(tenant_id=tenant.id, version=1, billing_contacts=["a@b.co"])
        ),
        metadata=owner,
    )
    purge = pb.PurgeTenantRequest(id=tenant.id)
    for metadata in (issuer.operator(), owner, issuer.member(tenant.id, "admin")):
        error = rich_error(await failure(tenancy.PurgeTenant(purge, metadata=metadata)))
        assert error.code == grpc.StatusCode.PERMISSION_DENIED and error.reason == "INTERNAL_ONLY"
    assert (await tenancy.GetTenant(pb.GetTenantRequest(id=tenant.id), metadata=owner)).tenant == (
        tenant
    )

    await tenancy.PurgeTenant(purge, metadata=issuer.internal())

    operator = issuer.operator()
    for call in (
        tenancy.GetTenant(pb.GetTenantRequest(id=tenant.id), metadata=operator),
        tenancy.GetTenantSettings(
            pb.GetTenantSettingsRequest(tenant_id=tenant.id), metadata=operator
        ),
        tenancy.PurgeTenant(purge, metadata=issuer.internal()),
    ):
        error = rich_error(await failure(call))
        assert error.code == grpc.StatusCode.NOT_FOUND and error.reason == "TENANT_NOT_FOUND"
    for user_id in (owner_id, member_id):
        memberships = await tenancy.ListMemberships(
            pb.ListMembershipsRequest(user_id=user_id), metadata=operator
        )
        assert list(memberships.memberships) == []
    # Replaying the create answers as the first time (AIP-155) but does not bring the tenant
    # back: a late duplicate of a sign-up's CreateTenant cannot resurrect what was undone.
    replayed = await tenancy.CreateTenant(create_request, metadata=operator)
    assert replayed.tenant == tenant
    error = rich_error(
        await failure(tenancy.GetTenant(pb.GetTenantRequest(id=tenant.id), metadata=operator))
    )
    assert error.code == grpc.StatusCode.NOT_FOUND
    memberships = await tenancy.ListMemberships(
        pb.ListMembershipsRequest(user_id=owner_id), metadata=operator
    )
    assert list(memberships.memberships) == []


# ----- lifecycle other services check -----


async def test_check_tenant_status_answers_each_id_of_a_batch(
    tenancy: TenancyServiceStub, issuer: TestIssuer
) -> None:
    active = await create(tenancy, issuer)
    suspended = await create(tenancy, issuer)
    await tenancy.SuspendTenant(
        pb.SuspendTenantRequest(id=suspended.id, reason="unpaid invoices"),
        metadata=issuer.operator(),
    )
    unknown = str(uuid.uuid4())
    response = await tenancy.CheckTenantStatus(
        pb.CheckTenantStatusRequest(tenant_ids=[active.id, suspended.id, unknown, active.id]),
        metadata=issuer.internal("agents"),
    )
    assert [(c.tenant_id, c.found, c.status, c.may_act) for c in response.checks] == [
        (active.id, True, pb.TENANT_STATUS_ACTIVE, True),
        (suspended.id, True, pb.TENANT_STATUS_SUSPENDED, False),
        (unknown, False, pb.TENANT_STATUS_UNSPECIFIED, False),
    ]
    # Operators may ask too; a member only about its own tenant.
    by_operator = await tenancy.CheckTenantStatus(
        pb.CheckTenantStatusRequest(tenant_ids=[suspended.id]), metadata=issuer.operator()
    )
    assert not by_operator.checks[0].may_act
    own = await tenancy.CheckTenantStatus(
        pb.CheckTenantStatusRequest(tenant_ids=[active.id]),
        metadata=issuer.member(active.id, "viewer"),
    )
    assert own.checks[0].may_act
    error = rich_error(
        await failure(
            tenancy.CheckTenantStatus(
                pb.CheckTenantStatusRequest(tenant_ids=[active.id, suspended.id]),
                metadata=issuer.member(active.id, "owner"),
            )
        )
    )
    assert error.code == grpc.StatusCode.PERMISSION_DENIED


@pytest.mark.parametrize(
    ("ids", "field"),
    [([], "tenant_ids"), (["not-a-uuid"], "tenant_ids[0]"), ([str(uuid.uuid4())] * 501, None)],
)
async def test_check_tenant_status_refuses_bad_ids_by_field(
    tenancy: TenancyServiceStub, issuer: TestIssuer, ids: list[str], field: str | None
) -> None:
    if field is None:  # 501 distinct ids
        ids = [str(uuid.uuid4()) for _ in range(501)]
        field = "tenant_ids"
    error = rich_error(
        await failure(
            tenancy.CheckTenantStatus(
                pb.CheckTenantStatusRequest(tenant_ids=ids), metadata=issuer.internal()
            )
        )
    )
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert field in error.field_violations


async def test_suspend_reactivate_delete_are_guarded_and_deleted_is_final(
    tenancy: TenancyServiceStub, issuer: TestIssuer
) -> None:
    tenant = await create(tenancy, issuer)
    operator = issuer.operator()
    # Only operators move a tenant through its lifecycle, not even its owner.
    error = rich_error(
        await failure(
            tenancy.SuspendTenant(
                pb.SuspendTenantRequest(id=tenant.id), metadata=issuer.member(tenant.id, "owner")
            )
        )
    )
    assert error.code == grpc.StatusCode.PERMISSION_DENIED
    suspended = (
        await tenancy.SuspendTenant(pb.SuspendTenantRequest(id=tenant.id), metadata=operator)
    ).tenant
    assert suspended.status == pb.TENANT_STATUS_SUSPENDED and suspended.version == 2
    again = (
        await tenancy.SuspendTenant(pb.SuspendTenantRequest(id=tenant.id), metadata=operator)
    ).tenant
    assert again.version == 2  # suspending a suspended tenant changes nothing
    active = (
        await tenancy.ReactivateTenant(pb.ReactivateTenantRequest(id=tenant.id), metadata=operator)
    ).tenant
    assert active.status == pb.TENANT_STATUS_ACTIVE
    deleted = (
        await tenancy.DeleteTenant(pb.DeleteTenantRequest(id=tenant.id), metadata=operator)
    ).tenant
    assert deleted.status == pb.TENANT_STATUS_DELETED
    for call in (
        tenancy.ReactivateTenant(pb.ReactivateTenantRequest(id=tenant.id), metadata=operator),
        tenancy.SuspendTenant(pb.SuspendTenantRequest(id=tenant.id), metadata=operator),
        tenancy.UpdateTenant(
            pb.UpdateTenantRequest(
                tenant=pb.Tenant(
                    id=tenant.id, status=pb.TENANT_STATUS_ACTIVE, version=deleted.version
                ),
                update_mask=FieldMask(paths=["status"]),
            ),
            metadata=operator,
        ),
    ):
        error = rich_error(await failure(call))
        assert error.code == grpc.StatusCode.FAILED_PRECONDITION
        assert error.reason == "TENANT_DELETED"
    fetched = (await tenancy.GetTenant(pb.GetTenantRequest(id=tenant.id), metadata=operator)).tenant
    assert fetched.status == pb.TENANT_STATUS_DELETED and fetched.version == deleted.version
    error = rich_error(
        await failure(
            tenancy.SuspendTenant(pb.SuspendTenantRequest(id=str(uuid.uuid4())), metadata=operator)
        )
    )
    assert error.code == grpc.StatusCode.NOT_FOUND
    error = rich_error(
        await failure(
            tenancy.SuspendTenant(
                pb.SuspendTenantRequest(id=tenant.id, reason="x" * 513), metadata=operator
            )
        )
    )
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT and "reason" in error.field_violations


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_tenant_status_client_caches_until_the_ttl_then_sees_a_suspension(
    tenancy: TenancyServiceStub, issuer: TestIssuer
) -> None:
    tenant = await create(tenancy, issuer)
    unknown = str(uuid.uuid4())
    clock = FakeClock()
    internal = issuer.internal("agents")

    async def metadata() -> list[tuple[str, str]]:
        return internal

    client = TenantStatusClient(tenancy, metadata, ttl_seconds=5.0, clock=clock)
    assert await client.may_act(tenant.id)
    assert await client.may_act(tenant.id.upper())  # the same tenant, however it is spelled
    assert client.calls == 1
    await tenancy.SuspendTenant(pb.SuspendTenantRequest(id=tenant.id), metadata=issuer.operator())
    clock.now += 4.9
    assert await client.may_act(tenant.id)  # still the cached answer, within the TTL
    assert client.calls == 1
    clock.now += 0.2  # past the TTL: the suspension takes effect
    statuses = await client.check([tenant.id, unknown])
    assert [(s.found, s.status, s.may_act) for s in statuses] == [
        (True, "suspended", False),
        (False, "unknown", False),
    ]
    assert client.calls == 2  # both asked in one batch
    assert not await client.may_act(unknown)  # unknown tenants are cached too
    assert client.calls == 2
    await tenancy.ReactivateTenant(
        pb.ReactivateTenantRequest(id=tenant.id), metadata=issuer.operator()
    )
    client.forget(tenant.id)
    assert await client.may_act(tenant.id)
    assert client.calls == 3
    with pytest.raises(ValueError, match="is not a UUID"):
        await client.may_act("not-a-uuid")


async def test_concurrent_misses_of_one_tenant_share_one_lookup_and_failures_fail_closed(
    tenancy: TenancyServiceStub, issuer: TestIssuer
) -> None:
    tenant = await create(tenancy, issuer)
    internal = issuer.internal("agents")

    async def metadata() -> list[tuple[str, str]]:
        return internal

    client = TenantStatusClient(tenancy, metadata, ttl_seconds=5.0)
    answers = await asyncio.gather(*(client.may_act(tenant.id) for _ in range(20)))
    assert all(answers) and client.calls == 1

    async def no_credentials() -> list[tuple[str, str]]:
        return []

    # Without a valid token tenancy refuses; the client raises rather than let anyone act.
    refused = TenantStatusClient(tenancy, no_credentials, ttl_seconds=5.0)
    results = await asyncio.gather(
        *(refused.may_act(tenant.id) for _ in range(3)), return_exceptions=True
    )
    assert all(isinstance(r, grpc.aio.AioRpcError) for r in results)
    assert refused.calls == 1


# ----- tenant lifecycle in the tenant's activity feed -----


@pytest.fixture(scope="module")
async def feed_platform(backend: str, databases: Databases) -> AsyncIterator[FeedStack]:
    """Identity, tenancy and telemetry as deployed: identity's tokens verified everywhere, and
    tenancy appending to telemetry's activity feed with its internal token."""
    async with feed_stack(databases, backend, "tenant-feed") as stack:
        yield stack


async def signed_in_operator(platform: FeedStack) -> tuple[str, list[tuple[str, str]]]:
    """A platform operator signed in through identity: user id and bearer metadata."""
    made = await make_user(
        IdentityStack(platform.identity, platform.tenancy), platform_operator=True
    )
    state = platform.identity.context.state
    async with state.db.transaction() as session:
        row = await session.get(User, uuid.UUID(made.user_id))
        assert row is not None
        tokens = await open_session(
            state, session, row, made.tenant_id, made.role, ipb.DeviceInfo(user_agent="pytest")
        )
    return made.user_id, bearer(tokens.access_token)


async def tenant_feed(
    platform: FeedStack,
    channel: grpc.aio.Channel,
    operator: list[tuple[str, str]],
    tenant_id: str,
) -> dict[str, list[apb.ActivityEvent]]:
    """The tenant's lifecycle events by action, once tenancy's appends in flight have landed."""
    link = platform.tenancy.context.state.activity
    assert isinstance(link, ActivityLink) and link.enabled
    await link.drain(10)
    page = await ActivityServiceStub(channel).ListActivity(
        apb.ListActivityRequest(tenant_id=tenant_id, object_type="tenant", page_size=100),
        metadata=operator,
    )
    by_action: dict[str, list[apb.ActivityEvent]] = {}
    for event in page.events:
        by_action.setdefault(event.action, []).append(event)
    return by_action


async def test_tenant_lifecycle_reaches_the_tenants_feed_once_per_change(
    feed_platform: FeedStack,
) -> None:
    operator_id, operator = await signed_in_operator(feed_platform)
    owner_id = str(uuid.uuid4())
    domain = f"{unique_slug('d')}.example.com"
    async with (
        open_channel(feed_platform.tenancy.target) as tenancy_channel,
        open_channel(feed_platform.telemetry.target) as telemetry_channel,
    ):
        tenancy = TenancyServiceStub(tenancy_channel)
        create_request = pb.CreateTenantRequest(
            tenant=pb.Tenant(slug=unique_slug(), name="Lifecycle Co"),
            owner_user_id=owner_id,
            request_id="create-lifecycle-once",
        )
        created = (await tenancy.CreateTenant(create_request, metadata=operator)).tenant
        # A replayed request_id changes nothing in tenancy, and appends nothing either.
        replayed = (await tenancy.CreateTenant(create_request, metadata=operator)).tenant
        assert replayed == created

        def update(version: int, paths: list[str], **fields: Any) -> Any:
            return tenancy.UpdateTenant(
                pb.UpdateTenantRequest(
                    tenant=pb.Tenant(id=created.id, version=version, **fields),
                    update_mask=FieldMask(paths=paths),
                ),
                metadata=operator,
            )

        updated = (
            await update(
                created.version,
                ["slug", "name", "domain"],
                slug=created.slug,  # masked but unchanged: not among the changed fields
                name="Lifecycle Ltd",
                domain=domain,
            )
        ).tenant
        # Masked fields set to the values they have, and a refused update: no event.
        same = (await update(updated.version, ["name"], name="Lifecycle Ltd")).tenant
        assert same.version == updated.version
        stale = await failure(update(created.version, ["name"], name="Stale"))
        assert stale.code() == grpc.StatusCode.ABORTED

        suspend = pb.SuspendTenantRequest(id=created.id, reason="invoice unpaid")
        await tenancy.SuspendTenant(suspend, metadata=operator)
        await tenancy.SuspendTenant(suspend, metadata=operator)  # already suspended: no event
        reactivated = (
            await tenancy.ReactivateTenant(
                pb.ReactivateTenantRequest(id=created.id), metadata=operator
            )
        ).tenant
        # Deleting through UpdateTenant's status reaches the feed as a deletion too.
        deleted = (
            await update(reactivated.version, ["status"], status=pb.TENANT_STATUS_DELETED)
        ).tenant
        assert deleted.status == pb.TENANT_STATUS_DELETED
        refused = await failure(
            tenancy.ReactivateTenant(pb.ReactivateTenantRequest(id=created.id), metadata=operator)
        )
        assert refused.code() == grpc.StatusCode.FAILED_PRECONDITION

        by_action = await tenant_feed(feed_platform, telemetry_channel, operator, created.id)

    assert {action: len(events) for action, events in by_action.items()} == {
        "tenant.created": 1,
        "tenant.updated": 1,
        "tenant.suspended": 1,
        "tenant.reactivated": 1,
        "tenant.deleted": 1,
    }
    events = {action: events[0] for action, events in by_action.items()}
    for event in events.values():
        assert (event.tenant_id, event.source, event.object_type, event.object_id) == (
            created.id,
            "tenancy",
            "tenant",
            created.id,
        )
        assert (event.actor_type, event.actor_id) == (apb.ACTIVITY_ACTOR_TYPE_USER, operator_id)
        assert event.status == apb.ACTIVITY_STATUS_SUCCESS

    made = events["tenant.created"]
    assert made.object_name == "Lifecycle Co" and owner_id in made.summary
    assert dict(made.metadata) == {
        "slug": created.slug,
        "status": "active",
        "owner_user_id": owner_id,
    }
    changed = events["tenant.updated"]
    assert changed.object_name == "Lifecycle Ltd"
    assert list(changed.metadata["changed_fields"]) == ["domain", "name"]
    assert dict(changed.metadata["previous"]) == {"domain": "", "name": "Lifecycle Co"}
    assert changed.metadata["version"] == updated.version
    suspended = events["tenant.suspended"]
    assert "invoice unpaid" in suspended.summary
    assert dict(suspended.metadata) == {
        "previous_status": "active",
        "status": "suspended",
        "reason": "invoice unpaid",
        "version": reactivated.version - 1,
    }
    assert events["tenant.reactivated"].metadata["previous_status"] == "suspended"
    assert events["tenant.deleted"].metadata["previous_status"] == "active"
    assert events["tenant.deleted"].metadata["version"] == deleted.version
