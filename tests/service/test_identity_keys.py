"""Signing keys: JWKS, rotation with an overlap, retirement, and what other services then accept."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import grpc
import pytest
from sqlalchemy import select

from quarterdeck.identity.v1 import identity_pb2 as pb
from quarterdeck.identity.v1.identity_pb2_grpc import IdentityServiceStub
from quarterdeck.tenancy.v1 import tenancy_pb2 as tpb
from quarterdeck.tenancy.v1.tenancy_pb2_grpc import TenancyServiceStub
from services.identity.models import SecurityEventRecord
from shared.auth import AUTHORIZATION_HEADER, PLATFORM_OPERATOR, Principal
from shared.grpc_client import open_channel
from tests.support.errors import rich_error
from tests.support.identity_users import make_user
from tests.support.stack import Databases, IdentityStack, identity_stack
from tests.support.waiting import eventually


@pytest.fixture(scope="module")
async def stack(backend: str, databases: Databases) -> AsyncIterator[IdentityStack]:
    async with identity_stack(databases, backend, label="keys") as running:
        yield running


async def token_for(stack: IdentityStack, principal: Principal) -> list[tuple[str, str]]:
    token, _ = await stack.identity.context.state.issuer.access_token(principal)
    return [(AUTHORIZATION_HEADER, f"Bearer {token}")]


def operator() -> Principal:
    return Principal(subject=str(uuid.uuid4()), kind="user", platform_role=PLATFORM_OPERATOR)


async def test_jwks_publishes_the_active_key(stack: IdentityStack) -> None:
    async with open_channel(stack.identity.target) as channel:
        jwks = await IdentityServiceStub(channel).GetJwks(pb.GetJwksRequest())
    active = [k for k in jwks.keys if not k.HasField("retire_time")]
    assert len(active) == 1
    assert active[0].kty == "EC" and active[0].crv == "P-256" and active[0].alg == "ES256"


async def test_rotation_and_retirement_need_an_operator(stack: IdentityStack) -> None:
    async with open_channel(stack.identity.target) as channel:
        stub = IdentityServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.RotateSigningKey(pb.RotateSigningKeyRequest())
        assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
        member = Principal(
            subject=str(uuid.uuid4()), kind="user", tenant_id=str(uuid.uuid4()), role="owner"
        )
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.RotateSigningKey(
                pb.RotateSigningKeyRequest(), metadata=await token_for(stack, member)
            )
        assert rich_error(caught.value).reason == "OPERATOR_ONLY"


async def test_old_and_new_tokens_verify_until_the_old_key_retires(stack: IdentityStack) -> None:
    tenant_token = Principal(
        subject=str(uuid.uuid4()), kind="user", platform_role=PLATFORM_OPERATOR
    )
    async with (
        open_channel(stack.identity.target) as identity_channel,
        open_channel(stack.tenancy.target) as tenancy_channel,
    ):
        identity = IdentityServiceStub(identity_channel)
        tenancy = TenancyServiceStub(tenancy_channel)
        old = await token_for(stack, tenant_token)
        await tenancy.ListTenants(tpb.ListTenantsRequest(), metadata=old)
        user = await make_user(stack)  # caches identity's internal token, signed by the old key

        rotated = await identity.RotateSigningKey(
            pb.RotateSigningKeyRequest(overlap_seconds=3600), metadata=old
        )
        assert rotated.previous.state == pb.SIGNING_KEY_STATE_RETIRING
        assert rotated.active.kid != rotated.previous.kid
        new = await token_for(stack, tenant_token)
        # Both verify at another service: the new kid makes it refresh its JWKS.
        await tenancy.ListTenants(tpb.ListTenantsRequest(), metadata=new)
        await tenancy.ListTenants(tpb.ListTenantsRequest(), metadata=old)
        jwks = await identity.GetJwks(pb.GetJwksRequest())
        assert {rotated.active.kid, rotated.previous.kid} <= {k.kid for k in jwks.keys}

        retired = await identity.RetireSigningKey(
            pb.RetireSigningKeyRequest(kid=rotated.previous.kid), metadata=new
        )
        assert retired.key.state == pb.SIGNING_KEY_STATE_RETIRED
        assert rotated.previous.kid not in {
            k.kid for k in (await identity.GetJwks(pb.GetJwksRequest())).keys
        }
        refusals: list[grpc.aio.AioRpcError] = []

        async def old_token_refused() -> bool:
            try:
                await tenancy.ListTenants(tpb.ListTenantsRequest(), metadata=old)
            except grpc.aio.AioRpcError as error:
                refusals.append(error)
                return True
            return False

        # Tenancy's JWKS cache (1 s in tests) expires and the retired kid is no longer known.
        await eventually(old_token_refused, "tenancy to refuse a token of the retired key")
        assert rich_error(refusals[-1]).reason == "UNKNOWN_SIGNING_KEY"
        await tenancy.ListTenants(tpb.ListTenantsRequest(), metadata=new)
        # Identity's own calls to tenancy (sign-in reads memberships) survive the retirement:
        # its internal token, cached since before the rotation, is minted again with the new key.
        signed_in = await identity.SignIn(
            pb.SignInRequest(email=user.email, password=user.password)
        )
        assert signed_in.tokens.tenant_id == user.tenant_id


async def test_the_active_key_cannot_be_retired(stack: IdentityStack) -> None:
    async with open_channel(stack.identity.target) as channel:
        stub = IdentityServiceStub(channel)
        meta = await token_for(stack, operator())
        keys = await stub.ListSigningKeys(pb.ListSigningKeysRequest(), metadata=meta)
        active = next(k for k in keys.keys if k.state == pb.SIGNING_KEY_STATE_ACTIVE)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.RetireSigningKey(pb.RetireSigningKeyRequest(kid=active.kid), metadata=meta)
        assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION


async def recorded_events(stack: IdentityStack, event_type: str) -> list[SecurityEventRecord]:
    async with stack.identity.context.state.db.reading() as session:
        return list(
            await session.scalars(
                select(SecurityEventRecord).where(SecurityEventRecord.event_type == event_type)
            )
        )


async def test_refusals_at_another_service_are_recorded_in_identity(stack: IdentityStack) -> None:
    """Tenancy reports what it refuses to identity, with its internal token, in the background."""
    tenant_a, tenant_b = str(uuid.uuid4()), str(uuid.uuid4())
    user = str(uuid.uuid4())
    cross_tenant = await token_for(
        stack, Principal(subject=user, kind="user", tenant_id=tenant_a, role="owner")
    )
    async with open_channel(stack.tenancy.target) as channel:
        tenancy = TenancyServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await tenancy.GetTenant(tpb.GetTenantRequest(id=tenant_b), metadata=cross_tenant)
        assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await tenancy.GetTenant(
                tpb.GetTenantRequest(id=tenant_a),
                metadata=[(AUTHORIZATION_HEADER, "Bearer not-a-token")],
            )
        assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED

    mismatch: list[SecurityEventRecord] = []
    malformed: list[SecurityEventRecord] = []

    async def both_reported() -> bool:  # reports travel in the background
        nonlocal mismatch, malformed
        mismatch = [
            e
            for e in await recorded_events(stack, "tenant_mismatch")
            if str(e.tenant_id) == tenant_a
        ]
        malformed = await recorded_events(stack, "token_malformed")
        return bool(mismatch and malformed)

    await eventually(both_reported, "tenancy's tenant_mismatch and token_malformed reports")
    assert mismatch[0].source == "tenancy"
    # The user is unknown to identity (a forged principal), so it is kept as reported, not linked.
    assert (mismatch[0].metadata_json or {}).get("reported_user_id") == user
    assert malformed[0].source == "tenancy"
