"""Passwords: change (signed in), reset by emailed token (signed out), and the operator's unlock.

Also the helpers the MFA handlers share: who the signed-in caller is, checking their password,
and recording a refusal whose own transaction rolls back.

Argon2 is deliberately slow, so a caller's password is checked in a worker thread and before the
write transaction opens (SQLite writers would queue behind it); the write transaction then makes
sure the password did not change in between.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from quarterdeck.identity.v1 import identity_pb2 as pb
from services.identity.context import IdentityContext
from services.identity.models import (
    PasswordResetToken,
    SessionStatus,
    User,
    UserSession,
    UserStatus,
)
from services.identity.passwords.policy import check_strength, set_password
from services.identity.reasons import PASSWORD_INCORRECT, RESET_TOKEN_INVALID
from services.identity.secrets import Hasher
from services.identity.sessions.opening import device_hashes
from services.identity.users_proto import user_to_proto
from shared.auth import Principal, require_operator, require_principal
from shared.db import rows_matched
from shared.db_types import utcnow
from shared.errors import (
    Aborted,
    DomainError,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Unauthenticated,
)
from shared.ids import parse_id

log = logging.getLogger("quarterdeck.identity.passwords")

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["IdentityService"].full_name
RESET_TOKEN_PREFIX = "qdp_"
MAX_EMAIL_LENGTH = 320
#: Accounts that may manage their own credentials: a locked user keeps a session opened before
#: the lock, and a reset is how a locked user gets back in.
SELF_SERVICE_STATUSES = frozenset({UserStatus.ACTIVE, UserStatus.LOCKED})


def rpc_path(name: str) -> str:
    """The method as the error interceptor names it in the events it records."""
    return f"/{SERVICE_NAME}/{name}"


def require_user() -> Principal:
    principal = require_principal()
    if principal.kind != "user" or principal.user_id is None:
        raise PermissionDenied("this needs a signed-in user", reason="USER_ONLY")
    return principal


async def load_caller(
    session: AsyncSession, principal: Principal, *, expected_hash: str | None = None
) -> User:
    """The caller's user row.

    With ``expected_hash``, the password must still be the one checked before the transaction;
    the row is then locked (on PostgreSQL) so it stays so until the commit.
    """
    try:
        user_id = uuid.UUID(principal.user_id or "")
    except ValueError:
        raise PermissionDenied("this needs a signed-in user", reason="USER_ONLY") from None
    query = select(User).where(User.id == user_id)
    if expected_hash is not None:
        query = query.with_for_update()
    user = await session.scalar(query)
    if user is None or user.status not in SELF_SERVICE_STATUSES:
        raise PermissionDenied("this account cannot manage its credentials", reason="USER_INACTIVE")
    if expected_hash is not None and user.password_hash != expected_hash:
        raise Aborted("the password changed meanwhile; try again", reason="PASSWORD_CHANGED")
    return user


async def check_caller_password(
    ctx: IdentityContext, principal: Principal, password: str, field: str, rpc: str
) -> User:
    """The caller, once their password is checked; a wrong one is refused and recorded."""
    if not password:
        raise InvalidArgument.field(field, "is required")
    async with ctx.db.reading() as session:
        user = await load_caller(session, principal)
    check = await asyncio.to_thread(
        ctx.secrets.passwords.verify, password, user.password_hash, user.password_pepper_version
    )
    if not check.ok:
        await ctx.events.record(
            PASSWORD_INCORRECT.lower(),
            user_id=user.id,
            tenant_id=principal.tenant_id,
            metadata={"method": rpc_path(rpc)},
        )
        raise Unauthenticated("the password is incorrect", reason=PASSWORD_INCORRECT)
    return user


class Refusal(Exception):
    """A refusal raised inside a write transaction whose security event must land anyway."""

    def __init__(self, error: DomainError, **event: Any) -> None:
        super().__init__(error.message)
        self.error = error
        self.event = event


@asynccontextmanager
async def recording_refusals(ctx: IdentityContext) -> AsyncIterator[None]:
    """Wrap a transaction: a :class:`Refusal` is recorded after the rollback, then raised."""
    try:
        yield
    except Refusal as refusal:
        await ctx.events.record(refusal.error.reason.lower(), **refusal.event)
        raise refusal.error from None


async def revoke_sessions(
    session: AsyncSession, user_id: uuid.UUID, reason: str, keep: uuid.UUID | None = None
) -> int:
    """Revoke every active session of the user but ``keep``; returns how many."""
    query = update(UserSession).where(
        UserSession.user_id == user_id, UserSession.status == SessionStatus.ACTIVE
    )
    if keep is not None:
        query = query.where(UserSession.id != keep)
    result = await session.execute(
        query.values(status=SessionStatus.REVOKED, revoked_at=utcnow(), revoked_reason=reason)
    )
    return int(rows_matched(result))


def _session_id(principal: Principal) -> uuid.UUID | None:
    try:
        return uuid.UUID(principal.session_id) if principal.session_id else None
    except ValueError:
        return None


class PasswordHandlers:
    def __init__(self, ctx: IdentityContext) -> None:
        self._ctx = ctx

    async def change_password(self, request: pb.ChangePasswordRequest) -> pb.ChangePasswordResponse:
        principal = require_user()
        settings = self._ctx.settings
        checked = await check_caller_password(
            self._ctx, principal, request.current_password, "current_password", "ChangePassword"
        )
        check_strength(
            request.new_password, checked.email, settings.password_min_length, "new_password"
        )
        async with self._ctx.db.transaction() as session:
            user = await load_caller(session, principal, expected_hash=checked.password_hash)
            await set_password(
                session,
                user,
                request.new_password,
                self._ctx.secrets.passwords,
                settings.password_history_depth,
                "new_password",
            )
            # Whoever else holds a session may be the reason for the change.
            revoked = await revoke_sessions(
                session, user.id, "password_changed", keep=_session_id(principal)
            )
            self._ctx.events.add(
                session,
                "password_changed",
                user_id=user.id,
                tenant_id=principal.tenant_id,
                metadata={"revoked_sessions": str(revoked)},
            )
        if principal.tenant_id:  # a user belongs to tenants: the feed is the one acted within
            self._ctx.activity.append(
                principal.tenant_id,
                "user.password_changed",
                object_type="user",
                object_id=str(user.id),
                object_name=user.email,
                summary=f"{user.email} changed their password",
                metadata={"revoked_sessions": revoked},
            )
        return pb.ChangePasswordResponse(revoked_sessions=revoked)

    async def request_password_reset(
        self, request: pb.RequestPasswordResetRequest
    ) -> pb.RequestPasswordResetResponse:
        """The same answer, and about the same work, whether or not the email has an account:
        a token is minted and hashed and one transaction writes either way, and delivery runs
        in the background so neither its latency nor its failure shows."""
        email = request.email.strip()
        if not email:
            raise InvalidArgument.field("email", "is required")
        if len(email) > MAX_EMAIL_LENGTH:
            raise InvalidArgument.field("email", f"must be at most {MAX_EMAIL_LENGTH} characters")
        hasher = self._ctx.secrets.hasher
        token = Hasher.new_token(RESET_TOKEN_PREFIX)
        token_hash = hasher.hash(token)
        ip_hash = (
            device_hashes(self._ctx, request.device).ip_hash if request.device.ip_address else None
        )
        async with self._ctx.db.transaction() as session:
            user = await session.scalar(select(User).where(func.lower(User.email) == email.lower()))
            eligible = user is not None and user.status in SELF_SERVICE_STATUSES
            if user is not None and eligible:
                session.add(
                    PasswordResetToken(
                        user_id=user.id,
                        token_hash=token_hash,
                        expires_at=utcnow()
                        + timedelta(seconds=self._ctx.settings.reset_token_ttl_seconds),
                        ip_hash=ip_hash,
                    )
                )
            self._ctx.events.add(
                session,
                "password_reset_requested",
                user_id=user.id if user is not None else None,
                ip_hash=ip_hash,
                metadata={
                    "account": "eligible"
                    if eligible
                    else ("unknown" if user is None else f"not sent: {user.status.value}")
                },
            )
        if user is not None and eligible:
            self._deliver(user.email, token)
        return pb.RequestPasswordResetResponse()

    def _deliver(self, email: str, token: str) -> None:
        notifier = self._ctx.notifier

        async def send() -> None:
            try:
                await notifier.send_password_reset(email, token)
            except Exception:
                log.exception("could not deliver a password reset")

        # In the background (the reply must not reveal whether the account exists by its delay).
        self._ctx.tasks.spawn(send())

    async def reset_password(self, request: pb.ResetPasswordRequest) -> pb.ResetPasswordResponse:
        if not request.reset_token:
            raise InvalidArgument.field("reset_token", "is required")
        settings = self._ctx.settings
        token_hash = self._ctx.secrets.hasher.hash(request.reset_token)
        method = rpc_path("ResetPassword")

        def refused(cause: str, user_id: uuid.UUID | None = None) -> Refusal:
            return Refusal(
                Unauthenticated(
                    "the reset token is invalid, used or expired", reason=RESET_TOKEN_INVALID
                ),
                user_id=user_id,
                metadata={"method": method, "cause": cause},
            )

        async with recording_refusals(self._ctx), self._ctx.db.transaction() as session:
            now = utcnow()
            row = await session.scalar(
                select(PasswordResetToken).where(PasswordResetToken.token_hash == token_hash)
            )
            if row is None:
                raise refused("unknown")
            if row.used_at is not None:
                raise refused("used", row.user_id)
            if row.expires_at <= now:
                raise refused("expired", row.user_id)
            user = await session.scalar(
                select(User).where(User.id == row.user_id).with_for_update()
            )
            if user is None or user.status not in SELF_SERVICE_STATUSES:
                raise refused("account", row.user_id)
            check_strength(
                request.new_password, user.email, settings.password_min_length, "new_password"
            )
            # The conditional update is what makes a token work once under concurrency.
            claimed = await session.execute(
                update(PasswordResetToken)
                .where(
                    PasswordResetToken.id == row.id,
                    PasswordResetToken.used_at.is_(None),
                    PasswordResetToken.expires_at > now,
                )
                .values(used_at=now)
            )
            if rows_matched(claimed) != 1:
                raise refused("used", row.user_id)
            await set_password(
                session,
                user,
                request.new_password,
                self._ctx.secrets.passwords,
                settings.password_history_depth,
                "new_password",
            )
            was_locked = user.status == UserStatus.LOCKED
            user.status = UserStatus.ACTIVE
            user.failed_sign_in_count = 0
            user.locked_at = None
            revoked = await revoke_sessions(session, user.id, "password_reset")
            # Any other token still out there is now pointless and only a risk.
            await session.execute(
                update(PasswordResetToken)
                .where(PasswordResetToken.user_id == user.id, PasswordResetToken.used_at.is_(None))
                .values(used_at=now)
            )
            self._ctx.events.add(
                session,
                "password_reset",
                user_id=user.id,
                metadata={"revoked_sessions": str(revoked), "unlocked": str(was_locked).lower()},
            )
        return pb.ResetPasswordResponse()

    async def unlock_user(self, request: pb.UnlockUserRequest) -> pb.UnlockUserResponse:
        principal = require_operator()
        user_id = parse_id(request.user_id, "user_id")
        async with self._ctx.db.transaction() as session:
            user = await session.scalar(select(User).where(User.id == user_id).with_for_update())
            if user is None:
                raise NotFound("no user has this id")
            # Unlocking undoes a lockout; it must not bring back a disabled or unfinished account.
            if user.status not in SELF_SERVICE_STATUSES:
                raise FailedPrecondition(
                    f"a {user.status.value} user cannot be unlocked",
                    reason="USER_NOT_LOCKED",
                    metadata={"status": user.status.value},
                )
            previous = user.status
            user.status = UserStatus.ACTIVE
            user.failed_sign_in_count = 0
            user.locked_at = None
            self._ctx.events.add(
                session,
                "user_unlocked",
                user_id=user.id,
                metadata={"by": principal.subject, "previous_status": previous.value},
            )
            await session.flush()
            return pb.UnlockUserResponse(user=user_to_proto(user))
