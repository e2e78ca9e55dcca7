"""LimitsService's rpm/tpm window counters in Redis (``QD_TENANCY_LIMITS_BACKEND=redis``).

* **Atomicity.** Each operation is one Lua script, which Redis runs alone: the take checks rpm
  and tpm and increments both or neither, so no number of replicas can pass a limit. Without
  plan counters, Reserve runs the script first and then stores the reservation (one statement
  on the driver's connection, handlers.py), giving the take back (``undo``) if the store fails;
  Settle closes the reservation in the database first, then runs its script. With plan
  counters (billing data, in the database), they are taken first, in the transaction that
  inserts the reservation; the script runs before that transaction commits, and a commit that
  fails after it gives the take back.
* **Keys** (``limits_redis_key_prefix``, ``{tenant}`` a hash tag so one tenant's keys share a
  cluster slot): ``<prefix>{<tenant>}:rpm:<window>`` and ``...:tpm:<window>`` count a minute
  (``window`` = UTC epoch seconds, a multiple of 60) and expire once no reservation or sliding
  window can read them; ``<prefix>{<tenant>}:res:<reservation id>`` is a hash of what the
  reservation still counts (window, requests, tokens), expiring with the reservation (plus
  a grace); ``<prefix>{<tenant>}:req:<hash of the request_id>`` names the reservation a
  request_id was taken with, for as long, so that concurrent calls repeating a request_id
  take nothing while the first is being stored (they answer with it once it is). Nothing is
  left behind.
* **Exactly once.** The reservation's hash holds what it counts *now*: Settle sets its tokens
  to the actual figure and applies the difference, Release sets both to zero and refunds what
  was there. Running either again (a retry after a lost reply, a transaction that failed after
  the script) changes nothing; a take for a reservation id already present takes nothing.
* **Windows.** ``limits_window = "fixed"``: exactly the database backend's fixed UTC minutes
  (same answers, same ``retry_after_ms``). ``"sliding"``: a two-window weighted sliding
  window: what counts is the current minute's usage plus the previous minute's weighted by the
  part of it the last 60 seconds still cover, ``previous * (window_end - now) / 60 + current``
  (exact integer arithmetic up to limits of about 10^11). It never lets more than the limit
  through in any minute-long span if traffic is spread evenly over the previous minute, and
  removes the fixed window's double burst at a boundary; ``retry_after_ms`` is when the
  weighted sum leaves room (possibly within the current minute), ``remaining_*`` what is left
  of the weighted sum (rounded up). Refunds go to the reservation's own minute either way.
* **Time** is the service's clock (``ServiceContext.clock``), as with the database backend, so every
  replica must keep its clock in sync (NTP); keys expire by Redis's relative TTLs.
* **Redis unreachable.** The client connects lazily, so the service starts and reports
  SERVING; Reserve, Settle and Release then fail UNAVAILABLE (reason
  LIMITS_BACKEND_UNAVAILABLE, message naming Redis's address, never its password) without
  changing anything, unless ``limits_redis_fail_open`` is set: Reserve then grants without
  counting rpm/tpm (plan limits still hold), Settle and Release skip the counters, and each
  such call logs a warning.
"""

from __future__ import annotations

import hashlib
import logging
import math
import uuid
from collections.abc import Sequence
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.commands.core import AsyncScript
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from services.tenancy.config import TenancySettings
from services.tenancy.limits.backends import (
    RATE_KINDS,
    WINDOW_SECONDS,
    CounterTable,
    CounterTake,
    Executor,
    Held,
    RateTake,
    Taken,
    fixed_retry_after_ms,
    window_of,
)
from services.tenancy.limits.redis_channel import ScriptChannel
from shared.errors import Unavailable

log = logging.getLogger("quarterdeck.tenancy.limits")

WINDOW_MS = WINDOW_SECONDS * 1000
#: How long keys outlive the last moment anything can read them: room for clock skew.
GRACE_MS = 5000

# KEYS: rpm and tpm of the current window, rpm and tpm of the previous one, the reservation,
#       and (only with a request_id) the request_id's marker.
# ARGV: requests, tokens, rpm limit, tpm limit, weight of the previous window in ms (0: fixed),
#       counter TTL ms, reservation TTL ms, window start, reservation id.
# Returns {1, rpm used, tpm used, previous rpm, previous tpm} when taken (or already taken by
# this reservation id), {0, refused kind index (1 rpm, 2 tpm), current, previous} when refused,
# {2, reservation id} when another reservation holds the request_id's marker (nothing taken).
TAKE_SCRIPT = """
if KEYS[6] then
  local first = redis.call('GET', KEYS[6])
  if first and first ~= ARGV[9] then
    return {2, first}
  end
end
local amounts = {tonumber(ARGV[1]), tonumber(ARGV[2])}
local limits = {tonumber(ARGV[3]), tonumber(ARGV[4])}
local weight = tonumber(ARGV[5])
local current = {tonumber(redis.call('GET', KEYS[1]) or '0'),
                 tonumber(redis.call('GET', KEYS[2]) or '0')}
local previous = {0, 0}
if weight > 0 then
  previous = {tonumber(redis.call('GET', KEYS[3]) or '0'),
              tonumber(redis.call('GET', KEYS[4]) or '0')}
end
if redis.call('EXISTS', KEYS[5]) == 1 then
  return {1, current[1], current[2], previous[1], previous[2]}
end
for i = 1, 2 do
  if previous[i] * weight + (current[i] + amounts[i]) * 60000 > limits[i] * 60000 then
    return {0, i, current[i], previous[i]}
  end
end
redis.call('INCRBY', KEYS[1], ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[6])
redis.call('INCRBY', KEYS[2], ARGV[2])
redis.call('PEXPIRE', KEYS[2], ARGV[6])
redis.call('HSET', KEYS[5], 'window', ARGV[8], 'requests', ARGV[1], 'tokens', ARGV[2])
redis.call('PEXPIRE', KEYS[5], ARGV[7])
if KEYS[6] then
  redis.call('SET', KEYS[6], ARGV[9], 'PX', ARGV[7])
end
return {1, current[1] + amounts[1], current[2] + amounts[2], previous[1], previous[2]}
"""

_REFUND = """
local function refund(key, amount)
  if amount <= 0 then return end
  local used = tonumber(redis.call('GET', key) or '0')
  if used > amount then
    redis.call('DECRBY', key, string.format('%d', amount))
  elseif used > 0 then
    redis.call('SET', key, '0', 'KEEPTTL')
  end
end
"""

# KEYS: the reservation, tpm of its window, tpm of the current window.
# ARGV: actual tokens, counter TTL ms for the current window.
# Returns the tokens charged (negative: refunded), or false when the reservation is unknown.
SETTLE_SCRIPT = (
    _REFUND
    + """
local counted = redis.call('HGET', KEYS[1], 'tokens')
if not counted then return false end
local difference = tonumber(ARGV[1]) - tonumber(counted)
if difference < 0 then
  refund(KEYS[2], -difference)
elseif difference > 0 then
  redis.call('INCRBY', KEYS[3], string.format('%d', difference))
  redis.call('PEXPIRE', KEYS[3], ARGV[2])
end
redis.call('HSET', KEYS[1], 'tokens', ARGV[1])
return difference
"""
)

# KEYS: the reservation, rpm and tpm of its window, and optionally a request_id's marker,
#       deleted if this reservation (ARGV[1]) holds it.
# Returns 1, or false when the reservation is unknown.
RELEASE_SCRIPT = (
    _REFUND
    + """
if KEYS[4] and redis.call('GET', KEYS[4]) == ARGV[1] then
  redis.call('DEL', KEYS[4])
end
local counted = redis.call('HMGET', KEYS[1], 'requests', 'tokens')
if not counted[1] then return false end
refund(KEYS[2], tonumber(counted[1]))
refund(KEYS[3], tonumber(counted[2]))
redis.call('HSET', KEYS[1], 'requests', '0', 'tokens', '0')
return 1
"""
)


def tenant_prefix(prefix: str, tenant_id: uuid.UUID) -> str:
    return f"{prefix}{{{tenant_id}}}:"


def counter_key(prefix: str, tenant_id: uuid.UUID, kind: str, window: int) -> str:
    return f"{tenant_prefix(prefix, tenant_id)}{kind}:{window}"


def reservation_key(prefix: str, tenant_id: uuid.UUID, reservation_id: uuid.UUID) -> str:
    return f"{tenant_prefix(prefix, tenant_id)}res:{reservation_id}"


def request_key(prefix: str, tenant_id: uuid.UUID, request_id: str) -> str:
    """The marker of a request_id taken with (hashed: request ids are the caller's text)."""
    digest = hashlib.blake2b(request_id.encode(), digest_size=16).hexdigest()
    return f"{tenant_prefix(prefix, tenant_id)}req:{digest}"


def previous_weight_ms(now: float) -> int:
    """How much of the previous minute the last 60 seconds still cover, in ms of 60000."""
    # Whole ms into the minute, after rounding away float noise (63.6 - 60 = 3.5999999...).
    elapsed_ms = math.floor(round((now - window_of(now)) * 1000, 3))
    return max(0, min(WINDOW_MS, WINDOW_MS - elapsed_ms))


def weighted_used(current: int, previous: int, weight_ms: int) -> int:
    """The sliding window's count: the current minute plus the weighted previous, rounded up."""
    return current + -(-previous * weight_ms // WINDOW_MS)


def sliding_retry_after_ms(now: float, amount: int, limit: int, current: int, previous: int) -> int:
    """Milliseconds until ``amount`` fits the sliding window, if nobody else takes meanwhile
    (``amount <= limit`` holds: larger asks are refused before)."""
    window_end = window_of(now) + WINDOW_SECONDS
    if current + amount <= limit:
        # Within this minute, once the previous minute's weight has shrunk enough.
        fits_at = window_end - (limit - current - amount) * WINDOW_SECONDS / previous
    else:
        # In the next minute, where this one's usage becomes the weighted previous.
        fits_at = window_end + WINDOW_SECONDS - (limit - amount) * WINDOW_SECONDS / current
    return max(1, math.ceil((fits_at - now) * 1000))


def _redis_address(client: aioredis.Redis) -> str:
    kwargs = client.connection_pool.connection_kwargs
    if "path" in kwargs:
        return f"unix:{kwargs['path']}"
    return f"{kwargs.get('host', 'localhost')}:{kwargs.get('port', 6379)}/{kwargs.get('db', 0)}"


class RedisRateCounters:
    """rpm and tpm counters in Redis, fixed or sliding windows (see the module's docstring)."""

    name = "redis"

    def __init__(
        self,
        client: aioredis.Redis,
        table: CounterTable,
        *,
        prefix: str,
        sliding: bool,
        fail_open: bool,
        grace_ms: int = GRACE_MS,
    ) -> None:
        self._client = client
        self._table = table
        self._prefix = prefix
        self._sliding = sliding
        self._fail_open = fail_open
        self._grace_ms = grace_ms
        self._address = _redis_address(client)
        self._take_script = client.register_script(TAKE_SCRIPT)
        self._settle_script = client.register_script(SETTLE_SCRIPT)
        self._release_script = client.register_script(RELEASE_SCRIPT)
        #: Reserve's and Settle's scripts go through this connection (None over TLS).
        self._channel = ScriptChannel.for_client(client)

    @classmethod
    def from_settings(cls, settings: TenancySettings, table: CounterTable) -> RedisRateCounters:
        if settings.limits_redis_url is None:
            raise ValueError(
                "QD_TENANCY_LIMITS_BACKEND=redis needs QD_TENANCY_LIMITS_REDIS_URL "
                "(redis://host:6379/0)"
            )
        timeout = settings.limits_redis_timeout_seconds
        client = aioredis.from_url(
            settings.limits_redis_url.get_secret_value(),
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            # One immediate retry on a dropped connection (a pooled one Redis closed); every
            # script is idempotent by reservation id, so a retry never counts twice.
            retry=Retry(NoBackoff(), 1),
            health_check_interval=30,
        )
        return cls(
            client,
            table,
            prefix=settings.limits_redis_key_prefix,
            sliding=settings.limits_window == "sliding",
            fail_open=settings.limits_redis_fail_open,
        )

    async def _run(self, script: AsyncScript, keys: list[str], args: list[Any]) -> Any:
        """``script(keys=keys, args=args)``: one ``EVALSHA`` on the hot path's own connection
        (limits/redis_channel.py) or, over TLS, through the client; a Redis that does not know
        the script gets it loaded by the script object."""
        try:
            if self._channel is not None:
                return await self._channel.evalsha(script.sha, keys, args)
            return await self._client.execute_command(
                "EVALSHA", script.sha, len(keys), *keys, *args
            )
        except NoScriptError:
            return await script(keys=keys, args=args)

    def _unavailable(self, error: RedisError) -> Unavailable:
        what = "cannot be reached" if isinstance(error, RedisConnectionError) else "failed"
        if isinstance(error, RedisTimeoutError):
            what = "did not answer in time"
        return Unavailable(
            f"the rate-limit store (Redis at {self._address}) {what} "
            f"({type(error).__name__}); retry later",
            reason="LIMITS_BACKEND_UNAVAILABLE",
            metadata={"backend": "redis"},
        )

    def _raise_unless_fail_open(
        self, error: RedisError, tenant_id: uuid.UUID, reservation_id: uuid.UUID, outcome: str
    ) -> None:
        """Raises UNAVAILABLE for ``error``, or with ``limits_redis_fail_open`` logs that the
        reservation went ahead without Redis (``outcome``: what was skipped)."""
        if not self._fail_open:
            raise self._unavailable(error) from error
        log.warning(
            "limits: Redis at %s unavailable (%s); reservation %s of tenant %s %s",
            self._address,
            type(error).__name__,
            reservation_id,
            tenant_id,
            outcome,
        )

    def _counter_ttl_ms(self, now: float) -> int:
        # A minute's counter is read until its end, and as the previous one until the next
        # minute's end when sliding.
        readable_until = window_of(now) + WINDOW_SECONDS * (2 if self._sliding else 1)
        return max(1, math.ceil((readable_until - now) * 1000)) + self._grace_ms

    async def take(self, session: Executor, take: RateTake, plan: Sequence[CounterTake]) -> Taken:
        plan_used = await self._table.take_all(session, take.tenant_id, plan)
        if len(plan_used) < len(plan):
            return Taken(plan_used)  # a hard plan limit refused: Redis is not touched
        taken = await self.take_rates(take, mark=False)
        taken.used.update(plan_used)
        return taken

    async def take_rates(self, take: RateTake, *, mark: bool = True) -> Taken:
        """Takes rpm and tpm (one script, both or neither), touching no database: what
        :meth:`take` does after the plan counters. With ``mark`` and a request_id, the
        request_id is marked as this reservation's, and a reservation made with it already
        (marked, not yet expired) makes this one take nothing (``Taken.taken_by``)."""
        window = take.window
        weight = previous_weight_ms(take.now) if self._sliding else 0
        keys = [
            counter_key(self._prefix, take.tenant_id, "rpm", window),
            counter_key(self._prefix, take.tenant_id, "tpm", window),
            counter_key(self._prefix, take.tenant_id, "rpm", window - WINDOW_SECONDS),
            counter_key(self._prefix, take.tenant_id, "tpm", window - WINDOW_SECONDS),
            reservation_key(self._prefix, take.tenant_id, take.reservation_id),
        ]
        if mark and take.request_id is not None:
            keys.append(request_key(self._prefix, take.tenant_id, take.request_id))
        args = [
            take.requests,
            take.tokens,
            take.rpm,
            take.tpm,
            weight,
            self._counter_ttl_ms(take.now),
            math.ceil(take.expires_in * 1000) + self._grace_ms,
            window,
            str(take.reservation_id),
        ]
        try:
            answer = await self._run(self._take_script, keys, args)
        except RedisError as error:
            self._raise_unless_fail_open(
                error,
                take.tenant_id,
                take.reservation_id,
                "granted without counting rpm/tpm (limits_redis_fail_open)",
            )
            return Taken({"rpm": take.requests, "tpm": take.tokens})
        if int(answer[0]) == 2:
            first = answer[1]
            return Taken({}, taken_by=first.decode() if isinstance(first, bytes) else str(first))
        if int(answer[0]) == 1:
            return Taken(
                {
                    "rpm": weighted_used(int(answer[1]), int(answer[3]), weight),
                    "tpm": weighted_used(int(answer[2]), int(answer[4]), weight),
                }
            )
        kind = RATE_KINDS[int(answer[1]) - 1]
        current_used, previous_used = int(answer[2]), int(answer[3])
        if self._sliding:
            amount, limit = (take.requests, take.rpm) if kind == "rpm" else (take.tokens, take.tpm)
            retry = sliding_retry_after_ms(take.now, amount, limit, current_used, previous_used)
        else:
            retry = fixed_retry_after_ms(take.now)
        return Taken({}, {kind: retry})

    async def undo(self, take: RateTake) -> None:
        await self._release_only(take.tenant_id, take.reservation_id, take.window, take.request_id)

    async def _release_only(
        self,
        tenant_id: uuid.UUID,
        reservation_id: uuid.UUID,
        window: int,
        request_id: str | None = None,
    ) -> None:
        keys = [
            reservation_key(self._prefix, tenant_id, reservation_id),
            counter_key(self._prefix, tenant_id, "rpm", window),
            counter_key(self._prefix, tenant_id, "tpm", window),
        ]
        if request_id is not None:  # its marker goes too, if this reservation holds it
            keys.append(request_key(self._prefix, tenant_id, request_id))
        try:
            await self._release_script(keys=keys, args=[str(reservation_id)])
        except RedisError as error:
            self._raise_unless_fail_open(error, tenant_id, reservation_id, "not refunded")

    async def settle(self, session: Executor, held: Held, actual_tokens: int, now: float) -> None:
        await self.adjust_settled(held, actual_tokens, now)

    async def adjust_settled(self, held: Held, actual_tokens: int, now: float) -> None:
        """:meth:`settle`, which touches no database."""
        tenant_id, reservation_id, window = held.tenant_id, held.reservation_id, held.window
        keys = [
            reservation_key(self._prefix, tenant_id, reservation_id),
            counter_key(self._prefix, tenant_id, "tpm", window),
            counter_key(self._prefix, tenant_id, "tpm", window_of(now)),
        ]
        try:
            await self._run(self._settle_script, keys, [actual_tokens, self._counter_ttl_ms(now)])
        except RedisError as error:
            self._raise_unless_fail_open(
                error, tenant_id, reservation_id, "settled without adjusting tpm"
            )

    async def release(self, session: Executor, held: Held) -> None:
        await self._release_only(held.tenant_id, held.reservation_id, held.window)

    async def used(self, session: Executor, tenant_id: uuid.UUID, now: float) -> dict[str, int]:
        window = window_of(now)
        keys = [
            counter_key(self._prefix, tenant_id, kind, at)
            for kind in RATE_KINDS
            for at in (window, window - WINDOW_SECONDS)
        ]
        try:
            values = await self._client.mget(keys)
        except RedisError as error:
            if not self._fail_open:
                raise self._unavailable(error) from error
            values = [None] * len(keys)  # unknown while Redis is away: nothing counted
        counts = [int(value or 0) for value in values]
        weight = previous_weight_ms(now) if self._sliding else 0
        return {
            "rpm": weighted_used(counts[0], counts[1], weight),
            "tpm": weighted_used(counts[2], counts[3], weight),
        }

    async def prune(self, session: Executor, now: float) -> None:
        """Nothing: every key expires by itself."""

    async def close(self) -> None:
        if self._channel is not None:
            self._channel.close()
        await self._client.aclose()
