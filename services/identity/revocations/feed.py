"""What was revoked since a time, read from where identity already records it: sessions ended
(``revoked_at``), API keys revoked (``revoked_at``; their tokens' subject is ``sa:<key id>``) and
users locked or disabled (at ``updated_at``); and the memberships tenancy removed or lowered in
role (``mem:<user>:<tenant>``, see :mod:`services.identity.membership_revocations`). Every
service polls it through ListRevocations (shared.revocation); identity reads it directly for its
own calls."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from services.identity.membership_revocations import MembershipRevocations
from services.identity.models import ServiceAccountToken, User, UserSession, UserStatus
from shared.db import Database
from shared.db_types import utcnow
from shared.revocation import Revocation, RevocationSource
from shared.tokens import LEEWAY_SECONDS

#: A user in these states has every token refused (a pending user, not yet verified, may work).
_REVOKED_STATUSES = (UserStatus.LOCKED, UserStatus.DISABLED)
#: Rows committed a little after a poll read past them (a transaction that started earlier) are
#: still found by the next poll: each poll looks this far behind its cursor.
LOOKBACK = timedelta(seconds=30)


async def revocations_since(
    database: Database,
    since: datetime | None,
    token_lifetime: timedelta,
    memberships: MembershipRevocations | None = None,
) -> tuple[list[Revocation], datetime]:
    """The revocations recorded (memberships: learned) at or after ``since`` (less the lookback),
    or, without ``since``, all those whose tokens may still be valid; and the time read."""
    if memberships is not None:
        await memberships.refresh()  # before the time read: what it learns is in this answer
    now = utcnow()
    lifetime = token_lifetime + timedelta(seconds=LEEWAY_SECONDS)
    if since is None:
        start = now - lifetime
    else:  # no earlier than the earliest time a datetime holds
        start = since - min(LOOKBACK, since - datetime.min.replace(tzinfo=UTC))
    found: list[tuple[str, datetime]] = []
    async with database.reading() as session:
        sessions = await session.execute(
            select(UserSession.id, UserSession.revoked_at).where(UserSession.revoked_at >= start)
        )
        found += [(f"sid:{row_id}", at) for row_id, at in sessions]
        keys = await session.execute(
            select(ServiceAccountToken.id, ServiceAccountToken.revoked_at).where(
                ServiceAccountToken.revoked_at >= start
            )
        )
        found += [(f"sub:sa:{row_id}", at) for row_id, at in keys]
        users = await session.execute(
            select(User.id, User.updated_at).where(
                User.status.in_(_REVOKED_STATUSES), User.updated_at >= start
            )
        )
        found += [(f"sub:{row_id}", at) for row_id, at in users]
    revocations = [
        Revocation(key, at.timestamp(), (at + lifetime).timestamp()) for key, at in found
    ]
    if memberships is not None:
        revocations += memberships.learned_since(start)
    return revocations, now


def local_revocations(
    database: Database, token_lifetime: timedelta, memberships: MembershipRevocations | None
) -> RevocationSource:
    """Identity's own poll: the same list, read from its database."""

    async def poll(since: float | None) -> tuple[Sequence[Revocation], float]:
        start = datetime.fromtimestamp(since, tz=UTC) if since is not None else None
        revocations, read_at = await revocations_since(database, start, token_lifetime, memberships)
        return revocations, read_at.timestamp()

    return poll
