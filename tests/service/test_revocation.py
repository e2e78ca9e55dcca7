"""Revocation that bites within seconds, over real identity and tenancy services on SQLite and
PostgreSQL: after sign-out, a session's revocation, an API key's revocation, a user's lock and a
membership's removal or lowered role, the token already issued is refused by tenancy (which verifies tokens locally) within a few poll
intervals, with no call to identity per request. Each test prints the delay it measured."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta

import grpc
import pytest
from sqlalchemy import func, select, update

from quarterdeck.identity.v1 import identity_pb2 as ipb
from quarterdeck.identity.v1.identity_pb2_grpc import IdentityServiceStub
from quarterdeck.tenancy.v1 import tenancy_pb2 as tpb
from quarterdeck.tenancy.v1.tenancy_pb2_grpc import TenancyServiceStub
from services.identity.models import User, UserStatus
from services.tenancy.tenants.background import MEMBERSHIP_REVOCATIONS_JOB
from services.tenancy.tenants.models import MembershipRevocationRecord
from shared.db_types import utcnow
from shared.grpc_client import open_channel
from tests.support.errors import rich_error
from tests.support.identity_users import make_user
from tests.support.stack import Databases, IdentityStack, identity_stack
from tests.support.waiting import eventually

#: Generous: the bound is about one poll interval (0.2 s here); loaded machines are slow.
REFUSAL_TIMEOUT_SECONDS = 30.0
POLL_SECONDS = 0.2


@pytest.fixture(scope="module")
async def stack(backend: str, databases: Databases) -> AsyncIterator[IdentityStack]:
    async with identity_stack(
        databases,
        backend,
        "revocation",
        tenancy_overrides={"revocation_poll_seconds": POLL_SECONDS},
        revocation_poll_seconds=POLL_SECONDS,
    ) as running:
        yield running


def bearer(token: str) -> list[tuple[str, str]]:
    return [("authorization", f"Bearer {token}")]


async def get_tenant(stack: IdentityStack, tenant_id: str, token: str) -> None:
    async with open_channel(stack.tenancy.target) as channel:
        await TenancyServiceStub(channel).GetTenant(
            tpb.GetTenantRequest(id=tenant_id), metadata=bearer(token), timeout=10
        )


async def signed_in(stack: IdentityStack) -> tuple[str, str, str]:
    """(access token, tenant id, user id) of a new tenant owner."""
    user = await make_user(stack)
    async with open_channel(stack.identity.target) as channel:
        reply = await IdentityServiceStub(channel).SignIn(
            ipb.SignInRequest(email=user.email, password=user.password), timeout=10
        )
    return reply.tokens.access_token, user.tenant_id, user.user_id


async def refused_within(check: Callable[[], Awaitable[None]]) -> float:
    """Seconds until ``check`` is refused as UNAUTHENTICATED (TOKEN_REVOKED)."""
    started = time.monotonic()
    while time.monotonic() - started < REFUSAL_TIMEOUT_SECONDS:
        try:
            await check()
        except grpc.aio.AioRpcError as error:
            details = rich_error(error)
            assert details.code == grpc.StatusCode.UNAUTHENTICATED, details
            assert details.reason == "TOKEN_REVOKED"
            return time.monotonic() - started
        await asyncio.sleep(0.02)
    raise AssertionError(f"still accepted {REFUSAL_TIMEOUT_SECONDS}s after the revocation")


async def test_sign_out_refuses_the_sessions_access_token_everywhere(
    stack: IdentityStack,
) -> None:
    token, tenant_id, _ = await signed_in(stack)
    await get_tenant(stack, tenant_id, token)  # works before
    async with open_channel(stack.identity.target) as channel:
        await IdentityServiceStub(channel).SignOut(
            ipb.SignOutRequest(), metadata=bearer(token), timeout=10
        )
    delay = await refused_within(lambda: get_tenant(stack, tenant_id, token))
    print(f"sign-out refused at tenancy after {delay:.2f}s (poll {POLL_SECONDS}s)")
    # Identity refuses it too (its own poll reads its database).

    async def list_my_sessions() -> None:
        async with open_channel(stack.identity.target) as channel:
            await IdentityServiceStub(channel).ListMySessions(
                ipb.ListMySessionsRequest(), metadata=bearer(token), timeout=10
            )

    await refused_within(list_my_sessions)


async def test_a_token_exchanged_from_a_revoked_api_key_is_refused(stack: IdentityStack) -> None:
    owner_token, tenant_id, _ = await signed_in(stack)
    async with open_channel(stack.identity.target) as channel:
        identity = IdentityServiceStub(channel)
        created = await identity.CreateApiKey(
            ipb.CreateApiKeyRequest(tenant_id=tenant_id, account="ci"),
            metadata=bearer(owner_token),
            timeout=10,
        )
        exchanged = await identity.ExchangeApiKey(
            ipb.ExchangeApiKeyRequest(api_key=created.api_key), timeout=10
        )
        key_token = exchanged.access_token
        await get_tenant(stack, tenant_id, key_token)
        await identity.RevokeApiKey(
            ipb.RevokeApiKeyRequest(id=created.key.id), metadata=bearer(owner_token), timeout=10
        )
    delay = await refused_within(lambda: get_tenant(stack, tenant_id, key_token))
    print(f"API key revocation refused its token after {delay:.2f}s")
    await get_tenant(stack, tenant_id, owner_token)  # the owner's own token is untouched


async def test_a_locked_users_tokens_are_refused(stack: IdentityStack) -> None:
    token, tenant_id, user_id = await signed_in(stack)
    await get_tenant(stack, tenant_id, token)
    state = stack.identity.context.state
    async with state.db.transaction() as session:
        await session.execute(
            update(User)
            .where(User.id == uuid.UUID(user_id))
            .values(status=UserStatus.LOCKED, locked_at=utcnow())
        )
    delay = await refused_within(lambda: get_tenant(stack, tenant_id, token))
    print(f"user lock refused the user's token after {delay:.2f}s")


async def sign_in(stack: IdentityStack, email: str, password: str) -> str:
    async with open_channel(stack.identity.target) as channel:
        reply = await IdentityServiceStub(channel).SignIn(
            ipb.SignInRequest(email=email, password=password), timeout=10
        )
    return reply.tokens.access_token


async def refused(check: Callable[[], Awaitable[None]]) -> bool:
    """Whether ``check`` is refused as a revoked token now (any other failure fails the test)."""
    try:
        await check()
    except grpc.aio.AioRpcError as error:
        details = rich_error(error)
        assert details.code == grpc.StatusCode.UNAUTHENTICATED, details
        assert details.reason == "TOKEN_REVOKED"
        return True
    return False


async def accepted(check: Callable[[], Awaitable[None]]) -> bool:
    return not await refused(check)


async def tenancy_call(stack: IdentityStack, token: str, call: str, request: object) -> None:
    async with open_channel(stack.tenancy.target) as channel:
        await getattr(TenancyServiceStub(channel), call)(
            request, metadata=bearer(token), timeout=10
        )


async def test_a_removed_members_token_for_that_tenant_is_refused(stack: IdentityStack) -> None:
    owner = await make_user(stack)
    owner_token = await sign_in(stack, owner.email, owner.password)
    member = await make_user(stack, role="member", tenant_id=owner.tenant_id)
    member_token = await sign_in(stack, member.email, member.password)
    await get_tenant(stack, owner.tenant_id, member_token)  # works before
    # The member also belongs to a second tenant, whose token the removal must not touch.
    other_owner = await make_user(stack)
    await tenancy_call(
        stack,
        await sign_in(stack, other_owner.email, other_owner.password),
        "AddMembership",
        tpb.AddMembershipRequest(
            membership=tpb.Membership(
                tenant_id=other_owner.tenant_id,
                user_id=member.user_id,
                role=tpb.MEMBERSHIP_ROLE_MEMBER,
            )
        ),
    )
    async with open_channel(stack.identity.target) as channel:
        switched = await IdentityServiceStub(channel).SwitchTenant(
            ipb.SwitchTenantRequest(tenant_id=other_owner.tenant_id),
            metadata=bearer(member_token),
            timeout=10,
        )
    other_token = switched.tokens.access_token
    await get_tenant(stack, other_owner.tenant_id, other_token)

    started = time.monotonic()
    await tenancy_call(
        stack,
        owner_token,
        "RemoveMembership",
        tpb.RemoveMembershipRequest(tenant_id=owner.tenant_id, user_id=member.user_id),
    )
    await eventually(
        lambda: refused(lambda: get_tenant(stack, owner.tenant_id, member_token)),
        "the removed member's token refused by tenancy",
        within=REFUSAL_TIMEOUT_SECONDS,
    )
    print(f"membership removal refused the token after {time.monotonic() - started:.2f}s")

    # Identity's own tenant-scoped calls refuse it too.
    async def list_api_keys() -> None:
        async with open_channel(stack.identity.target) as channel:
            await IdentityServiceStub(channel).ListApiKeys(
                ipb.ListApiKeysRequest(tenant_id=owner.tenant_id),
                metadata=bearer(member_token),
                timeout=10,
            )

    await eventually(
        lambda: refused(list_api_keys),
        "the removed member's token refused by identity",
        within=REFUSAL_TIMEOUT_SECONDS,
    )
    # Keyed by user and tenant: the member's token for the other tenant and the owner's work.
    await get_tenant(stack, other_owner.tenant_id, other_token)
    await get_tenant(stack, owner.tenant_id, owner_token)


async def test_a_lowered_roles_older_token_is_refused_and_a_new_one_works(
    stack: IdentityStack,
) -> None:
    owner = await make_user(stack)
    owner_token = await sign_in(stack, owner.email, owner.password)
    admin = await make_user(stack, role="admin", tenant_id=owner.tenant_id)
    admin_token = await sign_in(stack, admin.email, admin.password)
    await get_tenant(stack, owner.tenant_id, admin_token)

    started = time.monotonic()
    await tenancy_call(
        stack,
        owner_token,
        "UpdateMembershipRole",
        tpb.UpdateMembershipRoleRequest(
            tenant_id=owner.tenant_id, user_id=admin.user_id, role=tpb.MEMBERSHIP_ROLE_VIEWER
        ),
    )
    await eventually(
        lambda: refused(lambda: get_tenant(stack, owner.tenant_id, admin_token)),
        "the token carrying the old role refused",
        within=REFUSAL_TIMEOUT_SECONDS,
    )
    print(f"lowered role refused the older token after {time.monotonic() - started:.2f}s")

    # Signing in again gives a token with the new role, which works (once a token issued in the
    # second of the change, whose issue time cannot tell it from an older one, is behind us).
    async def fresh_token_works() -> bool:
        token = await sign_in(stack, admin.email, admin.password)
        return await accepted(lambda: get_tenant(stack, owner.tenant_id, token))

    await eventually(fresh_token_works, "a token issued after the change accepted")


async def test_a_raised_role_revokes_nothing(stack: IdentityStack) -> None:
    owner = await make_user(stack)
    owner_token = await sign_in(stack, owner.email, owner.password)
    viewer = await make_user(stack, role="viewer", tenant_id=owner.tenant_id)
    viewer_token = await sign_in(stack, viewer.email, viewer.password)
    await tenancy_call(
        stack,
        owner_token,
        "UpdateMembershipRole",
        tpb.UpdateMembershipRoleRequest(
            tenant_id=owner.tenant_id, user_id=viewer.user_id, role=tpb.MEMBERSHIP_ROLE_ADMIN
        ),
    )
    # Nothing is recorded for a raise: the older token had less, not more.
    async with stack.tenancy.context.database.reading() as session:
        recorded = await session.scalar(
            select(func.count())
            .select_from(MembershipRevocationRecord)
            .where(
                MembershipRevocationRecord.tenant_id == uuid.UUID(owner.tenant_id),
                MembershipRevocationRecord.user_id == uuid.UUID(viewer.user_id),
            )
        )
    assert recorded == 0
    await get_tenant(stack, owner.tenant_id, viewer_token)


async def test_revocations_past_every_token_they_could_refuse_are_pruned(
    stack: IdentityStack,
) -> None:
    """Rows older than the retention (24 h by default, above any token's lifetime) are deleted by
    the pruning job; newer ones stay, so a removed member stays refused."""
    tenant_id, user_id = uuid.uuid4(), uuid.uuid4()
    now = utcnow()
    ages = {"old": timedelta(hours=25), "recent": timedelta(minutes=5)}
    async with stack.tenancy.context.database.transaction() as session:
        session.add_all(
            MembershipRevocationRecord(
                tenant_id=tenant_id, user_id=user_id, reason=reason, revoked_at=now - age
            )
            for reason, age in (("removed", ages["old"]), ("role_lowered", ages["recent"]))
        )
    [job] = [j for j in stack.tenancy.jobs if j.name == MEMBERSHIP_REVOCATIONS_JOB]
    await job.run_once()
    async with stack.tenancy.context.database.reading() as session:
        kept = (
            await session.scalars(
                select(MembershipRevocationRecord.reason).where(
                    MembershipRevocationRecord.tenant_id == tenant_id
                )
            )
        ).all()
    assert kept == ["role_lowered"]
