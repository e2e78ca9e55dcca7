"""Sign-in, its MFA step, refresh with reuse detection, sign-out and the session list, through the
real gRPC stubs with tenancy running beside identity, on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import dataclasses
import time
import uuid
from collections.abc import AsyncIterator, Awaitable
from typing import Any

import grpc
import pyotp
import pytest
from sqlalchemy import select, update

from quarterdeck.identity.v1 import identity_pb2 as pb
from quarterdeck.identity.v1.identity_pb2_grpc import IdentityServiceStub
from quarterdeck.tenancy.v1 import tenancy_pb2 as tpb
from quarterdeck.tenancy.v1.tenancy_pb2_grpc import TenancyServiceStub
from services.identity.context import IdentityContext
from services.identity.mfa.codes import TOTP_INTERVAL, new_totp_secret, replace_recovery_codes
from services.identity.models import (
    MfaMethodType,
    SecurityEventRecord,
    SessionStatus,
    User,
    UserLoginEvent,
    UserMfaMethod,
    UserSession,
    UserStatus,
)
from services.identity.secrets import Hasher, Passwords
from services.identity.signin.challenge import ChallengeTokens
from services.identity.signin.handlers import SignInHandlers
from services.identity.tenancy_client import TenancyClient
from services.tenancy.tenants.convert import ROLE_TO_PROTO
from services.tenancy.tenants.models import MembershipRole
from shared.auth import AUTHORIZATION_HEADER
from shared.db_types import utcnow
from shared.errors import FailedPrecondition
from shared.grpc_client import open_channel
from tests.support.errors import RichError, rich_error
from tests.support.identity_users import TestUser, make_user
from tests.support.stack import IDENTITY_TEST_SETTINGS, Databases, IdentityStack, identity_stack

CLIENT_IP = "203.0.113.77"
DEVICE = pb.DeviceInfo(
    user_agent="pytest-signin/1.0 (X11; Linux)",
    ip_address=CLIENT_IP,
    fingerprint="fp-123",
    client_platform="Linux",
    client_browser="Firefox",
    client_device="desktop",
)


@dataclasses.dataclass
class Clients:
    stack: IdentityStack
    identity: IdentityServiceStub
    tenancy: TenancyServiceStub

    @property
    def state(self) -> IdentityContext:
        return self.stack.state


@pytest.fixture(scope="module")
async def clients(backend: str, databases: Databases) -> AsyncIterator[Clients]:
    async with (
        identity_stack(databases, backend, label="signin") as stack,
        open_channel(stack.identity.target) as identity_channel,
        open_channel(stack.tenancy.target) as tenancy_channel,
    ):
        yield Clients(
            stack, IdentityServiceStub(identity_channel), TenancyServiceStub(tenancy_channel)
        )


def bearer(access_token: str) -> list[tuple[str, str]]:
    return [(AUTHORIZATION_HEADER, f"Bearer {access_token}")]


async def refused(call: Awaitable[Any]) -> RichError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    return rich_error(caught.value)


async def sign_in(c: Clients, user: TestUser, **fields: Any) -> pb.SignInResponse:
    fields.setdefault("email", user.email)
    fields.setdefault("password", user.password)
    fields.setdefault("device", DEVICE)
    return await c.identity.SignIn(pb.SignInRequest(**fields))


async def tokens_for(c: Clients, user: TestUser, **fields: Any) -> pb.TokenPair:
    response = await sign_in(c, user, **fields)
    assert response.WhichOneof("result") == "tokens"
    return response.tokens


async def refresh(c: Clients, refresh_token: str) -> pb.TokenPair:
    response = await c.identity.RefreshSession(
        pb.RefreshSessionRequest(refresh_token=refresh_token, device=DEVICE)
    )
    return response.tokens


async def db_user(c: Clients, user_id: str) -> User:
    async with c.state.db.reading() as session:
        user = await session.get(User, uuid.UUID(user_id))
        assert user is not None
        return user


async def db_session(c: Clients, session_id: str) -> UserSession:
    async with c.state.db.reading() as session:
        row = await session.get(UserSession, uuid.UUID(session_id))
        assert row is not None
        return row


async def events_of(c: Clients, user_id: str, event_type: str) -> list[SecurityEventRecord]:
    async with c.state.db.reading() as session:
        return list(
            await session.scalars(
                select(SecurityEventRecord).where(
                    SecurityEventRecord.user_id == uuid.UUID(user_id),
                    SecurityEventRecord.event_type == event_type,
                )
            )
        )


async def login_results(c: Clients, user_id: str) -> list[str]:
    async with c.state.db.reading() as session:
        rows = await session.scalars(
            select(UserLoginEvent)
            .where(UserLoginEvent.user_id == uuid.UUID(user_id))
            .order_by(UserLoginEvent.created_at)
        )
        return [row.result for row in rows]


async def set_status(c: Clients, user_id: str, status: UserStatus) -> None:
    async with c.state.db.transaction() as session:
        await session.execute(
            update(User).where(User.id == uuid.UUID(user_id)).values(status=status)
        )


async def tenant_accepts(c: Clients, tokens: pb.TokenPair) -> None:
    got = await c.tenancy.GetTenant(
        tpb.GetTenantRequest(id=tokens.tenant_id), metadata=bearer(tokens.access_token)
    )
    assert got.tenant.id == tokens.tenant_id


# --- sign-in ---------------------------------------------------------------------------------


async def test_sign_in_returns_tokens_tenancy_accepts(clients: Clients) -> None:
    user = await make_user(clients.stack)
    response = await sign_in(clients, user)
    assert response.WhichOneof("result") == "tokens"
    tokens = response.tokens
    assert tokens.tenant_id == user.tenant_id and tokens.role == "owner"
    assert tokens.refresh_token.startswith("qdr_") and tokens.session_id
    assert response.user.id == user.user_id and response.user.email == user.email
    assert response.user.status == pb.USER_STATUS_ACTIVE
    await tenant_accepts(clients, tokens)
    row = await db_session(clients, tokens.session_id)
    assert str(row.user_id) == user.user_id and row.status == SessionStatus.ACTIVE
    assert row.ip_masked == "203.0.113.x" and row.client_browser == "Firefox"
    assert await login_results(clients, user.user_id) == ["success"]


async def test_email_is_matched_without_regard_to_case(clients: Clients) -> None:
    email = f"Mixed.Case-{uuid.uuid4().hex[:8]}@Example.COM"
    user = await make_user(clients.stack, email=email)
    for variant in (email.lower(), email.upper(), f"  {email}  "):
        assert (await tokens_for(clients, user, email=variant)).tenant_id == user.tenant_id


async def test_sign_in_to_a_named_tenant_uses_the_role_there(clients: Clients) -> None:
    user = await make_user(clients.stack)
    other = await make_user(clients.stack)
    await clients.state.tenancy.stub.AddMembership(  # type: ignore[union-attr]
        tpb.AddMembershipRequest(
            membership=tpb.Membership(
                tenant_id=other.tenant_id,
                user_id=user.user_id,
                role=ROLE_TO_PROTO[MembershipRole.VIEWER],
            )
        ),
        metadata=await clients.state.tenancy.token.internal_metadata(),  # type: ignore[union-attr]
    )
    tokens = await tokens_for(clients, user, tenant_id=other.tenant_id)
    assert tokens.tenant_id == other.tenant_id and tokens.role == "viewer"
    await tenant_accepts(clients, tokens)

    stranger_tenant = (await make_user(clients.stack)).tenant_id
    error = await refused(sign_in(clients, user, tenant_id=stranger_tenant))
    assert error.code == grpc.StatusCode.PERMISSION_DENIED and error.reason == "NOT_A_MEMBER"


async def test_missing_or_malformed_fields_are_invalid_argument(clients: Clients) -> None:
    error = await refused(clients.identity.SignIn(pb.SignInRequest()))
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert set(error.field_violations) == {"email", "password"}
    error = await refused(
        clients.identity.SignIn(pb.SignInRequest(email="a@b.co", password="x", tenant_id="nope"))
    )
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert set(error.field_violations) == {"tenant_id"}


async def test_bad_credentials_look_alike_and_cost_one_argon2_check_each(
    clients: Clients, monkeypatch: pytest.MonkeyPatch
) -> None:
    checks: list[str] = []
    verify, decoy = Passwords.verify, Passwords.verify_decoy

    def counting_verify(self: Passwords, *args: Any) -> Any:
        checks.append("verify")
        return verify(self, *args)

    def counting_decoy(self: Passwords, *args: Any) -> None:
        checks.append("decoy")
        decoy(self, *args)

    monkeypatch.setattr(Passwords, "verify", counting_verify)
    monkeypatch.setattr(Passwords, "verify_decoy", counting_decoy)

    active = await make_user(clients.stack)
    cases = {
        "unknown email": (f"nobody-{uuid.uuid4().hex[:8]}@example.com", active.password),
        "wrong password": (active.email, "Wrong-Password-123"),
    }
    for status in (UserStatus.LOCKED, UserStatus.DISABLED, UserStatus.PENDING):
        user = await make_user(clients.stack, status=status)
        cases[f"{status.value} account"] = (user.email, user.password)

    errors = {}
    for case, (email, password) in cases.items():
        checks.clear()
        errors[case] = await refused(
            clients.identity.SignIn(pb.SignInRequest(email=email, password=password))
        )
        assert len(checks) == 1, (case, checks)
    assert checks == ["verify"]
    shapes = {(e.code, e.reason, e.message, tuple(e.metadata.items())) for e in errors.values()}
    assert shapes == {
        (
            grpc.StatusCode.UNAUTHENTICATED,
            "INVALID_CREDENTIALS",
            errors["unknown email"].message,
            (),
        )
    }

    checks.clear()
    await tokens_for(clients, active)
    assert checks == ["verify"]


async def test_repeated_failures_lock_the_account(clients: Clients) -> None:
    user = await make_user(clients.stack)
    threshold = clients.state.settings.lockout_threshold
    for attempt in range(1, threshold):
        await refused(sign_in(clients, user, password="Wrong-Password-123"))
        stored = await db_user(clients, user.user_id)
        assert stored.failed_sign_in_count == attempt and stored.status == UserStatus.ACTIVE
    error = await refused(sign_in(clients, user, password="Wrong-Password-123"))
    assert error.reason == "INVALID_CREDENTIALS"
    stored = await db_user(clients, user.user_id)
    assert stored.status == UserStatus.LOCKED and stored.locked_at is not None

    # The right password no longer opens it, and the answer is the same as for a wrong one.
    error = await refused(sign_in(clients, user))
    assert error.code == grpc.StatusCode.UNAUTHENTICATED and error.reason == "INVALID_CREDENTIALS"
    assert len(await events_of(clients, user.user_id, "account_locked")) == 1
    assert len(await events_of(clients, user.user_id, "sign_in_failed")) == threshold + 1
    results = await login_results(clients, user.user_id)
    assert results == ["failure"] * (threshold - 1) + ["locked", "locked"]


async def test_success_resets_the_failure_count(clients: Clients) -> None:
    user = await make_user(clients.stack)
    for _ in range(2):
        await refused(sign_in(clients, user, password="Wrong-Password-123"))
    assert (await db_user(clients, user.user_id)).failed_sign_in_count == 2
    await tokens_for(clients, user)
    assert (await db_user(clients, user.user_id)).failed_sign_in_count == 0


async def test_login_and_security_events_keep_no_ip_in_clear(clients: Clients) -> None:
    user = await make_user(clients.stack)
    await refused(sign_in(clients, user, password="Wrong-Password-123"))
    tokens = await tokens_for(clients, user)
    hasher = clients.state.secrets.hasher

    async with clients.state.db.reading() as session:
        logins = list(
            await session.scalars(
                select(UserLoginEvent).where(UserLoginEvent.user_id == uuid.UUID(user.user_id))
            )
        )
        events = list(
            await session.scalars(
                select(SecurityEventRecord).where(
                    SecurityEventRecord.user_id == uuid.UUID(user.user_id)
                )
            )
        )
        row = await session.get(UserSession, uuid.UUID(tokens.session_id))
    assert sorted(e.result for e in logins) == ["failure", "success"]
    for login in logins:
        assert login.ip_hash == hasher.hash(f"ip:{CLIENT_IP}")
        assert login.user_agent == hasher.hash(f"ua:{DEVICE.user_agent}")
        assert str(login.tenant_id) == user.tenant_id or login.result == "failure"
    failed = [e for e in events if e.event_type == "sign_in_failed"]
    assert len(failed) == 1 and failed[0].metadata_json == {"reason": "wrong_password"}
    assert failed[0].ip_hash == hasher.hash(f"ip:{CLIENT_IP}")
    assert row is not None and row.ip_encrypted is not None
    for record in [*logins, *events, row]:
        for column in type(record).__table__.columns:
            value = getattr(record, column.key)
            if isinstance(value, bytes):
                assert CLIENT_IP.encode() not in value, column.key
            else:
                assert CLIENT_IP not in str(value), column.key
    assert clients.state.secrets.box.decrypt(row.ip_encrypted).decode() == CLIENT_IP


def _peppers() -> dict[str, str]:
    pairs = str(IDENTITY_TEST_SETTINGS["password_peppers"]).split(",")
    return dict(pair.split(":", 1) for pair in pairs)


async def test_old_pepper_or_argon2_parameters_are_upgraded_at_sign_in(clients: Clients) -> None:
    settings = clients.state.settings
    assert settings.password_pepper_version == "v2"
    old_pepper = Passwords(
        settings.model_copy(update={"password_pepper_version": "v1"}), _peppers()
    )
    old_params = Passwords(settings.model_copy(update={"argon2_time_cost": 2}), _peppers())
    for hasher, version in ((old_pepper, "v1"), (old_params, "v2")):
        user = await make_user(clients.stack)
        async with clients.state.db.transaction() as session:
            await session.execute(
                update(User)
                .where(User.id == uuid.UUID(user.user_id))
                .values(password_hash=hasher.hash(user.password), password_pepper_version=version)
            )
        await tokens_for(clients, user)
        stored = await db_user(clients, user.user_id)
        assert stored.password_pepper_version == "v2"
        assert ",t=1," in stored.password_hash
        check = clients.state.secrets.passwords.verify(user.password, stored.password_hash, "v2")
        assert check.ok and not check.needs_rehash
        await tokens_for(clients, user)  # the new hash signs in too


async def test_sign_in_needs_the_tenancy_service(clients: Clients) -> None:
    handlers = SignInHandlers(dataclasses.replace(clients.state, tenancy=None))
    with pytest.raises(FailedPrecondition):
        await handlers.sign_in(pb.SignInRequest(email="a@example.com", password="whatever-123"))


# --- MFA ---------------------------------------------------------------------------------------


@dataclasses.dataclass
class Enrolled:
    user: TestUser
    totp: pyotp.TOTP
    recovery_codes: list[str]


async def enrolled_user(c: Clients) -> Enrolled:
    """A user with a verified TOTP method and recovery codes, written directly."""
    user = await make_user(c.stack)
    secret = new_totp_secret()
    async with c.state.db.transaction() as session:
        session.add(
            UserMfaMethod(
                user_id=uuid.UUID(user.user_id),
                method_type=MfaMethodType.TOTP,
                label="phone",
                secret_encrypted=c.state.secrets.box.encrypt(secret.encode()),
                verified_at=utcnow(),
            )
        )
        codes = await replace_recovery_codes(
            session, uuid.UUID(user.user_id), c.state.secrets.hasher
        )
    return Enrolled(user, pyotp.TOTP(secret, interval=TOTP_INTERVAL), codes)


async def challenge_for(c: Clients, user: TestUser) -> pb.MfaChallenge:
    response = await sign_in(c, user)
    assert response.WhichOneof("result") == "mfa_challenge"
    return response.mfa_challenge


async def complete(c: Clients, mfa_token: str, **code: str) -> pb.CompleteMfaSignInResponse:
    return await c.identity.CompleteMfaSignIn(
        pb.CompleteMfaSignInRequest(mfa_token=mfa_token, device=DEVICE, **code)
    )


def wrong_code(totp: pyotp.TOTP) -> str:
    step = int(time.time()) // TOTP_INTERVAL
    valid = {totp.generate_otp(s) for s in range(step - 2, step + 3)}
    return next(code for code in (f"{n:06d}" for n in range(1_000_000)) if code not in valid)


async def test_mfa_challenge_then_totp_signs_in(clients: Clients) -> None:
    enrolled = await enrolled_user(clients)
    response = await sign_in(clients, enrolled.user)
    assert response.WhichOneof("result") == "mfa_challenge"
    challenge = response.mfa_challenge
    assert list(challenge.methods) == ["totp", "recovery_code"]
    ttl = clients.state.settings.mfa_challenge_ttl_seconds
    assert abs(challenge.expire_time.seconds - (time.time() + ttl)) < 5
    assert not (await events_of(clients, enrolled.user.user_id, "sign_in_failed"))
    assert await login_results(clients, enrolled.user.user_id) == ["mfa_required"]

    # The challenge is no access token anywhere.
    error = await refused(
        clients.tenancy.GetTenant(
            tpb.GetTenantRequest(id=enrolled.user.tenant_id),
            metadata=bearer(challenge.mfa_token),
        )
    )
    assert error.code == grpc.StatusCode.UNAUTHENTICATED

    done = await complete(clients, challenge.mfa_token, totp_code=enrolled.totp.now())
    assert done.tokens.tenant_id == enrolled.user.tenant_id and done.tokens.role == "owner"
    assert done.user.id == enrolled.user.user_id
    await tenant_accepts(clients, done.tokens)
    assert await login_results(clients, enrolled.user.user_id) == ["mfa_required", "success"]


async def test_a_wrong_totp_code_is_refused_and_counted(clients: Clients) -> None:
    enrolled = await enrolled_user(clients)
    challenge = await challenge_for(clients, enrolled.user)
    error = await refused(
        complete(clients, challenge.mfa_token, totp_code=wrong_code(enrolled.totp))
    )
    assert error.code == grpc.StatusCode.UNAUTHENTICATED and error.reason == "MFA_CODE_INVALID"
    assert (await db_user(clients, enrolled.user.user_id)).failed_sign_in_count == 1
    assert len(await events_of(clients, enrolled.user.user_id, "mfa_code_invalid")) == 1
    # The password step alone does not reset the count, or it would allow endless guesses.
    challenge = await challenge_for(clients, enrolled.user)
    assert (await db_user(clients, enrolled.user.user_id)).failed_sign_in_count == 1
    await complete(clients, challenge.mfa_token, totp_code=enrolled.totp.now())
    assert (await db_user(clients, enrolled.user.user_id)).failed_sign_in_count == 0


async def test_wrong_codes_lock_the_account(clients: Clients) -> None:
    enrolled = await enrolled_user(clients)
    challenge = await challenge_for(clients, enrolled.user)
    for _ in range(clients.state.settings.lockout_threshold):
        await refused(complete(clients, challenge.mfa_token, totp_code=wrong_code(enrolled.totp)))
    assert (await db_user(clients, enrolled.user.user_id)).status == UserStatus.LOCKED
    error = await refused(complete(clients, challenge.mfa_token, totp_code=enrolled.totp.now()))
    assert error.reason == "INVALID_CREDENTIALS"
    assert len(await events_of(clients, enrolled.user.user_id, "account_locked")) == 1


async def test_a_totp_code_is_accepted_once(clients: Clients) -> None:
    enrolled = await enrolled_user(clients)
    code = enrolled.totp.now()
    await complete(clients, (await challenge_for(clients, enrolled.user)).mfa_token, totp_code=code)
    challenge = await challenge_for(clients, enrolled.user)
    error = await refused(complete(clients, challenge.mfa_token, totp_code=code))
    assert error.code == grpc.StatusCode.UNAUTHENTICATED and error.reason == "MFA_CODE_REPLAYED"
    assert len(await events_of(clients, enrolled.user.user_id, "mfa_code_replayed")) == 1
    assert (await db_user(clients, enrolled.user.user_id)).failed_sign_in_count == 0


async def test_a_recovery_code_works_once(clients: Clients) -> None:
    enrolled = await enrolled_user(clients)
    code = enrolled.recovery_codes[3]
    challenge = await challenge_for(clients, enrolled.user)
    done = await complete(clients, challenge.mfa_token, recovery_code=f" {code.upper()} ")
    await tenant_accepts(clients, done.tokens)
    assert len(await events_of(clients, enrolled.user.user_id, "recovery_code_used")) == 1

    challenge = await challenge_for(clients, enrolled.user)
    error = await refused(complete(clients, challenge.mfa_token, recovery_code=code))
    assert error.reason == "MFA_CODE_INVALID"
    # Another unused code still works.
    await complete(clients, challenge.mfa_token, recovery_code=enrolled.recovery_codes[4])


async def test_forged_expired_or_foreign_mfa_tokens_are_refused(clients: Clients) -> None:
    enrolled = await enrolled_user(clients)
    challenge = await challenge_for(clients, enrolled.user)
    state = clients.state
    user_id = uuid.UUID(enrolled.user.user_id)
    password_hash = (await db_user(clients, enrolled.user.user_id)).password_hash
    ttl = state.settings.mfa_challenge_ttl_seconds
    body, mac = challenge.mfa_token.split(".")
    tampered = f"{body[:-2]}{'A' if body[-2] != 'A' else 'B'}{body[-1]}.{mac}"
    other_key = ChallengeTokens(Hasher(b"someone-else's-hashing-key"), ttl)
    expired, _ = ChallengeTokens(state.secrets.hasher, ttl).mint(
        user_id, enrolled.user.tenant_id, "owner", password_hash, now=time.time() - ttl - 1
    )
    foreign, _ = other_key.mint(user_id, enrolled.user.tenant_id, "owner", password_hash)
    access = (await tokens_for(clients, await make_user(clients.stack))).access_token
    for token in ("qdm_garbage", tampered, expired, foreign, access, f"{body}.", "x" * 40):
        error = await refused(complete(clients, token, totp_code=enrolled.totp.now()))
        assert error.code == grpc.StatusCode.UNAUTHENTICATED, token
        assert error.reason == "MFA_CHALLENGE_INVALID", token
    assert (await db_user(clients, enrolled.user.user_id)).failed_sign_in_count == 0

    for codes in ({}, {"totp_code": "123456", "recovery_code": "abcde-fghjk"}):
        error = await refused(complete(clients, challenge.mfa_token, **codes))
        assert error.code == grpc.StatusCode.INVALID_ARGUMENT
        assert set(error.field_violations) == {"totp_code", "recovery_code"}
    error = await refused(complete(clients, "", totp_code="123456"))
    assert set(error.field_violations) == {"mfa_token"}


async def test_a_password_change_voids_open_challenges(clients: Clients) -> None:
    enrolled = await enrolled_user(clients)
    challenge = await challenge_for(clients, enrolled.user)
    passwords = clients.state.secrets.passwords
    async with clients.state.db.transaction() as session:
        await session.execute(
            update(User)
            .where(User.id == uuid.UUID(enrolled.user.user_id))
            .values(password_hash=passwords.hash("Another-Password-99"))
        )
    error = await refused(complete(clients, challenge.mfa_token, totp_code=enrolled.totp.now()))
    assert error.reason == "MFA_CHALLENGE_INVALID"


# --- refresh -----------------------------------------------------------------------------------


async def test_refresh_rotates_the_tokens(clients: Clients) -> None:
    user = await make_user(clients.stack)
    first = await tokens_for(clients, user)
    second = await refresh(clients, first.refresh_token)
    assert second.session_id == first.session_id and second.tenant_id == user.tenant_id
    assert second.refresh_token != first.refresh_token
    assert second.access_token != first.access_token and second.role == "owner"
    await tenant_accepts(clients, second)
    row = await db_session(clients, second.session_id)
    assert clients.state.secrets.hasher.matches(second.refresh_token, row.session_token_hash)
    assert second.refresh_token not in repr(row.__dict__)
    third = await refresh(clients, second.refresh_token)
    assert third.session_id == first.session_id


async def test_reusing_a_refresh_token_revokes_the_session(clients: Clients) -> None:
    user = await make_user(clients.stack)
    first = await tokens_for(clients, user)
    second = await refresh(clients, first.refresh_token)

    error = await refused(refresh(clients, first.refresh_token))
    assert error.code == grpc.StatusCode.UNAUTHENTICATED and error.reason == "REFRESH_TOKEN_REUSED"
    row = await db_session(clients, first.session_id)
    assert row.status == SessionStatus.REVOKED and row.revoked_reason == "refresh_token_reuse"
    # The newest token dies with the session.
    error = await refused(refresh(clients, second.refresh_token))
    assert error.reason == "SESSION_REVOKED"
    reused = await events_of(clients, user.user_id, "refresh_token_reused")
    assert len(reused) == 1 and reused[0].metadata_json == {"session_id": first.session_id}


@pytest.mark.parametrize("in_step", [False, True], ids=["free", "lockstep"])
async def test_concurrent_refreshes_with_one_token_let_exactly_one_win(
    clients: Clients, monkeypatch: pytest.MonkeyPatch, in_step: bool
) -> None:
    user = await make_user(clients.stack)
    tokens = await tokens_for(clients, user)
    if in_step:
        # Both refreshes pass every read-side check before either rotates, so only the
        # conditional claim can stop the second one.
        barrier = asyncio.Barrier(2)
        role_in = TenancyClient.role_in

        async def in_lockstep(self: TenancyClient, tenant_id: str, user_id: str) -> str | None:
            async with asyncio.timeout(5):
                await barrier.wait()
            return await role_in(self, tenant_id, user_id)

        monkeypatch.setattr(TenancyClient, "role_in", in_lockstep)
    results = await asyncio.gather(
        *(refresh(clients, tokens.refresh_token) for _ in range(2)), return_exceptions=True
    )
    winners = [r for r in results if isinstance(r, pb.TokenPair)]
    losers = [r for r in results if isinstance(r, grpc.aio.AioRpcError)]
    assert len(winners) == 1 and len(losers) == 1, results
    assert rich_error(losers[0]).reason == "REFRESH_TOKEN_REUSED"
    assert (await db_session(clients, tokens.session_id)).status == SessionStatus.REVOKED
    assert len(await events_of(clients, user.user_id, "refresh_token_reused")) == 1


async def test_bad_refresh_tokens_are_refused_without_harm(clients: Clients) -> None:
    user = await make_user(clients.stack)
    tokens = await tokens_for(clients, user)
    error = await refused(refresh(clients, ""))
    assert (
        error.code == grpc.StatusCode.INVALID_ARGUMENT and "refresh_token" in error.field_violations
    )
    _, jti, _ = tokens.refresh_token[len("qdr_") :].split(".")
    session_hex = uuid.UUID(tokens.session_id).hex
    for bad in (
        "garbage",
        "qdr_not-a-uuid.jti.secret",
        f"qdr_{uuid.uuid4().hex}.{jti}.secret",  # no such session
        f"qdr_{session_hex}.{jti}.forged-secret",  # the current jti with a wrong secret
        f"qdr_{session_hex}.{'0' * 32}.made-up",  # looks like a superseded token, but is not
    ):
        error = await refused(refresh(clients, bad))
        assert (
            error.code == grpc.StatusCode.UNAUTHENTICATED
            and error.reason == "REFRESH_TOKEN_INVALID"
        )
    # Both tokens naming the real session are recorded for its user, and neither ended it.
    assert len(await events_of(clients, user.user_id, "refresh_token_invalid")) == 2
    assert (await db_session(clients, tokens.session_id)).status == SessionStatus.ACTIVE
    await refresh(clients, tokens.refresh_token)


async def test_refresh_ends_when_the_membership_ends(clients: Clients) -> None:
    user = await make_user(clients.stack, role="member")
    tokens = await tokens_for(clients, user)
    await clients.state.tenancy.stub.RemoveMembership(  # type: ignore[union-attr]
        tpb.RemoveMembershipRequest(tenant_id=user.tenant_id, user_id=user.user_id),
        metadata=await clients.state.tenancy.token.internal_metadata(),  # type: ignore[union-attr]
    )
    error = await refused(refresh(clients, tokens.refresh_token))
    assert error.code == grpc.StatusCode.PERMISSION_DENIED and error.reason == "NOT_A_MEMBER"
    row = await db_session(clients, tokens.session_id)
    assert row.status == SessionStatus.REVOKED and row.revoked_reason == "membership_ended"
    error = await refused(sign_in(clients, user))
    assert error.reason == "NOT_A_MEMBER"


async def test_refresh_ends_when_the_account_is_disabled(clients: Clients) -> None:
    user = await make_user(clients.stack)
    tokens = await tokens_for(clients, user)
    await set_status(clients, user.user_id, UserStatus.DISABLED)
    error = await refused(refresh(clients, tokens.refresh_token))
    assert error.code == grpc.StatusCode.UNAUTHENTICATED and error.reason == "SESSION_REVOKED"
    row = await db_session(clients, tokens.session_id)
    assert row.status == SessionStatus.REVOKED and row.revoked_reason == "account_inactive"


# --- sign-out and sessions ---------------------------------------------------------------------


async def test_sign_out_revokes_the_current_session(clients: Clients) -> None:
    user = await make_user(clients.stack)
    other = await tokens_for(clients, user)
    tokens = await tokens_for(clients, user)
    await clients.identity.SignOut(pb.SignOutRequest(), metadata=bearer(tokens.access_token))
    row = await db_session(clients, tokens.session_id)
    assert row.status == SessionStatus.REVOKED and row.revoked_reason == "signed_out"
    assert (await db_session(clients, other.session_id)).status == SessionStatus.ACTIVE
    error = await refused(refresh(clients, tokens.refresh_token))
    assert error.reason == "SESSION_REVOKED"
    assert len(await events_of(clients, user.user_id, "signed_out")) == 1
    # By design the access token stays valid until it expires: it is verified without a lookup.
    await tenant_accepts(clients, tokens)
    await clients.identity.SignOut(pb.SignOutRequest(), metadata=bearer(tokens.access_token))
    error = await refused(clients.identity.SignOut(pb.SignOutRequest()))
    assert error.code == grpc.StatusCode.UNAUTHENTICATED


async def test_list_and_revoke_my_sessions(clients: Clients) -> None:
    user = await make_user(clients.stack)
    stranger = await tokens_for(clients, await make_user(clients.stack))
    opened = [await tokens_for(clients, user) for _ in range(3)]
    oldest, current, newest = opened
    me = bearer(current.access_token)

    listed = await clients.identity.ListMySessions(pb.ListMySessionsRequest(), metadata=me)
    assert [s.id for s in listed.sessions] == [
        newest.session_id,
        current.session_id,
        oldest.session_id,
    ]
    assert [s.current for s in listed.sessions] == [False, True, False]
    assert all(
        s.ip_masked == "203.0.113.x" and s.user_agent == DEVICE.user_agent for s in listed.sessions
    )
    first = await clients.identity.ListMySessions(
        pb.ListMySessionsRequest(page_size=2), metadata=me
    )
    rest = await clients.identity.ListMySessions(
        pb.ListMySessionsRequest(page_size=2, page_token=first.next_page_token), metadata=me
    )
    assert [s.id for s in [*first.sessions, *rest.sessions]] == [s.id for s in listed.sessions]
    assert rest.next_page_token == ""

    revoked = await clients.identity.RevokeSession(
        pb.RevokeSessionRequest(session_id=oldest.session_id), metadata=me
    )
    assert revoked.session.HasField("revoke_time")
    assert revoked.session.revoke_reason == "revoked_by_user" and not revoked.session.current
    active = await clients.identity.ListMySessions(pb.ListMySessionsRequest(), metadata=me)
    assert [s.id for s in active.sessions] == [newest.session_id, current.session_id]
    everything = await clients.identity.ListMySessions(
        pb.ListMySessionsRequest(include_inactive=True), metadata=me
    )
    assert len(everything.sessions) == 3
    assert (await refused(refresh(clients, oldest.refresh_token))).reason == "SESSION_REVOKED"

    for session_id in (stranger.session_id, str(uuid.uuid4())):
        error = await refused(
            clients.identity.RevokeSession(
                pb.RevokeSessionRequest(session_id=session_id), metadata=me
            )
        )
        assert error.code == grpc.StatusCode.NOT_FOUND
    assert (await db_session(clients, stranger.session_id)).status == SessionStatus.ACTIVE
    error = await refused(
        clients.identity.RevokeSession(pb.RevokeSessionRequest(session_id="nope"), metadata=me)
    )
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT and "session_id" in error.field_violations

    kept = await clients.identity.RevokeAllSessions(
        pb.RevokeAllSessionsRequest(keep_current=True), metadata=me
    )
    assert kept.revoked_count == 1
    remaining = await clients.identity.ListMySessions(pb.ListMySessionsRequest(), metadata=me)
    assert [(s.id, s.current) for s in remaining.sessions] == [(current.session_id, True)]
    await refresh(clients, current.refresh_token)

    everything_gone = await clients.identity.RevokeAllSessions(
        pb.RevokeAllSessionsRequest(), metadata=me
    )
    assert everything_gone.revoked_count == 1
    assert (await db_session(clients, current.session_id)).status == SessionStatus.REVOKED
    assert (await db_session(clients, stranger.session_id)).status == SessionStatus.ACTIVE
    assert len(await events_of(clients, user.user_id, "sessions_revoked")) == 2
