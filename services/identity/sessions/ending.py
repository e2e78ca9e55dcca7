"""Ending sessions: one, or all of a user's. Revoked sessions refuse every refresh; access tokens
already issued stay valid until they expire (they are verified without a lookup)."""

from __future__ import annotations

import uuid

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from services.identity.models import SessionStatus, UserSession
from shared.auth import Principal, require_principal
from shared.db import rows_matched
from shared.db_types import utcnow
from shared.errors import PermissionDenied

# Why a session ended, as stored in revoked_reason.
SIGNED_OUT = "signed_out"
REFRESH_TOKEN_REUSE = "refresh_token_reuse"
REVOKED_BY_USER = "revoked_by_user"
REVOKED_ALL_BY_USER = "revoked_all_by_user"
MEMBERSHIP_ENDED = "membership_ended"
ACCOUNT_INACTIVE = "account_inactive"


def require_user() -> tuple[Principal, uuid.UUID]:
    """The calling user; sessions belong to users, not to service accounts or services."""
    principal = require_principal()
    try:
        if principal.user_id is None:
            raise ValueError
        return principal, uuid.UUID(principal.user_id)
    except ValueError:
        raise PermissionDenied("only a signed-in user has sessions", reason="USERS_ONLY") from None


async def revoke_session(
    session: AsyncSession,
    session_id: uuid.UUID,
    reason: str,
    *,
    user_id: uuid.UUID | None = None,
) -> bool:
    """Revoke one active session (of ``user_id`` when given); False if it was not active."""
    statement = update(UserSession).where(
        UserSession.id == session_id, UserSession.status == SessionStatus.ACTIVE
    )
    if user_id is not None:
        statement = statement.where(UserSession.user_id == user_id)
    result = await session.execute(
        statement.values(status=SessionStatus.REVOKED, revoked_at=utcnow(), revoked_reason=reason)
    )
    return rows_matched(result) == 1


async def revoke_user_sessions(
    session: AsyncSession,
    user_id: uuid.UUID,
    reason: str,
    *,
    keep: uuid.UUID | None = None,
) -> int:
    """Revoke every active session of the user but ``keep``; returns how many."""
    statement = update(UserSession).where(
        UserSession.user_id == user_id, UserSession.status == SessionStatus.ACTIVE
    )
    if keep is not None:
        statement = statement.where(UserSession.id != keep)
    result = await session.execute(
        statement.values(status=SessionStatus.REVOKED, revoked_at=utcnow(), revoked_reason=reason)
    )
    return int(rows_matched(result))
