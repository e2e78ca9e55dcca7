"""Sign-up (the saga across identity and tenancy), access requests and invites, through real gRPC
stubs on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import grpc
import pytest
from sqlalchemy import func, select, update

from quarterdeck.identity.v1 import identity_pb2 as pb
from quarterdeck.identity.v1.identity_pb2_grpc import IdentityServiceStub
from quarterdeck.tenancy.v1 import tenancy_pb2 as tpb
from quarterdeck.tenancy.v1.tenancy_pb2_grpc import TenancyServiceStub
from services.identity.context import IdentityContext
from services.identity.models import (
    InviteStatus,
    ReservationStatus,
    SecurityEventRecord,
    SignupRequestStatus,
    TenantSignupInvite,
    TenantSignupInviteReservation,
    TenantSignupRequest,
    User,
    UserProfile,
    UserStatus,
)
from services.identity.sessions import opening
from shared.auth import AUTHORIZATION_HEADER, PLATFORM_OPERATOR, Principal
from shared.db_types import utcnow
from shared.grpc_client import open_channel
from shared.timestamps import to_timestamp
from tests.support.errors import rich_error, rich_failure
from tests.support.identity_users import STRONG_PASSWORD, make_user
from tests.support.stack import Databases, IdentityStack, identity_stack

Metadata = list[tuple[str, str]]
INVALID_INVITE = "is not a valid invite, or it has expired, been revoked or been used up"


@dataclass
class Env:
    stack: IdentityStack
    identity: IdentityServiceStub
    tenancy: TenancyServiceStub
    operator: Metadata
    operator_id: str

    @property
    def state(self) -> IdentityContext:
        return self.stack.state


@asynccontextmanager
async def environment(
    databases: Databases, backend: str, label: str, **overrides: Any
) -> AsyncIterator[Env]:
    async with (
        identity_stack(databases, backend, label=label, **overrides) as stack,
        open_channel(stack.identity.target) as identity_channel,
        open_channel(stack.tenancy.target) as tenancy_channel,
    ):
        operator = await make_user(stack, platform_operator=True)
        principal = Principal(
            subject=operator.user_id, kind="user", platform_role=PLATFORM_OPERATOR
        )
        yield Env(
            stack=stack,
            identity=IdentityServiceStub(identity_channel),
            tenancy=TenancyServiceStub(tenancy_channel),
            operator=await bearer(stack.identity.context.state, principal),
            operator_id=operator.user_id,
        )


@pytest.fixture(scope="module")
async def env(backend: str, databases: Databases) -> AsyncIterator[Env]:
    """Sign-up open to anyone (the default mode)."""
    async with environment(databases, backend, "signup-open") as running:
        yield running


@pytest.fixture(scope="module")
async def invite_env(backend: str, databases: Databases) -> AsyncIterator[Env]:
    """Sign-up by invite only."""
    async with environment(databases, backend, "signup-invite", signup_mode="invite") as running:
        yield running


async def bearer(state: IdentityContext, principal: Principal) -> Metadata:
    token, _ = await state.issuer.access_token(principal)
    return [(AUTHORIZATION_HEADER, f"Bearer {token}")]


def token_metadata(tokens: pb.TokenPair) -> Metadata:
    return [(AUTHORIZATION_HEADER, f"Bearer {tokens.access_token}")]


def unique() -> str:
    return uuid.uuid4().hex[:10]


def signup(**fields: Any) -> pb.SignUpRequest:
    suffix = unique()
    fields.setdefault("email", f"founder-{suffix}@example.com")
    fields.setdefault("password", STRONG_PASSWORD)
    fields.setdefault("tenant_name", "Acme Robotics")
    fields.setdefault("tenant_slug", f"acme-{suffix}")
    fields.setdefault("display_name", "Ada")
    return pb.SignUpRequest(**fields)


async def invite(env: Env, **fields: Any) -> pb.CreateInviteResponse:
    return await env.identity.CreateInvite(pb.CreateInviteRequest(**fields), metadata=env.operator)


async def users_with_email(env: Env, email: str) -> list[User]:
    async with env.state.db.reading() as session:
        rows = await session.scalars(select(User).where(func.lower(User.email) == email.lower()))
        return list(rows)


async def tenant_slugs(env: Env) -> set[str]:
    listed = await env.tenancy.ListTenants(
        tpb.ListTenantsRequest(page_size=1000), metadata=env.operator
    )
    return {tenant.slug for tenant in listed.tenants}


async def reservations_of(env: Env, invite_id: str) -> list[TenantSignupInviteReservation]:
    async with env.state.db.reading() as session:
        rows = await session.scalars(
            select(TenantSignupInviteReservation)
            .where(TenantSignupInviteReservation.invite_id == uuid.UUID(invite_id))
            .order_by(TenantSignupInviteReservation.reserved_at)
        )
        return list(rows)


async def stored_invite(env: Env, invite_id: str) -> TenantSignupInvite:
    async with env.state.db.reading() as session:
        row = await session.get(TenantSignupInvite, uuid.UUID(invite_id))
        assert row is not None
        return row


# --- open sign-up --------------------------------------------------------------------------


async def test_open_sign_up_returns_owner_tokens_that_tenancy_accepts(env: Env) -> None:
    request = signup(device=pb.DeviceInfo(ip_address="203.0.113.7", user_agent="pytest"))
    response = await env.identity.SignUp(request)

    assert response.user.email == request.email
    assert response.user.status == pb.USER_STATUS_ACTIVE
    assert response.tokens.role == "owner" and response.tokens.refresh_token
    tenant_id = response.tokens.tenant_id
    caller = token_metadata(response.tokens)
    tenant = (
        await env.tenancy.GetTenant(tpb.GetTenantRequest(id=tenant_id), metadata=caller)
    ).tenant
    assert (tenant.slug, tenant.name) == (request.tenant_slug, request.tenant_name)
    membership = (
        await env.tenancy.GetMembership(
            tpb.GetMembershipRequest(tenant_id=tenant_id, user_id=response.user.id),
            metadata=caller,
        )
    ).membership
    assert membership.role == tpb.MEMBERSHIP_ROLE_OWNER

    async with env.state.db.reading() as session:
        user = await session.get(User, uuid.UUID(response.user.id))
        profile = await session.scalar(select(UserProfile).where(UserProfile.user_id == user.id))
        events = list(
            await session.scalars(
                select(SecurityEventRecord).where(SecurityEventRecord.user_id == user.id)
            )
        )
    assert user.status == UserStatus.ACTIVE
    assert STRONG_PASSWORD not in user.password_hash
    assert user.password_pepper_version == env.state.secrets.passwords.current_version
    assert profile is not None and profile.display_name == "Ada"
    signed_up = [e for e in events if e.event_type == "signed_up"]
    assert len(signed_up) == 1 and str(signed_up[0].tenant_id) == tenant_id
    assert signed_up[0].ip_hash and "203.0.113.7" not in signed_up[0].ip_hash


async def test_email_taken_in_another_case_is_already_exists(env: Env) -> None:
    first = signup(email=f"Grace.{unique()}@Example.com")
    await env.identity.SignUp(first)
    again = signup(email=first.email.lower())
    error = await rich_failure(env.identity.SignUp(again))
    assert error.code == grpc.StatusCode.ALREADY_EXISTS
    assert error.metadata.get("field") == "email"
    assert again.tenant_slug not in await tenant_slugs(env)
    assert [u.email for u in await users_with_email(env, first.email)] == [first.email]


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"password": "short"}, "password"),
        ({"password": "alllowercaseletters"}, "password"),
        ({"email": "not-an-email"}, "email"),
        ({"email": "two@@example.com"}, "email"),
        ({"email": ""}, "email"),
        ({"email": "a" * 64 + "@" + "b" * 260 + ".com"}, "email"),
        ({"tenant_slug": ""}, "tenant_slug"),
        ({"tenant_name": "   "}, "tenant_name"),
        ({"tenant_name": "n" * 129}, "tenant_name"),
        ({"display_name": "d" * 129}, "display_name"),
    ],
)
async def test_bad_input_names_the_field(env: Env, fields: dict[str, str], field: str) -> None:
    request = signup(**fields)
    error = await rich_failure(env.identity.SignUp(request))
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert field in error.field_violations
    if request.email:
        assert await users_with_email(env, request.email) == []


async def test_a_slug_tenancy_refuses_is_named_tenant_slug_and_leaves_no_user(env: Env) -> None:
    request = signup(tenant_slug="Not A Slug!")
    error = await rich_failure(env.identity.SignUp(request))
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert set(error.field_violations) == {"tenant_slug"}
    assert await users_with_email(env, request.email) == []


async def test_taken_slug_is_already_exists_and_the_email_can_try_again(env: Env) -> None:
    taken = signup()
    await env.identity.SignUp(taken)
    request = signup(tenant_slug=taken.tenant_slug)
    error = await rich_failure(env.identity.SignUp(request))
    assert error.code == grpc.StatusCode.ALREADY_EXISTS
    assert error.reason == "TENANT_SLUG_TAKEN"
    assert error.metadata.get("field") == "tenant_slug"
    assert await users_with_email(env, request.email) == []
    async with env.state.db.reading() as session:
        failed = list(
            await session.scalars(
                select(SecurityEventRecord).where(SecurityEventRecord.event_type == "signup_failed")
            )
        )
    assert any(e.metadata_json and e.metadata_json["reason"] == "TENANT_SLUG_TAKEN" for e in failed)

    retry = signup(email=request.email, tenant_slug=f"other-{unique()}")
    response = await env.identity.SignUp(retry)
    assert response.user.email == request.email


async def test_a_failure_after_the_tenant_exists_undoes_everything(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    created = await invite(env)

    async def broken(*args: Any, **kwargs: Any) -> pb.TokenPair:
        raise RuntimeError("the session store is down")

    monkeypatch.setattr(opening, "open_session", broken)
    request = signup(invite_token=created.token)
    error = await rich_failure(env.identity.SignUp(request))
    assert error.code == grpc.StatusCode.INTERNAL
    monkeypatch.undo()

    assert await users_with_email(env, request.email) == []
    assert request.tenant_slug not in await tenant_slugs(env)
    [reservation] = await reservations_of(env, created.invite.id)
    assert reservation.status == ReservationStatus.RELEASED
    assert reservation.released_at is not None and "finalize" in (reservation.released_reason or "")
    stored = await stored_invite(env, created.invite.id)
    assert (stored.redeemed_count, stored.status) == (0, InviteStatus.ACTIVE)

    # The released hold does not block the single-use invite.
    response = await env.identity.SignUp(signup(email=request.email, invite_token=created.token))
    assert response.tokens.role == "owner"
    stored = await stored_invite(env, created.invite.id)
    assert (stored.redeemed_count, stored.status) == (1, InviteStatus.EXHAUSTED)
    assert stored.last_redeemed_at is not None
    reservations = await reservations_of(env, created.invite.id)
    assert [r.status for r in reservations] == [
        ReservationStatus.RELEASED,
        ReservationStatus.FINALIZED,
    ]
    assert str(reservations[1].user_id) == response.user.id
    assert str(reservations[1].tenant_id) == response.tokens.tenant_id


class LostAnswer:
    """Tenancy's stub whose CreateTenant commits, then loses the answer on the way back."""

    def __init__(self, stub: TenancyServiceStub) -> None:
        self._stub = stub

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stub, name)

    async def CreateTenant(self, request: tpb.CreateTenantRequest, **kwargs: Any) -> Any:  # noqa: N802
        self.CreateTenant = self._stub.CreateTenant  # type: ignore[method-assign]
        await self._stub.CreateTenant(request, **kwargs)
        raise grpc.aio.AioRpcError(
            grpc.StatusCode.UNAVAILABLE, grpc.aio.Metadata(), grpc.aio.Metadata(), "reset"
        )


async def test_a_tenant_created_behind_a_lost_answer_is_found_and_purged(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert env.state.tenancy is not None
    monkeypatch.setattr(env.state.tenancy, "stub", LostAnswer(env.state.tenancy.stub))
    request = signup()
    error = await rich_failure(env.identity.SignUp(request))
    assert (error.code, error.reason) == (grpc.StatusCode.UNAVAILABLE, "TENANCY_UNAVAILABLE")
    monkeypatch.undo()
    assert request.tenant_slug not in await tenant_slugs(env)
    assert await users_with_email(env, request.email) == []


async def test_closed_sign_up_is_refused(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    state = env.state
    monkeypatch.setattr(
        state, "settings", state.settings.model_copy(update={"signup_mode": "closed"})
    )
    request = signup()
    error = await rich_failure(env.identity.SignUp(request))
    assert (error.code, error.reason) == (grpc.StatusCode.FAILED_PRECONDITION, "SIGNUP_CLOSED")
    assert await users_with_email(env, request.email) == []


# --- sign-up by invite ---------------------------------------------------------------------


async def test_invite_mode_needs_a_valid_token(invite_env: Env) -> None:
    error = await rich_failure(invite_env.identity.SignUp(signup()))
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert "invite_token" in error.field_violations

    request = signup(invite_token="qdv_" + "x" * 43)
    error = await rich_failure(invite_env.identity.SignUp(request))
    assert error.field_violations == {"invite_token": INVALID_INVITE}
    assert await users_with_email(invite_env, request.email) == []


async def test_an_invite_for_one_email_refuses_another(invite_env: Env) -> None:
    invited = f"Invitee-{unique()}@Example.com"
    created = await invite(invite_env, invited_email=invited)
    assert created.invite.invited_email == invited
    error = await rich_failure(invite_env.identity.SignUp(signup(invite_token=created.token)))
    assert error.field_violations == {"invite_token": INVALID_INVITE}
    response = await invite_env.identity.SignUp(
        signup(email=invited.lower(), invite_token=created.token)
    )
    assert response.user.email == invited.lower()


async def test_max_redemptions_is_respected(invite_env: Env) -> None:
    created = await invite(invite_env, max_redemptions=2, note="two seats")
    for _ in range(2):
        await invite_env.identity.SignUp(signup(invite_token=created.token))
    request = signup(invite_token=created.token)
    error = await rich_failure(invite_env.identity.SignUp(request))
    assert error.field_violations == {"invite_token": INVALID_INVITE}
    assert await users_with_email(invite_env, request.email) == []
    listed = await invite_env.identity.ListInvites(
        pb.ListInvitesRequest(page_size=1000), metadata=invite_env.operator
    )
    [row] = [i for i in listed.invites if i.id == created.invite.id]
    assert (row.status, row.redeemed_count, row.max_redemptions) == (
        pb.INVITE_STATUS_EXHAUSTED,
        2,
        2,
    )
    assert row.note == "two seats"


async def test_concurrent_sign_ups_on_a_single_use_invite_let_exactly_one_in(
    invite_env: Env,
) -> None:
    created = await invite(invite_env)
    requests = [signup(invite_token=created.token) for _ in range(2)]
    results = await asyncio.gather(
        *(invite_env.identity.SignUp(r) for r in requests), return_exceptions=True
    )
    won = [r for r in results if isinstance(r, pb.SignUpResponse)]
    lost = [r for r in results if isinstance(r, grpc.aio.AioRpcError)]
    assert len(won) == 1 and len(lost) == 1
    assert rich_error(lost[0]).field_violations == {"invite_token": INVALID_INVITE}
    loser = next(r for r in requests if r.email != won[0].user.email)
    assert await users_with_email(invite_env, loser.email) == []
    assert loser.tenant_slug not in await tenant_slugs(invite_env)
    stored = await stored_invite(invite_env, created.invite.id)
    assert (stored.redeemed_count, stored.status) == (1, InviteStatus.EXHAUSTED)


async def test_a_crowd_on_a_two_seat_invite_gets_exactly_two_seats(invite_env: Env) -> None:
    created = await invite(invite_env, max_redemptions=2)
    results = await asyncio.gather(
        *(invite_env.identity.SignUp(signup(invite_token=created.token)) for _ in range(5)),
        return_exceptions=True,
    )
    assert sum(isinstance(r, pb.SignUpResponse) for r in results) == 2
    assert sum(isinstance(r, grpc.aio.AioRpcError) for r in results) == 3
    stored = await stored_invite(invite_env, created.invite.id)
    assert (stored.redeemed_count, stored.status) == (2, InviteStatus.EXHAUSTED)


async def test_revoked_and_expired_invites_are_refused(invite_env: Env) -> None:
    revoked = await invite(invite_env)
    answer = await invite_env.identity.RevokeInvite(
        pb.RevokeInviteRequest(id=revoked.invite.id, reason="sent to the wrong person"),
        metadata=invite_env.operator,
    )
    assert answer.invite.status == pb.INVITE_STATUS_REVOKED
    assert answer.invite.HasField("revoke_time")
    stored = await stored_invite(invite_env, revoked.invite.id)
    assert stored.revoked_reason == "sent to the wrong person"

    expiring = await invite(invite_env, expire_time=to_timestamp(utcnow() + timedelta(hours=1)))
    async with invite_env.state.db.transaction() as session:
        await session.execute(
            update(TenantSignupInvite)
            .where(TenantSignupInvite.id == uuid.UUID(expiring.invite.id))
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )

    for token in (revoked.token, expiring.token):
        request = signup(invite_token=token)
        error = await rich_failure(invite_env.identity.SignUp(request))
        assert error.field_violations == {"invite_token": INVALID_INVITE}
        assert await users_with_email(invite_env, request.email) == []
    listed = await invite_env.identity.ListInvites(
        pb.ListInvitesRequest(page_size=1000), metadata=invite_env.operator
    )
    statuses = {i.id: i.status for i in listed.invites}
    assert statuses[expiring.invite.id] == pb.INVITE_STATUS_EXPIRED
    assert statuses[revoked.invite.id] == pb.INVITE_STATUS_REVOKED


async def test_an_expired_reservation_does_not_block_the_invite(invite_env: Env) -> None:
    created = await invite(invite_env)
    async with invite_env.state.db.transaction() as session:
        session.add(
            TenantSignupInviteReservation(
                invite_id=uuid.UUID(created.invite.id),
                email="abandoned@example.com",
                reserved_at=utcnow() - timedelta(hours=2),
                expires_at=utcnow() - timedelta(hours=1),
            )
        )
    await invite_env.identity.SignUp(signup(invite_token=created.token))
    abandoned, used = await reservations_of(invite_env, created.invite.id)
    assert (abandoned.status, abandoned.released_reason) == (ReservationStatus.RELEASED, "expired")
    assert used.status == ReservationStatus.FINALIZED


async def test_invite_tokens_are_stored_only_hashed(invite_env: Env) -> None:
    created = await invite(invite_env)
    token = created.token
    assert token.startswith("qdv_")
    assert created.invite.token_hint == token[4:12]
    async with invite_env.state.db.reading() as session:
        row = await session.get(TenantSignupInvite, uuid.UUID(created.invite.id))
        events = list(await session.scalars(select(SecurityEventRecord)))
    assert row is not None
    assert row.token_hash == invite_env.state.secrets.hasher.hash(token)
    stored = " ".join(str(getattr(row, c.key)) for c in TenantSignupInvite.__table__.columns)
    assert token not in stored and token[4:] not in stored
    assert all(token not in str(e.metadata_json) for e in events)


# --- access requests and decisions -------------------------------------------------------


async def test_a_honeypot_request_looks_like_a_human_one_and_is_stored_rejected(
    invite_env: Env,
) -> None:
    device = pb.DeviceInfo(ip_address="198.51.100.23", user_agent="Mozilla/5.0 (bot)")
    human = await invite_env.identity.RequestAccess(
        pb.RequestAccessRequest(
            email=f"human-{unique()}@example.com", organization="Acme", device=device
        )
    )
    bot = await invite_env.identity.RequestAccess(
        pb.RequestAccessRequest(
            email=f"bot-{unique()}@example.com",
            organization="Acme",
            honeypot="http://spam.example",
            device=device,
        )
    )
    assert human.ListFields()[0][0].name == bot.ListFields()[0][0].name == "id"
    assert uuid.UUID(human.id) and uuid.UUID(bot.id)
    async with invite_env.state.db.reading() as session:
        human_row = await session.get(TenantSignupRequest, uuid.UUID(human.id))
        bot_row = await session.get(TenantSignupRequest, uuid.UUID(bot.id))
    assert human_row is not None and bot_row is not None
    assert human_row.status == SignupRequestStatus.PENDING
    assert (bot_row.status, bot_row.decision_reason) == (SignupRequestStatus.REJECTED, "honeypot")
    for row in (human_row, bot_row):
        assert row.ip_address and "198.51.100" not in row.ip_address
        assert row.user_agent and "Mozilla" not in row.user_agent

    pending = await invite_env.identity.ListSignupRequests(
        pb.ListSignupRequestsRequest(status=pb.SIGNUP_REQUEST_STATUS_PENDING, page_size=1000),
        metadata=invite_env.operator,
    )
    ids = [r.id for r in pending.requests]
    assert human.id in ids and bot.id not in ids


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"email": "nope"}, "email"),
        ({"organization": "o" * 129}, "organization"),
        ({"full_name": "f" * 129}, "full_name"),
        ({"message": "m" * 4001}, "message"),
    ],
)
async def test_request_access_names_bad_fields(
    invite_env: Env, fields: dict[str, str], field: str
) -> None:
    fields.setdefault("email", f"someone-{unique()}@example.com")
    error = await rich_failure(invite_env.identity.RequestAccess(pb.RequestAccessRequest(**fields)))
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert set(error.field_violations) == {field}


async def test_approval_issues_a_working_invite(invite_env: Env) -> None:
    email = f"Approved-{unique()}@example.com"
    first = await invite_env.identity.RequestAccess(
        pb.RequestAccessRequest(email=email, full_name="Ada Lovelace", message="Please")
    )
    second = await invite_env.identity.RequestAccess(
        pb.RequestAccessRequest(email=f"later-{unique()}@example.com")
    )
    pending = await invite_env.identity.ListSignupRequests(
        pb.ListSignupRequestsRequest(status=pb.SIGNUP_REQUEST_STATUS_PENDING, page_size=1000),
        metadata=invite_env.operator,
    )
    ids = [r.id for r in pending.requests]
    assert ids.index(first.id) < ids.index(second.id)  # oldest first

    decided = await invite_env.identity.DecideSignupRequest(
        pb.DecideSignupRequestRequest(id=first.id, approve=True, reason="known customer"),
        metadata=invite_env.operator,
    )
    assert decided.request.status == pb.SIGNUP_REQUEST_STATUS_APPROVED
    assert decided.request.decision_reason == "known customer"
    assert decided.request.HasField("decide_time")
    assert decided.invite_token.startswith("qdv_")
    async with invite_env.state.db.reading() as session:
        row = await session.get(TenantSignupRequest, uuid.UUID(first.id))
        issued = await session.scalar(
            select(TenantSignupInvite).where(
                TenantSignupInvite.signup_request_id == uuid.UUID(first.id)
            )
        )
    assert row is not None and issued is not None
    assert str(row.decided_by) == invite_env.operator_id
    assert row.invite_token_hint == issued.token_hint == decided.invite_token[4:12]
    assert (issued.invited_email, issued.max_redemptions) == (email, 1)
    assert issued.expires_at is not None
    assert timedelta(days=6) < issued.expires_at - utcnow() <= timedelta(days=7)

    again = await rich_failure(
        invite_env.identity.DecideSignupRequest(
            pb.DecideSignupRequestRequest(id=first.id, approve=False),
            metadata=invite_env.operator,
        )
    )
    assert again.code == grpc.StatusCode.FAILED_PRECONDITION

    response = await invite_env.identity.SignUp(
        signup(email=email, invite_token=decided.invite_token)
    )
    assert response.tokens.role == "owner"


async def test_rejection_records_the_reason(invite_env: Env) -> None:
    asked = await invite_env.identity.RequestAccess(
        pb.RequestAccessRequest(email=f"reject-{unique()}@example.com")
    )
    decided = await invite_env.identity.DecideSignupRequest(
        pb.DecideSignupRequestRequest(id=asked.id, approve=False, reason="not a fit"),
        metadata=invite_env.operator,
    )
    assert decided.request.status == pb.SIGNUP_REQUEST_STATUS_REJECTED
    assert decided.request.decision_reason == "not a fit"
    assert decided.invite_token == ""
    rejected = await invite_env.identity.ListSignupRequests(
        pb.ListSignupRequestsRequest(status=pb.SIGNUP_REQUEST_STATUS_REJECTED, page_size=1000),
        metadata=invite_env.operator,
    )
    assert asked.id in [r.id for r in rejected.requests]


async def test_listing_pages_oldest_first(invite_env: Env) -> None:
    for _ in range(3):
        await invite(invite_env)
    seen: list[pb.Invite] = []
    page_token = ""
    while True:
        page = await invite_env.identity.ListInvites(
            pb.ListInvitesRequest(page_size=2, page_token=page_token),
            metadata=invite_env.operator,
        )
        seen += page.invites
        page_token = page.next_page_token
        if not page_token:
            break
    times = [i.create_time.ToDatetime() for i in seen]
    assert len(seen) >= 3 and times == sorted(times)
    assert len({i.id for i in seen}) == len(seen)


# --- operators only, and invite input --------------------------------------------------------


async def test_only_operators_manage_requests_and_invites(env: Env) -> None:
    owner = token_metadata((await env.identity.SignUp(signup())).tokens)
    created = await invite(env)
    calls = [
        env.identity.ListSignupRequests(pb.ListSignupRequestsRequest(), metadata=owner),
        env.identity.DecideSignupRequest(
            pb.DecideSignupRequestRequest(id=str(uuid.uuid4()), approve=True), metadata=owner
        ),
        env.identity.CreateInvite(pb.CreateInviteRequest(), metadata=owner),
        env.identity.ListInvites(pb.ListInvitesRequest(), metadata=owner),
        env.identity.RevokeInvite(pb.RevokeInviteRequest(id=created.invite.id), metadata=owner),
    ]
    for call in calls:
        error = await rich_failure(call)
        assert (error.code, error.reason) == (grpc.StatusCode.PERMISSION_DENIED, "OPERATOR_ONLY")
    assert (await stored_invite(env, created.invite.id)).status == InviteStatus.ACTIVE
    error = await rich_failure(env.identity.CreateInvite(pb.CreateInviteRequest()))
    assert error.code == grpc.StatusCode.UNAUTHENTICATED


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"max_redemptions": 1001}, "max_redemptions"),
        ({"max_redemptions": -1}, "max_redemptions"),
        ({"invited_email": "nobody"}, "invited_email"),
        ({"note": "n" * 1001}, "note"),
        ({"expire_time": "past"}, "expire_time"),
    ],
)
async def test_create_invite_names_bad_fields(env: Env, fields: dict[str, Any], field: str) -> None:
    if fields.get("expire_time") == "past":
        fields["expire_time"] = to_timestamp(utcnow() - timedelta(minutes=1))
    async with env.state.db.reading() as session:
        before = await session.scalar(select(func.count()).select_from(TenantSignupInvite))
    error = await rich_failure(invite(env, **fields))
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert set(error.field_violations) == {field}
    async with env.state.db.reading() as session:
        after = await session.scalar(select(func.count()).select_from(TenantSignupInvite))
    assert after == before


async def test_revoking_a_missing_invite_is_not_found(env: Env) -> None:
    error = await rich_failure(
        env.identity.RevokeInvite(
            pb.RevokeInviteRequest(id=str(uuid.uuid4())), metadata=env.operator
        )
    )
    assert error.code == grpc.StatusCode.NOT_FOUND
    error = await rich_failure(
        env.identity.RevokeInvite(pb.RevokeInviteRequest(id="not-a-uuid"), metadata=env.operator)
    )
    assert set(error.field_violations) == {"id"}
