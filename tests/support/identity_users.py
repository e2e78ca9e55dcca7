"""Users for identity tests that must not depend on sign-up: written straight into identity's
database, with their tenant and membership created through the tenancy service."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from quarterdeck.tenancy.v1 import tenancy_pb2 as tpb
from services.identity.context import IdentityContext
from services.identity.models import PlatformRole, User, UserProfile, UserStatus
from services.tenancy.tenants.convert import ROLE_TO_PROTO
from services.tenancy.tenants.models import MembershipRole
from tests.support.stack import IdentityStack

STRONG_PASSWORD = "Correct-Horse-42-battery"


@dataclass(frozen=True)
class TestUser:
    __test__ = False

    user_id: str
    tenant_id: str
    email: str
    password: str
    role: str


async def make_user(
    stack: IdentityStack,
    *,
    email: str | None = None,
    password: str = STRONG_PASSWORD,
    role: str = "owner",
    tenant_id: str | None = None,
    platform_operator: bool = False,
    status: UserStatus = UserStatus.ACTIVE,
) -> TestUser:
    """An active user with ``role`` in a new tenant (or in ``tenant_id``)."""
    state: IdentityContext = stack.identity.context.state
    assert state.tenancy is not None
    email = email or f"user-{uuid.uuid4().hex[:10]}@example.com"
    user = User(
        id=uuid.uuid4(),
        email=email,
        password_hash=state.secrets.passwords.hash(password),
        password_pepper_version=state.secrets.passwords.current_version,
        status=status,
        platform_role=PlatformRole.PLATFORM_OPERATOR if platform_operator else None,
    )
    async with state.db.transaction() as session:
        session.add(user)
        await session.flush()
        session.add(UserProfile(user_id=user.id, display_name=email.split("@")[0]))
    # Through identity's own client (once more with a fresh token when refused): a test that
    # rotated the signing key with a short overlap may have retired the key that signed
    # identity's cached token.
    tenancy = state.tenancy
    if tenant_id is None:
        owner = str(user.id) if role == "owner" else str(uuid.uuid4())
        created = await tenancy.call(
            tenancy.stub.CreateTenant,
            tpb.CreateTenantRequest(
                tenant=tpb.Tenant(slug=f"t-{uuid.uuid4().hex[:12]}", name="Test Tenant"),
                owner_user_id=owner,
            ),
        )
        tenant_id = created.tenant.id
        if role == "owner":
            return TestUser(str(user.id), tenant_id, email, password, role)
    await tenancy.call(
        tenancy.stub.AddMembership,
        tpb.AddMembershipRequest(
            membership=tpb.Membership(
                tenant_id=tenant_id, user_id=str(user.id), role=ROLE_TO_PROTO[MembershipRole(role)]
            )
        ),
    )
    return TestUser(str(user.id), tenant_id, email, password, role)
