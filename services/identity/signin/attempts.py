"""What a sign-in attempt leaves behind: login events, the failed-attempt count and the lockout.

Every check of a factor (password, TOTP or recovery code) against a known account lands here. A
failure counts toward ``lockout_threshold``; reaching it locks the account. The client's IP and
agent are stored only as keyed hashes.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import TypedDict

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from quarterdeck.identity.v1 import identity_pb2 as pb
from services.identity.context import IdentityContext
from services.identity.models import User, UserLoginEvent, UserStatus
from services.identity.reasons import INVALID_CREDENTIALS
from services.identity.sessions.opening import DeviceHashes, device_hashes
from shared.db_types import utcnow
from shared.errors import Unauthenticated

SUCCESS = "success"
FAILURE = "failure"
LOCKED = "locked"
MFA_REQUIRED = "mfa_required"


def invalid_credentials() -> Unauthenticated:
    """The one refusal for an unknown email, a wrong password and an account that may not sign
    in: the same code, reason and message, so none can be told from another."""
    return Unauthenticated("the email or password is incorrect", reason=INVALID_CREDENTIALS)


def status_reason(status: UserStatus) -> str:
    """Why an account that may not sign in was refused, for the login and security events."""
    return f"account_{status.value}"


class DeviceEventFields(TypedDict):
    """The device's hashes as security events record them."""

    ip_hash: str | None
    user_agent_hash: str | None


@dataclass(frozen=True)
class Attempt:
    """Where an attempt came from, hashed once for the login and security events."""

    hashes: DeviceHashes

    @classmethod
    def of(cls, ctx: IdentityContext, device: pb.DeviceInfo) -> Attempt:
        return cls(device_hashes(ctx, device))

    def event_fields(self) -> DeviceEventFields:
        return {"ip_hash": self.hashes.ip_hash, "user_agent_hash": self.hashes.user_agent_hash}


async def find_user_by_email(session: AsyncSession, email: str) -> User | None:
    return await session.scalar(select(User).where(func.lower(User.email) == email.lower()))


async def locked_user(session: AsyncSession, user_id: uuid.UUID) -> User | None:
    """The user row, locked for this transaction (SQLite serialises write transactions anyway)."""
    return await session.scalar(select(User).where(User.id == user_id).with_for_update())


def add_login_event(
    session: AsyncSession,
    user_id: uuid.UUID,
    attempt: Attempt,
    result: str,
    *,
    tenant_id: str | None = None,
    reason: str | None = None,
) -> None:
    session.add(
        UserLoginEvent(
            user_id=user_id,
            tenant_id=uuid.UUID(tenant_id) if tenant_id else None,
            ip_hash=attempt.hashes.ip_hash,
            user_agent=attempt.hashes.user_agent_hash,
            result=result,
            reason=reason,
        )
    )


def record_failure(
    ctx: IdentityContext,
    session: AsyncSession,
    user: User,
    attempt: Attempt,
    *,
    event_type: str,
    reason: str,
    counts: bool,
    tenant_id: str | None = None,
) -> None:
    """A refused attempt on a known account: counted (when ``counts`` and the account is active),
    locking it at the threshold, plus its login and security events."""
    if counts and user.status == UserStatus.ACTIVE:
        user.failed_sign_in_count = (user.failed_sign_in_count or 0) + 1
        if user.failed_sign_in_count >= ctx.settings.lockout_threshold:
            user.status = UserStatus.LOCKED
            user.locked_at = utcnow()
            ctx.events.add(
                session,
                "account_locked",
                user_id=user.id,
                tenant_id=tenant_id,
                **attempt.event_fields(),
                metadata={"failed_attempts": str(user.failed_sign_in_count)},
            )
    result = LOCKED if user.status == UserStatus.LOCKED else FAILURE
    add_login_event(session, user.id, attempt, result, tenant_id=tenant_id, reason=reason)
    ctx.events.add(
        session,
        event_type,
        user_id=user.id,
        tenant_id=tenant_id,
        **attempt.event_fields(),
        metadata={"reason": reason},
    )


def record_success(
    session: AsyncSession,
    user: User,
    attempt: Attempt,
    tenant_id: str,
    reason: str,
) -> None:
    """A completed sign-in: the failure count starts over."""
    user.failed_sign_in_count = 0
    add_login_event(session, user.id, attempt, SUCCESS, tenant_id=tenant_id, reason=reason)
