"""API keys and security events: keys are created by a tenant's admins, stored only hashed,
exchanged for access tokens other services accept, refused once revoked or expired; security
events stay inside their tenant, and only Quarterdeck services may report them."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import grpc
import jwt
import pytest
from google.protobuf.struct_pb2 import Struct
from sqlalchemy import select, text, update

from quarterdeck.identity.v1 import identity_pb2 as pb
from quarterdeck.identity.v1.identity_pb2_grpc import IdentityServiceStub
from quarterdeck.tenancy.v1 import tenancy_pb2 as tpb
from quarterdeck.tenancy.v1.tenancy_pb2_grpc import TenancyServiceStub
from services.identity.models import SecurityEventRecord, ServiceAccountToken
from shared.auth import AUTHORIZATION_HEADER, PLATFORM_OPERATOR, Principal
from shared.db_types import utcnow
from shared.grpc_client import open_channel
from shared.identity_link import internal_api_key
from shared.timestamps import from_timestamp, to_timestamp
from tests.support.errors import rich_error
from tests.support.identity_users import TestUser, make_user
from tests.support.stack import (
    TENANCY_INTERNAL_SECRET,
    Databases,
    IdentityStack,
    identity_stack,
)

Metadata = list[tuple[str, str]]


@pytest.fixture(scope="module")
async def stack(backend: str, databases: Databases) -> AsyncIterator[IdentityStack]:
    async with identity_stack(databases, backend, label="api-keys") as running:
        yield running


@pytest.fixture(scope="module")
async def identity(stack: IdentityStack) -> AsyncIterator[IdentityServiceStub]:
    async with open_channel(stack.identity.target) as channel:
        yield IdentityServiceStub(channel)


def bearer(token: str) -> Metadata:
    return [(AUTHORIZATION_HEADER, f"Bearer {token}")]


async def token_for(stack: IdentityStack, principal: Principal) -> Metadata:
    token, _ = await stack.state.issuer.access_token(principal)
    return bearer(token)


async def as_user(stack: IdentityStack, user: TestUser) -> Metadata:
    return await token_for(
        stack,
        Principal(subject=user.user_id, kind="user", tenant_id=user.tenant_id, role=user.role),
    )


async def as_operator(stack: IdentityStack) -> Metadata:
    return await token_for(
        stack, Principal(subject=str(uuid.uuid4()), kind="user", platform_role=PLATFORM_OPERATOR)
    )


async def as_internal(stack: IdentityStack, service: str = "tenancy") -> Metadata:
    token, _ = await stack.state.issuer.internal_token(service, 300)
    return bearer(token)


def claims_of(token: str) -> dict[str, object]:
    return dict(jwt.decode(token, options={"verify_signature": False}))


async def refused(call: object) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call  # type: ignore[misc]
    return caught.value


async def events(
    stack: IdentityStack, identity: IdentityServiceStub, tenant_id: str, event_type: str
) -> list[pb.SecurityEvent]:
    response = await identity.ListSecurityEvents(
        pb.ListSecurityEventsRequest(tenant_id=tenant_id, event_type=event_type, page_size=100),
        metadata=await as_operator(stack),
    )
    return list(response.events)


async def new_key(
    identity: IdentityServiceStub, meta: Metadata, tenant_id: str, **fields: object
) -> pb.CreateApiKeyResponse:
    request = pb.CreateApiKeyRequest(
        tenant_id=tenant_id, account=f"ci-{uuid.uuid4().hex[:8]}", **fields
    )
    return await identity.CreateApiKey(request, metadata=meta)


# -- Create, exchange, use ----------------------------------------------------------------------


async def test_a_key_exchanges_for_a_token_the_tenancy_service_accepts(
    stack: IdentityStack, identity: IdentityServiceStub
) -> None:
    admin = await make_user(stack, role="admin")
    created = await identity.CreateApiKey(
        pb.CreateApiKeyRequest(
            tenant_id=admin.tenant_id,
            account="ci-deployer",
            scopes=["tenancy.read", "agents:write", "tenancy.read"],
            role="viewer",
        ),
        metadata=await as_user(stack, admin),
    )
    assert created.api_key.startswith("qdk_")
    key = created.key
    assert key.account == "ci-deployer" and key.tenant_id == admin.tenant_id
    assert list(key.scopes) == ["agents:write", "tenancy.read"] and key.role == "viewer"
    assert key.signing_kid == (await stack.state.keys.active()).kid
    assert not key.HasField("revoke_time")
    max_days = stack.state.settings.api_key_max_ttl_days
    lifetime = from_timestamp(key.expire_time) - from_timestamp(key.create_time)
    assert abs(lifetime - timedelta(days=max_days)) < timedelta(minutes=1)

    exchanged = await identity.ExchangeApiKey(pb.ExchangeApiKeyRequest(api_key=created.api_key))
    claims = claims_of(exchanged.access_token)
    assert claims["sub"] == f"sa:{key.id}" and claims["knd"] == "service_account"
    assert claims["tid"] == admin.tenant_id and claims["rol"] == "viewer"
    assert claims["scp"] == ["agents:write", "tenancy.read"]
    assert exchanged.expire_time.seconds == claims["exp"]

    async with open_channel(stack.tenancy.target) as channel:
        tenancy = TenancyServiceStub(channel)
        tenant = await tenancy.GetTenant(
            tpb.GetTenantRequest(id=admin.tenant_id), metadata=bearer(exchanged.access_token)
        )
        assert tenant.tenant.id == admin.tenant_id
        other = await make_user(stack, role="owner")
        error = await refused(
            tenancy.GetTenant(
                tpb.GetTenantRequest(id=other.tenant_id), metadata=bearer(exchanged.access_token)
            )
        )
        assert error.code() == grpc.StatusCode.PERMISSION_DENIED

    created_events = await events(stack, identity, admin.tenant_id, "api_key_created")
    assert [e.metadata["key_id"] for e in created_events] == [key.id]
    assert created_events[0].user_id == admin.user_id


async def test_the_key_is_stored_only_as_a_hash(
    stack: IdentityStack, identity: IdentityServiceStub
) -> None:
    admin = await make_user(stack, role="admin")
    created = await new_key(
        identity, await as_user(stack, admin), admin.tenant_id, request_id="store-check"
    )
    secret = created.api_key.split(".", 1)[1]
    state = stack.state
    async with state.db.reading() as session:
        table = ServiceAccountToken.__table__
        row = (
            await session.execute(select(table).where(table.c.id == uuid.UUID(created.key.id)))
        ).one()
        remembered = (await session.execute(text("SELECT * FROM idempotency_keys"))).all()
        stored = await session.get(ServiceAccountToken, uuid.UUID(created.key.id))
    assert secret not in repr(tuple(row)) and created.api_key not in repr(tuple(row))
    assert secret not in repr(remembered)  # the replayable response holds it sealed
    assert stored is not None
    assert stored.refresh_token_hash == state.secrets.hasher.hash(created.api_key)
    assert created.api_key == f"qdk_{stored.refresh_jti}.{secret}"
    assert stored.scope_key == "" and stored.created_by == uuid.UUID(admin.user_id)


async def test_the_token_never_outlives_its_key(
    stack: IdentityStack, identity: IdentityServiceStub
) -> None:
    admin = await make_user(stack, role="admin")
    expires = utcnow() + timedelta(seconds=60)
    created = await new_key(
        identity, await as_user(stack, admin), admin.tenant_id, expire_time=to_timestamp(expires)
    )
    exchanged = await identity.ExchangeApiKey(pb.ExchangeApiKeyRequest(api_key=created.api_key))
    assert from_timestamp(exchanged.expire_time) <= expires + timedelta(seconds=1)


# -- Who may create what ------------------------------------------------------------------------


async def test_only_admins_create_and_never_above_the_allowed_roles(
    stack: IdentityStack, identity: IdentityServiceStub
) -> None:
    for role in ("viewer", "member"):
        user = await make_user(stack, role=role)
        error = await refused(new_key(identity, await as_user(stack, user), user.tenant_id))
        assert error.code() == grpc.StatusCode.PERMISSION_DENIED
        assert rich_error(error).reason == "ROLE_TOO_LOW"

    admin = await make_user(stack, role="admin")
    meta = await as_user(stack, admin)
    error = await refused(new_key(identity, meta, admin.tenant_id, role="owner"))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "role" in rich_error(error).field_violations
    as_admin = await new_key(identity, meta, admin.tenant_id, role="admin")
    assert as_admin.key.role == "admin"
    default = await new_key(identity, meta, admin.tenant_id)
    assert default.key.role == "member"

    # Another tenant's admin cannot create for this tenant; an operator can, for any.
    stranger = await make_user(stack, role="admin")
    error = await refused(new_key(identity, await as_user(stack, stranger), admin.tenant_id))
    assert rich_error(error).reason == "TENANT_MISMATCH"
    by_operator = await new_key(identity, await as_operator(stack), admin.tenant_id, role="admin")
    assert by_operator.key.tenant_id == admin.tenant_id


async def test_bad_input_names_the_field_and_stores_nothing(
    stack: IdentityStack, identity: IdentityServiceStub
) -> None:
    admin = await make_user(stack, role="admin")
    meta = await as_user(stack, admin)
    now = utcnow()
    max_days = stack.state.settings.api_key_max_ttl_days
    cases: list[tuple[dict[str, object], str]] = [
        ({"account": ""}, "account"),
        ({"account": "CI-Deployer"}, "account"),
        ({"account": "user:someone"}, "account"),
        ({"account": "a" * 129}, "account"),
        ({"scopes": ["Tenancy.Read"]}, "scopes[0]"),
        ({"scopes": ["ok.read", "9starts.with.digit"]}, "scopes[1]"),
        ({"scopes": [f"s{i}" for i in range(33)]}, "scopes"),
        ({"scopes": [f"scope.{i:02d}." + "x" * 50 for i in range(8)]}, "scopes"),
        ({"role": "superuser"}, "role"),
        ({"expire_time": to_timestamp(now - timedelta(seconds=5))}, "expire_time"),
        ({"expire_time": to_timestamp(now + timedelta(days=max_days + 1))}, "expire_time"),
    ]
    for fields, field in cases:
        request = pb.CreateApiKeyRequest(tenant_id=admin.tenant_id, account="valid-name")
        for name, value in fields.items():
            if name == "scopes":
                request.scopes.extend(value)  # type: ignore[arg-type]
            elif name == "expire_time":
                request.expire_time.CopyFrom(value)  # type: ignore[arg-type]
            else:
                setattr(request, name, value)
        error = await refused(identity.CreateApiKey(request, metadata=meta))
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, fields
        assert field in rich_error(error).field_violations, (fields, rich_error(error))
    error = await refused(
        identity.CreateApiKey(pb.CreateApiKeyRequest(tenant_id="nope", account="x"), metadata=meta)
    )
    assert "tenant_id" in rich_error(error).field_violations
    listed = await identity.ListApiKeys(
        pb.ListApiKeysRequest(tenant_id=admin.tenant_id), metadata=meta
    )
    assert list(listed.keys) == []


async def test_one_active_key_per_account_and_scopes(
    stack: IdentityStack, identity: IdentityServiceStub
) -> None:
    admin = await make_user(stack, role="admin")
    meta = await as_user(stack, admin)
    request = pb.CreateApiKeyRequest(
        tenant_id=admin.tenant_id, account="dup", scopes=["b.read", "a.read"]
    )
    first = await identity.CreateApiKey(request, metadata=meta)
    same_set = pb.CreateApiKeyRequest(
        tenant_id=admin.tenant_id, account="dup", scopes=["a.read", "b.read", "a.read"]
    )
    error = await refused(identity.CreateApiKey(same_set, metadata=meta))
    assert error.code() == grpc.StatusCode.ALREADY_EXISTS
    # Other scopes make another key.
    other = pb.CreateApiKeyRequest(tenant_id=admin.tenant_id, account="dup", scopes=["a.read"])
    await identity.CreateApiKey(other, metadata=meta)

    await identity.RevokeApiKey(pb.RevokeApiKeyRequest(id=first.key.id), metadata=meta)
    again = await identity.CreateApiKey(same_set, metadata=meta)
    assert again.key.id != first.key.id


async def test_request_id_replays_the_first_response(
    stack: IdentityStack, identity: IdentityServiceStub
) -> None:
    admin = await make_user(stack, role="admin")
    meta = await as_user(stack, admin)
    request = pb.CreateApiKeyRequest(
        tenant_id=admin.tenant_id, account="replayed", scopes=["x.read"], request_id="req-1"
    )
    first = await identity.CreateApiKey(request, metadata=meta)
    second = await identity.CreateApiKey(request, metadata=meta)
    assert second.key.id == first.key.id and second.api_key == first.api_key
    await identity.ExchangeApiKey(pb.ExchangeApiKeyRequest(api_key=second.api_key))

    changed = pb.CreateApiKeyRequest(
        tenant_id=admin.tenant_id, account="other", scopes=["x.read"], request_id="req-1"
    )
    error = await refused(identity.CreateApiKey(changed, metadata=meta))
    assert "request_id" in rich_error(error).field_violations
    listed = await identity.ListApiKeys(
        pb.ListApiKeysRequest(tenant_id=admin.tenant_id), metadata=meta
    )
    assert [k.id for k in listed.keys] == [first.key.id]


# -- List and revoke ----------------------------------------------------------------------------


async def test_listing_is_per_tenant_and_oldest_first(
    stack: IdentityStack, identity: IdentityServiceStub
) -> None:
    admin = await make_user(stack, role="admin")
    meta = await as_user(stack, admin)
    made = [(await new_key(identity, meta, admin.tenant_id)).key.id for _ in range(3)]
    viewer = await make_user(stack, role="viewer", tenant_id=admin.tenant_id)
    viewer_meta = await as_user(stack, viewer)
    first = await identity.ListApiKeys(
        pb.ListApiKeysRequest(tenant_id=admin.tenant_id, page_size=2), metadata=viewer_meta
    )
    rest = await identity.ListApiKeys(
        pb.ListApiKeysRequest(
            tenant_id=admin.tenant_id, page_size=2, page_token=first.next_page_token
        ),
        metadata=viewer_meta,
    )
    assert [k.id for k in [*first.keys, *rest.keys]] == made and not rest.next_page_token
    # Naming no tenant lists the caller's own.
    own = await identity.ListApiKeys(pb.ListApiKeysRequest(), metadata=viewer_meta)
    assert [k.id for k in own.keys] == made

    stranger = await make_user(stack, role="admin")
    error = await refused(
        identity.ListApiKeys(
            pb.ListApiKeysRequest(tenant_id=admin.tenant_id),
            metadata=await as_user(stack, stranger),
        )
    )
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_revoking_stops_the_key_at_once(
    stack: IdentityStack, identity: IdentityServiceStub
) -> None:
    admin = await make_user(stack, role="admin")
    meta = await as_user(stack, admin)
    created = await new_key(identity, meta, admin.tenant_id)
    await identity.ExchangeApiKey(pb.ExchangeApiKeyRequest(api_key=created.api_key))

    stranger = await make_user(stack, role="admin")
    error = await refused(
        identity.RevokeApiKey(
            pb.RevokeApiKeyRequest(id=created.key.id), metadata=await as_user(stack, stranger)
        )
    )
    assert error.code() == grpc.StatusCode.NOT_FOUND
    member = await make_user(stack, role="member", tenant_id=admin.tenant_id)
    error = await refused(
        identity.RevokeApiKey(
            pb.RevokeApiKeyRequest(id=created.key.id), metadata=await as_user(stack, member)
        )
    )
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED
    error = await refused(
        identity.RevokeApiKey(pb.RevokeApiKeyRequest(id=str(uuid.uuid4())), metadata=meta)
    )
    assert error.code() == grpc.StatusCode.NOT_FOUND

    revoked = await identity.RevokeApiKey(
        pb.RevokeApiKeyRequest(id=created.key.id, reason="leaked in a log"), metadata=meta
    )
    assert revoked.key.HasField("revoke_time") and revoked.key.revoke_reason == "leaked in a log"
    again = await identity.RevokeApiKey(
        pb.RevokeApiKeyRequest(id=created.key.id, reason="twice"), metadata=meta
    )
    assert again.key.revoke_time == revoked.key.revoke_time
    assert again.key.revoke_reason == "leaked in a log"

    error = await refused(
        identity.ExchangeApiKey(pb.ExchangeApiKeyRequest(api_key=created.api_key))
    )
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED
    assert rich_error(error).reason == "API_KEY_REVOKED"
    recorded = await events(stack, identity, admin.tenant_id, "api_key_revoked")
    # One for the revocation, one for the refused use.
    assert len(recorded) == 2
    assert [e.metadata["code"] for e in recorded if "code" in e.metadata] == ["UNAUTHENTICATED"]
    assert all(e.metadata["key_id"] == created.key.id for e in recorded)


async def test_expired_and_unknown_keys_are_refused_and_recorded(
    stack: IdentityStack, identity: IdentityServiceStub
) -> None:
    admin = await make_user(stack, role="admin")
    meta = await as_user(stack, admin)
    request = pb.CreateApiKeyRequest(tenant_id=admin.tenant_id, account="aging", scopes=["a"])
    created = await identity.CreateApiKey(request, metadata=meta)
    async with stack.state.db.transaction() as session:
        await session.execute(
            update(ServiceAccountToken)
            .where(ServiceAccountToken.id == uuid.UUID(created.key.id))
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    error = await refused(
        identity.ExchangeApiKey(pb.ExchangeApiKeyRequest(api_key=created.api_key))
    )
    assert rich_error(error).reason == "API_KEY_EXPIRED"
    expired_events = await events(stack, identity, admin.tenant_id, "api_key_expired")
    assert [e.metadata["key_id"] for e in expired_events] == [created.key.id]

    # The expired key no longer blocks its replacement.
    replacement = await identity.CreateApiKey(request, metadata=meta)
    async with stack.state.db.reading() as session:
        old = await session.get(ServiceAccountToken, uuid.UUID(created.key.id))
    assert old is not None and old.revoked_reason == "expired"
    await identity.ExchangeApiKey(pb.ExchangeApiKeyRequest(api_key=replacement.api_key))

    jti = created.api_key.split(".", 1)[0]
    for bad in (
        f"{jti}.wrong-secret",  # a real key id with a wrong secret
        "qdk_0123456789abcdef0123456789abcdef.secret",
        "qdk_no-dot",
        "not-a-key",
        "",
    ):
        error = await refused(identity.ExchangeApiKey(pb.ExchangeApiKeyRequest(api_key=bad)))
        assert error.code() == grpc.StatusCode.UNAUTHENTICATED
        assert rich_error(error).reason == "API_KEY_INVALID"
    invalid_events = await events(stack, identity, admin.tenant_id, "api_key_invalid")
    assert [e.metadata["key_id"] for e in invalid_events] == [created.key.id]
    everywhere = await identity.ListSecurityEvents(
        pb.ListSecurityEventsRequest(event_type="api_key_invalid", page_size=1000),
        metadata=await as_operator(stack),
    )
    assert len(everywhere.events) >= 5
    assert all(e.source == "identity" for e in everywhere.events)


# -- Internal keys ------------------------------------------------------------------------------


async def test_a_service_exchanges_its_internal_key(
    stack: IdentityStack, identity: IdentityServiceStub
) -> None:
    key = internal_api_key("tenancy", TENANCY_INTERNAL_SECRET)
    exchanged = await identity.ExchangeApiKey(pb.ExchangeApiKeyRequest(api_key=key))
    claims = claims_of(exchanged.access_token)
    assert claims["sub"] == "service:tenancy" and claims["scp"] == ["internal"]
    assert "tid" not in claims
    ttl = stack.state.settings.internal_token_ttl_seconds
    assert int(claims["exp"]) - int(claims["iat"]) == ttl  # type: ignore[call-overload]
    await identity.ReportSecurityEvent(
        pb.ReportSecurityEventRequest(event_type="internal_key_check"),
        metadata=bearer(exchanged.access_token),
    )

    for bad in (
        internal_api_key("tenancy", "a-wrong-secret-of-some-length"),
        internal_api_key("tooling", TENANCY_INTERNAL_SECRET),  # not a configured client
        "qdi_tenancy",
        "qdi_",
    ):
        error = await refused(identity.ExchangeApiKey(pb.ExchangeApiKeyRequest(api_key=bad)))
        assert rich_error(error).reason == "API_KEY_INVALID", bad
    recorded = await identity.ListSecurityEvents(
        pb.ListSecurityEventsRequest(event_type="api_key_invalid", page_size=1000),
        metadata=await as_operator(stack),
    )
    assert {"tenancy", "tooling"} <= {
        e.metadata["service"] for e in recorded.events if "service" in e.metadata
    }


# -- Security events ----------------------------------------------------------------------------


async def test_security_events_stay_in_their_tenant(
    stack: IdentityStack, identity: IdentityServiceStub
) -> None:
    admin_a = await make_user(stack, role="admin")
    admin_b = await make_user(stack, role="admin")
    meta_a = await as_user(stack, admin_a)
    key_a = await new_key(identity, meta_a, admin_a.tenant_id)
    key_b = await new_key(identity, await as_user(stack, admin_b), admin_b.tenant_id)
    later_a = await new_key(identity, meta_a, admin_a.tenant_id)

    seen = await identity.ListSecurityEvents(
        pb.ListSecurityEventsRequest(tenant_id=admin_a.tenant_id), metadata=meta_a
    )
    assert seen.events and all(e.tenant_id == admin_a.tenant_id for e in seen.events)
    key_ids = [e.metadata["key_id"] for e in seen.events if e.event_type == "api_key_created"]
    assert key_ids == [later_a.key.id, key_a.key.id]  # newest first
    assert key_b.key.id not in {e.metadata["key_id"] for e in seen.events if e.metadata}

    error = await refused(
        identity.ListSecurityEvents(
            pb.ListSecurityEventsRequest(tenant_id=admin_b.tenant_id), metadata=meta_a
        )
    )
    assert rich_error(error).reason == "TENANT_MISMATCH"
    member = await make_user(stack, role="member", tenant_id=admin_a.tenant_id)
    error = await refused(
        identity.ListSecurityEvents(
            pb.ListSecurityEventsRequest(tenant_id=admin_a.tenant_id),
            metadata=await as_user(stack, member),
        )
    )
    assert rich_error(error).reason == "ROLE_TOO_LOW"
    error = await refused(
        identity.ListSecurityEvents(pb.ListSecurityEventsRequest(), metadata=meta_a)
    )
    assert "tenant_id" in rich_error(error).field_violations


async def test_operators_see_every_tenant_and_filter(
    stack: IdentityStack, identity: IdentityServiceStub
) -> None:
    admin_a = await make_user(stack, role="admin")
    admin_b = await make_user(stack, role="admin")
    key_a = await new_key(identity, await as_user(stack, admin_a), admin_a.tenant_id)
    key_b = await new_key(identity, await as_user(stack, admin_b), admin_b.tenant_id)
    operator = await as_operator(stack)
    everything = await identity.ListSecurityEvents(
        pb.ListSecurityEventsRequest(event_type="api_key_created", page_size=1000),
        metadata=operator,
    )
    listed = [e.metadata["key_id"] for e in everything.events]
    assert {key_a.key.id, key_b.key.id} <= set(listed)
    assert listed.index(key_b.key.id) < listed.index(key_a.key.id)  # newest first
    times = [from_timestamp(e.create_time) for e in everything.events]
    assert times == sorted(times, reverse=True)

    by_user = await identity.ListSecurityEvents(
        pb.ListSecurityEventsRequest(user_id=admin_b.user_id), metadata=operator
    )
    assert [e.metadata["key_id"] for e in by_user.events] == [key_b.key.id]

    first = await identity.ListSecurityEvents(
        pb.ListSecurityEventsRequest(event_type="api_key_created", page_size=1), metadata=operator
    )
    second = await identity.ListSecurityEvents(
        pb.ListSecurityEventsRequest(
            event_type="api_key_created", page_size=1, page_token=first.next_page_token
        ),
        metadata=operator,
    )
    assert [first.events[0].id, second.events[0].id] == [e.id for e in everything.events[:2]]
    error = await refused(
        identity.ListSecurityEvents(
            pb.ListSecurityEventsRequest(event_type="other", page_token=first.next_page_token),
            metadata=operator,
        )
    )
    assert "page_token" in rich_error(error).field_violations


async def test_only_services_report_security_events(
    stack: IdentityStack, identity: IdentityServiceStub
) -> None:
    owner = await make_user(stack, role="owner")
    request = pb.ReportSecurityEventRequest(
        event_type="access_token_refused", tenant_id=owner.tenant_id, user_id=owner.user_id
    )
    request.metadata.update({"reason": "TOKEN_EXPIRED", "method": "/x.Y/Z"})
    error = await refused(
        identity.ReportSecurityEvent(request, metadata=await as_user(stack, owner))
    )
    assert rich_error(error).reason == "INTERNAL_ONLY"

    internal = await as_internal(stack, "tenancy")
    await identity.ReportSecurityEvent(request, metadata=internal)
    stranger_id = str(uuid.uuid4())
    unknown_user = pb.ReportSecurityEventRequest(
        event_type="access_token_refused", tenant_id=owner.tenant_id, user_id=stranger_id
    )
    await identity.ReportSecurityEvent(unknown_user, metadata=internal)
    stored = await events(stack, identity, owner.tenant_id, "access_token_refused")
    assert len(stored) == 2 and all(e.source == "tenancy" for e in stored)
    newest, oldest = stored
    assert oldest.user_id == owner.user_id and oldest.metadata["reason"] == "TOKEN_EXPIRED"
    assert newest.user_id == "" and newest.metadata["reported_user_id"] == stranger_id

    nan = Struct()
    nan.update({"value": float("nan")})
    for bad, field in (
        (pb.ReportSecurityEventRequest(event_type="Bad Type"), "event_type"),
        (pb.ReportSecurityEventRequest(event_type="x" * 33), "event_type"),
        (pb.ReportSecurityEventRequest(event_type="ok", tenant_id="nope"), "tenant_id"),
        (pb.ReportSecurityEventRequest(event_type="ok", metadata=nan), "metadata"),
    ):
        error = await refused(identity.ReportSecurityEvent(bad, metadata=internal))
        assert field in rich_error(error).field_violations
    async with stack.state.db.reading() as session:
        stored_bad = await session.scalar(
            select(SecurityEventRecord.id).where(SecurityEventRecord.event_type == "ok").limit(1)
        )
    assert stored_bad is None


async def test_a_key_cannot_mint_another_key(
    stack: IdentityStack, identity: IdentityServiceStub
) -> None:
    admin = await make_user(stack, role="admin")
    created = await identity.CreateApiKey(
        pb.CreateApiKeyRequest(tenant_id=admin.tenant_id, account="ops-bot", role="admin"),
        metadata=await as_user(stack, admin),
    )
    exchanged = await identity.ExchangeApiKey(pb.ExchangeApiKeyRequest(api_key=created.api_key))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await identity.CreateApiKey(
            pb.CreateApiKeyRequest(tenant_id=admin.tenant_id, account="successor", role="admin"),
            metadata=bearer(exchanged.access_token),
        )
    assert rich_error(caught.value).reason == "USER_ONLY"
