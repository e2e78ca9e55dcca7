"""Teams through real gRPC stubs on SQLite and PostgreSQL: a tenant's admins invite colleagues
(single-use, expiring, revocable, hashed, delivered by the notifier); a new user signs up into the
tenant, an existing one accepts and switches between their tenants without a password."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import grpc
import pytest
from sqlalchemy import update

from quarterdeck.identity.v1 import identity_pb2 as pb
from quarterdeck.identity.v1.identity_pb2_grpc import IdentityServiceStub
from quarterdeck.tenancy.v1 import tenancy_pb2 as tpb
from quarterdeck.tenancy.v1.tenancy_pb2_grpc import TenancyServiceStub
from services.identity.context import IdentityContext
from services.identity.models import TenantSignupInvite
from shared.auth import AUTHORIZATION_HEADER
from shared.db_types import utcnow
from shared.grpc_client import open_channel
from shared.timestamps import to_timestamp
from tests.support.errors import RichError, rich_error
from tests.support.identity_users import STRONG_PASSWORD, TestUser, make_user
from tests.support.stack import Databases, IdentityStack, identity_stack
from tests.support.waiting import eventually

Metadata = list[tuple[str, str]]


@dataclass
class Sent:
    email: str
    tenant_id: str
    role: str
    token: str


class CapturingNotifier:
    """Keeps what identity would have sent, so a test reads the invite as the invitee would."""

    def __init__(self) -> None:
        self.invites: list[Sent] = []

    async def send_password_reset(self, email: str, token: str) -> None:
        raise AssertionError("no password reset is expected here")

    async def send_team_invite(
        self, email: str, tenant_id: str, role: str, token: str, expires_at: datetime
    ) -> None:
        self.invites.append(Sent(email, tenant_id, role, token))


@dataclass
class Team:
    stack: IdentityStack
    identity: IdentityServiceStub
    tenancy: TenancyServiceStub
    notifier: CapturingNotifier

    @property
    def state(self) -> IdentityContext:
        return self.stack.state


@pytest.fixture(scope="module")
async def team(backend: str, databases: Databases) -> AsyncIterator[Team]:
    async with (
        identity_stack(databases, backend, label="team") as stack,
        open_channel(stack.identity.target) as identity_channel,
        open_channel(stack.tenancy.target) as tenancy_channel,
    ):
        yield Team(
            stack,
            IdentityServiceStub(identity_channel),
            TenancyServiceStub(tenancy_channel),
            CapturingNotifier(),
        )


@pytest.fixture(autouse=True)
def capture(team: Team) -> Iterator[None]:
    original, team.state.notifier = team.state.notifier, team.notifier
    yield
    team.state.notifier = original


def bearer(tokens: pb.TokenPair) -> Metadata:
    return [(AUTHORIZATION_HEADER, f"Bearer {tokens.access_token}")]


async def signed_in(team: Team, user: TestUser, tenant_id: str = "") -> pb.TokenPair:
    reply = await team.identity.SignIn(
        pb.SignInRequest(email=user.email, password=user.password, tenant_id=tenant_id)
    )
    return reply.tokens


async def refused(call: object) -> RichError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call  # type: ignore[misc]
    return rich_error(caught.value)


def new_email() -> str:
    return f"colleague-{uuid.uuid4().hex[:10]}@example.com"


async def invite(team: Team, admin: pb.TokenPair, email: str, role: str = "member") -> str:
    """A team invite's token, as the invitee receives it through the notifier."""
    created = await team.identity.CreateInvite(
        pb.CreateInviteRequest(tenant_id=admin.tenant_id, role=role, invited_email=email),
        metadata=bearer(admin),
    )
    assert created.invite.tenant_id == admin.tenant_id and created.invite.role == role
    assert created.invite.max_redemptions == 1

    async def delivered() -> bool:
        return any(sent.token == created.token for sent in team.notifier.invites)

    await eventually(delivered, f"the notifier to deliver the invite to {email}")
    [sent] = [sent for sent in team.notifier.invites if sent.token == created.token]
    assert (sent.email, sent.tenant_id, sent.role) == (email, admin.tenant_id, role)
    return sent.token


async def member_roles(team: Team, tenant_id: str) -> dict[str, int]:
    listed = await team.tenancy.ListMemberships(
        tpb.ListMembershipsRequest(tenant_id=tenant_id),
        metadata=await team.state.tenancy.token.internal_metadata(),
    )
    return {m.user_id: m.role for m in listed.memberships}


async def test_a_new_colleague_signs_up_with_the_invite_into_the_tenant(team: Team) -> None:
    owner = await make_user(team.stack)
    owner_tokens = await signed_in(team, owner)
    email = new_email()
    token = await invite(team, owner_tokens, email)

    joined = await team.identity.SignUp(
        pb.SignUpRequest(email=email, password=STRONG_PASSWORD, invite_token=token)
    )
    assert (joined.tokens.tenant_id, joined.tokens.role) == (owner.tenant_id, "member")
    roles = await member_roles(team, owner.tenant_id)
    assert roles[joined.user.id] == tpb.MEMBERSHIP_ROLE_MEMBER
    # The colleague sees the tenant; the invite is used up and stored only as a hash.
    tenants = await team.tenancy.ListTenants(
        tpb.ListTenantsRequest(), metadata=bearer(joined.tokens)
    )
    assert [t.id for t in tenants.tenants] == [owner.tenant_id]
    listed = await team.identity.ListInvites(
        pb.ListInvitesRequest(tenant_id=owner.tenant_id), metadata=bearer(owner_tokens)
    )
    [stored] = listed.invites
    assert stored.status == pb.INVITE_STATUS_EXHAUSTED and stored.redeemed_count == 1
    async with team.state.db.reading() as session:
        row = await session.get(TenantSignupInvite, uuid.UUID(stored.id))
    assert row is not None and token not in row.token_hash
    again = await refused(
        team.identity.SignUp(
            pb.SignUpRequest(email=new_email(), password=STRONG_PASSWORD, invite_token=token)
        )
    )
    assert (
        again.code == grpc.StatusCode.INVALID_ARGUMENT and "invite_token" in again.field_violations
    )


async def test_an_existing_user_accepts_an_invite_and_switches_between_tenants(team: Team) -> None:
    owner = await make_user(team.stack)
    owner_tokens = await signed_in(team, owner)
    colleague = await make_user(team.stack)  # the owner of a tenant of their own
    colleague_tokens = await signed_in(team, colleague)
    token = await invite(team, owner_tokens, colleague.email, role="viewer")

    # Someone else signed in cannot take it: it names the colleague's email.
    stranger = await signed_in(team, await make_user(team.stack))
    taken = await refused(
        team.identity.AcceptInvite(
            pb.AcceptInviteRequest(invite_token=token), metadata=bearer(stranger)
        )
    )
    assert "invite_token" in taken.field_violations
    accepted = await team.identity.AcceptInvite(
        pb.AcceptInviteRequest(invite_token=token), metadata=bearer(colleague_tokens)
    )
    assert (accepted.tokens.tenant_id, accepted.tokens.role) == (owner.tenant_id, "viewer")
    mine = await team.tenancy.ListTenants(
        tpb.ListTenantsRequest(), metadata=bearer(accepted.tokens)
    )
    assert {t.id for t in mine.tenants} == {owner.tenant_id, colleague.tenant_id}

    back = await team.identity.SwitchTenant(
        pb.SwitchTenantRequest(tenant_id=colleague.tenant_id), metadata=bearer(accepted.tokens)
    )
    assert (back.tokens.tenant_id, back.tokens.role) == (colleague.tenant_id, "owner")
    assert back.tokens.session_id != accepted.tokens.session_id  # a token per tenant
    # Sign-in may pick the tenant too.
    picked = await signed_in(team, colleague, tenant_id=owner.tenant_id)
    assert (picked.tenant_id, picked.role) == (owner.tenant_id, "viewer")
    elsewhere = await refused(
        team.identity.SwitchTenant(
            pb.SwitchTenantRequest(tenant_id=stranger.tenant_id), metadata=bearer(back.tokens)
        )
    )
    assert (elsewhere.code, elsewhere.reason) == (grpc.StatusCode.PERMISSION_DENIED, "NOT_A_MEMBER")
    # Accepting twice (a second invite to a tenant they are in) is refused as already a member.
    second = await invite(team, owner_tokens, colleague.email)
    twice = await refused(
        team.identity.AcceptInvite(
            pb.AcceptInviteRequest(invite_token=second), metadata=bearer(back.tokens)
        )
    )
    assert (twice.code, twice.reason) == (grpc.StatusCode.ALREADY_EXISTS, "ALREADY_MEMBER")


async def test_only_a_tenants_admins_invite_and_revoke_and_bad_input_names_the_field(
    team: Team,
) -> None:
    owner = await make_user(team.stack)
    owner_tokens = await signed_in(team, owner)
    member = await signed_in(
        team, await make_user(team.stack, role="member", tenant_id=owner.tenant_id)
    )
    other_admin = await signed_in(team, await make_user(team.stack))

    def create(tokens: pb.TokenPair, **fields: object) -> object:
        fields = {
            "tenant_id": owner.tenant_id,
            "role": "member",
            "invited_email": new_email(),
            **fields,
        }
        return team.identity.CreateInvite(pb.CreateInviteRequest(**fields), metadata=bearer(tokens))  # type: ignore[arg-type]

    low = await refused(create(member))
    assert (low.code, low.reason) == (grpc.StatusCode.PERMISSION_DENIED, "ROLE_TOO_LOW")
    foreign = await refused(create(other_admin))
    assert (foreign.code, foreign.reason) == (grpc.StatusCode.PERMISSION_DENIED, "TENANT_MISMATCH")
    far = to_timestamp(utcnow() + timedelta(days=60))
    for fields, field in [
        ({"role": "owner"}, "role"),
        ({"invited_email": ""}, "invited_email"),
        ({"max_redemptions": 5}, "max_redemptions"),
        ({"expire_time": far}, "expire_time"),
        ({"tenant_id": "not-a-tenant"}, "tenant_id"),
    ]:
        bad = await refused(create(owner_tokens, **fields))
        assert bad.code == grpc.StatusCode.INVALID_ARGUMENT and field in bad.field_violations, field

    created = await team.identity.CreateInvite(
        pb.CreateInviteRequest(tenant_id=owner.tenant_id, role="admin", invited_email=new_email()),
        metadata=bearer(owner_tokens),
    )
    hidden = await refused(
        team.identity.RevokeInvite(
            pb.RevokeInviteRequest(id=created.invite.id, tenant_id=other_admin.tenant_id),
            metadata=bearer(other_admin),
        )
    )
    assert hidden.code == grpc.StatusCode.NOT_FOUND
    revoked = await team.identity.RevokeInvite(
        pb.RevokeInviteRequest(
            id=created.invite.id, tenant_id=owner.tenant_id, reason="wrong person"
        ),
        metadata=bearer(owner_tokens),
    )
    assert revoked.invite.status == pb.INVITE_STATUS_REVOKED
    gone = await refused(
        team.identity.SignUp(
            pb.SignUpRequest(
                email=created.invite.invited_email,
                password=STRONG_PASSWORD,
                invite_token=created.token,
            )
        )
    )
    assert "invite_token" in gone.field_violations

    # An expired invite is refused the same way.
    email = new_email()
    token = await invite(team, owner_tokens, email)
    async with team.state.db.transaction() as session:
        await session.execute(
            update(TenantSignupInvite)
            .where(TenantSignupInvite.invited_email == email)
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    late = await refused(
        team.identity.SignUp(
            pb.SignUpRequest(email=email, password=STRONG_PASSWORD, invite_token=token)
        )
    )
    assert "invite_token" in late.field_violations
    # A tenant's admins list its invites and no one else's; its members may not.
    listed = await team.identity.ListInvites(
        pb.ListInvitesRequest(tenant_id=owner.tenant_id), metadata=bearer(owner_tokens)
    )
    assert {i.tenant_id for i in listed.invites} == {owner.tenant_id} and len(listed.invites) == 2
    hidden_list = await refused(
        team.identity.ListInvites(
            pb.ListInvitesRequest(tenant_id=owner.tenant_id), metadata=bearer(member)
        )
    )
    assert hidden_list.reason == "ROLE_TOO_LOW"


async def test_a_member_leaves_but_the_last_owner_cannot(team: Team) -> None:
    owner = await make_user(team.stack)
    owner_tokens = await signed_in(team, owner)
    member = await make_user(team.stack, role="member", tenant_id=owner.tenant_id)
    member_tokens = await signed_in(team, member)
    await team.tenancy.RemoveMembership(
        tpb.RemoveMembershipRequest(tenant_id=owner.tenant_id), metadata=bearer(member_tokens)
    )
    assert member.user_id not in await member_roles(team, owner.tenant_id)
    last = await refused(
        team.tenancy.RemoveMembership(
            tpb.RemoveMembershipRequest(tenant_id=owner.tenant_id), metadata=bearer(owner_tokens)
        )
    )
    assert (last.code, last.reason) == (grpc.StatusCode.FAILED_PRECONDITION, "LAST_OWNER")
    # With no tenant named, the members listed are those of the caller's tenant.
    listed = await team.tenancy.ListMemberships(
        tpb.ListMembershipsRequest(), metadata=bearer(owner_tokens)
    )
    assert [m.user_id for m in listed.memberships] == [owner.user_id]
