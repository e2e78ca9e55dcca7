"""Refreshing a session: rotation, reuse detection and the checks a long-lived session needs.

Each refresh replaces the session's one valid refresh token. Presenting a superseded one means a
token was copied (or two clients raced with one token): the whole session is revoked, so whoever
holds the newest token is signed out too. The rotation claims the old jti with a conditional
UPDATE, so of two concurrent refreshes with one token exactly one wins and the other is a reuse.
"""

from __future__ import annotations

import secrets
from typing import NoReturn

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from quarterdeck.identity.v1 import identity_pb2 as pb
from services.identity.context import IdentityContext
from services.identity.models import SessionStatus, User, UserSession, UserStatus
from services.identity.reasons import REFRESH_TOKEN_INVALID, REFRESH_TOKEN_REUSED, SESSION_REVOKED
from services.identity.sessions.ending import (
    ACCOUNT_INACTIVE,
    MEMBERSHIP_ENDED,
    REFRESH_TOKEN_REUSE,
    revoke_session,
)
from services.identity.sessions.opening import (
    issue_tokens,
    parse_refresh_token,
    refresh_token_is_genuine,
)
from services.identity.signin.attempts import Attempt
from services.identity.tenancy_client import TenancyClient
from shared.db import rows_matched
from shared.db_types import utcnow
from shared.errors import DomainError, PermissionDenied, Unauthenticated


def _invalid() -> Unauthenticated:
    return Unauthenticated("the refresh token is not valid", reason=REFRESH_TOKEN_INVALID)


def _revoked() -> Unauthenticated:
    return Unauthenticated("the session has ended; sign in again", reason=SESSION_REVOKED)


def _reused() -> Unauthenticated:
    return Unauthenticated(
        "the refresh token was already used; the session is revoked, sign in again",
        reason=REFRESH_TOKEN_REUSED,
    )


def _live(row: UserSession) -> bool:
    return row.status == SessionStatus.ACTIVE and row.expires_at > utcnow()


class SessionRefresher:
    def __init__(self, ctx: IdentityContext) -> None:
        self._ctx = ctx

    async def _refuse_invalid(
        self, attempt: Attempt, row: UserSession | None, why: str
    ) -> NoReturn:
        await self._ctx.events.record(
            "refresh_token_invalid",
            user_id=row.user_id if row else None,
            tenant_id=row.tenant_id if row else None,
            **attempt.event_fields(),
            metadata={"reason": why},
        )
        raise _invalid()

    def _add_ended(self, session: AsyncSession, attempt: Attempt, row: UserSession) -> None:
        self._ctx.events.add(
            session,
            "refresh_refused",
            user_id=row.user_id,
            tenant_id=row.tenant_id,
            **attempt.event_fields(),
            metadata={"reason": "session_ended", "session_id": str(row.id)},
        )

    async def _refuse_ended(self, attempt: Attempt, row: UserSession) -> NoReturn:
        async with self._ctx.db.transaction() as session:
            self._add_ended(session, attempt, row)
        raise _revoked()

    async def _revoke_for_reuse(self, attempt: Attempt, row: UserSession) -> NoReturn:
        async with self._ctx.db.transaction() as session:
            await self._revoke_reused(session, attempt, row)
        raise _reused()

    async def _revoke_reused(
        self, session: AsyncSession, attempt: Attempt, row: UserSession
    ) -> None:
        await revoke_session(session, row.id, REFRESH_TOKEN_REUSE)
        self._ctx.events.add(
            session,
            "refresh_token_reused",
            user_id=row.user_id,
            tenant_id=row.tenant_id,
            **attempt.event_fields(),
            metadata={"session_id": str(row.id)},
        )

    async def refresh(
        self, tenancy: TenancyClient, token: str, device: pb.DeviceInfo
    ) -> pb.TokenPair:
        ctx = self._ctx
        attempt = Attempt.of(ctx, device)
        try:
            session_id, jti = parse_refresh_token(token)
        except Unauthenticated:
            await self._refuse_invalid(attempt, None, "malformed")
        async with ctx.db.reading() as session:
            row = await session.get(UserSession, session_id)
        if row is None:
            await self._refuse_invalid(attempt, None, "unknown_session")
        if not refresh_token_is_genuine(ctx.secrets.hasher, token):
            # Made up around a known session id: recorded for its user, but no reason to end
            # the session, or anyone holding a session id could sign its owner out.
            await self._refuse_invalid(attempt, row, "forged")
        if jti == row.refresh_jti and not ctx.secrets.hasher.matches(token, row.session_token_hash):
            await self._refuse_invalid(attempt, row, "token_mismatch")
        if not _live(row):
            await self._refuse_ended(attempt, row)
        if jti != row.refresh_jti:
            await self._revoke_for_reuse(attempt, row)
        # Membership can end while a session lives: the role is read again at every refresh.
        role = await tenancy.role_in(str(row.tenant_id), str(row.user_id))
        return await self._rotate(attempt, row, jti, role)

    async def _rotate(
        self, attempt: Attempt, row: UserSession, jti: str, role: str | None
    ) -> pb.TokenPair:
        ctx = self._ctx
        refusal: DomainError | None = None
        tokens: pb.TokenPair | None = None
        async with ctx.db.transaction() as session:
            user = await session.get(User, row.user_id)
            ended = None
            if user is None or user.status != UserStatus.ACTIVE:
                ended, refusal = ACCOUNT_INACTIVE, _revoked()
            elif role is None:
                ended = MEMBERSHIP_ENDED
                refusal = PermissionDenied(
                    "the user is no longer a member of this tenant", reason="NOT_A_MEMBER"
                )
            if ended is not None:
                await revoke_session(session, row.id, ended)
                ctx.events.add(
                    session,
                    "session_revoked",
                    user_id=row.user_id,
                    tenant_id=row.tenant_id,
                    **attempt.event_fields(),
                    metadata={"reason": ended, "session_id": str(row.id)},
                )
            else:
                assert user is not None and role is not None
                # The claim: only the caller whose jti is still current gets to rotate.
                claimed = await session.execute(
                    update(UserSession)
                    .where(
                        UserSession.id == row.id,
                        UserSession.refresh_jti == jti,
                        UserSession.status == SessionStatus.ACTIVE,
                    )
                    .values(refresh_jti=secrets.token_hex(16))
                    .execution_options(synchronize_session=False)
                )
                current = await session.get(UserSession, row.id)
                if rows_matched(claimed) != 1 or current is None:
                    if current is None or not _live(current):
                        self._add_ended(session, attempt, current or row)
                        refusal = _revoked()
                    else:
                        await self._revoke_reused(session, attempt, current)
                        refusal = _reused()
                else:
                    tokens = await issue_tokens(ctx, current, user, role)
        if refusal is not None:
            raise refusal
        assert tokens is not None
        return tokens
