"""Reserve and Settle, for reservations that take no plan counter, in the fewest statements on
a driver connection (``Database.writing_at_once``): no SQLAlchemy connection, transaction or
result object around them (they cost several times what the database spends on the
statements). Every statement is a ``PreparedStatement`` (shared/db.py), compiled once per
dialect, its values bound and its rows read by the columns' types; only the shapes differ:

* **PostgreSQL** runs each operation as ONE statement on an unflushed connection (no BEGIN,
  ``SET LOCAL`` or COMMIT round trip), so the counter rows it locks are held for that statement
  only. Reserve inserts the reservation, then takes rpm and tpm (rpm first, as the general path
  locks them). Settle closes an open, unexpired reservation without plan counters and refunds
  the unused tokens to its window, or charges the overrun to the current one.
* **SQLite** has no data-modifying CTE: the same steps run as two statements in a write
  transaction of their own (which holds the write lock, so none waits and the call goes on
  without a turn of the event loop): the insert and one upsert; the claim and the refund or
  charge.

A counter that would pass its limit is set to -1, which the counters' ``used >= 0`` check
refuses: the statement fails (:class:`Refused`; on SQLite the transaction is rolled back),
nothing is taken or stored, and the caller answers through the general path in handlers.py,
which says which limit refused and when to retry. A repeated ``request_id`` fails the insert
(:class:`RequestIdTaken`), so, as there, nothing is taken. A reservation Settle does not close
(settled already, expired, unknown, with plan counters) is left to the general path too.

With the Redis backend the rate counters are Redis's: :func:`insert_reservation` and
:func:`claim` store the reservation and close it, one statement each, and :func:`unclaim`
reopens one whose counters Redis could not adjust.

On PostgreSQL, the calls of one tenant that arrive together are written as a group, in one
statement per group (:func:`reserve_group`, :func:`settle_group`, :func:`insert_group`,
:func:`claim_group`; handlers.py says why).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, cast

from sqlalchemy import ARRAY, BindParameter, Column, Table, bindparam, case, insert, text, update
from sqlalchemy.exc import IntegrityError

from services.tenancy.limits.backends import RateGrant, RequestIdTaken
from services.tenancy.limits.models import LimitCounterRecord, LimitReservationRecord
from shared.db import (
    DriverTransaction,
    PreparedStatement,
    column_param,
    execute_prepared,
    unique_violation,
)

_RESERVATIONS = cast(Table, LimitReservationRecord.__table__)
_COUNTERS = cast(Table, LimitCounterRecord.__table__)
_R = _RESERVATIONS.c
_C = _COUNTERS.c
_USED_NOT_NEGATIVE = "ck_limit_counters_used_not_negative"
assert any(constraint.name == _USED_NOT_NEGATIVE for constraint in _COUNTERS.constraints), (
    "the counters' check constraint was renamed"
)


class Refused(Exception):
    """A limit refused the reservation; nothing was taken or stored (on SQLite, raised inside
    the write transaction, which is then rolled back)."""


# The parameters, typed by their columns. A new reservation's are named as
# ReservationRow.for_driver gives them.
_ID = column_param("reservation_id", _R.id)
_TENANT = column_param("tenant_id", _R.tenant_id)
_REQUEST_ID = column_param("request_id", _R.request_id)
_WINDOW = column_param("window", _R.window_start)
_REQUESTS = column_param("requests", _R.requests)
_TOKENS = column_param("tokens", _R.tokens)
_EXPIRES_AT = column_param("expires_at", _R.expires_at)
_CREATED_AT = column_param("created_at", _R.created_at)
_RPM = column_param("rpm", _C.used)
_TPM = column_param("tpm", _C.used)
_ACTUAL = column_param("actual_tokens", _R.actual_tokens)
_NOW = column_param("now", _R.closed_at)
_AMOUNT = column_param("amount", _C.used)

#: What a claim returns: every column of a reservation but ``plan_counters``.
SETTLED_COLUMNS = tuple(
    column for column in _RESERVATIONS.columns if column.name != "plan_counters"
)
#: A settled reservation's row: a named tuple of :data:`SETTLED_COLUMNS` (read like a
#: reservation's row everywhere: ``reservation_to_proto``, ``Held``).
SettledRow = Any

_INSERT_RESERVATION = PreparedStatement(
    insert(_RESERVATIONS).values(
        id=_ID,
        tenant_id=_TENANT,
        request_id=_REQUEST_ID,
        window_start=_WINDOW,
        requests=_REQUESTS,
        tokens=_TOKENS,
        state="open",
        expires_at=_EXPIRES_AT,
        created_at=_CREATED_AT,
    )
)
_OPEN_WITHOUT_PLAN = (
    _R.id == _ID,
    _R.tenant_id == _TENANT,
    _R.state == "open",
    _R.expires_at > _NOW,
    _R.plan_counters.is_(None),
)
_CLAIM = PreparedStatement(
    update(_RESERVATIONS)
    .where(*_OPEN_WITHOUT_PLAN)
    .values(state="settled", actual_tokens=_ACTUAL, closed_at=_NOW)
    .returning(*SETTLED_COLUMNS)
)
_UNCLAIM = PreparedStatement(
    update(_RESERVATIONS)
    .where(_R.id == _ID, _R.tenant_id == _TENANT, _R.state == "settled", _R.closed_at == _NOW)
    .values(state="open", actual_tokens=None, closed_at=None)
)
_REFUND_TOKENS = PreparedStatement(
    update(_COUNTERS)
    .where(_C.tenant_id == _TENANT, _C.kind == "tpm", _C.window_start == _WINDOW)
    .values(used=case((_C.used > _AMOUNT, _C.used - _AMOUNT), else_=0))
)

_NEW_TOTAL = "limit_counters.used + excluded.used"
#: ``ON CONFLICT`` of a take that may refuse: past its limit, the total becomes -1, refused by
#: the counters' check. A take inserted as -1 (a group's sum past the limit on the window's
#: first take) is refused here too.
_TAKE_OR_REFUSE = (
    "ON CONFLICT (tenant_id, kind, window_start) DO UPDATE SET used = CASE "
    f"WHEN excluded.used >= 0 AND {_NEW_TOTAL} <= "
    "CASE limit_counters.kind WHEN 'rpm' THEN :rpm ELSE :tpm END "
    f"THEN {_NEW_TOTAL} ELSE -1 END "
    "RETURNING kind, used"
)
_TAKE_RATES = PreparedStatement(
    text(
        "INSERT INTO limit_counters (tenant_id, kind, window_start, used) "
        "VALUES (:tenant_id, 'rpm', :window, :requests), (:tenant_id, 'tpm', :window, :tokens) "
        + _TAKE_OR_REFUSE
    )
    .bindparams(_TENANT, _WINDOW, _REQUESTS, _TOKENS, _RPM, _TPM)
    .columns(_C.kind, _C.used)
)
_CHARGE_TOKENS = PreparedStatement(
    text(
        "INSERT INTO limit_counters (tenant_id, kind, window_start, used) "
        "VALUES (:tenant_id, 'tpm', :window, :amount) "
        f"ON CONFLICT (tenant_id, kind, window_start) DO UPDATE SET used = {_NEW_TOTAL}"
    ).bindparams(_TENANT, _WINDOW, _AMOUNT)
)

# PostgreSQL: each operation in one statement.
_RESERVE_IN_ONE = PreparedStatement(
    text(
        "WITH reservation AS ("
        " INSERT INTO limit_reservations (id, tenant_id, request_id, window_start, requests,"
        " tokens, state, expires_at, created_at)"
        " VALUES (:reservation_id, :tenant_id, :request_id, :window, :requests, :tokens,"
        " 'open', :expires_at, :created_at)"
        " RETURNING tenant_id, window_start, requests, tokens"
        ") INSERT INTO limit_counters (tenant_id, kind, window_start, used)"
        " SELECT reservation.tenant_id, taken.kind, reservation.window_start, taken.amount"
        " FROM reservation, LATERAL (VALUES ('rpm', reservation.requests),"
        " ('tpm', reservation.tokens)) AS taken (kind, amount) " + _TAKE_OR_REFUSE
    )
    .bindparams(
        _ID, _TENANT, _REQUEST_ID, _WINDOW, _REQUESTS, _TOKENS, _EXPIRES_AT, _CREATED_AT, _RPM, _TPM
    )
    .columns(_C.kind, _C.used)
)
_CLAIMED = ", ".join(column.name for column in SETTLED_COLUMNS)
_SETTLE_IN_ONE = PreparedStatement(
    text(
        "WITH claimed AS ("
        " UPDATE limit_reservations"
        " SET state = 'settled', actual_tokens = :actual_tokens, closed_at = :now"
        " WHERE id = :reservation_id AND tenant_id = :tenant_id AND state = 'open'"
        " AND expires_at > :now AND plan_counters IS NULL"
        f" RETURNING {_CLAIMED}"
        "), refunded AS ("
        " UPDATE limit_counters"
        " SET used = GREATEST(limit_counters.used - (claimed.tokens - :actual_tokens), 0)"
        " FROM claimed"
        " WHERE claimed.tokens > :actual_tokens AND limit_counters.tenant_id = :tenant_id"
        " AND limit_counters.kind = 'tpm' AND limit_counters.window_start = claimed.window_start"
        "), charged AS ("
        " INSERT INTO limit_counters (tenant_id, kind, window_start, used)"
        " SELECT :tenant_id, 'tpm', :window, :actual_tokens - claimed.tokens"
        " FROM claimed WHERE claimed.tokens < :actual_tokens"
        f" ON CONFLICT (tenant_id, kind, window_start) DO UPDATE SET used = {_NEW_TOTAL}"
        f") SELECT {_CLAIMED} FROM claimed"
    )
    .bindparams(_ID, _TENANT, _ACTUAL, _NOW, _WINDOW)
    .columns(*SETTLED_COLUMNS)
)


def _refused_or_taken(error: IntegrityError) -> Exception:
    """What an at-once write's constraint failure means: a limit refused it, or its request_id
    is taken (else the error itself)."""
    if _USED_NOT_NEGATIVE in str(error.orig):
        return Refused()
    if unique_violation(error, _RESERVATIONS.metadata) == ("tenant_id", "request_id"):
        return RequestIdTaken()
    return error


async def reserve(connection: DriverTransaction, **reservation: Any) -> RateGrant:
    """Stores the reservation (``ReservationRow.for_driver``'s columns) and takes rpm and tpm
    (``rpm``, ``tpm``: the limits). Raises :class:`Refused` when a limit would be passed,
    :class:`RequestIdTaken` for a repeated request_id; either way nothing was taken."""
    try:
        if connection.dialect.name == "postgresql":
            taken = await execute_prepared(connection, _RESERVE_IN_ONE, reservation)
        else:
            await execute_prepared(connection, _INSERT_RESERVATION, reservation)
            taken = await execute_prepared(connection, _TAKE_RATES, reservation)
    except IntegrityError as error:
        raise _refused_or_taken(error) from None
    used = dict(taken.rows)
    return RateGrant(rpm_used=used["rpm"], tpm_used=used["tpm"])


async def settle(
    connection: DriverTransaction,
    *,
    reservation_id: uuid.UUID,
    tenant_id: uuid.UUID,
    actual_tokens: int,
    now: datetime,
    window: int,
) -> SettledRow | None:
    """Settles an open, unexpired reservation without plan counters and adjusts tpm (a refund
    to its window, an overrun charged to ``window``, the current one); its row, or None when it
    did nothing."""
    given = {
        "reservation_id": reservation_id,
        "tenant_id": tenant_id,
        "actual_tokens": actual_tokens,
        "now": now,
        "window": window,
    }
    if connection.dialect.name == "postgresql":
        return (await execute_prepared(connection, _SETTLE_IN_ONE, given)).first()
    row = await claim(
        connection,
        reservation_id=reservation_id,
        tenant_id=tenant_id,
        actual_tokens=actual_tokens,
        now=now,
    )
    if row is None:
        return None
    difference = actual_tokens - row.tokens
    if difference < 0:
        refund = {"tenant_id": tenant_id, "window": row.window_start, "amount": -difference}
        await execute_prepared(connection, _REFUND_TOKENS, refund)
    elif difference > 0:
        charge = {"tenant_id": tenant_id, "window": window, "amount": difference}
        await execute_prepared(connection, _CHARGE_TOKENS, charge)
    return row


async def insert_reservation(connection: DriverTransaction, **reservation: Any) -> None:
    """Stores an open reservation (``ReservationRow.for_driver``'s columns);
    :class:`RequestIdTaken` for a repeated request_id."""
    try:
        await execute_prepared(connection, _INSERT_RESERVATION, reservation)
    except IntegrityError as error:
        raise _refused_or_taken(error) from None


async def claim(
    connection: DriverTransaction,
    *,
    reservation_id: uuid.UUID,
    tenant_id: uuid.UUID,
    actual_tokens: int,
    now: datetime,
) -> SettledRow | None:
    """Settles an open, unexpired reservation without plan counters, touching no counter; its
    row, or None when it did nothing."""
    claimed = await execute_prepared(
        connection,
        _CLAIM,
        {
            "reservation_id": reservation_id,
            "tenant_id": tenant_id,
            "actual_tokens": actual_tokens,
            "now": now,
        },
    )
    return claimed.first()


async def unclaim(
    connection: DriverTransaction, *, reservation_id: uuid.UUID, tenant_id: uuid.UUID, now: datetime
) -> None:
    """Reopens a reservation :func:`claim` settled at ``now`` (its counters could not be
    adjusted), so that settling it again does it all."""
    await execute_prepared(
        connection, _UNCLAIM, {"reservation_id": reservation_id, "tenant_id": tenant_id, "now": now}
    )


# --- groups (PostgreSQL) ---------------------------------------------------------------------
# The reservations, or settlements, of one tenant's window that arrive together, in ONE
# statement (grouping.py): the counter rows are locked once for the group, not once per call.


def _each(name: str, column: Column[Any]) -> BindParameter[Any]:
    """A parameter holding one value per member of a group, as the column stores them."""
    return bindparam(name, type_=ARRAY(column.type))


_IDS = _each("ids", _R.id)
_REQUEST_IDS = _each("request_ids", _R.request_id)
_REQUESTS_EACH = _each("requests_each", _R.requests)
_TOKENS_EACH = _each("tokens_each", _R.tokens)
_EXPIRES_ATS = _each("expires_ats", _R.expires_at)
_CREATED_ATS = _each("created_ats", _R.created_at)
_ACTUALS = _each("actuals", _R.actual_tokens)
_NOWS = _each("nows", _R.closed_at)

# The sums may pass a limit on the counter's first insert too: a sum past its limit is
# inserted as -1 (refused by the check), and a conflicting row refuses a negative take.
_RESERVE_GROUP = PreparedStatement(
    text(
        "WITH reservation AS ("
        " INSERT INTO limit_reservations (id, tenant_id, request_id, window_start, requests,"
        " tokens, state, expires_at, created_at)"
        " SELECT given.id, :tenant_id, given.request_id, :window, given.requests, given.tokens,"
        " 'open', given.expires_at, given.created_at"
        " FROM unnest(:ids, :request_ids, :requests_each, :tokens_each, :expires_ats,"
        " :created_ats) AS given (id, request_id, requests, tokens, expires_at, created_at)"
        " RETURNING requests, tokens"
        "), total AS ("
        " SELECT CAST(sum(requests) AS BIGINT) AS requests, CAST(sum(tokens) AS BIGINT) AS tokens"
        " FROM reservation"
        ") INSERT INTO limit_counters (tenant_id, kind, window_start, used)"
        " SELECT :tenant_id, taken.kind, :window,"
        " CASE WHEN taken.amount <= taken.cap THEN taken.amount ELSE -1 END"
        " FROM total, LATERAL (VALUES ('rpm', total.requests, :rpm),"
        " ('tpm', total.tokens, :tpm)) AS taken (kind, amount, cap) " + _TAKE_OR_REFUSE
    )
    .bindparams(
        _TENANT,
        _WINDOW,
        _IDS,
        _REQUEST_IDS,
        _REQUESTS_EACH,
        _TOKENS_EACH,
        _EXPIRES_ATS,
        _CREATED_ATS,
        _RPM,
        _TPM,
    )
    .columns(_C.kind, _C.used)
)
_INSERT_GROUP = PreparedStatement(
    text(
        "INSERT INTO limit_reservations (id, tenant_id, request_id, window_start, requests,"
        " tokens, state, expires_at, created_at)"
        " SELECT given.id, :tenant_id, given.request_id, :window, given.requests, given.tokens,"
        " 'open', given.expires_at, given.created_at"
        " FROM unnest(:ids, :request_ids, :requests_each, :tokens_each, :expires_ats,"
        " :created_ats) AS given (id, request_id, requests, tokens, expires_at, created_at)"
    ).bindparams(
        _TENANT,
        _WINDOW,
        _IDS,
        _REQUEST_IDS,
        _REQUESTS_EACH,
        _TOKENS_EACH,
        _EXPIRES_ATS,
        _CREATED_ATS,
    )
)
# Each claimed reservation refunds its window or charges ``window``; netted per window first,
# since one statement may change a counter row once only.
#: Claims a group's open, unexpired reservations without plan counters (:func:`claim`'s).
_CLAIM_GROUP_SQL = (
    "UPDATE limit_reservations AS r"
    " SET state = 'settled', actual_tokens = given.actual_tokens, closed_at = given.now"
    " FROM unnest(:ids, :actuals, :nows) AS given (id, actual_tokens, now)"
    " WHERE r.id = given.id AND r.tenant_id = :tenant_id AND r.state = 'open'"
    " AND r.expires_at > given.now AND r.plan_counters IS NULL"
    f" RETURNING {', '.join(f'r.{column.name}' for column in SETTLED_COLUMNS)}"
)
_CLAIM_GROUP = PreparedStatement(
    text(_CLAIM_GROUP_SQL).bindparams(_IDS, _ACTUALS, _NOWS, _TENANT).columns(*SETTLED_COLUMNS)
)
_SETTLE_GROUP = PreparedStatement(
    text(
        f"WITH claimed AS ({_CLAIM_GROUP_SQL}"
        "), deltas AS ("
        " SELECT window_start, CAST(sum(delta) AS BIGINT) AS delta FROM ("
        "  SELECT window_start, actual_tokens - tokens AS delta FROM claimed"
        "  WHERE actual_tokens < tokens"
        "  UNION ALL"
        "  SELECT :window, actual_tokens - tokens FROM claimed WHERE actual_tokens > tokens"
        " ) AS each GROUP BY window_start"
        "), adjusted AS ("
        " INSERT INTO limit_counters (tenant_id, kind, window_start, used)"
        " SELECT :tenant_id, 'tpm', window_start, GREATEST(delta, 0) FROM deltas"
        " WHERE delta <> 0 ORDER BY window_start"  # rows locked in one order
        " ON CONFLICT (tenant_id, kind, window_start) DO UPDATE SET used = GREATEST("
        "  limit_counters.used"
        "  + (SELECT delta FROM deltas WHERE deltas.window_start = excluded.window_start), 0)"
        f") SELECT {_CLAIMED} FROM claimed"
    )
    .bindparams(_IDS, _ACTUALS, _NOWS, _TENANT, _WINDOW)
    .columns(*SETTLED_COLUMNS)
)


async def reserve_group(
    connection: DriverTransaction,
    *,
    tenant_id: uuid.UUID,
    window: int,
    rpm: int,
    tpm: int,
    reservations: list[dict[str, Any]],
) -> list[RateGrant]:
    """PostgreSQL: stores the reservations (``ReservationRow.for_driver``'s columns, all of
    ``tenant_id`` in ``window``) and takes their sums off rpm and tpm, in one statement; what
    rpm and tpm held after each, as if made one after another in the given order. Raises
    :class:`Refused` when the sums would pass a limit, :class:`RequestIdTaken` when any
    request_id is taken; either way nothing was taken or stored."""
    given = {"rpm": rpm, "tpm": tpm, **_columns_of(tenant_id, window, reservations)}
    try:
        taken = await execute_prepared(connection, _RESERVE_GROUP, given)
    except IntegrityError as error:
        raise _refused_or_taken(error) from None
    used = dict(taken.rows)
    rpm_used, tpm_used = used["rpm"], used["tpm"]
    grants = []
    for each in reversed(reservations):  # the last one saw the totals
        grants.append(RateGrant(rpm_used=rpm_used, tpm_used=tpm_used))
        rpm_used -= each["requests"]
        tpm_used -= each["tokens"]
    grants.reverse()
    return grants


async def settle_group(
    connection: DriverTransaction,
    *,
    tenant_id: uuid.UUID,
    window: int,
    settlements: list[dict[str, Any]],
) -> list[SettledRow | None]:
    """PostgreSQL: :func:`settle` for several reservations of ``tenant_id`` (each a dict of
    ``reservation_id``, ``actual_tokens`` and ``now`` in ``window``) in one statement; each
    one's row, or None where it did nothing (a reservation named twice is settled by its first
    mention only)."""
    return await _claimed(connection, _SETTLE_GROUP, tenant_id, settlements, window=window)


async def claim_group(
    connection: DriverTransaction, *, tenant_id: uuid.UUID, claims: list[dict[str, Any]]
) -> list[SettledRow | None]:
    """PostgreSQL: :func:`claim` for several reservations of ``tenant_id`` (each a dict of
    ``reservation_id``, ``actual_tokens`` and ``now``) in one statement; each one's row, or None
    where it did nothing (a reservation named twice is claimed by its first mention only)."""
    return await _claimed(connection, _CLAIM_GROUP, tenant_id, claims)


async def insert_group(
    connection: DriverTransaction,
    *,
    tenant_id: uuid.UUID,
    window: int,
    reservations: list[dict[str, Any]],
) -> None:
    """PostgreSQL: :func:`insert_reservation` for several reservations of ``tenant_id`` in
    ``window``, in one statement: all stored, or (:class:`RequestIdTaken`) none."""
    try:
        await execute_prepared(
            connection, _INSERT_GROUP, _columns_of(tenant_id, window, reservations)
        )
    except IntegrityError as error:
        raise _refused_or_taken(error) from None


def _columns_of(
    tenant_id: uuid.UUID, window: int, reservations: list[dict[str, Any]]
) -> dict[str, Any]:
    """A group of new reservations' columns, one list per column, for unnest."""
    return {
        "tenant_id": tenant_id,
        "window": window,
        "ids": [each["reservation_id"] for each in reservations],
        "request_ids": [each["request_id"] for each in reservations],
        "requests_each": [each["requests"] for each in reservations],
        "tokens_each": [each["tokens"] for each in reservations],
        "expires_ats": [each["expires_at"] for each in reservations],
        "created_ats": [each["created_at"] for each in reservations],
    }


async def _claimed(
    connection: DriverTransaction,
    statement: PreparedStatement,
    tenant_id: uuid.UUID,
    claims: list[dict[str, Any]],
    **more: Any,
) -> list[SettledRow | None]:
    """Runs a group claim (``statement``) for each reservation's first mention in ``claims``;
    each claim's row, None for those it did not close and for later mentions."""
    first: dict[uuid.UUID, dict[str, Any]] = {}
    for each in claims:
        first.setdefault(each["reservation_id"], each)
    given = {
        "tenant_id": tenant_id,
        "ids": list(first),
        "actuals": [each["actual_tokens"] for each in first.values()],
        "nows": [each["now"] for each in first.values()],
        **more,
    }
    claimed = {row.id: row for row in (await execute_prepared(connection, statement, given)).rows}
    return [
        claimed.get(each["reservation_id"]) if first[each["reservation_id"]] is each else None
        for each in claims
    ]
