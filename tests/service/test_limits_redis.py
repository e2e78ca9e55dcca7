"""What only the Redis backend of LimitsService has: keys that expire, scripts that adjust
exactly once by reservation id, the sliding window, and an unreachable Redis (fail closed,
service still SERVING; fail open only when set), beside the behaviour shared with the database
backend that tests/service/test_limits.py runs on both.

Redis is ``QD_TEST_REDIS_URL`` (default ``redis://127.0.0.1:6379/0``); an unreachable one fails
these tests, ``QD_TEST_REDIS_URL=none`` skips them. Each test writes under its own key prefix,
deleted afterwards.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
import redis.asyncio as aioredis
from grpc_health.v1 import health_pb2, health_pb2_grpc
from redis.exceptions import ConnectionError as RedisConnectionError
from sqlalchemy import func, select

from quarterdeck.tenancy.v1 import limits_pb2 as pb
from quarterdeck.tenancy.v1.limits_pb2_grpc import LimitsServiceStub
from services.tenancy.billing.models import Metric
from services.tenancy.limits import handlers as limits
from services.tenancy.limits.backends import CounterTable, Held, RateTake, window_of
from services.tenancy.limits.models import LimitReservationRecord
from services.tenancy.limits.redis import (
    RedisRateCounters,
    counter_key,
    request_key,
    reservation_key,
    tenant_prefix,
)
from shared.db import Database
from shared.grpc_client import open_channel
from tests.service.test_limits import (
    CLOCK,
    Tenancy,
    counter,
    failure,
    new_tenant,
    reserve,
    subscribe,
    test_redis,
)
from tests.support.clock import ManualClock
from tests.support.errors import rich_error
from tests.support.stack import Databases, free_port, running_service
from tests.support.tokens import TestIssuer
from tests.support.waiting import eventually


@dataclass
class RedisUnderTest:
    client: aioredis.Redis
    url: str
    prefix: str


@pytest.fixture(scope="module")
def issuer() -> TestIssuer:
    return TestIssuer()


@pytest.fixture
async def redis_under_test() -> AsyncIterator[RedisUnderTest]:
    async for client, url, prefix in test_redis():
        yield RedisUnderTest(client, url, prefix)


@pytest.fixture(autouse=True)
def clock() -> ManualClock:
    """The services' clock, a few seconds into the current minute."""
    CLOCK.now = limits.window_of(time.time()) + 5.0
    return CLOCK


@asynccontextmanager
async def tenancy_on_redis(
    databases: Databases,
    backend: str,
    issuer: TestIssuer,
    redis_url: str,
    prefix: str,
    **settings: Any,
) -> AsyncIterator[Tenancy]:
    """Tenancy with its rpm/tpm counters in Redis under ``prefix``, and a stub to it."""
    url = await databases.url(backend, "tenancy", "limits-redis")
    overrides = {
        "limits_backend": "redis",
        "limits_redis_url": redis_url,
        "limits_redis_key_prefix": prefix,
        **settings,
    }
    async with (
        running_service(
            "tenancy", url, authenticator=issuer.authenticator(), clock=CLOCK, **overrides
        ) as r,
        open_channel(r.target) as channel,
    ):
        client = aioredis.from_url(redis_url)  # connects on first use only
        try:
            yield Tenancy(r, LimitsServiceStub(channel), url, "redis", overrides, client, prefix)
        finally:
            await client.aclose()


def held(take: RateTake) -> Held:
    """The reservation ``take`` made, as the counters settle or release it."""
    return Held(take.tenant_id, take.reservation_id, take.window, take.requests, take.tokens)


def settle(tenant_id: str, reservation_id: str, actual: int) -> pb.SettleRequest:
    return pb.SettleRequest(
        tenant_id=tenant_id, reservation_id=reservation_id, actual_tokens=actual
    )


def release(tenant_id: str, reservation_id: str) -> pb.ReleaseRequest:
    return pb.ReleaseRequest(tenant_id=tenant_id, reservation_id=reservation_id)


# --- keys expire ------------------------------------------------------------------------------


async def test_every_key_has_a_ttl_bounded_by_what_can_still_read_it(
    databases: Databases,
    backend: str,
    issuer: TestIssuer,
    redis_under_test: RedisUnderTest,
    clock: ManualClock,
) -> None:
    redis = redis_under_test
    async with tenancy_on_redis(
        databases, backend, issuer, redis.url, redis.prefix, limits_reservation_ttl_seconds=30
    ) as tenancy:
        tenant_id = await new_tenant(tenancy, rpm=10, tpm=10_000)
        made = await reserve(tenancy, issuer, tenant_id, 100)
        await tenancy.stub.Settle(
            settle(tenant_id, made.reservation.id, 150), metadata=issuer.internal()
        )
        kept = await reserve(tenancy, issuer, tenant_id, 100, request_id="kept")
        pattern = f"{tenant_prefix(redis.prefix, uuid.UUID(tenant_id))}*"
        keys = sorted([key.decode() async for key in redis.client.scan_iter(match=pattern)])
        window = window_of(clock.now)
        tenant = uuid.UUID(tenant_id)
        assert keys == sorted(
            [
                counter_key(redis.prefix, tenant, "rpm", window),
                counter_key(redis.prefix, tenant, "tpm", window),
                reservation_key(redis.prefix, tenant, uuid.UUID(made.reservation.id)),
                reservation_key(redis.prefix, tenant, uuid.UUID(kept.reservation.id)),
                request_key(redis.prefix, tenant, "kept"),
            ]
        )
        assert await redis.client.get(request_key(redis.prefix, tenant, "kept")) == (
            kept.reservation.id.encode()
        )
        for key in keys:
            ttl_ms = await redis.client.pttl(key)
            # Counters: until the minute ends (55 s away) plus the 5 s grace; reservations and
            # request_id marks: their 30 s TTL plus the grace. Never -1 (no expiry).
            bound = 30_000 + 5_000 if ":res:" in key or ":req:" in key else 55_000 + 5_000
            assert bound - 2_000 < ttl_ms <= bound, (key, ttl_ms)


async def test_keys_really_expire(
    databases: Databases, backend: str, redis_under_test: RedisUnderTest
) -> None:
    """The backend itself, with a short grace: after a take, a settle and a release at the end
    of a minute, nothing is left in Redis a moment later."""
    redis = redis_under_test
    database_url = await databases.url(backend, "tenancy", "limits-redis")
    client = aioredis.from_url(redis.url)
    database = Database(database_url)
    counters = RedisRateCounters(
        client,
        CounterTable(),
        prefix=redis.prefix,
        sliding=False,
        fail_open=False,
        grace_ms=50,
    )
    try:
        now = window_of(time.time()) + 59.8  # 200 ms before the minute ends
        tenant = uuid.uuid4()
        takes = [
            RateTake(tenant, uuid.uuid4(), now, 1, 10, 100, 1000, expires_in=0.2) for _ in range(3)
        ]
        async with database.transaction() as session:
            for take in takes:
                assert (await counters.take(session, take, [])).used == {
                    "rpm": takes.index(take) + 1,
                    "tpm": 10 * (takes.index(take) + 1),
                }
            await counters.settle(session, held(takes[0]), 5, now)
            await counters.release(session, held(takes[1]))
        pattern = f"{tenant_prefix(redis.prefix, tenant)}*"

        async def keys() -> list[bytes]:
            # In large steps: the shared Redis may hold many other keys, and a scan of ten
            # at a time could outlast these keys' 250 ms.
            return [key async for key in client.scan_iter(match=pattern, count=10_000)]

        assert len(await keys()) == 5

        async def all_expired() -> bool:
            return await keys() == []

        # Redis expires them on its own clock (0.2 s and the grace): nothing here can move it.
        await eventually(all_expired, "every counter key to expire in Redis")
    finally:
        await counters.close()
        await database.dispose()


async def test_the_scripts_connection_comes_back_after_redis_drops_it(
    redis_under_test: RedisUnderTest,
) -> None:
    """Reserve's and Settle's scripts go over a connection of their own
    (limits/redis_channel.py): when Redis drops it, the next call opens another and goes
    through, counting once."""
    redis = redis_under_test
    client = aioredis.from_url(redis.url)
    counters = RedisRateCounters(
        client, CounterTable(), prefix=redis.prefix, sliding=False, fail_open=False
    )
    channel = counters._channel
    assert channel is not None
    try:
        now = window_of(time.time()) + 5.0
        tenant = uuid.uuid4()
        takes = [RateTake(tenant, uuid.uuid4(), now, 1, 10, 100, 1000, 60) for _ in range(3)]
        assert (await counters.take_rates(takes[0])).used == {"rpm": 1, "tpm": 10}
        channel_id = await channel._call(b"*2\r\n$6\r\nCLIENT\r\n$2\r\nID\r\n")
        assert await redis.client.client_kill_filter(_id=channel_id) == 1
        assert (await counters.take_rates(takes[1])).used == {"rpm": 2, "tpm": 20}
        # And a settle after another drop, exactly once.
        channel_id = await channel._call(b"*2\r\n$6\r\nCLIENT\r\n$2\r\nID\r\n")
        await redis.client.client_kill_filter(_id=channel_id)
        await counters.adjust_settled(held(takes[0]), 4, now)
        assert (await counters.take_rates(takes[2])).used == {"rpm": 3, "tpm": 24}
    finally:
        await counters.close()


# --- exactly once -------------------------------------------------------------------------------


async def test_concurrent_settles_and_releases_adjust_exactly_once(
    databases: Databases, backend: str, issuer: TestIssuer, redis_under_test: RedisUnderTest
) -> None:
    redis = redis_under_test
    async with tenancy_on_redis(databases, backend, issuer, redis.url, redis.prefix) as tenancy:
        tenant_id = await new_tenant(tenancy, rpm=10, tpm=10_000)
        settled = await reserve(tenancy, issuer, tenant_id, 1000)
        released = await reserve(tenancy, issuer, tenant_id, 2000)
        assert await counter(tenancy, tenant_id, "tpm") == 3000
        answers = await asyncio.gather(
            *(
                tenancy.stub.Settle(
                    settle(tenant_id, settled.reservation.id, 400), metadata=issuer.internal()
                )
                for _ in range(8)
            ),
            *(
                tenancy.stub.Release(
                    release(tenant_id, released.reservation.id), metadata=issuer.internal()
                )
                for _ in range(8)
            ),
        )
        assert {answer.reservation.state for answer in answers} == {
            pb.RESERVATION_STATE_SETTLED,
            pb.RESERVATION_STATE_RELEASED,
        }
        # Refunded 600 once and 2000 once: 400 left; one request (the released one) refunded.
        assert await counter(tenancy, tenant_id, "tpm") == 400
        assert await counter(tenancy, tenant_id, "rpm") == 1


async def test_scripts_repeated_by_reservation_id_change_nothing(
    databases: Databases, backend: str, redis_under_test: RedisUnderTest
) -> None:
    """What a retry after a lost reply or a failed commit does: the take, the settle, the
    release and the undo of one reservation id, each run twice, count once."""
    redis = redis_under_test
    client = aioredis.from_url(redis.url)
    database = Database(await databases.url(backend, "tenancy", "limits-redis"))
    counters = RedisRateCounters(
        client,
        CounterTable(),
        prefix=redis.prefix,
        sliding=False,
        fail_open=False,
    )
    tenant = uuid.uuid4()
    now = window_of(time.time()) + 5
    first = RateTake(tenant, uuid.uuid4(), now, 1, 100, 10, 1000, expires_in=60)
    second = RateTake(tenant, uuid.uuid4(), now, 2, 300, 10, 1000, expires_in=60)
    rpm_key = counter_key(redis.prefix, tenant, "rpm", first.window)
    tpm_key = counter_key(redis.prefix, tenant, "tpm", first.window)

    async def counted() -> tuple[int, int]:
        rpm, tpm = await client.mget([rpm_key, tpm_key])
        return int(rpm or 0), int(tpm or 0)

    try:
        async with database.transaction() as session:
            for _ in range(2):
                await counters.take(session, first, [])
                await counters.take(session, second, [])
            assert await counted() == (3, 400)
            for _ in range(2):
                await counters.settle(session, held(first), 40, now)
            assert await counted() == (3, 340)
            for _ in range(2):
                await counters.undo(second)  # as after a failed commit
                await counters.release(session, held(second))
            assert await counted() == (1, 40)
            # Settling later to another figure moves the count to it, not by it twice.
            await counters.settle(session, held(first), 90, now)
            assert await counted() == (1, 90)
    finally:
        await counters.close()
        await database.dispose()


# --- sliding window -----------------------------------------------------------------------------


async def test_the_sliding_window_weighs_the_previous_minute(
    databases: Databases,
    backend: str,
    issuer: TestIssuer,
    redis_under_test: RedisUnderTest,
    clock: ManualClock,
) -> None:
    redis = redis_under_test
    async with tenancy_on_redis(
        databases, backend, issuer, redis.url, redis.prefix, limits_window="sliding"
    ) as tenancy:
        tenant_id = await new_tenant(tenancy, rpm=10, tpm=1_000_000)
        start = window_of(clock.now)  # the clock is 5 s into this minute
        remaining = [
            (await reserve(tenancy, issuer, tenant_id, 1)).remaining_requests for _ in range(10)
        ]
        assert remaining == [9, 8, 7, 6, 5, 4, 3, 2, 1, 0]
        error = rich_error(await failure(reserve(tenancy, issuer, tenant_id, 1)))
        assert (error.code, error.reason) == (grpc.StatusCode.RESOURCE_EXHAUSTED, "RATE_LIMITED")
        assert error.metadata["limit"] == "rpm"
        # Not at the minute's end (55 s, as a fixed window says) but once the next minute has
        # run far enough that 10 * (1 - elapsed/60) + 1 <= 10: 6 s into it.
        assert error.metadata["retry_after_ms"] == "61000"

        # Half the next minute gone: the previous 10 weigh 5, so 5 more fit, not 10.
        clock.now = start + 90
        remaining = [
            (await reserve(tenancy, issuer, tenant_id, 1)).remaining_requests for _ in range(5)
        ]
        assert remaining == [4, 3, 2, 1, 0]
        error = rich_error(await failure(reserve(tenancy, issuer, tenant_id, 1)))
        # 5 + 10 * (24/60) + 1 <= 10 at 36 s into the minute: 6 s from now.
        assert error.metadata["retry_after_ms"] == "6000"
        clock.now = start + 96
        assert (await reserve(tenancy, issuer, tenant_id, 1)).remaining_requests == 0
        assert (
            rich_error(await failure(reserve(tenancy, issuer, tenant_id, 1))).metadata["limit"]
            == "rpm"
        )

        # Each minute's keys outlive the next minute, which reads them.
        key = counter_key(redis.prefix, uuid.UUID(tenant_id), "rpm", start + 60)
        assert 60_000 < await redis.client.pttl(key) <= 24_000 + 60_000 + 5_000


async def test_the_sliding_window_needs_redis(databases: Databases, backend: str) -> None:
    url = await databases.url(backend, "tenancy", "limits-redis")
    with pytest.raises(ValueError, match="QD_TENANCY_LIMITS_WINDOW=sliding needs"):
        async with running_service("tenancy", url, limits_window="sliding"):
            pass
    with pytest.raises(ValueError, match="needs QD_TENANCY_LIMITS_REDIS_URL"):
        async with running_service("tenancy", url, limits_backend="redis"):
            pass


# --- Redis unreachable --------------------------------------------------------------------------


async def test_an_unreachable_redis_fails_reserve_closed_while_the_service_serves(
    databases: Databases, backend: str, issuer: TestIssuer
) -> None:
    port = free_port()  # nothing listens there
    async with tenancy_on_redis(
        databases,
        backend,
        issuer,
        f"redis://:never-shown@127.0.0.1:{port}/3",
        "qd:test:unreachable:",
        limits_redis_timeout_seconds=0.5,
    ) as tenancy:
        async with open_channel(tenancy.running.target) as channel:
            health = health_pb2_grpc.HealthStub(channel)
            for service in ("", "quarterdeck.tenancy.v1.LimitsService"):
                answer = await health.Check(health_pb2.HealthCheckRequest(service=service))
                assert answer.status == health_pb2.HealthCheckResponse.SERVING
        tenant_id = await new_tenant(tenancy, rpm=10, tpm=10_000)
        for _ in range(2):  # every call says so, not only the first
            caught = await failure(reserve(tenancy, issuer, tenant_id, 10))
            error = rich_error(caught)
            assert (error.code, error.reason) == (
                grpc.StatusCode.UNAVAILABLE,
                "LIMITS_BACKEND_UNAVAILABLE",
            )
            assert f"Redis at 127.0.0.1:{port}/3" in (caught.details() or "")
            assert "cannot be reached" in (caught.details() or "")
            assert "never-shown" not in (caught.details() or "")
        # Nothing was stored: no reservation, no counter.
        async with tenancy.database.reading() as session:
            stored = await session.scalar(
                select(func.count())
                .select_from(LimitReservationRecord)
                .where(LimitReservationRecord.tenant_id == uuid.UUID(tenant_id))
            )
        assert stored == 0


async def test_a_settle_redis_fails_leaves_the_reservation_open_to_settle_again(
    databases: Databases,
    backend: str,
    issuer: TestIssuer,
    redis_under_test: RedisUnderTest,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Settle closes the reservation, then the script adjusts tpm: when the script fails, the
    reservation is reopened, so a later Settle does it all (refund included)."""
    redis = redis_under_test
    async with tenancy_on_redis(
        databases, backend, issuer, redis.url, redis.prefix, limits_redis_timeout_seconds=0.5
    ) as tenancy:
        tenant_id = await new_tenant(tenancy, rpm=10, tpm=10_000)
        made = await reserve(tenancy, issuer, tenant_id, 1000)
        adjust = RedisRateCounters.adjust_settled

        async def unreachable(self: RedisRateCounters, *args: Any) -> None:
            raise self._unavailable(RedisConnectionError("gone"))

        monkeypatch.setattr(RedisRateCounters, "adjust_settled", unreachable)
        error = rich_error(
            await failure(
                tenancy.stub.Settle(
                    settle(tenant_id, made.reservation.id, 300), metadata=issuer.internal()
                )
            )
        )
        assert (error.code, error.reason) == (
            grpc.StatusCode.UNAVAILABLE,
            "LIMITS_BACKEND_UNAVAILABLE",
        )
        async with tenancy.database.reading() as session:
            stored = await session.get(LimitReservationRecord, uuid.UUID(made.reservation.id))
        assert stored is not None
        assert (stored.state, stored.actual_tokens, stored.closed_at) == ("open", None, None)
        assert await counter(tenancy, tenant_id, "tpm") == 1000
        monkeypatch.setattr(RedisRateCounters, "adjust_settled", adjust)
        settled = await tenancy.stub.Settle(
            settle(tenant_id, made.reservation.id, 300), metadata=issuer.internal()
        )
        assert settled.reservation.state == pb.RESERVATION_STATE_SETTLED
        assert await counter(tenancy, tenant_id, "tpm") == 300


async def test_fail_open_grants_without_counting_but_plan_limits_hold(
    databases: Databases, backend: str, issuer: TestIssuer
) -> None:
    async with tenancy_on_redis(
        databases,
        backend,
        issuer,
        f"redis://127.0.0.1:{free_port()}/0",
        "qd:test:fail-open:",
        limits_redis_fail_open=True,
        limits_redis_timeout_seconds=0.5,
    ) as tenancy:
        tenant_id = await new_tenant(tenancy, rpm=2, tpm=10_000)
        await subscribe(tenancy, tenant_id, ("tokens", Metric.TOTAL_TOKENS, 1000, None))
        granted = [await reserve(tenancy, issuer, tenant_id, 300) for _ in range(3)]
        # rpm 2 is not counted while Redis is away: the third went through too.
        assert [g.remaining_requests for g in granted] == [1, 1, 1]
        error = rich_error(await failure(reserve(tenancy, issuer, tenant_id, 300)))
        assert error.reason == "PLAN_LIMIT_REACHED"
        settled = await tenancy.stub.Settle(
            settle(tenant_id, granted[0].reservation.id, 100), metadata=issuer.internal()
        )
        assert settled.reservation.state == pb.RESERVATION_STATE_SETTLED
        await reserve(tenancy, issuer, tenant_id, 300)  # the plan counter was refunded 200
