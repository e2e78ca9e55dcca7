"""Where LimitsService keeps its rpm/tpm window counters: the seam, and the database backend.

``RateCounters`` is the seam: take a reservation's requests and tokens from the tenant's
current window (atomically, both or neither), settle or release it exactly once, read what a
window has used, prune. Two implementations:

* ``DatabaseRateCounters`` (``limits_backend = "database"``, the default): the ``limit_counters``
  table, fixed UTC minutes, rpm, tpm and the plan counters taken in ONE conditional upsert, so
  a refusal of any takes none.
* ``RedisRateCounters`` (``limits_backend = "redis"``, services/tenancy/limits_redis.py): one
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
from typing import Protocol

from sqlalchemy import case, delete, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from services.tenancy.config import TenancySettings
from services.tenancy.models_limits import LimitCounterRecord

WINDOW_SECONDS = 60
RATE_KINDS = ("rpm", "tpm")
KEEP_COUNTERS_SECONDS = 3600

_COUNTERS = LimitCounterRecord.__table__


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

    @property
    def window(self) -> int:
        return window_of(self.now)


@dataclass
class Taken:
    """What a take did. ``used`` holds the new total of each kind taken (rpm and tpm as the
    window mode counts them, plan kinds per period). Unless every kind is in it, something was
    refused and nothing at all was taken (the caller rolls its transaction back): a plan kind
    missing from ``used``, or a rate kind in ``retry_after_ms``, with when its amount would
    fit."""

    used: dict[str, int]
    retry_after_ms: dict[str, int] = field(default_factory=dict)


class RateCounters(Protocol):
    """The rpm/tpm window counters of every tenant, shared by every replica."""

    #: "database" or "redis", for messages and the benchmark.
    name: str

    async def take(
        self, session: AsyncSession, take: RateTake, plan: Sequence[CounterTake]
    ) -> Taken:
        """Takes rpm, tpm and the plan counters (always in ``session``'s database) all or
        none; called in the transaction that inserts the reservation."""
        ...

    async def undo(self, take: RateTake) -> None:
        """Gives back a take whose transaction failed after ``take`` returned (a no-op where
        the take was part of that transaction)."""
        ...

    async def settle(
        self,
        session: AsyncSession,
        tenant_id: uuid.UUID,
        reservation_id: uuid.UUID,
        window: int,
        reserved_tokens: int,
        actual_tokens: int,
        now: float,
    ) -> None:
        """Refunds the unused tokens to the reservation's window, or charges an overrun to
        the current window unconditionally; at most once per reservation."""
        ...

    async def release(
        self,
        session: AsyncSession,
        tenant_id: uuid.UUID,
        reservation_id: uuid.UUID,
        window: int,
        requests: int,
        tokens: int,
    ) -> None:
        """Refunds the reservation's requests and tokens; at most once per reservation."""
        ...

    async def used(self, session: AsyncSession, tenant_id: uuid.UUID, now: float) -> dict[str, int]:
        """The rpm and tpm the tenant has used as of ``now``, as Reserve would count them."""
        ...

    async def prune(self, session: AsyncSession, now: float) -> None:
        """Forgets counters no reservation can touch anymore (Redis expires its own)."""
        ...

    async def close(self) -> None: ...


class CounterTable:
    """Conditional, atomic updates of ``limit_counters`` rows (rate windows and plan periods)."""

    def __init__(self, dialect: str) -> None:
        self._insert = postgresql.insert if dialect == "postgresql" else sqlite.insert

    async def take(
        self, session: AsyncSession, tenant_id: uuid.UUID, wanted: CounterTake
    ) -> int | None:
        """Adds the amount if it fits; the new total, or None when it would not fit."""
        statement = self._insert(_COUNTERS).values(
            tenant_id=tenant_id, kind=wanted.kind, window_start=wanted.window, used=wanted.amount
        )
        statement = statement.on_conflict_do_update(
            index_elements=[_COUNTERS.c.tenant_id, _COUNTERS.c.kind, _COUNTERS.c.window_start],
            set_={"used": _COUNTERS.c.used + wanted.amount},
            where=None
            if wanted.limit is None
            else _COUNTERS.c.used + wanted.amount <= wanted.limit,
        ).returning(_COUNTERS.c.used)
        return (await session.execute(statement)).scalar_one_or_none()

    async def take_all(
        self, session: AsyncSession, tenant_id: uuid.UUID, wanted: Sequence[CounterTake]
    ) -> dict[str, int]:
        """Adds each amount to its counter where it stays within its limit, in one statement,
        rows in the given order (so reservers lock them alike); the new totals of the kinds
        taken. The caller must roll back unless every kind was taken."""
        if not wanted:
            return {}
        statement = self._insert(_COUNTERS).values(
            [
                {
                    "tenant_id": tenant_id,
                    "kind": take.kind,
                    "window_start": take.window,
                    "used": take.amount,
                }
                for take in wanted
            ]
        )
        new_total = _COUNTERS.c.used + statement.excluded.used
        limited = [(take.kind, take.limit) for take in wanted if take.limit is not None]
        unlimited = [take.kind for take in wanted if take.limit is None]
        condition = (
            new_total <= case(*((_COUNTERS.c.kind == kind, limit) for kind, limit in limited))
            if limited
            else None
        )
        if unlimited:
            in_unlimited = _COUNTERS.c.kind.in_(unlimited)
            condition = in_unlimited if condition is None else or_(in_unlimited, condition)
        statement = statement.on_conflict_do_update(
            index_elements=[_COUNTERS.c.tenant_id, _COUNTERS.c.kind, _COUNTERS.c.window_start],
            set_={"used": new_total},
            where=condition,
        ).returning(_COUNTERS.c.kind, _COUNTERS.c.used)
        return {kind: used for kind, used in (await session.execute(statement)).all()}

    async def refund(
        self, session: AsyncSession, tenant_id: uuid.UUID, kind: str, window: int, amount: int
    ) -> None:
        """Takes ``amount`` off the counter, never below zero."""
        if amount <= 0:
            return
        await session.execute(
            update(_COUNTERS)
            .where(
                _COUNTERS.c.tenant_id == tenant_id,
                _COUNTERS.c.kind == kind,
                _COUNTERS.c.window_start == window,
            )
            .values(
                used=case(
                    (_COUNTERS.c.used > amount, _COUNTERS.c.used - amount),
                    else_=0,
                )
            )
        )


class DatabaseRateCounters:
    """rpm and tpm in ``limit_counters``, fixed UTC minutes, taken with the plan counters in
    one conditional upsert."""

    name = "database"

    def __init__(self, table: CounterTable) -> None:
        self._table = table

    async def take(
        self, session: AsyncSession, take: RateTake, plan: Sequence[CounterTake]
    ) -> Taken:
        rates = [
            CounterTake("rpm", take.window, take.requests, take.rpm),
            CounterTake("tpm", take.window, take.tokens, take.tpm),
        ]
        used = await self._table.take_all(session, take.tenant_id, [*rates, *plan])
        retry = fixed_retry_after_ms(take.now)
        return Taken(used, {kind: retry for kind in RATE_KINDS if kind not in used})

    async def undo(self, take: RateTake) -> None:
        """Nothing: the take was rolled back with its transaction."""

    async def settle(
        self,
        session: AsyncSession,
        tenant_id: uuid.UUID,
        reservation_id: uuid.UUID,
        window: int,
        reserved_tokens: int,
        actual_tokens: int,
        now: float,
    ) -> None:
        # Exactly once: the caller holds the reservation's row and changes its state in the
        # same transaction.
        difference = actual_tokens - reserved_tokens
        if difference < 0:
            await self._table.refund(session, tenant_id, "tpm", window, -difference)
        elif difference > 0:
            await self._table.take(
                session, tenant_id, CounterTake("tpm", window_of(now), difference, None)
            )

    async def release(
        self,
        session: AsyncSession,
        tenant_id: uuid.UUID,
        reservation_id: uuid.UUID,
        window: int,
        requests: int,
        tokens: int,
    ) -> None:
        await self._table.refund(session, tenant_id, "rpm", window, requests)
        await self._table.refund(session, tenant_id, "tpm", window, tokens)

    async def used(self, session: AsyncSession, tenant_id: uuid.UUID, now: float) -> dict[str, int]:
        rows = await session.execute(
            select(_COUNTERS.c.kind, _COUNTERS.c.used).where(
                _COUNTERS.c.tenant_id == tenant_id,
                _COUNTERS.c.window_start == window_of(now),
                _COUNTERS.c.kind.in_(RATE_KINDS),
            )
        )
        return {kind: used for kind, used in rows.all()}

    async def prune(self, session: AsyncSession, now: float) -> None:
        await session.execute(
            delete(_COUNTERS).where(
                _COUNTERS.c.kind.in_(RATE_KINDS),
                _COUNTERS.c.window_start < window_of(now) - KEEP_COUNTERS_SECONDS,
            )
        )

    async def close(self) -> None:
        """Nothing to release: the service's database pool is the bootstrap's."""


def rate_counters(settings: TenancySettings, table: CounterTable) -> RateCounters:
    """The backend the settings choose; a setting that cannot work stops the service from
    starting (an unreachable Redis does not: Reserve reports it)."""
    if settings.limits_backend == "redis":
        from services.tenancy.limits_redis import RedisRateCounters

        return RedisRateCounters.from_settings(settings, table)
    if settings.limits_window != "fixed":
        raise ValueError(
            "QD_TENANCY_LIMITS_WINDOW=sliding needs QD_TENANCY_LIMITS_BACKEND=redis: the "
            "database backend counts fixed UTC minutes only"
        )
    return DatabaseRateCounters(table)
