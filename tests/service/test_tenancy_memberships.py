"""Tenant memberships over a real in-process TenancyService, on SQLite and on PostgreSQL: who may
add, read, list, change and remove them, and that a tenant never loses its last owner."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import grpc
import pytest

from quarterdeck.tenancy.v1 import tenancy_pb2 as pb
from quarterdeck.tenancy.v1.tenancy_pb2_grpc import TenancyServiceStub
from shared.grpc_client import open_channel
from tests.support.errors import failure, rich_error
from tests.support.stack import Databases, running_service
from tests.support.tokens import TestIssuer

OWNER = pb.MEMBERSHIP_ROLE_OWNER
ADMIN = pb.MEMBERSHIP_ROLE_ADMIN
MEMBER = pb.MEMBERSHIP_ROLE_MEMBER
VIEWER = pb.MEMBERSHIP_ROLE_VIEWER
ROLE_NAMES = {OWNER: "owner", ADMIN: "admin", MEMBER: "member", VIEWER: "viewer"}

Metadata = list[tuple[str, str]]


@pytest.fixture(scope="module")
def issuer() -> TestIssuer:
    return TestIssuer()


@pytest.fixture(scope="module")
async def tenancy(
    backend: str, databases: Databases, issuer: TestIssuer
) -> AsyncIterator[TenancyServiceStub]:
    url = await databases.url(backend, "tenancy", "memberships")
    async with (
        running_service("tenancy", url, authenticator=issuer.authenticator()) as running,
        open_channel(running.target) as channel,
    ):
        yield TenancyServiceStub(channel)


def new_id() -> str:
    return str(uuid.uuid4())


async def new_tenant(
    stub: TenancyServiceStub, issuer: TestIssuer, owner_user_id: str = ""
) -> pb.Tenant:
    request = pb.CreateTenantRequest(
        tenant=pb.Tenant(slug=f"m-{uuid.uuid4().hex[:12]}", name="Crew"),
        owner_user_id=owner_user_id,
    )
    return (await stub.CreateTenant(request, metadata=issuer.operator())).tenant


def as_user(issuer: TestIssuer, tenant_id: str, user_id: str, role: int) -> Metadata:
    """A token of ``user_id`` for ``tenant_id`` carrying ``role``, as identity would mint it."""
    return issuer.member(tenant_id, ROLE_NAMES[role], user_id)


def add_request(
    tenant_id: str, user_id: str, role: int, request_id: str = ""
) -> pb.AddMembershipRequest:
    return pb.AddMembershipRequest(
        membership=pb.Membership(tenant_id=tenant_id, user_id=user_id, role=role),
        request_id=request_id,
    )


async def add(
    stub: TenancyServiceStub, tenant_id: str, user_id: str, role: int, metadata: Metadata
) -> pb.Membership:
    response = await stub.AddMembership(add_request(tenant_id, user_id, role), metadata=metadata)
    return response.membership


async def role_of(
    stub: TenancyServiceStub, issuer: TestIssuer, tenant_id: str, user_id: str
) -> int | None:
    """The user's role in the tenant as the service stores it, or None without a membership."""
    try:
        response = await stub.GetMembership(
            pb.GetMembershipRequest(tenant_id=tenant_id, user_id=user_id),
            metadata=issuer.internal(),
        )
    except grpc.aio.AioRpcError as error:
        # A helper answering None for "no membership": any other failure fails the test.
        assert error.code() == grpc.StatusCode.NOT_FOUND  # noqa: PT017
        return None
    return response.membership.role


async def all_pages(
    stub: TenancyServiceStub, request: pb.ListMembershipsRequest, metadata: Metadata
) -> list[pb.Membership]:
    seen: list[pb.Membership] = []
    while True:
        page = await stub.ListMemberships(request, metadata=metadata)
        if request.page_size:
            assert len(page.memberships) <= request.page_size
        seen.extend(page.memberships)
        if not page.next_page_token:
            return seen
        request = pb.ListMembershipsRequest(
            tenant_id=request.tenant_id,
            user_id=request.user_id,
            page_size=request.page_size,
            page_token=page.next_page_token,
        )


async def owners_of(stub: TenancyServiceStub, issuer: TestIssuer, tenant_id: str) -> set[str]:
    memberships = await all_pages(
        stub, pb.ListMembershipsRequest(tenant_id=tenant_id, page_size=100), issuer.internal()
    )
    return {m.user_id for m in memberships if m.role == OWNER}


async def test_create_tenant_with_an_owner_makes_that_user_owner(
    tenancy: TenancyServiceStub, issuer: TestIssuer
) -> None:
    owner_id = new_id()
    tenant = await new_tenant(tenancy, issuer, owner_user_id=owner_id)
    owner = as_user(issuer, tenant.id, owner_id, OWNER)
    membership = (
        await tenancy.GetMembership(
            pb.GetMembershipRequest(tenant_id=tenant.id, user_id=owner_id), metadata=owner
        )
    ).membership
    assert (membership.tenant_id, membership.user_id, membership.role) == (
        tenant.id,
        owner_id,
        OWNER,
    )
    assert uuid.UUID(membership.id) and membership.create_time.seconds > 0
    listed = await all_pages(tenancy, pb.ListMembershipsRequest(tenant_id=tenant.id), owner)
    assert listed == [membership]

    without_owner = await new_tenant(tenancy, issuer)
    assert await owners_of(tenancy, issuer, without_owner.id) == set()


async def test_a_failed_create_leaves_no_owner_membership_behind(
    tenancy: TenancyServiceStub, issuer: TestIssuer
) -> None:
    taken = await new_tenant(tenancy, issuer)
    owner_id = new_id()
    request = pb.CreateTenantRequest(
        tenant=pb.Tenant(slug=taken.slug, name="Clash"), owner_user_id=owner_id
    )
    error = await failure(tenancy.CreateTenant(request, metadata=issuer.operator()))
    assert error.code() == grpc.StatusCode.ALREADY_EXISTS
    mine = await tenancy.ListMemberships(
        pb.ListMembershipsRequest(user_id=owner_id), metadata=issuer.operator()
    )
    assert list(mine.memberships) == []


async def test_an_admin_adds_members_below_owner_and_only_an_owner_adds_an_owner(
    tenancy: TenancyServiceStub, issuer: TestIssuer
) -> None:
    owner_id, admin_id = new_id(), new_id()
    tenant = await new_tenant(tenancy, issuer, owner_user_id=owner_id)
    owner = as_user(issuer, tenant.id, owner_id, OWNER)
    await add(tenancy, tenant.id, admin_id, ADMIN, owner)
    admin = as_user(issuer, tenant.id, admin_id, ADMIN)
    for role in (VIEWER, MEMBER, ADMIN):
        user_id = new_id()
        added = await add(tenancy, tenant.id, user_id, role, admin)
        assert (added.tenant_id, added.user_id, added.role) == (tenant.id, user_id, role)
        assert await role_of(tenancy, issuer, tenant.id, user_id) == role

    hopeful = new_id()
    error = rich_error(await failure(add(tenancy, tenant.id, hopeful, OWNER, admin)))
    assert error.code == grpc.StatusCode.PERMISSION_DENIED and error.reason == "ROLE_TOO_LOW"
    for role in (MEMBER, VIEWER):
        below_admin = as_user(issuer, tenant.id, new_id(), role)
        error = rich_error(await failure(add(tenancy, tenant.id, hopeful, VIEWER, below_admin)))
        assert error.code == grpc.StatusCode.PERMISSION_DENIED and error.reason == "ROLE_TOO_LOW"
    elsewhere = await new_tenant(tenancy, issuer)
    foreign_owner = as_user(issuer, elsewhere.id, new_id(), OWNER)
    error = rich_error(await failure(add(tenancy, tenant.id, hopeful, VIEWER, foreign_owner)))
    assert error.code == grpc.StatusCode.PERMISSION_DENIED and error.reason == "TENANT_MISMATCH"
    error = rich_error(await failure(add(tenancy, tenant.id, hopeful, VIEWER, [])))
    assert error.code == grpc.StatusCode.UNAUTHENTICATED
    assert await role_of(tenancy, issuer, tenant.id, hopeful) is None

    assert (await add(tenancy, tenant.id, hopeful, OWNER, owner)).role == OWNER
    assert await owners_of(tenancy, issuer, tenant.id) == {owner_id, hopeful}
    # Operators and internal callers (sign-up) may add anyone, to any tenant that exists.
    assert (await add(tenancy, tenant.id, new_id(), OWNER, issuer.operator())).role == OWNER
    assert (await add(tenancy, tenant.id, new_id(), MEMBER, issuer.internal())).role == MEMBER
    error = rich_error(await failure(add(tenancy, new_id(), new_id(), MEMBER, issuer.operator())))
    assert error.code == grpc.StatusCode.NOT_FOUND and error.reason == "TENANT_NOT_FOUND"


async def test_adding_an_existing_member_again_is_already_exists(
    tenancy: TenancyServiceStub, issuer: TestIssuer
) -> None:
    tenant = await new_tenant(tenancy, issuer)
    operator = issuer.operator()
    user_id = new_id()
    first = await add(tenancy, tenant.id, user_id, VIEWER, operator)
    for role in (VIEWER, ADMIN):
        error = rich_error(await failure(add(tenancy, tenant.id, user_id, role, operator)))
        assert error.code == grpc.StatusCode.ALREADY_EXISTS and error.reason == "ALREADY_MEMBER"
    results = await asyncio.gather(
        *(add(tenancy, tenant.id, user_id, MEMBER, operator) for _ in range(4)),
        return_exceptions=True,
    )
    assert all(
        isinstance(r, grpc.aio.AioRpcError) and r.code() == grpc.StatusCode.ALREADY_EXISTS
        for r in results
    )
    listed = await all_pages(tenancy, pb.ListMembershipsRequest(tenant_id=tenant.id), operator)
    assert listed == [first]


async def test_a_repeated_request_id_returns_the_first_membership(
    tenancy: TenancyServiceStub, issuer: TestIssuer
) -> None:
    tenant = await new_tenant(tenancy, issuer)
    admin = as_user(issuer, tenant.id, new_id(), ADMIN)
    user_id = new_id()
    request = add_request(tenant.id, user_id, MEMBER, request_id=new_id())
    first = await tenancy.AddMembership(request, metadata=admin)
    again = await tenancy.AddMembership(request, metadata=admin)
    assert again == first

    racing = add_request(tenant.id, new_id(), VIEWER, request_id=new_id())
    responses = await asyncio.gather(
        *(tenancy.AddMembership(racing, metadata=admin) for _ in range(6))
    )
    assert len({r.membership.id for r in responses}) == 1

    reused = add_request(tenant.id, new_id(), MEMBER, request_id=request.request_id)
    error = rich_error(await failure(tenancy.AddMembership(reused, metadata=admin)))
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT and "request_id" in error.field_violations
    listed = await all_pages(tenancy, pb.ListMembershipsRequest(tenant_id=tenant.id), admin)
    assert len(listed) == 2


async def test_get_membership_by_the_user_or_a_member_of_the_tenant_only(
    tenancy: TenancyServiceStub, issuer: TestIssuer
) -> None:
    tenant, elsewhere = await new_tenant(tenancy, issuer), await new_tenant(tenancy, issuer)
    user_id = new_id()
    added = await add(tenancy, tenant.id, user_id, MEMBER, issuer.operator())
    request = pb.GetMembershipRequest(tenant_id=tenant.id, user_id=user_id)
    allowed = [
        as_user(issuer, tenant.id, user_id, MEMBER),  # the user themself
        as_user(issuer, elsewhere.id, user_id, OWNER),  # themself, signed in to another tenant
        as_user(issuer, tenant.id, new_id(), VIEWER),  # anyone of the tenant
        issuer.operator(),
        issuer.internal(),
    ]
    for metadata in allowed:
        assert (await tenancy.GetMembership(request, metadata=metadata)).membership == added
    foreign = as_user(issuer, elsewhere.id, new_id(), OWNER)
    error = rich_error(await failure(tenancy.GetMembership(request, metadata=foreign)))
    assert error.code == grpc.StatusCode.PERMISSION_DENIED and error.reason == "TENANT_MISMATCH"
    error = rich_error(await failure(tenancy.GetMembership(request)))
    assert error.code == grpc.StatusCode.UNAUTHENTICATED
    missing = pb.GetMembershipRequest(tenant_id=tenant.id, user_id=new_id())
    error = rich_error(
        await failure(
            tenancy.GetMembership(missing, metadata=as_user(issuer, tenant.id, new_id(), VIEWER))
        )
    )
    assert error.code == grpc.StatusCode.NOT_FOUND and error.reason == "MEMBERSHIP_NOT_FOUND"


async def test_list_a_tenants_members_page_by_page(
    tenancy: TenancyServiceStub, issuer: TestIssuer
) -> None:
    owner_id = new_id()
    tenant = await new_tenant(tenancy, issuer, owner_user_id=owner_id)
    operator = issuer.operator()
    for role in (ADMIN, MEMBER, MEMBER, VIEWER, VIEWER, VIEWER):
        await add(tenancy, tenant.id, new_id(), role, operator)
    request = pb.ListMembershipsRequest(tenant_id=tenant.id, page_size=2)
    viewer = as_user(issuer, tenant.id, new_id(), VIEWER)
    listed = await all_pages(tenancy, request, viewer)
    assert len(listed) == 7 and len({m.id for m in listed}) == 7
    assert {m.tenant_id for m in listed} == {tenant.id}
    assert listed[0].user_id == owner_id and listed[0].role == OWNER
    order = [(m.create_time.ToNanoseconds(), m.id) for m in listed]
    assert order == sorted(order)
    for metadata in (issuer.operator(), issuer.internal()):
        assert await all_pages(tenancy, request, metadata) == listed

    elsewhere = await new_tenant(tenancy, issuer)
    foreign = as_user(issuer, elsewhere.id, new_id(), OWNER)
    error = rich_error(await failure(tenancy.ListMemberships(request, metadata=foreign)))
    assert error.code == grpc.StatusCode.PERMISSION_DENIED and error.reason == "TENANT_MISMATCH"
    error = rich_error(await failure(tenancy.ListMemberships(request)))
    assert error.code == grpc.StatusCode.UNAUTHENTICATED

    page = await tenancy.ListMemberships(request, metadata=viewer)
    other_query = pb.ListMembershipsRequest(
        tenant_id=elsewhere.id, page_size=2, page_token=page.next_page_token
    )
    error = rich_error(await failure(tenancy.ListMemberships(other_query, metadata=operator)))
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT and "page_token" in error.field_violations


async def test_list_a_users_tenants_by_the_user_or_an_operator_only(
    tenancy: TenancyServiceStub, issuer: TestIssuer
) -> None:
    user_id = new_id()
    tenants = [await new_tenant(tenancy, issuer) for _ in range(3)]
    for tenant, role in zip(tenants, (OWNER, MEMBER, VIEWER), strict=True):
        await add(tenancy, tenant.id, user_id, role, issuer.operator())
    request = pb.ListMembershipsRequest(user_id=user_id, page_size=1)
    allowed = [
        as_user(issuer, tenants[2].id, user_id, VIEWER),  # the user, with any tenant's token
        issuer.operator(),
        issuer.internal(),
    ]
    for metadata in allowed:
        listed = await all_pages(tenancy, request, metadata)
        assert [m.tenant_id for m in listed] == [t.id for t in tenants]
        assert [m.role for m in listed] == [OWNER, MEMBER, VIEWER]
    refused = [
        as_user(issuer, tenants[0].id, new_id(), OWNER),  # an owner of one of the user's tenants
        as_user(issuer, new_id(), new_id(), VIEWER),
    ]
    for metadata in refused:
        error = rich_error(await failure(tenancy.ListMemberships(request, metadata=metadata)))
        assert error.code == grpc.StatusCode.PERMISSION_DENIED and error.reason == "NOT_SELF"
    nobody = await tenancy.ListMemberships(
        pb.ListMembershipsRequest(user_id=new_id()), metadata=issuer.operator()
    )
    assert list(nobody.memberships) == [] and nobody.next_page_token == ""


async def test_changing_roles_needs_an_admin_and_ownership_needs_an_owner(
    tenancy: TenancyServiceStub, issuer: TestIssuer
) -> None:
    owner_id, co_owner_id, admin_id, user_id = new_id(), new_id(), new_id(), new_id()
    tenant = await new_tenant(tenancy, issuer, owner_user_id=owner_id)
    owner = as_user(issuer, tenant.id, owner_id, OWNER)
    await add(tenancy, tenant.id, co_owner_id, OWNER, owner)
    await add(tenancy, tenant.id, admin_id, ADMIN, owner)
    await add(tenancy, tenant.id, user_id, VIEWER, owner)
    admin = as_user(issuer, tenant.id, admin_id, ADMIN)

    async def change(target: str, role: int, metadata: Metadata) -> pb.Membership:
        response = await tenancy.UpdateMembershipRole(
            pb.UpdateMembershipRoleRequest(tenant_id=tenant.id, user_id=target, role=role),
            metadata=metadata,
        )
        return response.membership

    for role in (MEMBER, ADMIN, VIEWER):
        assert (await change(user_id, role, admin)).role == role
    refusals = [
        (change(user_id, OWNER, admin), "ROLE_TOO_LOW"),  # promote to owner
        (change(co_owner_id, ADMIN, admin), "ROLE_TOO_LOW"),  # demote an owner
        (change(user_id, MEMBER, as_user(issuer, tenant.id, new_id(), MEMBER)), "ROLE_TOO_LOW"),
        (change(user_id, MEMBER, as_user(issuer, new_id(), new_id(), OWNER)), "TENANT_MISMATCH"),
    ]
    for call, reason in refusals:
        error = rich_error(await failure(call))
        assert error.code == grpc.StatusCode.PERMISSION_DENIED and error.reason == reason
    assert await role_of(tenancy, issuer, tenant.id, user_id) == VIEWER
    assert await owners_of(tenancy, issuer, tenant.id) == {owner_id, co_owner_id}

    assert (await change(user_id, OWNER, owner)).role == OWNER
    assert (await change(co_owner_id, MEMBER, owner)).role == MEMBER
    assert await owners_of(tenancy, issuer, tenant.id) == {owner_id, user_id}
    error = rich_error(await failure(change(new_id(), MEMBER, owner)))
    assert error.code == grpc.StatusCode.NOT_FOUND and error.reason == "MEMBERSHIP_NOT_FOUND"


async def test_the_last_owner_can_neither_be_demoted_nor_removed(
    tenancy: TenancyServiceStub, issuer: TestIssuer
) -> None:
    owner_id = new_id()
    tenant = await new_tenant(tenancy, issuer, owner_user_id=owner_id)
    owner = as_user(issuer, tenant.id, owner_id, OWNER)
    demote = pb.UpdateMembershipRoleRequest(tenant_id=tenant.id, user_id=owner_id, role=ADMIN)
    remove = pb.RemoveMembershipRequest(tenant_id=tenant.id, user_id=owner_id)
    for metadata in (owner, issuer.operator(), issuer.internal()):
        for call in (
            tenancy.UpdateMembershipRole(demote, metadata=metadata),
            tenancy.RemoveMembership(remove, metadata=metadata),
        ):
            error = rich_error(await failure(call))
            assert error.code == grpc.StatusCode.FAILED_PRECONDITION
            assert error.reason == "LAST_OWNER"
    assert await owners_of(tenancy, issuer, tenant.id) == {owner_id}
    # Keeping the role is no loss of an owner.
    same = pb.UpdateMembershipRoleRequest(tenant_id=tenant.id, user_id=owner_id, role=OWNER)
    assert (await tenancy.UpdateMembershipRole(same, metadata=owner)).membership.role == OWNER
    # With a second owner, the first may step down.
    successor = new_id()
    await add(tenancy, tenant.id, successor, OWNER, owner)
    assert (await tenancy.UpdateMembershipRole(demote, metadata=owner)).membership.role == ADMIN
    assert await owners_of(tenancy, issuer, tenant.id) == {successor}


async def step_down(
    stub: TenancyServiceStub, action: str, tenant_id: str, user_id: str, metadata: Metadata
) -> None:
    if action == "demote":
        request = pb.UpdateMembershipRoleRequest(tenant_id=tenant_id, user_id=user_id, role=MEMBER)
        await stub.UpdateMembershipRole(request, metadata=metadata)
    else:
        removal = pb.RemoveMembershipRequest(tenant_id=tenant_id, user_id=user_id)
        await stub.RemoveMembership(removal, metadata=metadata)


@pytest.mark.parametrize("action", ["demote", "remove"])
async def test_two_owners_stepping_each_other_down_at_once_leave_one_owner(
    tenancy: TenancyServiceStub, issuer: TestIssuer, action: str
) -> None:
    for _ in range(4):
        first_id, second_id = new_id(), new_id()
        tenant = await new_tenant(tenancy, issuer, owner_user_id=first_id)
        first = as_user(issuer, tenant.id, first_id, OWNER)
        await add(tenancy, tenant.id, second_id, OWNER, first)
        second = as_user(issuer, tenant.id, second_id, OWNER)
        results = await asyncio.gather(
            step_down(tenancy, action, tenant.id, second_id, first),
            step_down(tenancy, action, tenant.id, first_id, second),
            return_exceptions=True,
        )
        refused = [r for r in results if isinstance(r, grpc.aio.AioRpcError)]
        assert len(refused) == 1 and results.count(None) == 1, results
        error = rich_error(refused[0])
        assert error.code == grpc.StatusCode.FAILED_PRECONDITION and error.reason == "LAST_OWNER"
        assert len(await owners_of(tenancy, issuer, tenant.id)) == 1


async def test_an_admin_removes_members_and_anyone_may_leave(
    tenancy: TenancyServiceStub, issuer: TestIssuer
) -> None:
    owner_id, co_owner_id, admin_id = new_id(), new_id(), new_id()
    tenant = await new_tenant(tenancy, issuer, owner_user_id=owner_id)
    owner = as_user(issuer, tenant.id, owner_id, OWNER)
    await add(tenancy, tenant.id, co_owner_id, OWNER, owner)
    await add(tenancy, tenant.id, admin_id, ADMIN, owner)
    admin = as_user(issuer, tenant.id, admin_id, ADMIN)
    users = {role: new_id() for role in (ADMIN, MEMBER, VIEWER)}
    for role, user_id in users.items():
        await add(tenancy, tenant.id, user_id, role, admin)

    async def remove(user_id: str, metadata: Metadata) -> None:
        await tenancy.RemoveMembership(
            pb.RemoveMembershipRequest(tenant_id=tenant.id, user_id=user_id), metadata=metadata
        )

    refusals = [
        (remove(co_owner_id, admin), "ROLE_TOO_LOW"),  # an admin cannot remove an owner
        (remove(users[VIEWER], as_user(issuer, tenant.id, users[MEMBER], MEMBER)), "ROLE_TOO_LOW"),
        (remove(users[VIEWER], as_user(issuer, new_id(), new_id(), OWNER)), "TENANT_MISMATCH"),
        # Leaving needs a token for that tenant: the user's token elsewhere is not enough.
        (remove(users[VIEWER], as_user(issuer, new_id(), users[VIEWER], OWNER)), "TENANT_MISMATCH"),
    ]
    for call, reason in refusals:
        error = rich_error(await failure(call))
        assert error.code == grpc.StatusCode.PERMISSION_DENIED and error.reason == reason
    error = rich_error(await failure(remove(users[VIEWER], [])))
    assert error.code == grpc.StatusCode.UNAUTHENTICATED
    assert await role_of(tenancy, issuer, tenant.id, co_owner_id) == OWNER
    assert await role_of(tenancy, issuer, tenant.id, users[VIEWER]) == VIEWER

    await remove(users[MEMBER], admin)
    await remove(users[ADMIN], admin)
    await remove(users[VIEWER], as_user(issuer, tenant.id, users[VIEWER], VIEWER))  # leaves
    for user_id in users.values():
        assert await role_of(tenancy, issuer, tenant.id, user_id) is None
    error = rich_error(await failure(remove(users[VIEWER], admin)))
    assert error.code == grpc.StatusCode.NOT_FOUND and error.reason == "MEMBERSHIP_NOT_FOUND"

    await remove(co_owner_id, owner)  # an owner may remove another owner
    await remove(admin_id, admin)  # an admin may leave too
    remaining = await all_pages(
        tenancy, pb.ListMembershipsRequest(tenant_id=tenant.id), issuer.operator()
    )
    assert [(m.user_id, m.role) for m in remaining] == [(owner_id, OWNER)]


BAD_ID = "not-a-uuid"
GOOD = str(uuid.UUID(int=1))


@pytest.mark.parametrize(
    ("method", "request_", "field"),
    [
        ("AddMembership", add_request(BAD_ID, GOOD, MEMBER), "membership.tenant_id"),
        ("AddMembership", add_request(GOOD, BAD_ID, MEMBER), "membership.user_id"),
        (
            "AddMembership",
            add_request(GOOD, GOOD, pb.MEMBERSHIP_ROLE_UNSPECIFIED),
            "membership.role",
        ),
        ("AddMembership", add_request(GOOD, GOOD, 42), "membership.role"),
        ("GetMembership", pb.GetMembershipRequest(tenant_id=BAD_ID, user_id=GOOD), "tenant_id"),
        ("GetMembership", pb.GetMembershipRequest(tenant_id=GOOD, user_id=""), "user_id"),
        ("ListMemberships", pb.ListMembershipsRequest(), "tenant_id"),
        ("ListMemberships", pb.ListMembershipsRequest(tenant_id=GOOD, user_id=GOOD), "tenant_id"),
        ("ListMemberships", pb.ListMembershipsRequest(tenant_id=BAD_ID), "tenant_id"),
        ("ListMemberships", pb.ListMembershipsRequest(user_id=BAD_ID), "user_id"),
        ("ListMemberships", pb.ListMembershipsRequest(tenant_id=GOOD, page_size=-1), "page_size"),
        (
            "UpdateMembershipRole",
            pb.UpdateMembershipRoleRequest(tenant_id=BAD_ID, user_id=GOOD, role=MEMBER),
            "tenant_id",
        ),
        (
            "UpdateMembershipRole",
            pb.UpdateMembershipRoleRequest(tenant_id=GOOD, user_id=BAD_ID, role=MEMBER),
            "user_id",
        ),
        (
            "UpdateMembershipRole",
            pb.UpdateMembershipRoleRequest(tenant_id=GOOD, user_id=GOOD),
            "role",
        ),
        (
            "RemoveMembership",
            pb.RemoveMembershipRequest(tenant_id=BAD_ID, user_id=GOOD),
            "tenant_id",
        ),
        ("RemoveMembership", pb.RemoveMembershipRequest(tenant_id=GOOD, user_id=BAD_ID), "user_id"),
        (
            "CreateTenant",
            pb.CreateTenantRequest(tenant=pb.Tenant(slug="fine", name="x"), owner_user_id=BAD_ID),
            "owner_user_id",
        ),
    ],
)
async def test_bad_ids_and_roles_are_invalid_argument_naming_the_field(
    tenancy: TenancyServiceStub, issuer: TestIssuer, method: str, request_: object, field: str
) -> None:
    error = rich_error(
        await failure(getattr(tenancy, method)(request_, metadata=issuer.operator()))
    )
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert field in error.field_violations, error.field_violations
