"""Reserve and Settle on SQLite for reservations that take no plan counter: the fewest
statements, run on the driver's own connection (``Database.sqlite_driver_transaction``), with no
SQLAlchemy connection, transaction or result objects around them (they cost several times what
SQLite spends on the statements).

The functions here are synchronous, on the stdlib connection inside the caller's write
transaction (which holds the write lock, so no statement waits): the call that runs them goes
on without a turn of the event loop, which in a served call cost more than the statements.
(Committing the writes of concurrent calls together was tried: each call then waited for the
batch, and the extra turns of the loop and of grpc.aio cost more CPU than the commits saved.)

The same answers as the general path in handlers.py, which these leave the rest to:

* **Reserve** inserts the reservation, then takes rpm and tpm in one upsert (rpm first). A
  counter that would pass its limit is set to -1, which the counters' ``used >= 0`` check
  refuses: the statement fails, the transaction is rolled back, nothing is taken or stored,
  and the caller answers through the general path, which says which limit refused. A repeated
  ``request_id`` fails the insert, so nothing is taken.
* **Settle** closes an open, unexpired reservation without plan counters (``UPDATE ...
  RETURNING``), then refunds the unused tokens to its window or charges the overrun to the
  current one; a reservation it does not close is left to the general path.
* With the Redis backend the rate counters are Redis's: :func:`insert_reservation` and
  :func:`claim` store the reservation and close it, and :func:`unclaim` reopens one whose
  counters Redis could not adjust.

Parameters are bound in the forms SQLAlchemy stores them in (its own processors for the
columns' types), so rows written here read back alike everywhere else.
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Column, Table
from sqlalchemy.dialects import sqlite

from services.tenancy.limits.backends import RateGrant, RequestIdTaken
from services.tenancy.limits.models import LimitCounterRecord, LimitReservationRecord

_DIALECT = sqlite.dialect()
_RESERVATIONS = cast(Table, LimitReservationRecord.__table__)
_USED_NOT_NEGATIVE = "ck_limit_counters_used_not_negative"
assert any(
    constraint.name == _USED_NOT_NEGATIVE
    for constraint in cast(Table, LimitCounterRecord.__table__).constraints
), "the counters' check constraint was renamed"
_REQUEST_ID_UNIQUE = (
    "UNIQUE constraint failed: limit_reservations.tenant_id, limit_reservations.request_id"
)


class Refused(Exception):
    """A limit refused the reservation: raised in the write transaction, so it is rolled back
    (the failed upsert took nothing; the reservation's insert goes with it)."""


def _bind(column: Column[Any]) -> Callable[[Any], Any]:
    process = column.type.dialect_impl(_DIALECT).bind_processor(_DIALECT)
    return process if process is not None else (lambda value: value)


def _result(column: Column[Any]) -> Callable[[Any], Any]:
    process = column.type.dialect_impl(_DIALECT).result_processor(_DIALECT, None)
    return process if process is not None else (lambda value: value)


_BIND_ID = _bind(_RESERVATIONS.c.id)
_BIND_MOMENT = _bind(_RESERVATIONS.c.expires_at)

_INSERT_RESERVATION = (
    "INSERT INTO limit_reservations (id, tenant_id, request_id, window_start, requests, tokens, "
    "state, expires_at, created_at) VALUES (?, ?, ?, ?, ?, ?, 'open', ?, ?)"
)
_NEW_TOTAL = "limit_counters.used + excluded.used"
# tenant, window, requests, tenant, window, tokens, rpm limit, tpm limit
_TAKE_RATES = (
    "INSERT INTO limit_counters (tenant_id, kind, window_start, used) "
    "VALUES (?, 'rpm', ?, ?), (?, 'tpm', ?, ?) "
    "ON CONFLICT (tenant_id, kind, window_start) DO UPDATE SET used = CASE "
    f"WHEN {_NEW_TOTAL} <= CASE limit_counters.kind WHEN 'rpm' THEN ? ELSE ? END "
    f"THEN {_NEW_TOTAL} ELSE -1 END "
    "RETURNING kind, used"
)

#: What Settle's claim returns, in order: every column of a reservation but ``plan_counters``.
SETTLED_COLUMNS = (
    "id",
    "tenant_id",
    "request_id",
    "window_start",
    "requests",
    "tokens",
    "expires_at",
    "created_at",
    "state",
    "actual_tokens",
    "closed_at",
)
_READ_SETTLED = tuple(_result(_RESERVATIONS.c[column]) for column in SETTLED_COLUMNS)
# actual tokens, now (closed_at), id, tenant, now (expiry)
_CLAIM = (
    "UPDATE limit_reservations SET state = 'settled', actual_tokens = ?, closed_at = ? "
    "WHERE id = ? AND tenant_id = ? AND state = 'open' AND expires_at > ? "
    "AND plan_counters IS NULL "
    f"RETURNING {', '.join(SETTLED_COLUMNS)}"
)
# id, tenant, closed_at
_UNCLAIM = (
    "UPDATE limit_reservations SET state = 'open', actual_tokens = NULL, closed_at = NULL "
    "WHERE id = ? AND tenant_id = ? AND state = 'settled' AND closed_at = ?"
)
# amount, tenant, window
_REFUND_TOKENS = (
    "UPDATE limit_counters SET used = max(used - ?, 0) "
    "WHERE tenant_id = ? AND kind = 'tpm' AND window_start = ?"
)
# tenant, window, amount
_CHARGE_TOKENS = (
    "INSERT INTO limit_counters (tenant_id, kind, window_start, used) VALUES (?, 'tpm', ?, ?) "
    f"ON CONFLICT (tenant_id, kind, window_start) DO UPDATE SET used = {_NEW_TOTAL}"
)


def insert_reservation(
    raw: sqlite3.Connection,
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
        raw.execute(
            _INSERT_RESERVATION,
            (
                _BIND_ID(reservation_id),
                _BIND_ID(tenant_id),
                request_id,
                window,
                requests,
                tokens,
                _BIND_MOMENT(expires_at),
                _BIND_MOMENT(created_at),
            ),
        )
    except sqlite3.IntegrityError as error:
        if str(error) == _REQUEST_ID_UNIQUE:
            raise RequestIdTaken() from None
        raise


def reserve(
    raw: sqlite3.Connection,
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
) -> RateGrant:
    """In a write transaction: stores the reservation and takes rpm and tpm. Raises
    :class:`Refused` when a limit would be passed, :class:`RequestIdTaken` for a repeated
    request_id."""
    insert_reservation(
        raw, reservation_id, tenant_id, request_id, window, requests, tokens, expires_at, created_at
    )
    tenant = _BIND_ID(tenant_id)
    try:
        rows = raw.execute(
            _TAKE_RATES, (tenant, window, requests, tenant, window, tokens, rpm, tpm)
        ).fetchall()
    except sqlite3.IntegrityError as error:
        if _USED_NOT_NEGATIVE in str(error):
            raise Refused() from None
        raise
    used = dict(rows)
    return RateGrant(rpm_used=used["rpm"], tpm_used=used["tpm"])


def claim(
    raw: sqlite3.Connection,
    reservation_id: uuid.UUID,
    tenant_id: uuid.UUID,
    actual_tokens: int,
    now: datetime,
) -> dict[str, Any] | None:
    """Settles an open, unexpired reservation without plan counters, touching no counter; its
    columns (:data:`SETTLED_COLUMNS`), or None when it did nothing."""
    moment = _BIND_MOMENT(now)
    claimed = raw.execute(
        _CLAIM, (actual_tokens, moment, _BIND_ID(reservation_id), _BIND_ID(tenant_id), moment)
    ).fetchone()
    if claimed is None:
        return None
    return {
        column: read(value)
        for column, read, value in zip(SETTLED_COLUMNS, _READ_SETTLED, claimed, strict=True)
    }


def settle(
    raw: sqlite3.Connection,
    reservation_id: uuid.UUID,
    tenant_id: uuid.UUID,
    actual_tokens: int,
    now: datetime,
    window: int,
) -> dict[str, Any] | None:
    """In a write transaction: settles an open, unexpired reservation without plan counters and
    adjusts tpm; its columns (:data:`SETTLED_COLUMNS`), or None when it did nothing."""
    row = claim(raw, reservation_id, tenant_id, actual_tokens, now)
    if row is None:
        return None
    tenant = _BIND_ID(tenant_id)
    difference = actual_tokens - row["tokens"]
    if difference < 0:
        raw.execute(_REFUND_TOKENS, (-difference, tenant, row["window_start"]))
    elif difference > 0:
        raw.execute(_CHARGE_TOKENS, (tenant, window, difference))
    return row


def unclaim(
    raw: sqlite3.Connection, reservation_id: uuid.UUID, tenant_id: uuid.UUID, now: datetime
) -> None:
    """Reopens a reservation :func:`claim` settled at ``now`` (its counters could not be
    adjusted), so that settling it again does it all."""
    raw.execute(_UNCLAIM, (_BIND_ID(reservation_id), _BIND_ID(tenant_id), _BIND_MOMENT(now)))
