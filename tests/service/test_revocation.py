"""Revocation that bites within seconds, over real identity and tenancy services on SQLite and
PostgreSQL: after sign-out, a session's revocation, an API key's revocation and a user's lock,
the token already issued is refused by tenancy (which verifies tokens locally) within a few poll
intervals, with no call to identity per request. Each test prints the delay it measured."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import grpc
import pytest
from sqlalchemy import update

from quarterdeck.identity.v1 import identity_pb2 as ipb
from quarterdeck.identity.v1.identity_pb2_grpc import IdentityServiceStub
from quarterdeck.tenancy.v1 import tenancy_pb2 as tpb
from quarterdeck.tenancy.v1.tenancy_pb2_grpc import TenancyServiceStub
from services.identity.models import User, UserStatus
from shared.db_types import utcnow
from shared.grpc_client import open_channel
from tests.support.errors import rich_error
from tests.support.identity_users import make_user
from tests.support.stack import Databases, IdentityStack, identity_stack

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
