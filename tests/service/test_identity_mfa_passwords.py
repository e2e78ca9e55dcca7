"""TOTP enrollment, recovery codes, password change and reset, and the operator's unlock."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from typing import Any

import grpc
import pyotp
import pytest
from sqlalchemy import select, update

from quarterdeck.identity.v1 import identity_pb2 as pb
from quarterdeck.identity.v1.identity_pb2_grpc import IdentityServiceStub
from services.identity.mfa.codes import TOTP_INTERVAL, consume_recovery_code
from services.identity.models import (
    Base,
    PasswordResetToken,
    SecurityEventRecord,
    SessionStatus,
    User,
    UserMfaMethod,
    UserSession,
    UserStatus,
)
from services.identity.sessions.opening import open_session
from shared.auth import AUTHORIZATION_HEADER
from shared.db_types import utcnow
from shared.grpc_client import open_channel
from tests.support.errors import rich_error, rich_failure
from tests.support.identity_users import TestUser, make_user
from tests.support.stack import Databases, IdentityStack, identity_stack

NEW_PASSWORD = "Fresh-Anchor-77-harbour"
OTHER_PASSWORD = "Quiet-Lantern-31-meadow"
Metadata = list[tuple[str, str]]


@pytest.fixture(scope="module")
async def stack(backend: str, databases: Databases) -> AsyncIterator[IdentityStack]:
    async with identity_stack(databases, backend, label="mfa-passwords") as running:
        yield running


@pytest.fixture
async def stub(stack: IdentityStack) -> AsyncIterator[IdentityServiceStub]:
    async with open_channel(stack.identity.target) as channel:
        yield IdentityServiceStub(channel)


class CapturingNotifier:
    """Stands in for the mailer: keeps every reset it is asked to deliver."""

    def __init__(self) -> None:
        self.sent: asyncio.Queue[tuple[str, str]] = asyncio.Queue()

    async def send_password_reset(self, email: str, token: str) -> None:
        await self.sent.put((email, token))

    async def next(self) -> tuple[str, str]:
        return await asyncio.wait_for(self.sent.get(), timeout=5)


@pytest.fixture
def notifier(stack: IdentityStack) -> Iterator[CapturingNotifier]:
    state = stack.state
    original, capturing = state.notifier, CapturingNotifier()
    state.notifier = capturing
    yield capturing
    state.notifier = original


async def sign_in(stack: IdentityStack, user: TestUser) -> tuple[Metadata, str]:
    """A session opened directly (sign-in is another handler): its bearer metadata and id."""
    state = stack.state
    async with state.db.transaction() as session:
        row = await session.get(User, uuid.UUID(user.user_id))
        assert row is not None
        tokens = await open_session(
            state,
            session,
            row,
            user.tenant_id,
            user.role,
            pb.DeviceInfo(ip_address="203.0.113.7", user_agent="pytest"),
        )
    return [(AUTHORIZATION_HEADER, f"Bearer {tokens.access_token}")], tokens.session_id


async def events_of(stack: IdentityStack, user_id: str, event_type: str) -> list[Any]:
    async with stack.state.db.reading() as session:
        rows = await session.scalars(
            select(SecurityEventRecord).where(
                SecurityEventRecord.user_id == uuid.UUID(user_id),
                SecurityEventRecord.event_type == event_type,
            )
        )
        return list(rows)


async def user_row(stack: IdentityStack, user_id: str) -> User:
    async with stack.state.db.reading() as session:
        row = await session.get(User, uuid.UUID(user_id))
        assert row is not None
        return row


async def use_recovery_code(stack: IdentityStack, user_id: str, code: str) -> bool:
    state = stack.state
    async with state.db.transaction() as session:
        return await consume_recovery_code(session, uuid.UUID(user_id), code, state.secrets.hasher)


def wrong_code(secret: str) -> str:
    """A six-digit code no step of the accepted window produces."""
    totp, step = pyotp.TOTP(secret), int(time.time() // TOTP_INTERVAL)
    window = {totp.generate_otp(s) for s in range(step - 2, step + 3)}
    return next(c for c in (f"{n:06d}" for n in range(1_000_000)) if c not in window)


async def enroll(
    stub: IdentityServiceStub, meta: Metadata, label: str = ""
) -> tuple[str, str, list[str]]:
    begun = await stub.BeginTotpEnrollment(
        pb.BeginTotpEnrollmentRequest(label=label), metadata=meta
    )
    confirmed = await stub.ConfirmTotpEnrollment(
        pb.ConfirmTotpEnrollmentRequest(
            method_id=begun.method_id, code=pyotp.TOTP(begun.secret).now()
        ),
        metadata=meta,
    )
    return begun.method_id, begun.secret, list(confirmed.recovery_codes)


async def all_stored_text(stack: IdentityStack) -> str:
    """Every value of every identity table, as text, to look for secrets stored in clear."""
    parts: list[str] = []
    async with stack.state.db.reading() as session:
        for table in Base.metadata.sorted_tables:
            for row in await session.execute(select(table)):
                for value in row:
                    parts.append(
                        value.decode("latin-1") if isinstance(value, bytes) else str(value)
                    )
    return "\n".join(parts)


# --- TOTP enrollment -------------------------------------------------------------------------


async def test_enrollment_returns_the_secret_and_recovery_codes_once(
    stack: IdentityStack, stub: IdentityServiceStub
) -> None:
    user = await make_user(stack)
    meta, _ = await sign_in(stack, user)
    begun = await stub.BeginTotpEnrollment(pb.BeginTotpEnrollmentRequest(), metadata=meta)
    assert len(begun.secret) >= 16
    parsed = pyotp.parse_uri(begun.otpauth_uri)
    assert parsed.secret == begun.secret and parsed.issuer == "Quarterdeck"
    assert "authenticator" in begun.otpauth_uri

    confirmed = await stub.ConfirmTotpEnrollment(
        pb.ConfirmTotpEnrollmentRequest(
            method_id=begun.method_id, code=pyotp.TOTP(begun.secret).now()
        ),
        metadata=meta,
    )
    codes = list(confirmed.recovery_codes)
    assert len(codes) == 10 and len(set(codes)) == 10

    # Confirmed once: the method is no longer pending, and nothing hands the codes out again.
    again = await rich_failure(
        stub.ConfirmTotpEnrollment(
            pb.ConfirmTotpEnrollmentRequest(
                method_id=begun.method_id, code=pyotp.TOTP(begun.secret).now()
            ),
            metadata=meta,
        )
    )
    assert again.code == grpc.StatusCode.NOT_FOUND

    stored = await all_stored_text(stack)
    assert begun.secret not in stored
    for code in codes:
        assert code not in stored and code.replace("-", "") not in stored

    async with stack.state.db.reading() as session:
        method = await session.get(UserMfaMethod, uuid.UUID(begun.method_id))
        assert method is not None and method.verified_at is not None
        assert method.label == "authenticator"
    assert await events_of(stack, user.user_id, "mfa_enrolled")
    assert await use_recovery_code(stack, user.user_id, codes[0])
    assert not await use_recovery_code(stack, user.user_id, codes[0])


async def test_a_wrong_code_is_refused_and_the_method_stays_pending(
    stack: IdentityStack, stub: IdentityServiceStub
) -> None:
    user = await make_user(stack)
    meta, _ = await sign_in(stack, user)
    begun = await stub.BeginTotpEnrollment(pb.BeginTotpEnrollmentRequest(), metadata=meta)

    refused = await rich_failure(
        stub.ConfirmTotpEnrollment(
            pb.ConfirmTotpEnrollmentRequest(
                method_id=begun.method_id, code=wrong_code(begun.secret)
            ),
            metadata=meta,
        )
    )
    assert refused.code == grpc.StatusCode.INVALID_ARGUMENT
    assert refused.reason == "MFA_CODE_INVALID" and "code" in refused.field_violations
    assert await events_of(stack, user.user_id, "mfa_code_invalid")
    empty = await rich_failure(
        stub.ConfirmTotpEnrollment(
            pb.ConfirmTotpEnrollmentRequest(method_id=begun.method_id), metadata=meta
        )
    )
    assert empty.field_violations.keys() == {"code"}

    async with stack.state.db.reading() as session:
        method = await session.get(UserMfaMethod, uuid.UUID(begun.method_id))
        assert method is not None and method.verified_at is None

    confirmed = await stub.ConfirmTotpEnrollment(
        pb.ConfirmTotpEnrollmentRequest(
            method_id=begun.method_id, code=pyotp.TOTP(begun.secret).now()
        ),
        metadata=meta,
    )
    assert len(confirmed.recovery_codes) == 10


async def test_labels_are_unique_until_revoked(
    stack: IdentityStack, stub: IdentityServiceStub
) -> None:
    user = await make_user(stack)
    meta, _ = await sign_in(stack, user)
    first = await stub.BeginTotpEnrollment(
        pb.BeginTotpEnrollmentRequest(label="phone"), metadata=meta
    )
    clash = await rich_failure(
        stub.BeginTotpEnrollment(pb.BeginTotpEnrollmentRequest(label="phone"), metadata=meta)
    )
    assert clash.code == grpc.StatusCode.ALREADY_EXISTS
    assert clash.metadata.get("field") == "label"
    too_long = await rich_failure(
        stub.BeginTotpEnrollment(pb.BeginTotpEnrollmentRequest(label="x" * 65), metadata=meta)
    )
    assert too_long.code == grpc.StatusCode.INVALID_ARGUMENT
    assert "label" in too_long.field_violations

    # A revoked method gives its label up; its row stays for the record.
    await stub.DisableTotp(
        pb.DisableTotpRequest(method_id=first.method_id, password=user.password), metadata=meta
    )
    second = await stub.BeginTotpEnrollment(
        pb.BeginTotpEnrollmentRequest(label="phone"), metadata=meta
    )
    assert second.method_id != first.method_id
    async with stack.state.db.reading() as session:
        old = await session.get(UserMfaMethod, uuid.UUID(first.method_id))
        assert old is not None and old.revoked_at is not None and old.label is None


async def test_concurrent_enrollments_cannot_share_a_label(
    stack: IdentityStack, stub: IdentityServiceStub
) -> None:
    user = await make_user(stack)
    meta, _ = await sign_in(stack, user)
    results = await asyncio.gather(
        *(
            stub.BeginTotpEnrollment(pb.BeginTotpEnrollmentRequest(label="race"), metadata=meta)
            for _ in range(4)
        ),
        return_exceptions=True,
    )
    won = [r for r in results if isinstance(r, pb.BeginTotpEnrollmentResponse)]
    lost = [r for r in results if isinstance(r, grpc.aio.AioRpcError)]
    assert len(won) == 1 and len(lost) == 3
    assert {e.code() for e in lost} == {grpc.StatusCode.ALREADY_EXISTS}


async def test_another_users_method_is_not_found(
    stack: IdentityStack, stub: IdentityServiceStub
) -> None:
    owner, intruder = await make_user(stack), await make_user(stack)
    owner_meta, _ = await sign_in(stack, owner)
    intruder_meta, _ = await sign_in(stack, intruder)
    begun = await stub.BeginTotpEnrollment(pb.BeginTotpEnrollmentRequest(), metadata=owner_meta)
    code = pyotp.TOTP(begun.secret).now()

    confirm = await rich_failure(
        stub.ConfirmTotpEnrollment(
            pb.ConfirmTotpEnrollmentRequest(method_id=begun.method_id, code=code),
            metadata=intruder_meta,
        )
    )
    assert confirm.code == grpc.StatusCode.NOT_FOUND
    disable = await rich_failure(
        stub.DisableTotp(
            pb.DisableTotpRequest(method_id=begun.method_id, password=intruder.password),
            metadata=intruder_meta,
        )
    )
    assert disable.code == grpc.StatusCode.NOT_FOUND
    malformed = await rich_failure(
        stub.ConfirmTotpEnrollment(
            pb.ConfirmTotpEnrollmentRequest(method_id="not-a-uuid", code=code),
            metadata=intruder_meta,
        )
    )
    assert malformed.code == grpc.StatusCode.INVALID_ARGUMENT
    assert "method_id" in malformed.field_violations
    # The intruder's attempt consumed nothing: the owner's code still confirms.
    await stub.ConfirmTotpEnrollment(
        pb.ConfirmTotpEnrollmentRequest(method_id=begun.method_id, code=code),
        metadata=owner_meta,
    )


async def test_mfa_calls_need_a_signed_in_user(stub: IdentityServiceStub) -> None:
    refused = await rich_failure(stub.BeginTotpEnrollment(pb.BeginTotpEnrollmentRequest()))
    assert refused.code == grpc.StatusCode.UNAUTHENTICATED


async def test_disabling_needs_the_password_and_drops_the_codes(
    stack: IdentityStack, stub: IdentityServiceStub
) -> None:
    user = await make_user(stack)
    meta, _ = await sign_in(stack, user)
    method_id, _, codes = await enroll(stub, meta)

    wrong = await rich_failure(
        stub.DisableTotp(
            pb.DisableTotpRequest(method_id=method_id, password="Not-The-Password-1"),
            metadata=meta,
        )
    )
    assert wrong.code == grpc.StatusCode.UNAUTHENTICATED and wrong.reason == "PASSWORD_INCORRECT"
    assert await events_of(stack, user.user_id, "password_incorrect")
    missing = await rich_failure(
        stub.DisableTotp(pb.DisableTotpRequest(method_id=method_id), metadata=meta)
    )
    assert missing.field_violations.keys() == {"password"}
    async with stack.state.db.reading() as session:
        method = await session.get(UserMfaMethod, uuid.UUID(method_id))
        assert method is not None and method.revoked_at is None

    await stub.DisableTotp(
        pb.DisableTotpRequest(method_id=method_id, password=user.password), metadata=meta
    )
    async with stack.state.db.reading() as session:
        method = await session.get(UserMfaMethod, uuid.UUID(method_id))
        assert method is not None and method.revoked_at is not None
        assert method.revoked_reason and method.secret_encrypted is None
    assert await events_of(stack, user.user_id, "mfa_disabled")
    # No second factor left, so its stand-ins go too.
    assert not await use_recovery_code(stack, user.user_id, codes[0])
    gone = await rich_failure(
        stub.DisableTotp(
            pb.DisableTotpRequest(method_id=method_id, password=user.password), metadata=meta
        )
    )
    assert gone.code == grpc.StatusCode.NOT_FOUND


async def test_regenerating_recovery_codes_invalidates_the_old_ones(
    stack: IdentityStack, stub: IdentityServiceStub
) -> None:
    user = await make_user(stack)
    meta, _ = await sign_in(stack, user)
    not_enrolled = await rich_failure(
        stub.RegenerateRecoveryCodes(
            pb.RegenerateRecoveryCodesRequest(password=user.password), metadata=meta
        )
    )
    assert not_enrolled.code == grpc.StatusCode.FAILED_PRECONDITION

    _, _, old_codes = await enroll(stub, meta)
    wrong = await rich_failure(
        stub.RegenerateRecoveryCodes(
            pb.RegenerateRecoveryCodesRequest(password="Not-The-Password-1"), metadata=meta
        )
    )
    assert wrong.reason == "PASSWORD_INCORRECT"
    assert await use_recovery_code(stack, user.user_id, old_codes[0])  # still valid then

    fresh = await stub.RegenerateRecoveryCodes(
        pb.RegenerateRecoveryCodesRequest(password=user.password), metadata=meta
    )
    new_codes = list(fresh.recovery_codes)
    assert len(new_codes) == 10 and not set(new_codes) & set(old_codes)
    assert not await use_recovery_code(stack, user.user_id, old_codes[1])
    assert await use_recovery_code(stack, user.user_id, new_codes[0])
    assert await events_of(stack, user.user_id, "recovery_codes_regenerated")


# --- Password change -------------------------------------------------------------------------


async def test_change_password_checks_both_passwords(
    stack: IdentityStack, stub: IdentityServiceStub
) -> None:
    user = await make_user(stack)
    meta, _ = await sign_in(stack, user)

    wrong = await rich_failure(
        stub.ChangePassword(
            pb.ChangePasswordRequest(
                current_password="Not-The-Password-1", new_password=NEW_PASSWORD
            ),
            metadata=meta,
        )
    )
    assert wrong.code == grpc.StatusCode.UNAUTHENTICATED and wrong.reason == "PASSWORD_INCORRECT"

    weak = await rich_failure(
        stub.ChangePassword(
            pb.ChangePasswordRequest(current_password=user.password, new_password="short"),
            metadata=meta,
        )
    )
    assert weak.code == grpc.StatusCode.INVALID_ARGUMENT
    assert weak.field_violations.keys() == {"new_password"}
    assert "at least 12 characters" in weak.message
    assert "mix at least three" in weak.message

    same = await rich_failure(
        stub.ChangePassword(
            pb.ChangePasswordRequest(current_password=user.password, new_password=user.password),
            metadata=meta,
        )
    )
    assert same.code == grpc.StatusCode.INVALID_ARGUMENT
    assert same.field_violations["new_password"].startswith("reused: must differ")

    # None of the refusals changed the password.
    row = await user_row(stack, user.user_id)
    passwords = stack.state.secrets.passwords
    assert passwords.verify(user.password, row.password_hash, row.password_pepper_version).ok


async def test_change_password_revokes_other_sessions_and_remembers_old_passwords(
    stack: IdentityStack, stub: IdentityServiceStub
) -> None:
    user = await make_user(stack)
    meta, current_session = await sign_in(stack, user)
    _, other_a = await sign_in(stack, user)
    _, other_b = await sign_in(stack, user)
    bystander = await make_user(stack)
    _, bystander_session = await sign_in(stack, bystander)

    changed = await stub.ChangePassword(
        pb.ChangePasswordRequest(current_password=user.password, new_password=NEW_PASSWORD),
        metadata=meta,
    )
    assert changed.revoked_sessions == 2
    async with stack.state.db.reading() as session:
        rows = {
            str(s.id): s
            for s in await session.scalars(
                select(UserSession).where(
                    UserSession.id.in_(
                        [
                            uuid.UUID(i)
                            for i in (current_session, other_a, other_b, bystander_session)
                        ]
                    )
                )
            )
        }
    assert rows[current_session].status == SessionStatus.ACTIVE
    assert rows[bystander_session].status == SessionStatus.ACTIVE
    for other in (other_a, other_b):
        assert rows[other].status == SessionStatus.REVOKED
        assert rows[other].revoked_at is not None and rows[other].revoked_reason
    assert await events_of(stack, user.user_id, "password_changed")

    row = await user_row(stack, user.user_id)
    passwords = stack.state.secrets.passwords
    assert passwords.verify(NEW_PASSWORD, row.password_hash, row.password_pepper_version).ok
    assert not passwords.verify(user.password, row.password_hash, row.password_pepper_version).ok

    # The previous password is recent history: going back to it is refused.
    back = await rich_failure(
        stub.ChangePassword(
            pb.ChangePasswordRequest(current_password=NEW_PASSWORD, new_password=user.password),
            metadata=meta,
        )
    )
    assert back.code == grpc.StatusCode.INVALID_ARGUMENT
    assert "must differ" in back.field_violations["new_password"]
    # The old password no longer counts as the current one.
    stale = await rich_failure(
        stub.ChangePassword(
            pb.ChangePasswordRequest(current_password=user.password, new_password=OTHER_PASSWORD),
            metadata=meta,
        )
    )
    assert stale.reason == "PASSWORD_INCORRECT"
    again = await stub.ChangePassword(
        pb.ChangePasswordRequest(current_password=NEW_PASSWORD, new_password=OTHER_PASSWORD),
        metadata=meta,
    )
    assert again.revoked_sessions == 0


# --- Password reset --------------------------------------------------------------------------


async def test_reset_answers_the_same_for_unknown_emails_and_stores_only_a_hash(
    stack: IdentityStack, stub: IdentityServiceStub, notifier: CapturingNotifier
) -> None:
    user = await make_user(stack)
    unknown = await stub.RequestPasswordReset(
        pb.RequestPasswordResetRequest(email=f"nobody-{uuid.uuid4().hex[:8]}@example.com")
    )
    known = await stub.RequestPasswordReset(
        pb.RequestPasswordResetRequest(
            email=user.email.upper(), device=pb.DeviceInfo(ip_address="198.51.100.4")
        )
    )
    assert unknown == known == pb.RequestPasswordResetResponse()
    assert unknown.SerializeToString() == known.SerializeToString() == b""

    email, token = await notifier.next()
    assert email == user.email
    # Deliveries run in the background: once none is left, nothing was sent for the unknown one.
    await stack.state.tasks.drain(30)
    assert notifier.sent.empty()

    state = stack.state
    async with state.db.reading() as session:
        rows = list(
            await session.scalars(
                select(PasswordResetToken).where(
                    PasswordResetToken.user_id == uuid.UUID(user.user_id)
                )
            )
        )
    assert len(rows) == 1
    assert rows[0].token_hash == state.secrets.hasher.hash(token) != token
    assert rows[0].ip_hash and rows[0].used_at is None
    ttl = rows[0].expires_at - rows[0].created_at
    assert abs(ttl - timedelta(seconds=state.settings.reset_token_ttl_seconds)) < timedelta(
        seconds=5
    )
    assert token not in await all_stored_text(stack)
    assert await events_of(stack, user.user_id, "password_reset_requested")

    bad = await rich_failure(stub.RequestPasswordReset(pb.RequestPasswordResetRequest()))
    assert bad.field_violations.keys() == {"email"}


async def test_a_reset_token_works_once(
    stack: IdentityStack, stub: IdentityServiceStub, notifier: CapturingNotifier
) -> None:
    user = await make_user(stack)
    _, session_id = await sign_in(stack, user)
    await stub.RequestPasswordReset(pb.RequestPasswordResetRequest(email=user.email))
    _, token = await notifier.next()

    weak = await rich_failure(
        stub.ResetPassword(pb.ResetPasswordRequest(reset_token=token, new_password="weakling"))
    )
    assert weak.code == grpc.StatusCode.INVALID_ARGUMENT
    assert weak.field_violations.keys() == {"new_password"}
    reused = await rich_failure(
        stub.ResetPassword(pb.ResetPasswordRequest(reset_token=token, new_password=user.password))
    )
    assert "must differ" in reused.field_violations["new_password"]

    # Neither refusal used the token up.
    await stub.ResetPassword(pb.ResetPasswordRequest(reset_token=token, new_password=NEW_PASSWORD))
    row = await user_row(stack, user.user_id)
    passwords = stack.state.secrets.passwords
    assert passwords.verify(NEW_PASSWORD, row.password_hash, row.password_pepper_version).ok
    async with stack.state.db.reading() as session:
        opened = await session.get(UserSession, uuid.UUID(session_id))
        assert opened is not None and opened.status == SessionStatus.REVOKED
    assert await events_of(stack, user.user_id, "password_reset")

    twice = await rich_failure(
        stub.ResetPassword(pb.ResetPasswordRequest(reset_token=token, new_password=OTHER_PASSWORD))
    )
    assert twice.code == grpc.StatusCode.UNAUTHENTICATED
    assert twice.reason == "RESET_TOKEN_INVALID"
    assert await events_of(stack, user.user_id, "reset_token_invalid")
    forged = await rich_failure(
        stub.ResetPassword(
            pb.ResetPasswordRequest(reset_token="qdp_forged", new_password=OTHER_PASSWORD)
        )
    )
    assert forged.reason == "RESET_TOKEN_INVALID"


async def test_concurrent_resets_with_one_token_succeed_once(
    stack: IdentityStack, stub: IdentityServiceStub, notifier: CapturingNotifier
) -> None:
    user = await make_user(stack)
    await stub.RequestPasswordReset(pb.RequestPasswordResetRequest(email=user.email))
    _, token = await notifier.next()
    results = await asyncio.gather(
        *(
            stub.ResetPassword(pb.ResetPasswordRequest(reset_token=token, new_password=password))
            for password in (NEW_PASSWORD, OTHER_PASSWORD)
        ),
        return_exceptions=True,
    )
    refused = [rich_error(r) for r in results if isinstance(r, grpc.aio.AioRpcError)]
    assert len(refused) == 1 and refused[0].reason == "RESET_TOKEN_INVALID"
    winner = NEW_PASSWORD if isinstance(results[0], pb.ResetPasswordResponse) else OTHER_PASSWORD
    row = await user_row(stack, user.user_id)
    passwords = stack.state.secrets.passwords
    assert passwords.verify(winner, row.password_hash, row.password_pepper_version).ok


async def test_an_expired_reset_token_is_refused(
    stack: IdentityStack, stub: IdentityServiceStub, notifier: CapturingNotifier
) -> None:
    user = await make_user(stack)
    await stub.RequestPasswordReset(pb.RequestPasswordResetRequest(email=user.email))
    _, token = await notifier.next()
    state = stack.state
    async with state.db.transaction() as session:
        await session.execute(
            update(PasswordResetToken)
            .where(PasswordResetToken.token_hash == state.secrets.hasher.hash(token))
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    expired = await rich_failure(
        stub.ResetPassword(pb.ResetPasswordRequest(reset_token=token, new_password=NEW_PASSWORD))
    )
    assert expired.code == grpc.StatusCode.UNAUTHENTICATED
    assert expired.reason == "RESET_TOKEN_INVALID"
    row = await user_row(stack, user.user_id)
    assert state.secrets.passwords.verify(
        user.password, row.password_hash, row.password_pepper_version
    ).ok


async def test_a_reset_unlocks_a_locked_user(
    stack: IdentityStack, stub: IdentityServiceStub, notifier: CapturingNotifier
) -> None:
    user = await make_user(stack, status=UserStatus.LOCKED)
    disabled = await make_user(stack, status=UserStatus.DISABLED)
    state = stack.state
    async with state.db.transaction() as session:
        await session.execute(
            update(User)
            .where(User.id == uuid.UUID(user.user_id))
            .values(failed_sign_in_count=5, locked_at=utcnow())
        )

    await stub.RequestPasswordReset(pb.RequestPasswordResetRequest(email=disabled.email))
    await stub.RequestPasswordReset(pb.RequestPasswordResetRequest(email=user.email))
    email, token = await notifier.next()
    assert email == user.email  # the disabled account got nothing

    await stub.ResetPassword(pb.ResetPasswordRequest(reset_token=token, new_password=NEW_PASSWORD))
    row = await user_row(stack, user.user_id)
    assert row.status == UserStatus.ACTIVE
    assert row.failed_sign_in_count == 0 and row.locked_at is None


# --- Unlock ----------------------------------------------------------------------------------


async def test_unlock_user_needs_an_operator(
    stack: IdentityStack, stub: IdentityServiceStub
) -> None:
    locked = await make_user(stack, status=UserStatus.LOCKED)
    async with stack.state.db.transaction() as session:
        await session.execute(
            update(User)
            .where(User.id == uuid.UUID(locked.user_id))
            .values(failed_sign_in_count=7, locked_at=utcnow())
        )
    member_meta, _ = await sign_in(stack, await make_user(stack))
    operator_meta, _ = await sign_in(stack, await make_user(stack, platform_operator=True))

    denied = await rich_failure(
        stub.UnlockUser(pb.UnlockUserRequest(user_id=locked.user_id), metadata=member_meta)
    )
    assert denied.code == grpc.StatusCode.PERMISSION_DENIED
    assert (await user_row(stack, locked.user_id)).status == UserStatus.LOCKED

    unlocked = await stub.UnlockUser(
        pb.UnlockUserRequest(user_id=locked.user_id), metadata=operator_meta
    )
    assert unlocked.user.id == locked.user_id and unlocked.user.email == locked.email
    assert unlocked.user.status == pb.USER_STATUS_ACTIVE
    assert unlocked.user.HasField("create_time")
    row = await user_row(stack, locked.user_id)
    assert row.status == UserStatus.ACTIVE
    assert row.failed_sign_in_count == 0 and row.locked_at is None
    assert await events_of(stack, locked.user_id, "user_unlocked")

    missing = await rich_failure(
        stub.UnlockUser(pb.UnlockUserRequest(user_id=str(uuid.uuid4())), metadata=operator_meta)
    )
    assert missing.code == grpc.StatusCode.NOT_FOUND
    malformed = await rich_failure(
        stub.UnlockUser(pb.UnlockUserRequest(user_id="nope"), metadata=operator_meta)
    )
    assert malformed.field_violations.keys() == {"user_id"}
    disabled = await make_user(stack, status=UserStatus.DISABLED)
    not_locked = await rich_failure(
        stub.UnlockUser(pb.UnlockUserRequest(user_id=disabled.user_id), metadata=operator_meta)
    )
    assert not_locked.code == grpc.StatusCode.FAILED_PRECONDITION
    assert (await user_row(stack, disabled.user_id)).status == UserStatus.DISABLED
