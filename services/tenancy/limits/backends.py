"""Where LimitsService keeps its rpm/tpm window counters: the seam, and the database backend.

``RateCounters`` is the seam: take a reservation's requests and tokens from the tenant's
current window (atomically, both or neither), settle or release it exactly once, read what a
window has used, prune. Two implementations:

* ``DatabaseRateCounters`` (``limits_backend = "database"``, the default): the ``limit_counters``
  table, fixed UTC minutes, rpm, tpm and the plan counters taken in ONE conditional upsert, so
  a refusal of any takes none.
* ``RedisRateCounters`` (``limits_backend = "redis"``, services/tenancy/limits/redis.py): one
  Lua script per operation, fixed or sliding windows.

What stays in the database whatever the backend: the reservations (``limit_reservations``:
their state machine, request_id idempotency and expiry are the record Settle and Release act
on) and the plan-feature counters per subscription period (billing data: they must survive
a Redis flush and be read beside invoices). Only the per-minute rpm/tpm counters, short-lived
and hot, move to Redis.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol, cast

from sqlalchemy import Table, TextualSelect, bindparam, case, delete, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from services.tenancy.limits.models import LimitCounterRecord

WINDOW_SECONDS = 60
RATE_KINDS = ("rpm", "tpm")
KEEP_COUNTERS_SECONDS = 3600

_COUNTERS = cast(Table, LimitCounterRecord.__table__)
#: Where the counters' statements run: the write transaction's Core connection (the hot path,
#: no ORM session) or a reading session.
Executor = AsyncConnection | AsyncSession


def window_of(now: float) -> int:
    """The start (UTC epoch seconds) of the fixed minute ``now`` falls in."""
    return int(now // WINDOW_SECONDS) * WINDOW_SECONDS


def fixed_retry_after_ms(now: float) -> int:
    """Milliseconds until the fixed window of ``now`` ends (at least 1)."""
    return max(1, math.ceil((window_of(now) + WINDOW_SECONDS - now) * 1000))


@dataclass(frozen=True)
class CounterTake:
    """An amount to add to one ``limit_counters`` row if it stays within ``limit`` (always
    when ``limit`` is None)."""

    kind: str
    window: int
    amount: int
    limit: int | None


@dataclass(frozen=True)
class RateTake:
    """A reservation's rpm and tpm take."""

    tenant_id: uuid.UUID
    reservation_id: uuid.UUID
    now: float
    requests: int
    tokens: int
    rpm: int
    tpm: int
    #: Seconds the reservation may still be settled or released.
    expires_in: float
    #: The caller's idempotency id, if any (Redis marks it taken, so a concurrent repeat takes
    #: nothing).
    request_id: str | None = None

    @property
    def window(self) -> int:
        return window_of(self.now)


@dataclass(frozen=True)
class Held:
    """An open reservation as the counters know it: what it took, in the window it took it in."""

    tenant_id: uuid.UUID
    reservation_id: uuid.UUID
    window: int
    requests: int
    tokens: int


@dataclass
class Taken:
    """What a take did. ``used`` holds the new total of each kind taken (rpm and tpm as the
    window mode counts them, plan kinds per period). Unless every kind is in it, something was
    refused and nothing at all was taken (the caller rolls its transaction back): a plan kind
    missing from ``used``, or a rate kind in ``retry_after_ms``, with when its amount would
    fit."""

    used: dict[str, int]
    retry_after_ms: dict[str, int] = field(default_factory=dict)
    #: Set when nothing was taken because another reservation (this id, from Redis) was made
    #: with the same request_id (:meth:`RedisRateCounters.take_rates`).
    taken_by: str | None = None


class RequestIdTaken(Exception):
    """The tenant has a reservation with this request_id already; nothing was taken."""


@dataclass(frozen=True, slots=True)
class RateGrant:
    """What rpm and tpm hold after a reservation granted in one go (limits/postgres.py,
    limits/sqlite.py)."""

    rpm_used: int
    tpm_used: int


class RateCounters(Protocol):
    """The rpm/tpm window counters of every tenant, shared by every replica."""

    #: "database" or "redis", for messages and the benchmark.
    name: str

    async def take(self, session: Executor, take: RateTake, plan: Sequence[CounterTake]) -> Taken:
        """Takes rpm, tpm and the plan counters (always in ``session``'s database) all or
        none; called in the transaction that inserts the reservation."""
        ...

    async def undo(self, take: RateTake) -> None:
        """Gives back a take whose transaction failed after ``take`` returned (a no-op where
        the take was part of that transaction)."""
        ...

    async def settle(self, session: Executor, held: Held, actual_tokens: int, now: float) -> None:
        """Refunds the unused tokens to the reservation's window, or charges an overrun to
        the current window unconditionally; at most once per reservation."""
        ...

    async def release(self, session: Executor, held: Held) -> None:
        """Refunds the reservation's requests and tokens; at most once per reservation."""
        ...

    async def used(self, session: Executor, tenant_id: uuid.UUID, now: float) -> dict[str, int]:
        """The rpm and tpm the tenant has used as of ``now``, as Reserve would count them."""
        ...

    async def prune(self, session: Executor, now: float) -> None:
        """Forgets counters no reservation can touch anymore (Redis expires its own)."""
        ...

    async def close(self) -> None: ...


def _take_all_statement(count: int) -> TextualSelect:
    """The conditional upsert of ``count`` counters, written once per count: SQLAlchemy cannot
    cache the dialects' ``ON CONFLICT`` constructs, so building one per call compiled it per
    call. The text is the same on SQLite and PostgreSQL; a NULL limit means no limit."""
    rows = ", ".join(f"(:tenant_id, :kind_{i}, :window_{i}, :amount_{i})" for i in range(count))
    limits = " ".join(f"WHEN :kind_{i} THEN :limit_{i}" for i in range(count))
    new_total = "limit_counters.used + excluded.used"
    binds = [bindparam("tenant_id", type_=_COUNTERS.c.tenant_id.type)]
    for i in range(count):
        binds += [
            bindparam(f"kind_{i}", type_=_COUNTERS.c.kind.type),
            bindparam(f"window_{i}", type_=_COUNTERS.c.window_start.type),
            bindparam(f"amount_{i}", type_=_COUNTERS.c.used.type),
            bindparam(f"limit_{i}", type_=_COUNTERS.c.used.type),
        ]
    return (
        text(
            "INSERT INTO limit_counters (tenant_id, kind, window_start, used) "
            f"VALUES {rows} ON CONFLICT (tenant_id, kind, window_start) DO UPDATE "
            f"SET used = {new_total} "
            f"WHERE {new_total} <= COALESCE(CASE limit_counters.kind {limits} END, {new_total}) "
            "RETURNING kind, used"
        )
        .bindparams(*binds)
        .columns(_COUNTERS.c.kind, _COUNTERS.c.used)
    )


#: Takes off a counter, never below zero; built once.
_REFUND = (
    update(_COUNTERS)
    .where(
        _COUNTERS.c.tenant_id == bindparam("refund_tenant_id"),
        _COUNTERS.c.kind == bindparam("refund_kind"),
        _COUNTERS.c.window_start == bindparam("refund_window"),
    )
    .values(
        used=case(
            (
                _COUNTERS.c.used > bindparam("refund_amount"),
                _COUNTERS.c.used - bindparam("refund_amount"),
            ),
            else_=0,
        )
    )
)


class CounterTable:
    """Conditional, atomic updates of ``limit_counters`` rows (rate windows and plan periods)."""

    def __init__(self) -> None:
        #: The upsert of n counters, by n (a reservation takes 2 plus its plan's few).
        self._take_all: dict[int, TextualSelect] = {}

    async def take(
        self, session: Executor, tenant_id: uuid.UUID, wanted: CounterTake
    ) -> int | None:
        """Adds the amount if it fits; the new total, or None when it would not fit."""
        return (await self.take_all(session, tenant_id, [wanted])).get(wanted.kind)

    async def take_all(
        self, session: Executor, tenant_id: uuid.UUID, wanted: Sequence[CounterTake]
    ) -> dict[str, int]:
        """Adds each amount to its counter where it stays within its limit, in one statement,
        rows in the given order (so reservers lock them alike); the new totals of the kinds
        taken. The caller must roll back unless every kind was taken."""
        if not wanted:
            return {}
        statement = self._take_all.get(len(wanted))
        if statement is None:
            statement = self._take_all.setdefault(len(wanted), _take_all_statement(len(wanted)))
        parameters: dict[str, object] = {"tenant_id": tenant_id}
        for i, take in enumerate(wanted):
            parameters[f"kind_{i}"] = take.kind
            parameters[f"window_{i}"] = take.window
            parameters[f"amount_{i}"] = take.amount
            parameters[f"limit_{i}"] = take.limit
        rows = await session.execute(statement, parameters)
        return {kind: used for kind, used in rows.all()}

    async def refund(
        self, session: Executor, tenant_id: uuid.UUID, kind: str, window: int, amount: int
    ) -> None:
        """Takes ``amount`` off the counter, never below zero."""
        if amount <= 0:
            return
        await session.execute(
            _REFUND,
            {
                "refund_tenant_id": tenant_id,
                "refund_kind": kind,
                "refund_window": window,
                "refund_amount": amount,
            },
        )


class DatabaseRateCounters:
    """rpm and tpm in ``limit_counters``, fixed UTC minutes, taken with the plan counters in
    one conditional upsert."""

    name = "database"

    def __init__(self, table: CounterTable) -> None:
        self._table = table

    async def take(self, session: Executor, take: RateTake, plan: Sequence[CounterTake]) -> Taken:
        rates = [
            CounterTake("rpm", take.window, take.requests, take.rpm),
            CounterTake("tpm", take.window, take.tokens, take.tpm),
        ]
        used = await self._table.take_all(session, take.tenant_id, [*rates, *plan])
        retry = fixed_retry_after_ms(take.now)
        return Taken(used, {kind: retry for kind in RATE_KINDS if kind not in used})

    async def undo(self, take: RateTake) -> None:
        """Nothing: the take was rolled back with its transaction."""

    async def settle(self, session: Executor, held: Held, actual_tokens: int, now: float) -> None:
        tenant_id, window = held.tenant_id, held.window
        # Exactly once: the caller holds the reservation's row and changes its state in the
        # same transaction.
        difference = actual_tokens - held.tokens
        if difference < 0:
            await self._table.refund(session, tenant_id, "tpm", window, -difference)
        elif difference > 0:
            await self._table.take(
                session, tenant_id, CounterTake("tpm", window_of(now), difference, None)
            )

    async def release(self, session: Executor, held: Held) -> None:
        await self._table.refund(session, held.tenant_id, "rpm", held.window, held.requests)
        await self._table.refund(session, held.tenant_id, "tpm", held.window, held.tokens)

    async def used(self, session: Executor, tenant_id: uuid.UUID, now: float) -> dict[str, int]:
        rows = await session.execute(
            select(_COUNTERS.c.kind, _COUNTERS.c.used).where(
                _COUNTERS.c.tenant_id == tenant_id,
                _COUNTERS.c.window_start == window_of(now),
                _COUNTERS.c.kind.in_(RATE_KINDS),
            )
        )
        return {kind: used for kind, used in rows.all()}

    async def prune(self, session: Executor, now: float) -> None:
        await session.execute(
            delete(_COUNTERS).where(
                _COUNTERS.c.kind.in_(RATE_KINDS),
                _COUNTERS.c.window_start < window_of(now) - KEEP_COUNTERS_SECONDS,
            )
        )

    async def close(self) -> None:
        """Nothing to release: the service's database pool is the bootstrap's."""
