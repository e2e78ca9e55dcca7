"""Reserve and Settle in one statement each, on PostgreSQL with the database backend, for
reservations that take no plan counter (rate counters and the reservation only: nothing a
crash may not lose, so they commit unflushed).

Each runs alone on an unflushed driver connection (``Database.unflushed_driver_connection``):
no BEGIN, ``SET LOCAL`` or COMMIT round trip, so the counter rows a statement locks are held
for that statement only, not for a round trip and a turn of the event loop more. What the
general path in handlers.py does in a transaction, the statements do at once:

* **Reserve** inserts the reservation, then takes rpm and tpm (rpm first, as the general path
  locks them). A counter that would pass its limit is set to -1, which the counters'
  ``used >= 0`` check refuses, so the whole statement fails and nothing is taken or stored:
  a refusal of either takes neither. The caller then answers through the general path, which
  says which limit refused and when to retry. A repeated ``request_id`` fails the insert, so,
  as there, nothing is taken.
* **Settle** closes an open, unexpired reservation without plan counters, and refunds the
  unused tokens to its window or charges the overrun to the current one, in the same
  statement; a reservation it does not close (settled already, expired, unknown, with plan
  counters) is left to the general path, which answers as before.
* With the Redis backend the rate counters are Redis's: :func:`insert_reservation` and
  :func:`claim` store the reservation and close it, one statement each, and :func:`unclaim`
  reopens one whose counters Redis could not adjust.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, cast

import asyncpg
from sqlalchemy import Table

from services.tenancy.limits.backends import RateGrant, RequestIdTaken
from services.tenancy.limits.models import LimitCounterRecord, LimitReservationRecord

#: The constraints whose violation these statements turn into answers.
_REQUEST_ID_UNIQUE = next(
    str(constraint.name)
    for constraint in cast(Table, LimitReservationRecord.__table__).constraints
    if {column.name for column in getattr(constraint, "columns", ())} == {"tenant_id", "request_id"}
)
_USED_NOT_NEGATIVE = "ck_limit_counters_used_not_negative"
assert any(
    constraint.name == _USED_NOT_NEGATIVE
    for constraint in cast(Table, LimitCounterRecord.__table__).constraints
), "the counters' check constraint was renamed"

_NEW_TOTAL = "limit_counters.used + excluded.used"

# $1 id, $2 tenant, $3 request_id, $4 window, $5 requests, $6 tokens, $7 expires_at,
# $8 created_at, $9 rpm limit, $10 tpm limit. The counters take their rows from the
# reservation's insert, so it runs first (an unreferenced CTE would run after the main statement)
# and a repeated request_id, which waits for the first one's commit, waits holding no counter.
_RESERVE = f"""
WITH reservation AS (
    INSERT INTO limit_reservations
        (id, tenant_id, request_id, window_start, requests, tokens, state, expires_at, created_at)
    VALUES ($1, $2, $3, $4, $5, $6, 'open', $7, $8)
    RETURNING tenant_id
)
INSERT INTO limit_counters (tenant_id, kind, window_start, used)
SELECT reservation.tenant_id, taken.kind, $4, taken.amount
FROM reservation, (VALUES ('rpm', $5::bigint), ('tpm', $6::bigint)) AS taken (kind, amount)
ON CONFLICT (tenant_id, kind, window_start) DO UPDATE
SET used = CASE
    WHEN {_NEW_TOTAL} <= CASE limit_counters.kind WHEN 'rpm' THEN $9::bigint ELSE $10::bigint END
    THEN {_NEW_TOTAL}
    ELSE -1
END
RETURNING kind, used
"""

# The same columns, in the same order, as the reservation's insert in _RESERVE.
_INSERT_RESERVATION = """
INSERT INTO limit_reservations
    (id, tenant_id, request_id, window_start, requests, tokens, state, expires_at, created_at)
VALUES ($1, $2, $3, $4, $5, $6, 'open', $7, $8)
"""

_CLAIMED_COLUMNS = """id, tenant_id, request_id, window_start, requests, tokens, expires_at,
        created_at, state, actual_tokens, closed_at"""

# $1 id, $2 tenant, $3 actual tokens, $4 now.
_CLAIM = f"""
UPDATE limit_reservations
SET state = 'settled', actual_tokens = $3, closed_at = $4
WHERE id = $1 AND tenant_id = $2 AND state = 'open' AND expires_at > $4
    AND plan_counters IS NULL
RETURNING {_CLAIMED_COLUMNS}
"""

# $1 id, $2 tenant, $3 the claim's now.
_UNCLAIM = """
UPDATE limit_reservations SET state = 'open', actual_tokens = NULL, closed_at = NULL
WHERE id = $1 AND tenant_id = $2 AND state = 'settled' AND closed_at = $3
"""

# $1 id, $2 tenant, $3 actual tokens, $4 now, $5 current window.
_SETTLE = """
WITH claimed AS (
    UPDATE limit_reservations
    SET state = 'settled', actual_tokens = $3, closed_at = $4
    WHERE id = $1 AND tenant_id = $2 AND state = 'open' AND expires_at > $4
        AND plan_counters IS NULL
    RETURNING id, tenant_id, request_id, window_start, requests, tokens, expires_at,
        created_at, state, actual_tokens, closed_at
), refunded AS (
    UPDATE limit_counters
    SET used = GREATEST(limit_counters.used - (claimed.tokens - $3), 0)
    FROM claimed
    WHERE claimed.tokens > $3 AND limit_counters.tenant_id = $2
        AND limit_counters.kind = 'tpm' AND limit_counters.window_start = claimed.window_start
), charged AS (
    INSERT INTO limit_counters (tenant_id, kind, window_start, used)
    SELECT $2, 'tpm', $5, $3 - claimed.tokens FROM claimed WHERE claimed.tokens < $3
    ON CONFLICT (tenant_id, kind, window_start) DO UPDATE SET used = limit_counters.used + excluded.used
)
SELECT * FROM claimed
"""


async def reserve(
    connection: Any,
    *,
    reservation_id: uuid.UUID,
    tenant_id: uuid.UUID,
    request_id: str | None,
    window: int,
    requests: int,
    tokens: int,
    expires_at: datetime,
    created_at: datetime,
    rpm: int,
    tpm: int,
) -> RateGrant | None:
    """Stores the reservation and takes rpm and tpm, or nothing: None when a limit would be
    passed. Raises :class:`RequestIdTaken` for a repeated request_id."""
    try:
        rows = await connection.fetch(
            _RESERVE,
            reservation_id,
            tenant_id,
            request_id,
            window,
            requests,
            tokens,
            expires_at,
            created_at,
            rpm,
            tpm,
        )
    except asyncpg.CheckViolationError as error:
        if error.constraint_name == _USED_NOT_NEGATIVE:
            return None
        raise
    except asyncpg.UniqueViolationError as error:
        if error.constraint_name == _REQUEST_ID_UNIQUE:
            raise RequestIdTaken() from None
        raise
    used = {row[0]: row[1] for row in rows}
    return RateGrant(rpm_used=used["rpm"], tpm_used=used["tpm"])


async def settle(
    connection: Any,
    *,
    reservation_id: uuid.UUID,
    tenant_id: uuid.UUID,
    actual_tokens: int,
    now: datetime,
    window: int,
) -> asyncpg.Record | None:
    """Settles an open, unexpired reservation without plan counters and adjusts tpm; its row
    (the columns of a reservation but ``plan_counters``), or None when it did nothing."""
    row: asyncpg.Record | None = await connection.fetchrow(
        _SETTLE, reservation_id, tenant_id, actual_tokens, now, window
    )
    return row


async def insert_reservation(
    connection: Any,
    *,
    reservation_id: uuid.UUID,
    tenant_id: uuid.UUID,
    request_id: str | None,
    window: int,
    requests: int,
    tokens: int,
    expires_at: datetime,
    created_at: datetime,
) -> None:
    """Stores an open reservation; :class:`RequestIdTaken` for a repeated request_id."""
    try:
        await connection.execute(
            _INSERT_RESERVATION,
            reservation_id,
            tenant_id,
            request_id,
            window,
            requests,
            tokens,
            expires_at,
            created_at,
        )
    except asyncpg.UniqueViolationError as error:
        if error.constraint_name == _REQUEST_ID_UNIQUE:
            raise RequestIdTaken() from None
        raise


async def claim(
    connection: Any,
    *,
    reservation_id: uuid.UUID,
    tenant_id: uuid.UUID,
    actual_tokens: int,
    now: datetime,
) -> asyncpg.Record | None:
    """Settles an open, unexpired reservation without plan counters, touching no counter; its
    row (the columns of a reservation but ``plan_counters``), or None when it did nothing."""
    row: asyncpg.Record | None = await connection.fetchrow(
        _CLAIM, reservation_id, tenant_id, actual_tokens, now
    )
    return row


async def unclaim(
    connection: Any, *, reservation_id: uuid.UUID, tenant_id: uuid.UUID, now: datetime
) -> None:
    """Reopens a reservation :func:`claim` settled at ``now`` (its counters could not be
    adjusted), so that settling it again does it all."""
    await connection.execute(_UNCLAIM, reservation_id, tenant_id, now)
