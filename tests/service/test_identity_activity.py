"""Identity's changes reaching the tenants' activity feeds, with identity, tenancy and telemetry
running in-process on SQLite and on PostgreSQL: API keys created and revoked, invites created,
revoked and redeemed, and a member's MFA and password changes, each with its actor, object and
summary, never a secret, and appended once (never on an idempotent replay or a second revoke).
A stopped telemetry service neither slows nor fails identity's calls."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pyotp
import pytest
from sqlalchemy import select

from quarterdeck.identity.v1 import identity_pb2 as ipb
from quarterdeck.identity.v1.identity_pb2_grpc import IdentityServiceStub
from quarterdeck.telemetry.v1 import activity_pb2 as pb
from quarterdeck.telemetry.v1.activity_pb2_grpc import ActivityServiceStub
from services.identity.context import IdentityContext
from services.identity.models import ServiceAccountToken, TenantSignupInvite, User
from services.identity.sessions.opening import open_session
from shared.auth import AUTHORIZATION_HEADER
from shared.grpc_client import open_channel
from shared.server import RunningService
from tests.support.identity_users import STRONG_PASSWORD, TestUser, make_user
from tests.support.stack import (
    Databases,
    IdentityStack,
    feed_stack,
    free_port,
    identity_stack,
)

Metadata = list[tuple[str, str]]
#: How long a test waits for appends, which arrive in the background.
FEED_WAIT_SECONDS = 10.0


@dataclass
class Platform:
    identity: RunningService[Any, Any]
    tenancy: RunningService[Any, Any]
    telemetry: RunningService[Any, Any]
    identity_stub: IdentityServiceStub
    activity: ActivityServiceStub

    @property
    def stack(self) -> IdentityStack:
        return IdentityStack(self.identity, self.tenancy)

    @property
    def state(self) -> IdentityContext:
        return self.identity.context.state


@pytest.fixture(scope="module")
async def platform(backend: str, databases: Databases) -> AsyncIterator[Platform]:
    """Identity appending to telemetry's feed with the internal tokens it mints itself, which
    telemetry verifies with identity's JWKS. Tenancy appends nothing here (no telemetry target),
    so every event in a feed is identity's."""
    async with (
        feed_stack(databases, backend, "identity-activity", reporting=("identity",)) as stack,
        open_channel(stack.identity.target) as identity_channel,
        open_channel(stack.telemetry.target) as telemetry_channel,
    ):
        yield Platform(
            stack.identity,
            stack.tenancy,
            stack.telemetry,
            IdentityServiceStub(identity_channel),
            ActivityServiceStub(telemetry_channel),
        )


async def bearer_of(state: IdentityContext, made: TestUser) -> Metadata:
    """A signed-in session of ``made`` in its tenant, as sign-in would open it."""
    async with state.db.transaction() as session:
        row = await session.get(User, uuid.UUID(made.user_id))
        assert row is not None
        tokens = await open_session(
            state, session, row, made.tenant_id, made.role, ipb.DeviceInfo(user_agent="pytest")
        )
    return [(AUTHORIZATION_HEADER, f"Bearer {tokens.access_token}")]


async def signed_in(
    stack: IdentityStack, role: str = "owner", **options: Any
) -> tuple[TestUser, Metadata]:
    made = await make_user(stack, role=role, **options)
    return made, await bearer_of(stack.identity.context.state, made)


async def feed(
    activity: ActivityServiceStub, metadata: Metadata, tenant_id: str = ""
) -> list[pb.ActivityEvent]:
    """Every page of the feed (an operator names the tenant)."""
    events: list[pb.ActivityEvent] = []
    token = ""
    while True:
        page = await activity.ListActivity(
            pb.ListActivityRequest(tenant_id=tenant_id, page_token=token), metadata=metadata
        )
        events.extend(page.events)
        token = page.next_page_token
        if not token:
            return events


async def settled_feed(
    platform: Platform, metadata: Metadata, count: int, tenant_id: str = ""
) -> list[pb.ActivityEvent]:
    """The feed once identity's appends in flight have landed and it holds ``count`` events."""
    await platform.state.activity.drain(FEED_WAIT_SECONDS)
    deadline = time.monotonic() + FEED_WAIT_SECONDS
    while True:
        events = await feed(platform.activity, metadata, tenant_id)
        if len(events) >= count or time.monotonic() > deadline:
            return events
        await asyncio.sleep(0.05)


def by_action(events: list[pb.ActivityEvent]) -> dict[str, pb.ActivityEvent]:
    actions = [event.action for event in events]
    assert len(actions) == len(set(actions)), f"an action appended twice: {actions}"
    return {event.action: event for event in events}


def assert_actor(event: pb.ActivityEvent, user_id: str, role: str) -> None:
    assert (event.actor_type, event.actor_id, event.actor_role) == (
        pb.ACTIVITY_ACTOR_TYPE_USER,
        user_id,
        role,
    )
    assert event.source == "identity"
    assert event.status == pb.ACTIVITY_STATUS_SUCCESS


# -- API keys ----------------------------------------------------------------------------------


async def test_api_keys_created_and_revoked_reach_the_feed_without_the_key(
    platform: Platform,
) -> None:
    owner, metadata = await signed_in(platform.stack)
    create = ipb.CreateApiKeyRequest(
        tenant_id=owner.tenant_id,
        account="ci-runner",
        scopes=["agents:read"],
        role="member",
        request_id=f"create-{uuid.uuid4()}",
    )
    created = await platform.identity_stub.CreateApiKey(create, metadata=metadata)
    # The same request_id again returns the same key and appends nothing.
    replayed = await platform.identity_stub.CreateApiKey(create, metadata=metadata)
    assert replayed.key.id == created.key.id
    key_id = created.key.id
    for _ in range(2):  # revoking twice keeps the first revocation, and appends once
        await platform.identity_stub.RevokeApiKey(
            ipb.RevokeApiKeyRequest(id=key_id, reason="rotated"), metadata=metadata
        )
    async with platform.state.db.reading() as session:
        stored_hash = await session.scalar(
            select(ServiceAccountToken.refresh_token_hash).where(
                ServiceAccountToken.id == uuid.UUID(key_id)
            )
        )
    assert stored_hash

    events = by_action(await settled_feed(platform, metadata, 2))
    assert set(events) == {"api_key.created", "api_key.revoked"}
    for action, event in events.items():
        assert event.tenant_id == owner.tenant_id
        assert_actor(event, owner.user_id, "owner")
        assert (event.object_type, event.object_id, event.object_name) == (
            "api_key",
            key_id,
            "ci-runner",
        )
        assert "ci-runner" in event.summary, action
        text = str(event)
        assert created.api_key not in text and stored_hash not in text
        # Not even the key's secret half, nor its jti (the key's first half).
        jti, _, secret = created.api_key.removeprefix("qdk_").partition(".")
        assert jti not in text and secret not in text
    made = events["api_key.created"]
    assert "created" in made.summary and "member" in made.summary
    assert dict(made.metadata) == {
        "account": "ci-runner",
        "role": "member",
        "scopes": ["agents:read"],
        "expire_time": created.key.expire_time.ToJsonString(),
    }
    revoked = events["api_key.revoked"]
    assert "revoked" in revoked.summary
    assert dict(revoked.metadata) == {"account": "ci-runner", "reason": "rotated"}

    # Another tenant's owner sees none of it.
    _, stranger = await signed_in(platform.stack)
    assert await feed(platform.activity, stranger) == []


# -- Invites -----------------------------------------------------------------------------------


async def test_invites_created_revoked_and_redeemed_reach_the_feeds_without_the_token(
    platform: Platform,
) -> None:
    # An operator signed in within the platform team's tenant: that tenant's feed shows the
    # invites its operators issue and revoke.
    operator, operator_meta = await signed_in(platform.stack, platform_operator=True)
    stub = platform.identity_stub
    kept = await stub.CreateInvite(
        ipb.CreateInviteRequest(max_redemptions=2, note="design partners"),
        metadata=operator_meta,
    )
    dropped = await stub.CreateInvite(ipb.CreateInviteRequest(), metadata=operator_meta)
    for _ in range(2):
        await stub.RevokeInvite(
            ipb.RevokeInviteRequest(id=dropped.invite.id, reason="sent to the wrong person"),
            metadata=operator_meta,
        )
    access = await stub.RequestAccess(
        ipb.RequestAccessRequest(email=f"ada-{uuid.uuid4().hex[:8]}@example.com")
    )
    approved = await stub.DecideSignupRequest(
        ipb.DecideSignupRequestRequest(id=access.id, approve=True), metadata=operator_meta
    )
    assert approved.invite_token

    suffix = uuid.uuid4().hex[:10]
    signed_up = await stub.SignUp(
        ipb.SignUpRequest(
            email=f"founder-{suffix}@example.com",
            password=STRONG_PASSWORD,
            tenant_name="Acme Robotics",
            tenant_slug=f"acme-{suffix}",
            invite_token=kept.token,
        )
    )
    founder = [(AUTHORIZATION_HEADER, f"Bearer {signed_up.tokens.access_token}")]
    tokens = (kept.token, dropped.token, approved.invite_token)

    operator_events = await settled_feed(platform, operator_meta, 4, operator.tenant_id)
    assert sorted(e.action for e in operator_events) == [
        "invite.created",
        "invite.created",
        "invite.created",
        "invite.revoked",
    ]
    async with platform.state.db.reading() as session:
        approved_invite = await session.scalar(
            select(TenantSignupInvite.id).where(
                TenantSignupInvite.signup_request_id == uuid.UUID(access.id)
            )
        )
    by_object = {(e.action, e.object_id): e for e in operator_events}
    expected = {
        ("invite.created", kept.invite.id),
        ("invite.created", dropped.invite.id),
        ("invite.revoked", dropped.invite.id),
        ("invite.created", str(approved_invite)),
    }
    assert set(by_object) == expected
    for event in operator_events:
        assert event.tenant_id == operator.tenant_id and event.object_type == "invite"
        assert_actor(event, operator.user_id, "owner")
        assert event.object_name and event.object_name in event.summary  # the hint, not the token
    first = by_object[("invite.created", kept.invite.id)]
    assert first.object_name == kept.invite.token_hint
    assert dict(first.metadata) == {"max_redemptions": 2, "for_one_email": False}
    revoked = by_object[("invite.revoked", dropped.invite.id)]
    assert "revoked" in revoked.summary
    assert dict(revoked.metadata) == {"reason": "sent to the wrong person", "redeemed_count": 0}
    for_request = by_object[("invite.created", str(approved_invite))]
    assert for_request.metadata["signup_request_id"] == access.id

    # The redemption shows in the new tenant's feed, done by its new owner.
    [redeemed] = await settled_feed(platform, founder, 1)
    assert redeemed.action == "invite.redeemed"
    assert redeemed.tenant_id != operator.tenant_id
    assert_actor(redeemed, signed_up.user.id, "owner")
    assert (redeemed.object_type, redeemed.object_id, redeemed.object_name) == (
        "invite",
        kept.invite.id,
        kept.invite.token_hint,
    )
    assert "redeemed" in redeemed.summary
    assert dict(redeemed.metadata) == {
        "user_id": signed_up.user.id,
        "redeemed_count": 1,
        "max_redemptions": 2,
    }
    for event in [*operator_events, redeemed]:
        assert not any(token in str(event) for token in tokens)


async def test_a_sign_up_without_an_invite_appends_nothing(platform: Platform) -> None:
    suffix = uuid.uuid4().hex[:10]
    signed_up = await platform.identity_stub.SignUp(
        ipb.SignUpRequest(
            email=f"solo-{suffix}@example.com",
            password=STRONG_PASSWORD,
            tenant_name="Solo",
            tenant_slug=f"solo-{suffix}",
        )
    )
    founder = [(AUTHORIZATION_HEADER, f"Bearer {signed_up.tokens.access_token}")]
    await platform.state.activity.drain(FEED_WAIT_SECONDS)
    assert await feed(platform.activity, founder) == []


# -- A member's MFA and password ---------------------------------------------------------------


async def test_mfa_and_password_changes_reach_the_members_tenant_only(platform: Platform) -> None:
    owner, owner_meta = await signed_in(platform.stack)
    member, member_meta = await signed_in(platform.stack, role="member", tenant_id=owner.tenant_id)
    stub = platform.identity_stub
    begun = await stub.BeginTotpEnrollment(
        ipb.BeginTotpEnrollmentRequest(label="phone"), metadata=member_meta
    )
    confirmed = await stub.ConfirmTotpEnrollment(
        ipb.ConfirmTotpEnrollmentRequest(
            method_id=begun.method_id, code=pyotp.TOTP(begun.secret).now()
        ),
        metadata=member_meta,
    )
    await stub.DisableTotp(
        ipb.DisableTotpRequest(method_id=begun.method_id, password=member.password),
        metadata=member_meta,
    )
    new_password = "Another-Horse-77-staple"
    await stub.ChangePassword(
        ipb.ChangePasswordRequest(current_password=member.password, new_password=new_password),
        metadata=member_meta,
    )

    # The tenant's owner reads the member's changes in the tenant's feed.
    events = by_action(await settled_feed(platform, owner_meta, 3))
    assert set(events) == {"user.mfa_enrolled", "user.mfa_removed", "user.password_changed"}
    secrets = [member.password, new_password, begun.secret, *confirmed.recovery_codes]
    for action, event in events.items():
        assert event.tenant_id == owner.tenant_id
        assert_actor(event, member.user_id, "member")
        assert (event.object_type, event.object_id, event.object_name) == (
            "user",
            member.user_id,
            member.email,
        )
        assert member.email in event.summary, action
        text = str(event)
        assert not any(secret in text for secret in secrets), action
    assert events["user.mfa_enrolled"].metadata["label"] == "phone"
    assert events["user.mfa_removed"].metadata["recovery_codes_invalidated"] is True
    assert "last second factor" in events["user.mfa_removed"].summary
    assert events["user.password_changed"].metadata["revoked_sessions"] == 0
    # The member's own feed is the same tenant's feed.
    assert {e.id for e in await feed(platform.activity, member_meta)} == {
        e.id for e in events.values()
    }


async def test_a_rotated_signing_key_still_reaches_the_feed(platform: Platform) -> None:
    """Identity's own internal token is minted again once its signing key is no longer the
    active one, and telemetry learns the new key from identity's JWKS."""
    owner, metadata = await signed_in(platform.stack)
    _, operator_meta = await signed_in(platform.stack, platform_operator=True)
    await platform.identity_stub.RotateSigningKey(
        ipb.RotateSigningKeyRequest(), metadata=operator_meta
    )
    fresh = await bearer_of(platform.state, owner)  # signed with the new key
    created = await platform.identity_stub.CreateApiKey(
        ipb.CreateApiKeyRequest(tenant_id=owner.tenant_id, account="after-rotation"),
        metadata=fresh,
    )
    [event] = await settled_feed(platform, metadata, 1)
    assert (event.action, event.object_id) == ("api_key.created", created.key.id)


# -- Telemetry away ----------------------------------------------------------------------------


async def test_a_stopped_telemetry_neither_slows_nor_fails_identity(
    backend: str, databases: Databases, caplog: pytest.LogCaptureFixture
) -> None:
    # Nothing listens on the target: every append is refused, retried with backoff (0.2 + 0.4
    # + 0.8 s between four attempts) and dropped. A caller waiting on that would take over 1.4 s.
    stopped = f"127.0.0.1:{free_port()}"
    async with (
        identity_stack(databases, backend, "activity-stopped", telemetry_target=stopped) as stack,
        open_channel(stack.identity.target) as channel,
    ):
        state: IdentityContext = stack.identity.context.state
        assert state.activity.enabled
        stub = IdentityServiceStub(channel)
        owner, metadata = await signed_in(stack)
        # Every append is held at a gate before it reaches the stopped telemetry: a call that
        # waited on its append would never be answered while the gate is shut.
        gate = asyncio.Event()
        held: list[str] = []
        both_held = asyncio.Event()
        stub_of_telemetry = state.activity._stub
        assert stub_of_telemetry is not None
        append_activity = stub_of_telemetry.AppendActivity

        async def held_at_the_gate(request: Any, **kwargs: Any) -> Any:
            held.append(request.event.action)
            if len(held) == 2:
                both_held.set()
            await gate.wait()
            return await append_activity(request, **kwargs)

        stub_of_telemetry.AppendActivity = held_at_the_gate
        with caplog.at_level(logging.WARNING, logger="quarterdeck.activity_link"):
            created = await stub.CreateApiKey(
                ipb.CreateApiKeyRequest(tenant_id=owner.tenant_id, account="while-away"),
                metadata=metadata,
            )
            revoked = await stub.RevokeApiKey(
                ipb.RevokeApiKeyRequest(id=created.key.id), metadata=metadata
            )
            assert revoked.key.HasField("revoke_time")
            # Both calls were answered while their appends were still held.
            await asyncio.wait_for(both_held.wait(), FEED_WAIT_SECONDS)
            assert sorted(held) == ["api_key.created", "api_key.revoked"]
            gate.set()
            # The appends were attempted, failed in the background, and were dropped there.
            await state.activity.drain(FEED_WAIT_SECONDS)
        assert "activity api_key.created dropped after 4 attempts" in caplog.text
        assert "activity api_key.revoked dropped after 4 attempts" in caplog.text


async def test_without_a_telemetry_target_identity_skips_its_appends(
    backend: str, databases: Databases, caplog: pytest.LogCaptureFixture
) -> None:
    async with (
        identity_stack(databases, backend, "activity-off") as stack,
        open_channel(stack.identity.target) as channel,
    ):
        state: IdentityContext = stack.identity.context.state
        assert not state.activity.enabled
        owner, metadata = await signed_in(stack)
        with caplog.at_level(logging.DEBUG, logger="quarterdeck.activity_link"):
            created = await IdentityServiceStub(channel).CreateApiKey(
                ipb.CreateApiKeyRequest(tenant_id=owner.tenant_id, account="no-feed"),
                metadata=metadata,
            )
        assert created.api_key.startswith("qdk_")
        assert "no telemetry target; activity api_key.created not appended" in caplog.text
