"""Tenants' rate limits (requests and tokens per minute), free of any transport.

Design, in short:

* **Limits.** A tenant's ``rate_limit_rpm`` / ``rate_limit_tpm`` come from its model
  configuration (``tenant_llm_configs``); a tenant without one gets the documented defaults of
  that table (60 requests and 10000 tokens per minute). A stored limit of 0 lets nothing through.
  Reserve reads them, with the tenant's status and plan limits, through a per-process cache
  (``limits_cache_seconds``) that forgets everything once this process commits a change to
  tenants, model configurations, subscriptions or plan features (``Database.on_commit``);
  other replicas see such a change within the TTL.
* **Idempotency.** A reservation's ``request_id`` is unique per tenant: a repeated one fails
  the reservation's insert, the first statement of Reserve's transaction (so nothing else is
  taken), and is answered with the first reservation. No read precedes the insert for it.
* **Backends.** The rpm/tpm window counters live behind ``RateCounters``
  (services/tenancy/limits/backends.py): the database's ``limit_counters`` by default
  (``limits_backend = "database"``, described below), or Redis (``"redis"``,
  services/tenancy/limits/redis.py: one Lua script per operation, fixed or sliding windows,
  UNAVAILABLE when unreachable). Reservations and plan counters stay in the database either
  way; answers and errors are the same with both. With Redis and no plan counter, Reserve runs
  its script and then stores the reservation in one statement on the driver's connection (the
  take given back if that fails, say for a repeated request_id), and Settle closes the
  reservation in one statement, then runs its script (the reservation reopened if the script
  fails): no transaction is held open across a call to Redis.
* **Windows.** Fixed UTC minutes: a reservation counts against the minute it was made in
  (``window_start`` = epoch seconds rounded down to 60). A burst of up to twice the limit across
  a minute boundary is possible, as with any fixed window. A refused caller is told
  ``retry_after_ms``: the time until the window ends. (Redis also offers a sliding window.)
* **Atomicity** (database backend). Each limit is taken with one statement, ``INSERT ... ON
  CONFLICT DO UPDATE SET used = used + n WHERE used + n <= limit RETURNING used``: on PostgreSQL
  the conflicting row is locked and the condition re-checked on its latest version; on SQLite
  the transaction holds the write lock (``BEGIN IMMEDIATE``). Both kinds are taken in one
  transaction, rpm before tpm, so a refusal of either takes neither, and no two reservers can
  deadlock. Every replica shares the counters, so no number of processes can exceed a limit.
  A reservation without plan counters is made, and settled, in the fewest statements on a
  driver connection (services/tenancy/limits/at_once.py; ONE statement each on PostgreSQL):
  the reservation's insert and both takes, where a take that would pass its limit fails the
  whole statement (so nothing is taken or stored, and the transaction below answers which
  limit refused); the claim and the tpm refund or charge. On PostgreSQL the counters' row
  locks are then held for a statement, with no round trip inside.
* **Groups** (PostgreSQL). Every reservation of a tenant takes the same two counter rows, so
  reservers of one tenant pass one at a time however many connections there are (measured:
  most of the unflushed connections waiting on a row lock, ``Lock:transactionid``, with 50
  callers). The reservations of one tenant's window that arrive together (in the same turn of
  the event loop, or while the previous group is written) are therefore made in ONE
  statement (limits/grouping.py, :func:`at_once.reserve_group`): inserted together and their
  sums taken, with the same -1 refusal, so a group takes all or nothing and the limit holds
  as for one; each is answered with what was left after it, as if made one after another. A
  group that is refused (its sums would pass a limit, or a request_id among them is taken)
  is made again one by one, in order, so each gets its own answer. Settlements arriving
  together are settled in one statement too (refunds and overruns netted per window), and with
  the Redis counters the reservations' inserts and claims are grouped the same way. A lone
  call waits one turn of the loop more than it would alone.
* **Durability.** A Reserve or Settle that touches no plan counter commits without waiting
  for the flush to disk (``Database.commit_unflushed``, or on PostgreSQL's single statements a
  connection with ``synchronous_commit`` off), so the counters' row locks are held for the
  statement, not for an fsync: a database server crash may forget the last moments'
  reservations and rate counts (never half of one), which only lets a little more through in
  that minute. With a plan counter involved (billing data), the commit is flushed as usual.
* **Expiry.** A reservation neither settled nor released within
  ``limits_reservation_ttl_seconds`` stays counted as used (its caller most likely made the
  call) and can no longer be settled or released. Nothing needs to run for that to hold.
* **Settling** refunds the unused part of the estimate to the reservation's window, and charges
  an overrun to the current window unconditionally (the tokens were spent). Settling again with
  the same ``actual_tokens`` answers the same; with another value, FAILED_PRECONDITION.
  **Releasing** refunds requests and tokens; releasing again answers the same.
* **Plan limits.** When the tenant's subscription is trialing or active and has a current
  period, each feature of its plan measuring ``total_tokens`` or ``requests`` with a hard or soft
  limit counts the reservation in ``limit_counters`` too, with the kind ``plan:<feature id>`` and
  the period start (epoch seconds) as its window, taken in the SAME statement as rpm and tpm
  (with Redis: in the reservation's transaction, before the Redis script, which runs before the
  commit), so no number of concurrent reservers can pass a hard limit. Past a hard limit:
  RESOURCE_EXHAUSTED, reason PLAN_LIMIT_REACHED, nothing taken. Past a soft limit: granted,
  the feature's key listed in ``soft_limits_exceeded``. The reservation remembers the plan
  counters it took from (``plan_counters``), so Settle adjusts the token ones by the difference
  (refunds, or charges an overrun unconditionally, to the reservation's period) and Release
  refunds them all.
* Counter rows of rpm/tpm windows older than an hour (database backend; Redis keys expire by
  themselves), and reservations expired over a day ago, are pruned now and then beside a
  Reserve call (in the background, one prune at a time per process, ``PRUNE_BATCH``
  reservations at most). Plan counters are kept (one row per feature and period).
"""

from __future__ import annotations

import asyncio
import logging
import random
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar, cast

from google.protobuf.timestamp_pb2 import Timestamp
from sqlalchemy import Connection, Row, Table, bindparam, delete, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from quarterdeck.tenancy.v1 import limits_pb2 as pb
from services.tenancy.billing.models import (
    Metric,
    PlanFeatureRecord,
    SubscriptionRecord,
    SubscriptionStatus,
)
from services.tenancy.config import TenancySettings
from services.tenancy.context import TenancyContext
from services.tenancy.limits import at_once
from services.tenancy.limits.backends import (
    WINDOW_SECONDS,
    CounterTable,
    CounterTake,
    DatabaseRateCounters,
    Held,
    RateCounters,
    RateGrant,
    RateTake,
    RequestIdTaken,
    window_of,
)
from services.tenancy.limits.grouping import Grouped
from services.tenancy.limits.models import LimitReservationRecord
from services.tenancy.model_configs.models import (
    DEFAULT_RATE_LIMIT_RPM,
    DEFAULT_RATE_LIMIT_TPM,
    TenantModelConfigRecord,
)
from services.tenancy.tenants.models import TenantRecord, TenantStatus
from shared.auth import ROLE_RANK, require_principal
from shared.background import TaskSet
from shared.errors import (
    Aborted,
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    ResourceExhausted,
)
from shared.ids import parse_id
from shared.proto_enums import to_proto_map
from shared.timestamps import to_timestamp
from shared.ttl_cache import TtlCache

if TYPE_CHECKING:
    from services.tenancy.limits.redis import RedisRateCounters

__all__ = ["WINDOW_SECONDS", "LimitHandlers", "window_of"]

log = logging.getLogger("quarterdeck.tenancy.limits")
T = TypeVar("T")

MAX_REQUEST_ID = 128
MINIMUM_ROLE = "member"
PRUNE_PROBABILITY = 1 / 256
#: How long a Reserve repeating a request_id that Redis marks as being reserved waits for
#: that reservation to be stored before taking on its own (the database then decides).
REPEAT_WAIT_SECONDS = 2.0
KEEP_RESERVATIONS = timedelta(days=1)
#: The most expired reservations one prune deletes (prunes come every PRUNE_PROBABILITY**-1
#: reservations on average, so this keeps up with far more than they add).
PRUNE_BATCH = 1000

PLAN_KIND_PREFIX = "plan:"
#: The plan feature metrics a reservation counts against: its tokens, or its requests.
PLAN_METRICS = (Metric.TOTAL_TOKENS, Metric.REQUESTS)
LIVE_SUBSCRIPTION_STATUSES = (SubscriptionStatus.TRIALING, SubscriptionStatus.ACTIVE)
_RESERVATION_COLUMNS = tuple(LimitReservationRecord.__table__.columns.keys())
_RESERVATIONS = cast(Table, LimitReservationRecord.__table__)
_TENANTS = TenantRecord.__table__
_CONFIGS = TenantModelConfigRecord.__table__
_FEATURES = PlanFeatureRecord.__table__
_SUBSCRIPTIONS = SubscriptionRecord.__table__

# The hot path's statements, built once (and so compiled once): constructing them per call cost
# more CPU than running them.
#: A tenant's status and configured rpm/tpm (NULL without a model configuration).
_LIMITS_OF_TENANT = (
    select(_TENANTS.c.status, _CONFIGS.c.rate_limit_rpm, _CONFIGS.c.rate_limit_tpm)
    .select_from(_TENANTS.outerjoin(_CONFIGS, _CONFIGS.c.tenant_id == _TENANTS.c.id))
    .where(_TENANTS.c.id == bindparam("tenant_id"))
)
#: The limited plan features of the tenant's live subscription, with its current period.
_PLAN_FEATURES = (
    select(
        _FEATURES.c.id,
        _FEATURES.c.feature_key,
        _FEATURES.c.metric,
        _FEATURES.c.hard_limit,
        _FEATURES.c.soft_limit,
        _SUBSCRIPTIONS.c.current_period_start,
        _SUBSCRIPTIONS.c.current_period_end,
    )
    .join(_SUBSCRIPTIONS, _SUBSCRIPTIONS.c.plan_id == _FEATURES.c.plan_id)
    .where(
        _SUBSCRIPTIONS.c.tenant_id == bindparam("tenant_id"),
        _SUBSCRIPTIONS.c.status.in_(LIVE_SUBSCRIPTION_STATUSES),
        _SUBSCRIPTIONS.c.current_period_start.is_not(None),
        _SUBSCRIPTIONS.c.current_period_end.is_not(None),
        _FEATURES.c.metric.in_(PLAN_METRICS),
        or_(_FEATURES.c.hard_limit.is_not(None), _FEATURES.c.soft_limit.is_not(None)),
    )
)
#: Executed with the columns that have a value (SQLAlchemy compiles once per set of columns).
_INSERT_RESERVATION = insert(_RESERVATIONS)


def _claim_statement(*closing: str) -> Any:
    """Closes an open, unexpired reservation, setting ``closed_at`` and ``closing`` (bound as
    ``claim_<column>``: an UPDATE reserves the columns' own names); RETURNING the row, so no
    second read."""
    columns = _RESERVATIONS.c
    return (
        update(_RESERVATIONS)
        .where(
            columns.id == bindparam("claim_id"),
            columns.tenant_id == bindparam("claim_tenant_id"),
            columns.state == "open",
            columns.expires_at > bindparam("claim_now", type_=columns.expires_at.type),
        )
        .values(
            {
                column: bindparam(f"claim_{column}", type_=columns[column].type)
                for column in ("closed_at", *closing)
            }
        )
        .returning(*_RESERVATIONS.columns)
    )


_CLAIMS = {
    ("actual_tokens", "state"): _claim_statement("actual_tokens", "state"),
    ("state",): _claim_statement("state"),
}


#: Reservations grouped by tenant, window, rpm and tpm; settlements by tenant and window.
_ReserveGroups = Grouped[tuple[uuid.UUID, int, int, int], dict[str, Any], RateGrant]
_SettleGroups = Grouped[tuple[uuid.UUID, int], dict[str, Any], Any]
#: With the Redis counters: inserts grouped by tenant and window; claims by tenant.
_InsertGroups = Grouped[tuple[uuid.UUID, int], dict[str, Any], None]
_ClaimGroups = Grouped[uuid.UUID, dict[str, Any], Any]


class _MarkedByAnother(Exception):
    """Redis holds the request_id's mark for another reservation: nothing was taken."""


def rate_counters(settings: TenancySettings, table: CounterTable) -> RateCounters:
    """The backend the settings choose; a setting that cannot work stops the service from
    starting (an unreachable Redis does not: Reserve reports it)."""
    if settings.limits_backend == "redis":
        from services.tenancy.limits.redis import RedisRateCounters

        return RedisRateCounters.from_settings(settings, table)
    if settings.limits_window != "fixed":
        raise ValueError(
            "QD_TENANCY_LIMITS_WINDOW=sliding needs QD_TENANCY_LIMITS_BACKEND=redis: the "
            "database backend counts fixed UTC minutes only"
        )
    return DatabaseRateCounters(table)


@dataclass(frozen=True, slots=True)
class ReservationRow:
    """A reservation's columns, with no ORM instance to build: the one a Reserve inserts."""

    id: uuid.UUID
    tenant_id: uuid.UUID
    request_id: str | None
    window_start: int
    requests: int
    tokens: int
    expires_at: datetime
    created_at: datetime
    plan_counters: list[dict[str, Any]] | None
    state: str = "open"
    actual_tokens: int | None = None
    closed_at: datetime | None = None

    def values(self) -> dict[str, Any]:
        """The columns that have a value (SQLAlchemy compiles once per set of columns)."""
        return {
            column: value
            for column in _RESERVATION_COLUMNS
            if (value := getattr(self, column)) is not None
        }

    def for_driver(self) -> dict[str, Any]:
        """A new reservation's columns as limits/at_once.py's writes take them."""
        return {
            "reservation_id": self.id,
            "tenant_id": self.tenant_id,
            "request_id": self.request_id,
            "window": self.window_start,
            "requests": self.requests,
            "tokens": self.tokens,
            "expires_at": self.expires_at,
            "created_at": self.created_at,
        }


#: A reservation's row: the ORM record, a row RETURNING its columns (limits/at_once.py's too), or
#: one being inserted.
Reservation = LimitReservationRecord | Row[Any] | ReservationRow


def _held(tenant_id: uuid.UUID, row: Reservation) -> Held:
    return Held(tenant_id, row.id, row.window_start, row.requests, row.tokens)


_STATE_TO_PROTO = to_proto_map(pb.ReservationState, ["open", "settled", "released"])


def _at(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def _epoch(moment: datetime) -> int:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp())


@dataclass(frozen=True, slots=True)
class TenantLimits:
    """What Reserve holds a tenant to, read together and cached for ``limits_cache_seconds``:
    its status, its rpm and tpm, and the plan limits of its live subscription's period."""

    status: TenantStatus
    rpm: int
    tpm: int
    #: Ordered by kind, so reservers lock the counters alike.
    plan: tuple[PlanCounter, ...]


@dataclass(frozen=True)
class PlanCounter:
    """A plan feature's limit that a reservation counts against, for one period."""

    kind: str
    feature_key: str
    metric: Metric
    window: int
    hard_limit: int | None
    soft_limit: int | None
    period_end: datetime

    def amount(self, requests: int, tokens: int) -> int:
        return requests if self.metric == Metric.REQUESTS else tokens

    def refused(self) -> ResourceExhausted:
        period_end = self.period_end
        if period_end.tzinfo is None:
            period_end = period_end.replace(tzinfo=UTC)
        return ResourceExhausted(
            f"the plan's {self.feature_key} limit of {self.hard_limit} "
            f"{self.metric.value} is reached for the period ending {period_end.isoformat()}",
            reason="PLAN_LIMIT_REACHED",
            metadata={
                "feature": self.feature_key,
                "limit": str(self.hard_limit),
                "period_end": period_end.isoformat(),
            },
        )


def authorize(tenant_id: uuid.UUID) -> None:
    """Quarterdeck services, and the tenant's own members (member or higher); nobody else,
    platform operators included: reserving is done on behalf of a tenant's calls."""
    principal = require_principal()
    if principal.is_internal:
        return
    if principal.tenant_id != str(tenant_id):
        raise PermissionDenied(
            "the access token is not valid for this tenant", reason="TENANT_MISMATCH"
        )
    if ROLE_RANK.get(principal.role or "", 0) < ROLE_RANK[MINIMUM_ROLE]:
        raise PermissionDenied(
            f"this needs the {MINIMUM_ROLE} role or higher", reason="ROLE_TOO_LOW"
        )


def reservation_to_proto(row: Reservation, now: float) -> pb.Reservation:
    state = _STATE_TO_PROTO[row.state]
    if row.state == "open" and row.expires_at <= _at(now):
        state = pb.RESERVATION_STATE_EXPIRED
    return pb.Reservation(
        id=str(row.id),
        tenant_id=str(row.tenant_id),
        requests=row.requests,
        tokens=row.tokens,
        actual_tokens=row.actual_tokens or 0,
        state=state,
        window_start_time=Timestamp(seconds=row.window_start),
        expire_time=to_timestamp(row.expires_at),
        request_id=row.request_id or "",
    )


class LimitHandlers:
    def __init__(self, context: TenancyContext) -> None:
        self._db = context.database
        self._clock = context.clock  # windows and expiries are reckoned in its seconds
        self._ttl = context.settings.limits_reservation_ttl_seconds
        self._table = CounterTable()
        #: Each tenant's limits (unknown tenants are not kept: one may be created at any time),
        #: forgotten whenever this process commits a change to what they are read from.
        self._tenant_limits: TtlCache[uuid.UUID, TenantLimits | None] = TtlCache(
            context.settings.limits_cache_seconds, cacheable=lambda limits: limits is not None
        )
        self._db.on_commit(
            (
                TenantRecord.__tablename__,
                TenantModelConfigRecord.__tablename__,
                PlanFeatureRecord.__tablename__,
                SubscriptionRecord.__tablename__,
            ),
            self._tenant_limits.clear,
        )
        #: rpm/tpm window counters: the database's (default) or Redis's.
        self._rates = rate_counters(context.settings, self._table)
        # SQLite lets one writer in at a time and makes the others poll with growing sleeps;
        # queueing this process's writers here instead keeps the lock busy, not idle. Other
        # processes still serialize on BEGIN IMMEDIATE.
        self._sqlite_writers = asyncio.Lock() if self._db.dialect == "sqlite" else None
        #: The Redis counters, when they are Redis's (Reserve and Settle then take one script
        #: each beside the reservation's write).
        self._redis: RedisRateCounters | None = (
            None if isinstance(self._rates, DatabaseRateCounters) else cast(Any, self._rates)
        )
        #: Reserve and Settle without plan counters in the fewest statements, on the driver's
        #: connection (limits/at_once.py: one statement each on PostgreSQL), with no
        #: transaction held across a Redis call.
        self._at_once = self._db.can_write_at_once
        #: The prune under way, if any (:meth:`_start_pruning`): one at a time.
        self._prunes = TaskSet("limits prune")
        #: PostgreSQL with the database counters: the reservations, and the settlements, of a
        #: tenant's window that arrive together are written in one statement per group
        #: (limits/grouping.py), so the tenant's counter rows are locked once per group, not
        #: once per call. (Not on SQLite, whose at-once writes never wait: grouping them in one
        #: transaction was measured at 0.03-0.15 ms more tenancy CPU per pair, the turn of the
        #: loop each call then waits costing more than the commits saved.)
        #: With the Redis counters, the reservations' inserts and claims are grouped so.
        grouped = self._at_once and self._db.dialect == "postgresql"
        on_database = grouped and self._redis is None
        on_redis = grouped and self._redis is not None
        self._reserve_groups: _ReserveGroups | None = (
            Grouped(self._reserve_group) if on_database else None
        )
        self._settle_groups: _SettleGroups | None = (
            Grouped(self._settle_group) if on_database else None
        )
        self._insert_groups: _InsertGroups | None = (
            Grouped(self._insert_group) if on_redis else None
        )
        self._claim_groups: _ClaimGroups | None = Grouped(self._claim_group) if on_redis else None

    @asynccontextmanager
    async def _writing(self) -> AsyncIterator[AsyncConnection]:
        """A write transaction on a Core connection: the hot path's statements are all Core,
        and an ORM session's bookkeeping cost more than they do."""
        if self._sqlite_writers is None:
            async with self._db.core_transaction() as connection:
                yield connection
            return
        async with self._sqlite_writers, self._db.core_transaction() as connection:
            yield connection

    async def _write_at_once(
        self, write: Callable[..., Awaitable[T]], arguments: Mapping[str, Any]
    ) -> T:
        """One of the hot path's writes (limits/at_once.py's) on a driver connection
        (``Database.writing_at_once``): on SQLite in a write transaction of its own, queued
        behind this process's other writers like :meth:`_writing`'s (nothing in it waits: the
        lock is usually free, so ``BEGIN IMMEDIATE``, the statements and the commit all run at
        once on the event loop, and the call goes on without a turn of the loop); on
        PostgreSQL on an unflushed connection."""
        if self._sqlite_writers is None:
            async with self._db.writing_at_once() as connection:
                return await write(connection, **arguments)
        async with self._sqlite_writers, self._db.writing_at_once() as connection:
            return await write(connection, **arguments)

    # --- counters ------------------------------------------------------------------------

    @staticmethod
    def _plan_counters(connection: Connection, tenant_id: uuid.UUID) -> tuple[PlanCounter, ...]:
        """The plan limits of the tenant's trialing or active subscription for its current
        period, ordered by kind; none without such a subscription."""
        rows = connection.execute(_PLAN_FEATURES, {"tenant_id": tenant_id})
        counters = [
            PlanCounter(
                kind=f"{PLAN_KIND_PREFIX}{feature_id}",
                feature_key=feature_key,
                metric=metric,
                window=_epoch(start),
                hard_limit=hard_limit,
                soft_limit=soft_limit,
                period_end=end,
            )
            for feature_id, feature_key, metric, hard_limit, soft_limit, start, end in rows
        ]
        return tuple(sorted(counters, key=lambda counter: counter.kind))

    @classmethod
    def _read_limits(cls, connection: Connection, tenant_id: uuid.UUID) -> TenantLimits | None:
        row = connection.execute(_LIMITS_OF_TENANT, {"tenant_id": tenant_id}).one_or_none()
        if row is None:
            return None
        status, rpm, tpm = row
        return TenantLimits(
            status=status,
            rpm=DEFAULT_RATE_LIMIT_RPM if rpm is None else rpm,
            tpm=DEFAULT_RATE_LIMIT_TPM if tpm is None else tpm,
            plan=cls._plan_counters(connection, tenant_id),
        )

    async def _limits(self, tenant_id: uuid.UUID) -> TenantLimits:
        """The tenant's limits, cached; NOT_FOUND or FAILED_PRECONDITION unless it is active.

        Read with no transaction around them (no BEGIN/ROLLBACK round trips): the limits and
        the plan need no common snapshot."""
        limits = await self._tenant_limits.get(
            tenant_id,
            lambda: self._db.outside_transaction(
                lambda connection: self._read_limits(connection, tenant_id)
            ),
        )
        if limits is None:
            raise NotFound(f"tenant {tenant_id} not found", reason="TENANT_NOT_FOUND")
        if limits.status != TenantStatus.ACTIVE:
            raise FailedPrecondition(
                f"tenant {tenant_id} is {limits.status.value}", reason="TENANT_NOT_ACTIVE"
            )
        return limits

    # --- RPCs ----------------------------------------------------------------------------

    @staticmethod
    def _checked(request: pb.ReserveRequest) -> tuple[int, str | None]:
        """The request's requests (1 when not set) and request_id (None when not set)."""
        requests = request.requests if request.HasField("requests") else 1
        violations = []
        if requests <= 0:
            violations.append(FieldViolation("requests", "must be positive (1 when not set)"))
        if request.tokens <= 0:
            violations.append(FieldViolation("tokens", "must be positive"))
        if len(request.request_id) > MAX_REQUEST_ID:
            violations.append(
                FieldViolation("request_id", f"must be at most {MAX_REQUEST_ID} characters")
            )
        elif "\x00" in request.request_id:  # PostgreSQL stores none; SQLite would, unlike it
            violations.append(FieldViolation("request_id", "must not contain NUL characters"))
        if violations:
            raise InvalidArgument(violations)
        return requests, request.request_id or None

    async def _answer_earlier(
        self, tenant_id: uuid.UUID, request_id: str | None, now: float
    ) -> pb.ReserveResponse | None:
        """The answer to a repeated request_id (its first reservation, whatever the limits are
        now), or None when it has none."""
        if request_id is None:
            return None
        async with self._db.reading() as session:
            earlier = await self._by_request_id(session, tenant_id, request_id)
            return None if earlier is None else await self._reserved(session, earlier, now)

    async def reserve(self, request: pb.ReserveRequest) -> pb.ReserveResponse:
        tenant_id = parse_id(request.tenant_id, "tenant_id")
        authorize(tenant_id)
        requests, request_id = self._checked(request)
        now = self._clock()
        window = window_of(now)
        # Everything read is read before the write transaction, outside this process's SQLite
        # writer queue: writers hold the write lock for the two writes and the commit only.
        limits = await self._limits(tenant_id)
        rpm, tpm, plan = limits.rpm, limits.tpm, limits.plan
        wanted = {"rpm": (requests, rpm), "tpm": (request.tokens, tpm)}
        if too_large := self._too_large(wanted, plan, requests, request.tokens):
            # A repeated request_id is answered with its first reservation whatever the
            # limits are now; looked up here, on refusals only, and else by the insert below.
            if answer := await self._answer_earlier(tenant_id, request_id, now):
                return answer
            raise too_large
        row = ReservationRow(
            id=uuid.uuid4(),
            tenant_id=tenant_id,
            request_id=request_id,
            window_start=window,
            requests=requests,
            tokens=request.tokens,
            expires_at=_at(now + self._ttl),
            created_at=_at(now),
            plan_counters=[
                {
                    "kind": counter.kind,
                    "window_start": counter.window,
                    "metric": counter.metric.value,
                }
                for counter in plan
            ]
            or None,
        )
        remaining: dict[str, int] | None = None
        soft_exceeded: list[str] = []
        take = RateTake(
            tenant_id=tenant_id,
            reservation_id=row.id,
            now=now,
            requests=requests,
            tokens=request.tokens,
            rpm=rpm,
            tpm=tpm,
            expires_in=self._ttl,
            request_id=request_id,
        )
        try:
            if self._at_once and not plan:
                if self._redis is not None:
                    outcome = await self._reserve_on_redis(self._redis, row, take, wanted)
                    if isinstance(outcome, pb.ReserveResponse):  # a repeated request_id
                        return outcome
                    remaining = outcome
                else:
                    remaining = await self._reserve_at_once(row, rpm, tpm)
            if remaining is None:  # plan counters, or a refusal to explain
                remaining, soft_exceeded = await self._reserve_in_transaction(
                    row, take, plan, wanted
                )
        except (IntegrityError, RequestIdTaken):
            # The request_id has a reservation already (an earlier call's, or a concurrent one's
            # that won): its insert failed, so this call took nothing (or gave it back).
            if answer := await self._answer_earlier(tenant_id, request_id, now):
                return answer
            raise
        if random.random() < PRUNE_PROBABILITY:
            self._start_pruning(now)
        return pb.ReserveResponse(
            reservation=reservation_to_proto(row, now),
            remaining_requests=remaining["rpm"],
            remaining_tokens=remaining["tpm"],
            soft_limits_exceeded=soft_exceeded,
        )

    async def _reserve_at_once(
        self, row: ReservationRow, rpm: int, tpm: int
    ) -> dict[str, int] | None:
        """Reserve on the driver's connection (database backend, no plan counter): what rpm and
        tpm have left, or None when a limit refused it and nothing was taken."""
        try:
            if self._reserve_groups is not None:
                key = (row.tenant_id, row.window_start, rpm, tpm)
                grant = await self._reserve_groups.submit(key, row.for_driver())
            else:
                arguments = {**row.for_driver(), "rpm": rpm, "tpm": tpm}
                grant = await self._write_at_once(at_once.reserve, arguments)
        except at_once.Refused:
            return None
        return {"rpm": max(0, rpm - grant.rpm_used), "tpm": max(0, tpm - grant.tpm_used)}

    async def _reserve_group(
        self, key: tuple[uuid.UUID, int, int, int], reservations: list[dict[str, Any]]
    ) -> list[RateGrant | Exception]:
        """Makes the reservations of one tenant's window that arrived together (PostgreSQL,
        database backend), in one statement (:func:`at_once.reserve_group`); if that refuses
        (the sums would pass a limit, or a request_id is taken), each on its own, in order, so
        each gets its own answer and no limit is passed."""
        tenant_id, window, rpm, tpm = key
        if len(reservations) > 1:
            try:
                async with self._db.writing_at_once() as connection:
                    return list(
                        await at_once.reserve_group(
                            connection,
                            tenant_id=tenant_id,
                            window=window,
                            rpm=rpm,
                            tpm=tpm,
                            reservations=reservations,
                        )
                    )
            except (at_once.Refused, RequestIdTaken):
                pass
        outcomes: list[RateGrant | Exception] = []
        for each in reservations:
            try:
                arguments = {**each, "rpm": rpm, "tpm": tpm}
                outcomes.append(await self._write_at_once(at_once.reserve, arguments))
            except (at_once.Refused, RequestIdTaken) as refusal:
                outcomes.append(refusal)
        return outcomes

    async def _reserve_on_redis(
        self,
        redis: RedisRateCounters,
        row: ReservationRow,
        take: RateTake,
        wanted: dict[str, tuple[int, int]],
    ) -> dict[str, int] | pb.ReserveResponse:
        """Reserve with the Redis counters and no plan counter (:meth:`_reserve_with_redis`):
        what rpm and tpm have left, or the answer to a repeated request_id.

        A request_id another reservation was taken with (marked in Redis) is answered with that
        one, once it is stored; one that does not turn up within
        :data:`REPEAT_WAIT_SECONDS` (its call failed, or was lost between the script and the
        insert) no longer holds this call back: it takes without the mark, and the database's
        unique request_id decides, as without Redis."""
        tenant_id, request_id, now = take.tenant_id, take.request_id, take.now
        try:
            return await self._reserve_with_redis(redis, row, take, wanted, mark=True)
        except _MarkedByAnother:
            if answer := await self._await_earlier(tenant_id, request_id, now):
                return answer
        except ResourceExhausted:  # refused by the script: nothing was taken or stored
            if answer := await self._answer_earlier(tenant_id, request_id, now):
                return answer
            raise
        return await self._reserve_with_redis(redis, row, take, wanted, mark=False)

    async def _await_earlier(
        self, tenant_id: uuid.UUID, request_id: str | None, now: float
    ) -> pb.ReserveResponse | None:
        """:meth:`_answer_earlier`, waiting up to :data:`REPEAT_WAIT_SECONDS` for a
        reservation being stored by a concurrent call."""
        loop = asyncio.get_running_loop()
        give_up, pause = loop.time() + REPEAT_WAIT_SECONDS, 0.002
        while True:
            if answer := await self._answer_earlier(tenant_id, request_id, now):
                return answer
            if loop.time() >= give_up:
                return None
            await asyncio.sleep(pause)
            pause = min(pause * 2, 0.1)

    async def _reserve_with_redis(
        self,
        redis: RedisRateCounters,
        row: ReservationRow,
        take: RateTake,
        wanted: dict[str, tuple[int, int]],
        *,
        mark: bool,
    ) -> dict[str, int]:
        """The script takes rpm and tpm (a refusal raises, nothing taken, nothing stored), then
        the reservation is stored on the driver's connection, like the database backend's at
        once. A store that fails (a repeated request_id) gives the take back, by reservation
        id. What rpm and tpm have left."""
        taken = await redis.take_rates(take, mark=mark)
        if taken.taken_by is not None:
            raise _MarkedByAnother()
        for kind, (_, limit) in wanted.items():
            if kind in taken.retry_after_ms:
                raise self._rate_refused(kind, limit, taken.retry_after_ms[kind])
        stored = row.for_driver()
        try:
            if self._insert_groups is not None:
                await self._insert_groups.submit((row.tenant_id, row.window_start), stored)
            else:
                await self._write_at_once(at_once.insert_reservation, stored)
        except Exception:
            # Not on cancellation: the reservation may have been stored all the same, and a
            # take given back for a stored reservation could let a limit be passed; one left
            # counted only ends its window early.
            await self._undo(take)
            raise
        return {kind: max(0, limit - taken.used[kind]) for kind, (_, limit) in wanted.items()}

    @staticmethod
    def _rate_refused(kind: str, limit: int, retry_ms: int) -> ResourceExhausted:
        return ResourceExhausted(
            f"the tenant's {kind} limit of {limit} is reached for this minute; retry in "
            f"{retry_ms} ms",
            reason="RATE_LIMITED",
            metadata={"limit": kind, "limit_value": str(limit), "retry_after_ms": str(retry_ms)},
        )

    async def _reserve_in_transaction(
        self,
        row: ReservationRow,
        take: RateTake,
        plan: tuple[PlanCounter, ...],
        wanted: dict[str, tuple[int, int]],
    ) -> tuple[dict[str, int], list[str]]:
        """Reserve in a transaction: the reservation's insert, then rpm, tpm and the plan
        counters in one statement (any backend); what rpm and tpm have left and the soft plan
        limits passed. Refusals raise, having taken nothing."""
        #: Set once the rate counters granted, so a failure after that gives them back.
        granted: RateTake | None = None
        try:
            async with self._writing() as session:
                if not plan:
                    # Rate counters and a reservation only: no billing data to lose. Said
                    # first, so no round trip is spent on it while the counters are locked.
                    await self._db.commit_unflushed(session)
                # The reservation goes in first, so the counters' row locks are held for
                # one statement and the commit only.
                await session.execute(_INSERT_RESERVATION, row.values())
                taken = await self._rates.take(
                    session,
                    take,
                    [
                        CounterTake(
                            counter.kind,
                            counter.window,
                            counter.amount(take.requests, take.tokens),
                            counter.hard_limit,
                        )
                        for counter in plan
                    ],
                )
                used = taken.used
                for counter in plan:
                    if counter.kind not in used:
                        raise counter.refused()
                for kind, (_, limit) in wanted.items():
                    if kind in taken.retry_after_ms:
                        raise self._rate_refused(kind, limit, taken.retry_after_ms[kind])
                granted = take
                remaining = {
                    kind: max(0, limit - used[kind]) for kind, (_, limit) in wanted.items()
                }
                soft_exceeded = [
                    counter.feature_key
                    for counter in plan
                    if counter.soft_limit is not None and used[counter.kind] > counter.soft_limit
                ]
        except BaseException:
            # The reservation was not stored: a backend outside the transaction (Redis)
            # gives its take back, by reservation id, so at most once.
            if granted is not None:
                await self._undo(granted)
            raise
        return remaining, soft_exceeded

    @staticmethod
    def _too_large(
        wanted: dict[str, tuple[int, int]],
        plan: tuple[PlanCounter, ...],
        requests: int,
        tokens: int,
    ) -> ResourceExhausted | None:
        """Why the reservation could never fit (more than a whole limit), or None."""
        for kind, (amount, limit) in wanted.items():
            if amount > limit:
                return ResourceExhausted(
                    f"{amount} exceeds the tenant's whole {kind} limit of {limit}",
                    reason="EXCEEDS_LIMIT",
                    metadata={"limit": kind, "limit_value": str(limit)},
                )
        for counter in plan:
            hard = counter.hard_limit
            if hard is not None and counter.amount(requests, tokens) > hard:
                return counter.refused()
        return None

    async def _undo(self, take: RateTake) -> None:
        try:
            await self._rates.undo(take)
        except Exception:  # the original failure is what the caller must see
            log.exception(
                "limits: could not give back reservation %s of tenant %s after its transaction "
                "failed; it stays counted until its window ends",
                take.reservation_id,
                take.tenant_id,
            )

    async def _by_request_id(
        self, session: AsyncSession, tenant_id: uuid.UUID, request_id: str
    ) -> LimitReservationRecord | None:
        return await session.scalar(
            select(LimitReservationRecord).where(
                LimitReservationRecord.tenant_id == tenant_id,
                LimitReservationRecord.request_id == request_id,
            )
        )

    async def _reserved(
        self, session: AsyncSession, row: LimitReservationRecord, now: float
    ) -> pb.ReserveResponse:
        """The answer to a repeated request_id: the first reservation, with what is left now."""
        limits = await self._limits(row.tenant_id)
        used = await self._rates.used(session, row.tenant_id, now)
        return pb.ReserveResponse(
            reservation=reservation_to_proto(row, now),
            remaining_requests=max(0, limits.rpm - used.get("rpm", 0)),
            remaining_tokens=max(0, limits.tpm - used.get("tpm", 0)),
        )

    async def _open_reservation(
        self, session: AsyncConnection, tenant_id: uuid.UUID, reservation_id: uuid.UUID
    ) -> Row[Any]:
        statement = select(*_RESERVATIONS.columns).where(
            _RESERVATIONS.c.id == reservation_id,
            _RESERVATIONS.c.tenant_id == tenant_id,
        )
        if self._db.dialect == "postgresql":
            statement = statement.with_for_update()
        row = (await session.execute(statement)).one_or_none()
        if row is None:
            raise NotFound(
                f"reservation {reservation_id} not found", reason="RESERVATION_NOT_FOUND"
            )
        return row

    @staticmethod
    def _require_open(row: Reservation, now: float) -> None:
        if row.state == "settled":
            raise FailedPrecondition(
                f"reservation {row.id} is already settled with {row.actual_tokens} tokens",
                reason="RESERVATION_SETTLED",
            )
        if row.state == "released":
            raise FailedPrecondition(
                f"reservation {row.id} is already released", reason="RESERVATION_RELEASED"
            )
        if row.expires_at <= _at(now):
            raise FailedPrecondition(
                f"reservation {row.id} expired and stays counted as used",
                reason="RESERVATION_EXPIRED",
            )

    async def _claim(
        self,
        session: AsyncConnection,
        tenant_id: uuid.UUID,
        reservation_id: uuid.UUID,
        now: float,
        **closing: object,
    ) -> Row[Any] | None:
        """Closes the reservation if it is open and unexpired, in one UPDATE ... RETURNING
        (which on PostgreSQL waits for a concurrent closer and re-checks); None otherwise."""
        claimed = await session.execute(
            _CLAIMS[tuple(sorted(closing))],
            {
                "claim_id": reservation_id,
                "claim_tenant_id": tenant_id,
                "claim_now": _at(now),
                "claim_closed_at": _at(now),
                **{f"claim_{column}": value for column, value in closing.items()},
            },
        )
        return claimed.one_or_none()

    @staticmethod
    def _not_claimed(row: Reservation) -> Aborted:
        # Unreachable while the claim and this read share one write transaction; never adjust
        # counters for a reservation whose state did not change.
        return Aborted(
            f"reservation {row.id} changed concurrently; retry", reason="RESERVATION_CONFLICT"
        )

    async def _settle_at_once(
        self, tenant_id: uuid.UUID, reservation_id: uuid.UUID, actual: int, now: float
    ) -> at_once.SettledRow | None:
        """Settle on the driver's connection (database backend): the settled reservation, or
        None when it is not an open, unexpired one without plan counters (nothing changed)."""
        if self._redis is not None:
            return await self._settle_with_redis(
                self._redis, tenant_id, reservation_id, actual, now
            )
        settlement: dict[str, Any] = {
            "reservation_id": reservation_id,
            "actual_tokens": actual,
            "now": _at(now),
        }
        if self._settle_groups is not None:
            return await self._settle_groups.submit((tenant_id, window_of(now)), settlement)
        settled: at_once.SettledRow | None = await self._write_at_once(
            at_once.settle, {**settlement, "tenant_id": tenant_id, "window": window_of(now)}
        )
        return settled

    async def _settle_group(
        self, key: tuple[uuid.UUID, int], settlements: list[dict[str, Any]]
    ) -> list[at_once.SettledRow | None]:
        """Settles the settlements of one tenant's window that arrived together (PostgreSQL,
        database backend): in one statement (:func:`at_once.settle_group`)."""
        tenant_id, window = key
        async with self._db.writing_at_once() as connection:
            if len(settlements) == 1:
                alone = settlements[0]
                return [
                    await at_once.settle(connection, tenant_id=tenant_id, window=window, **alone)
                ]
            return await at_once.settle_group(
                connection, tenant_id=tenant_id, window=window, settlements=settlements
            )

    async def _settle_with_redis(
        self,
        redis: RedisRateCounters,
        tenant_id: uuid.UUID,
        reservation_id: uuid.UUID,
        actual: int,
        now: float,
    ) -> at_once.SettledRow | None:
        """Settle with the Redis counters: the claim on the driver's connection (one
        statement), then the script that adjusts tpm (at most once, by reservation id). A script
        that fails reopens the reservation, so settling it again does it all, as when the
        claim's transaction was rolled back."""
        claim: dict[str, Any] = {
            "reservation_id": reservation_id,
            "actual_tokens": actual,
            "now": _at(now),
        }
        row: at_once.SettledRow | None
        if self._claim_groups is not None:
            row = await self._claim_groups.submit(tenant_id, claim)
        else:
            row = await self._write_at_once(at_once.claim, {**claim, "tenant_id": tenant_id})
        if row is None:
            return None
        try:
            await redis.adjust_settled(_held(tenant_id, row), actual, now)
        except BaseException:
            await self._unclaim(tenant_id, reservation_id, claim["now"])
            raise
        return row

    async def _claim_group(
        self, tenant_id: uuid.UUID, claims: list[dict[str, Any]]
    ) -> list[at_once.SettledRow | None]:
        """Claims the reservations of a tenant settled together (PostgreSQL, Redis backend):
        :func:`at_once.claim_group`."""
        if len(claims) == 1:
            return [await self._write_at_once(at_once.claim, {**claims[0], "tenant_id": tenant_id})]
        group = {"tenant_id": tenant_id, "claims": claims}
        claimed: list[at_once.SettledRow | None] = await self._write_at_once(
            at_once.claim_group, group
        )
        return claimed

    async def _insert_group(
        self, key: tuple[uuid.UUID, int], reservations: list[dict[str, Any]]
    ) -> list[Exception | None]:
        """Stores the reservations of one tenant's window made together (PostgreSQL, Redis
        backend) in one statement (:func:`at_once.insert_group`); if a request_id among them
        is taken, each on its own, so each gets its own answer."""
        tenant_id, window = key
        if len(reservations) > 1:
            group = {"tenant_id": tenant_id, "window": window, "reservations": reservations}
            try:
                await self._write_at_once(at_once.insert_group, group)
                return [None] * len(reservations)
            except RequestIdTaken:
                pass
        outcomes: list[Exception | None] = []
        for each in reservations:
            try:
                outcomes.append(await self._write_at_once(at_once.insert_reservation, each))
            except RequestIdTaken as taken:
                outcomes.append(taken)
        return outcomes

    async def _unclaim(self, tenant_id: uuid.UUID, reservation_id: uuid.UUID, at: datetime) -> None:
        reopen: dict[str, Any] = {
            "reservation_id": reservation_id,
            "tenant_id": tenant_id,
            "now": at,
        }
        try:
            await self._write_at_once(at_once.unclaim, reopen)
        except Exception:  # the original failure is what the caller must see
            log.exception(
                "limits: could not reopen reservation %s of tenant %s after Redis failed; it "
                "stays settled without its tokens adjusted",
                reservation_id,
                tenant_id,
            )

    async def settle(self, request: pb.SettleRequest) -> pb.SettleResponse:
        tenant_id = parse_id(request.tenant_id, "tenant_id")
        authorize(tenant_id)
        reservation_id = parse_id(request.reservation_id, "reservation_id")
        if request.actual_tokens < 0:
            raise InvalidArgument.field("actual_tokens", "must not be negative")
        actual = request.actual_tokens
        now = self._clock()
        if self._at_once:
            settled = await self._settle_at_once(tenant_id, reservation_id, actual, now)
            if settled is not None:
                return pb.SettleResponse(reservation=reservation_to_proto(settled, now))
            # Not settled by it: plan counters to adjust, or an answer to explain.
        async with self._writing() as session:
            row: Reservation | None = await self._claim(
                session, tenant_id, reservation_id, now, state="settled", actual_tokens=actual
            )
            if row is None:  # not open: settled already (answer again), or why not
                row = await self._open_reservation(session, tenant_id, reservation_id)
                if row.state == "settled" and row.actual_tokens == actual:
                    return pb.SettleResponse(reservation=reservation_to_proto(row, now))
                self._require_open(row, now)
                raise self._not_claimed(row)
            difference = actual - row.tokens
            if not row.plan_counters:
                # Rate counters and a reservation only: no billing data to lose.
                await self._db.commit_unflushed(session)
            for taken in row.plan_counters or []:
                if taken["metric"] != Metric.TOTAL_TOKENS.value:
                    continue
                kind, period = taken["kind"], int(taken["window_start"])
                if difference < 0:
                    await self._table.refund(session, tenant_id, kind, period, -difference)
                elif difference > 0:
                    await self._table.take(
                        session, tenant_id, CounterTake(kind, period, difference, None)
                    )
            # Last, so only the commit can fail after a backend outside the transaction
            # (Redis) adjusted; settling again then changes nothing there (by reservation id).
            await self._rates.settle(session, _held(tenant_id, row), actual, now)
        return pb.SettleResponse(reservation=reservation_to_proto(row, now))

    async def release(self, request: pb.ReleaseRequest) -> pb.ReleaseResponse:
        tenant_id = parse_id(request.tenant_id, "tenant_id")
        authorize(tenant_id)
        reservation_id = parse_id(request.reservation_id, "reservation_id")
        now = self._clock()
        async with self._writing() as session:
            row: Reservation | None = await self._claim(
                session, tenant_id, reservation_id, now, state="released"
            )
            if row is None:  # not open: released already (answer again), or why not
                row = await self._open_reservation(session, tenant_id, reservation_id)
                if row.state == "released":
                    return pb.ReleaseResponse(reservation=reservation_to_proto(row, now))
                self._require_open(row, now)
                raise self._not_claimed(row)
            for taken in row.plan_counters or []:
                amount = row.requests if taken["metric"] == Metric.REQUESTS.value else row.tokens
                await self._table.refund(
                    session, tenant_id, taken["kind"], int(taken["window_start"]), amount
                )
            await self._rates.release(session, _held(tenant_id, row))
        return pb.ReleaseResponse(reservation=reservation_to_proto(row, now))

    def _start_pruning(self, now: float) -> None:
        """Prunes beside the calls, one prune at a time per process: awaited by the Reserve
        that drew it, a prune held that caller (and, with many callers, a prune every few
        hundred reservations, several at once) for as long as the delete took."""
        if not self._prunes:
            self._prunes.spawn(self._prune(now)).add_done_callback(_log_prune_failure)

    async def _prune(self, now: float) -> None:
        # At most PRUNE_BATCH reservations, picked in expiry order: the delete then reads the
        # expiry index whatever the plan (a generic plan of ``expires_at < $1`` alone, which
        # PostgreSQL settles on for a prepared statement, scanned the whole table).
        expired = (
            select(_RESERVATIONS.c.id)
            .where(_RESERVATIONS.c.expires_at < _at(now) - KEEP_RESERVATIONS)
            .order_by(_RESERVATIONS.c.expires_at)
            .limit(PRUNE_BATCH)
        )
        async with self._writing() as session:
            await self._rates.prune(session, now)
            await session.execute(
                delete(_RESERVATIONS).where(_RESERVATIONS.c.id.in_(expired.scalar_subquery()))
            )

    async def close(self) -> None:
        """Stops a prune under way; releases the rate counters' connections (Redis's pool)."""
        await self._prunes.close(0)
        await self._rates.close()


def _log_prune_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and (error := task.exception()) is not None:
        log.warning("limits: pruning old counters and reservations failed: %r", error)
