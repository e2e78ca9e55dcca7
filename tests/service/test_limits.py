"""LimitsService over a real in-process gRPC server, on SQLite and on PostgreSQL, with the rpm/tpm
counters in the database and in Redis: limits held exactly, settle and release refunds, expiry,
bad input, authorization, and many OS processes reserving at once through two replicas without
ever exceeding a limit.

Redis is ``QD_TEST_REDIS_URL`` (default ``redis://127.0.0.1:6379/0``); each module's service
writes under its own key prefix, deleted afterwards. An unreachable Redis fails the Redis tests;
only ``QD_TEST_REDIS_URL=none`` skips them.

The service's clock is pinned a few seconds into a fixed minute (``CLOCK``, given to the service as its clock), so no test
straddles a window boundary by chance; tests that need time to pass move it.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import grpc
import pytest
import redis.asyncio as aioredis
from redis.exceptions import RedisError
from sqlalchemy import func, select, update

from quarterdeck.tenancy.v1 import limits_pb2 as pb
from quarterdeck.tenancy.v1.limits_pb2_grpc import LimitsServiceStub
from services.tenancy.billing.models import (
    BillingPlanRecord,
    Metric,
    PlanFeatureRecord,
    SubscriptionRecord,
    SubscriptionStatus,
)
from services.tenancy.limits import handlers as limits
from services.tenancy.limits.models import LimitCounterRecord, LimitReservationRecord
from services.tenancy.limits.redis import tenant_prefix
from services.tenancy.model_configs.models import TenantModelConfigRecord
from services.tenancy.pricing.models import ModelRecord
from services.tenancy.tenants.models import TenantRecord, TenantStatus
from shared.db import Database
from shared.grpc_client import open_channel
from shared.server import RunningService
from tests.support.clock import ManualClock
from tests.support.errors import failure, rich_error
from tests.support.stack import Databases, running_service
from tests.support.tokens import TestIssuer
from tests.support.waiting import eventually

#: The clock every tenancy this module starts reasons with; each test pins it anew.
CLOCK = ManualClock()


DEFAULT_TEST_REDIS_URL = "redis://127.0.0.1:6379/0"
LIMITS_BACKENDS = ("database", "redis")


async def test_redis() -> AsyncIterator[tuple[aioredis.Redis, str, str]]:
    """A client of the tests' Redis, its URL, and a key prefix of this caller's own (its keys
    are deleted afterwards). Fails, rather than skips, when Redis cannot be reached, unless
    QD_TEST_REDIS_URL is "none"."""
    url = os.environ.get("QD_TEST_REDIS_URL", DEFAULT_TEST_REDIS_URL)
    if url.strip().lower() == "none":
        pytest.skip("QD_TEST_REDIS_URL=none: the Redis limits backend is not tested")
    client = aioredis.from_url(url, socket_connect_timeout=2, socket_timeout=5)
    try:
        await client.ping()
    except RedisError as error:
        await client.aclose()
        pytest.fail(
            f"Redis for the limits tests is unreachable at {url} ({type(error).__name__}: "
            f"{error}): start it, point QD_TEST_REDIS_URL at one, or set "
            "QD_TEST_REDIS_URL=none to skip these tests",
            pytrace=False,
        )
    prefix = f"qd:test:{uuid.uuid4().hex[:12]}:"
    try:
        yield client, url, prefix
    finally:
        keys = [key async for key in client.scan_iter(match=f"{prefix}*", count=1000)]
        if keys:
            await client.delete(*keys)
        await client.aclose()


test_redis.__test__ = False  # type: ignore[attr-defined]  # a helper, not a test


@dataclass
class Tenancy:
    running: RunningService[Any, Any]
    stub: LimitsServiceStub
    url: str
    #: "database" or "redis": where the rpm/tpm counters are.
    limits_backend: str
    #: The settings the service runs with beyond the database (replicas take the same).
    overrides: dict[str, Any]
    redis: aioredis.Redis | None = None
    redis_prefix: str = ""

    @property
    def database(self) -> Database:
        return self.running.context.database


@pytest.fixture(scope="module")
def issuer() -> TestIssuer:
    return TestIssuer()


@pytest.fixture(params=LIMITS_BACKENDS, scope="module")
def limits_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module")
async def tenancy(
    backend: str, limits_backend: str, databases: Databases, issuer: TestIssuer
) -> AsyncIterator[Tenancy]:
    url = await databases.url(backend, "tenancy", "limits")
    if limits_backend == "database":
        async with (
            running_service(
                "tenancy", url, authenticator=issuer.authenticator(), clock=CLOCK
            ) as running,
            open_channel(running.target) as channel,
        ):
            yield Tenancy(running, LimitsServiceStub(channel), url, limits_backend, {})
        return
    async for client, redis_url, prefix in test_redis():
        overrides = {
            "limits_backend": "redis",
            "limits_redis_url": redis_url,
            "limits_redis_key_prefix": prefix,
        }
        async with (
            running_service(
                "tenancy", url, authenticator=issuer.authenticator(), clock=CLOCK, **overrides
            ) as running,
            open_channel(running.target) as channel,
        ):
            yield Tenancy(
                running, LimitsServiceStub(channel), url, limits_backend, overrides, client, prefix
            )


@pytest.fixture(autouse=True)
def clock() -> ManualClock:
    """The services' clock, a few seconds into the current minute."""
    CLOCK.now = limits.window_of(time.time()) + 5.0
    return CLOCK


async def new_tenant(
    tenancy: Tenancy,
    rpm: int | None = None,
    tpm: int | None = None,
    status: TenantStatus = TenantStatus.ACTIVE,
) -> str:
    """A tenant, with a model configuration carrying these limits unless both are None."""
    async with tenancy.database.transaction() as session:
        tenant = TenantRecord(slug=f"l-{uuid.uuid4().hex[:12]}", name="Acme", status=status)
        session.add(tenant)
        await session.flush()
        if rpm is not None or tpm is not None:
            model_id = await session.scalar(select(ModelRecord.id).limit(1))
            session.add(
                TenantModelConfigRecord(
                    tenant_id=tenant.id,
                    llm_model_id=model_id,
                    encrypted_api_key=b"not-a-real-key",
                    api_key_hint="abcd",
                    key_version="test",
                    rate_limit_rpm=rpm if rpm is not None else 60,
                    rate_limit_tpm=tpm if tpm is not None else 10000,
                )
            )
    return str(tenant.id)


async def reserve(
    tenancy: Tenancy, issuer: TestIssuer, tenant_id: str, tokens: int, **fields: Any
) -> pb.ReserveResponse:
    return await tenancy.stub.Reserve(
        pb.ReserveRequest(tenant_id=tenant_id, tokens=tokens, **fields),
        metadata=issuer.internal("conversation"),
    )


async def counter(tenancy: Tenancy, tenant_id: str, kind: str) -> int:
    """What the tenant's counters of this kind hold, summed over their windows (rpm and tpm in
    Redis with that backend; plan kinds always in the database)."""
    if tenancy.redis is not None and kind in ("rpm", "tpm"):
        pattern = f"{tenant_prefix(tenancy.redis_prefix, uuid.UUID(tenant_id))}{kind}:*"
        keys = [key async for key in tenancy.redis.scan_iter(match=pattern, count=1000)]
        return sum(int(value or 0) for value in await tenancy.redis.mget(keys)) if keys else 0
    async with tenancy.database.reading() as session:
        used = await session.scalar(
            select(func.coalesce(func.sum(LimitCounterRecord.used), 0)).where(
                LimitCounterRecord.tenant_id == uuid.UUID(tenant_id),
                LimitCounterRecord.kind == kind,
            )
        )
    return int(used or 0)


# --- limits held exactly ----------------------------------------------------------------------


async def test_rpm_allows_exactly_n_per_window_then_retry_after(
    tenancy: Tenancy, issuer: TestIssuer, clock: ManualClock
) -> None:
    tenant_id = await new_tenant(tenancy, rpm=5, tpm=100_000)
    remaining = [
        (await reserve(tenancy, issuer, tenant_id, 10)).remaining_requests for _ in range(5)
    ]
    assert remaining == [4, 3, 2, 1, 0]
    error = rich_error(await failure(reserve(tenancy, issuer, tenant_id, 10)))
    assert error.code == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert error.reason == "RATE_LIMITED"
    assert error.metadata["limit"] == "rpm" and error.metadata["limit_value"] == "5"
    assert error.metadata["retry_after_ms"] == "55000"  # the clock is 5 s into the minute
    # The refusal took nothing, of either kind.
    assert await counter(tenancy, tenant_id, "rpm") == 5
    assert await counter(tenancy, tenant_id, "tpm") == 50
    clock.now += 54.5
    error = rich_error(await failure(reserve(tenancy, issuer, tenant_id, 10)))
    assert error.metadata["retry_after_ms"] == "500"
    clock.now += 0.5  # the next minute
    assert (await reserve(tenancy, issuer, tenant_id, 10)).remaining_requests == 4


async def test_tpm_is_enforced_and_settling_refunds_or_charges_the_difference(
    tenancy: Tenancy, issuer: TestIssuer
) -> None:
    tenant_id = await new_tenant(tenancy, rpm=100, tpm=1000)
    first = await reserve(tenancy, issuer, tenant_id, 600)
    assert first.remaining_tokens == 400
    assert first.reservation.state == pb.RESERVATION_STATE_OPEN
    error = rich_error(await failure(reserve(tenancy, issuer, tenant_id, 500)))
    assert (error.code, error.reason) == (grpc.StatusCode.RESOURCE_EXHAUSTED, "RATE_LIMITED")
    assert error.metadata["limit"] == "tpm" and int(error.metadata["retry_after_ms"]) > 0
    assert await counter(tenancy, tenant_id, "rpm") == 1  # the refused one's request was undone

    settled = await tenancy.stub.Settle(
        pb.SettleRequest(
            tenant_id=tenant_id, reservation_id=first.reservation.id, actual_tokens=200
        ),
        metadata=issuer.member(tenant_id, "member"),
    )
    assert settled.reservation.state == pb.RESERVATION_STATE_SETTLED
    assert settled.reservation.actual_tokens == 200
    assert await counter(tenancy, tenant_id, "tpm") == 200
    second = await reserve(tenancy, issuer, tenant_id, 500)
    assert second.remaining_tokens == 300

    # Settling again with the same figure answers the same; with another, it is refused.
    again = await tenancy.stub.Settle(
        pb.SettleRequest(
            tenant_id=tenant_id, reservation_id=first.reservation.id, actual_tokens=200
        ),
        metadata=issuer.internal(),
    )
    assert again == settled
    error = rich_error(
        await failure(
            tenancy.stub.Settle(
                pb.SettleRequest(
                    tenant_id=tenant_id, reservation_id=first.reservation.id, actual_tokens=300
                ),
                metadata=issuer.internal(),
            )
        )
    )
    assert (error.code, error.reason) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "RESERVATION_SETTLED",
    )

    # An overrun is charged even past the limit: the tokens were spent.
    await tenancy.stub.Settle(
        pb.SettleRequest(
            tenant_id=tenant_id, reservation_id=second.reservation.id, actual_tokens=900
        ),
        metadata=issuer.internal(),
    )
    assert await counter(tenancy, tenant_id, "tpm") == 1100
    error = rich_error(await failure(reserve(tenancy, issuer, tenant_id, 1)))
    assert error.metadata["limit"] == "tpm"


async def test_release_refunds_requests_and_tokens(tenancy: Tenancy, issuer: TestIssuer) -> None:
    tenant_id = await new_tenant(tenancy, rpm=2, tpm=1000)
    a = await reserve(tenancy, issuer, tenant_id, 400)
    await reserve(tenancy, issuer, tenant_id, 400)
    assert (
        rich_error(await failure(reserve(tenancy, issuer, tenant_id, 1))).metadata["limit"] == "rpm"
    )
    release = pb.ReleaseRequest(tenant_id=tenant_id, reservation_id=a.reservation.id)
    released = await tenancy.stub.Release(release, metadata=issuer.internal())
    assert released.reservation.state == pb.RESERVATION_STATE_RELEASED
    assert await counter(tenancy, tenant_id, "rpm") == 1
    assert await counter(tenancy, tenant_id, "tpm") == 400
    assert await tenancy.stub.Release(release, metadata=issuer.internal()) == released
    c = await reserve(tenancy, issuer, tenant_id, 600)
    assert (c.remaining_requests, c.remaining_tokens) == (0, 0)
    error = rich_error(
        await failure(
            tenancy.stub.Settle(
                pb.SettleRequest(
                    tenant_id=tenant_id, reservation_id=a.reservation.id, actual_tokens=5
                ),
                metadata=issuer.internal(),
            )
        )
    )
    assert (error.code, error.reason) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "RESERVATION_RELEASED",
    )


async def test_expired_reservations_stay_counted_and_cannot_be_closed(
    tenancy: Tenancy, issuer: TestIssuer, clock: ManualClock
) -> None:
    tenant_id = await new_tenant(tenancy, rpm=10, tpm=1000)
    made = await reserve(tenancy, issuer, tenant_id, 300)
    expire = made.reservation.expire_time.ToDatetime().timestamp()
    assert expire == pytest.approx(clock.now + 120)
    clock.now = expire + 0.001
    for call in (
        tenancy.stub.Settle(
            pb.SettleRequest(
                tenant_id=tenant_id, reservation_id=made.reservation.id, actual_tokens=1
            ),
            metadata=issuer.internal(),
        ),
        tenancy.stub.Release(
            pb.ReleaseRequest(tenant_id=tenant_id, reservation_id=made.reservation.id),
            metadata=issuer.internal(),
        ),
    ):
        error = rich_error(await failure(call))
        assert (error.code, error.reason) == (
            grpc.StatusCode.FAILED_PRECONDITION,
            "RESERVATION_EXPIRED",
        )
    assert await counter(tenancy, tenant_id, "tpm") == 300


async def test_a_tenant_without_a_configuration_gets_the_defaults(
    tenancy: Tenancy, issuer: TestIssuer
) -> None:
    tenant_id = await new_tenant(tenancy)
    made = await reserve(tenancy, issuer, tenant_id, 10_000, requests=60)
    assert (made.remaining_requests, made.remaining_tokens) == (0, 0)
    assert made.reservation.requests == 60
    error = rich_error(await failure(reserve(tenancy, issuer, tenant_id, 1)))
    assert error.metadata["limit"] == "rpm" and error.metadata["limit_value"] == "60"


async def test_changes_committed_through_the_replica_apply_to_its_next_reservation(
    tenancy: Tenancy, issuer: TestIssuer
) -> None:
    """Reserve caches a tenant's limits, status and plan; a change this process commits
    (through the ORM, as every handler writes them) is seen by the next call."""
    tenant_id = await new_tenant(tenancy, rpm=100, tpm=1000)
    assert (await reserve(tenancy, issuer, tenant_id, 100)).remaining_tokens == 900
    async with tenancy.database.transaction() as session:
        config = await session.scalar(
            select(TenantModelConfigRecord).where(
                TenantModelConfigRecord.tenant_id == uuid.UUID(tenant_id)
            )
        )
        assert config is not None
        config.rate_limit_tpm = 5000
    assert (await reserve(tenancy, issuer, tenant_id, 100)).remaining_tokens == 4800
    await subscribe(tenancy, tenant_id, ("tokens", Metric.TOTAL_TOKENS, 150, None))
    error = rich_error(await failure(reserve(tenancy, issuer, tenant_id, 200)))
    assert error.reason == "PLAN_LIMIT_REACHED"
    async with tenancy.database.transaction() as session:
        await session.execute(
            update(TenantRecord)
            .where(TenantRecord.id == uuid.UUID(tenant_id))
            .values(status=TenantStatus.SUSPENDED)
        )
    error = rich_error(await failure(reserve(tenancy, issuer, tenant_id, 10)))
    assert error.reason == "TENANT_NOT_ACTIVE"


async def test_a_repeated_request_id_returns_the_first_reservation(
    tenancy: Tenancy, issuer: TestIssuer
) -> None:
    tenant_id = await new_tenant(tenancy, rpm=10, tpm=1000)
    first = await reserve(tenancy, issuer, tenant_id, 100, request_id="req-1")
    results = await asyncio.gather(
        *(reserve(tenancy, issuer, tenant_id, 100, request_id="req-1") for _ in range(5))
    )
    assert {r.reservation.id for r in results} == {first.reservation.id}
    assert await counter(tenancy, tenant_id, "rpm") == 1
    assert await counter(tenancy, tenant_id, "tpm") == 100


async def test_concurrent_first_calls_with_one_request_id_reserve_once(
    tenancy: Tenancy, issuer: TestIssuer
) -> None:
    tenant_id = await new_tenant(tenancy, rpm=10, tpm=1000)
    results = await asyncio.gather(
        *(reserve(tenancy, issuer, tenant_id, 100, request_id="same") for _ in range(6))
    )
    assert len({r.reservation.id for r in results}) == 1
    assert await counter(tenancy, tenant_id, "tpm") == 100


async def test_a_repeated_request_id_is_answered_even_once_the_limit_is_reached(
    tenancy: Tenancy, issuer: TestIssuer
) -> None:
    tenant_id = await new_tenant(tenancy, rpm=1, tpm=1000)
    first = await reserve(tenancy, issuer, tenant_id, 100, request_id="only")
    again = await reserve(tenancy, issuer, tenant_id, 100, request_id="only")
    assert again.reservation.id == first.reservation.id
    assert again.remaining_requests == 0
    error = rich_error(await failure(reserve(tenancy, issuer, tenant_id, 100, request_id="next")))
    assert error.reason == "RATE_LIMITED"
    assert await counter(tenancy, tenant_id, "rpm") == 1
    assert await counter(tenancy, tenant_id, "tpm") == 100


async def test_settles_and_reserves_arriving_together_each_get_their_answer(
    tenancy: Tenancy, issuer: TestIssuer
) -> None:
    """Many calls at once (committed together on SQLite): each gets its own answer, a refusal
    or a repeated request_id among them changing nothing for the others."""
    tenant_id = await new_tenant(tenancy, rpm=8, tpm=100_000)
    made = await asyncio.gather(
        *(reserve(tenancy, issuer, tenant_id, 100, request_id=f"r{i % 6}") for i in range(12)),
        return_exceptions=True,
    )
    granted = [m for m in made if isinstance(m, pb.ReserveResponse)]
    assert len(granted) == 12  # 6 reservations, each asked for twice
    assert len({m.reservation.id for m in granted}) == 6
    refused = await asyncio.gather(
        *(reserve(tenancy, issuer, tenant_id, 100) for _ in range(4)), return_exceptions=True
    )
    reasons = sorted(
        rich_error(r).reason if isinstance(r, grpc.aio.AioRpcError) else "granted" for r in refused
    )
    assert reasons == ["RATE_LIMITED", "RATE_LIMITED", "granted", "granted"]
    ids = sorted({m.reservation.id for m in granted})
    settled = await asyncio.gather(
        *(
            tenancy.stub.Settle(
                pb.SettleRequest(tenant_id=tenant_id, reservation_id=i, actual_tokens=40),
                metadata=issuer.internal("conversation"),
            )
            for i in [*ids, ids[0]]  # the first one twice, with the same figure
        )
    )
    assert {s.reservation.state for s in settled} == {pb.RESERVATION_STATE_SETTLED}
    assert await counter(tenancy, tenant_id, "rpm") == 8
    assert await counter(tenancy, tenant_id, "tpm") == 6 * 40 + 2 * 100


async def test_reservations_and_settlements_arriving_together_add_up_as_one_after_another(
    tenancy: Tenancy, issuer: TestIssuer
) -> None:
    """Calls arriving together (one statement per group on PostgreSQL with the database
    counters): each reservation is answered with what was left after it, as if made one after
    another, and settlements together refund and charge each their own difference."""
    tenant_id = await new_tenant(tenancy, rpm=100, tpm=100_000)
    made = await asyncio.gather(*(reserve(tenancy, issuer, tenant_id, 100) for _ in range(12)))
    assert sorted(m.remaining_requests for m in made) == list(range(88, 100))
    assert sorted(m.remaining_tokens for m in made) == list(range(98_800, 100_000, 100))
    actual = [50, 150, 100, 0, 100, 250, 40, 60, 100, 100, 300, 10]
    settle = [
        pb.SettleRequest(tenant_id=tenant_id, reservation_id=m.reservation.id, actual_tokens=a)
        for m, a in zip(made, actual, strict=True)
    ]
    # The first one twice more: with its own figure (answered the same), and another (refused).
    again = pb.SettleRequest(
        tenant_id=tenant_id, reservation_id=made[0].reservation.id, actual_tokens=50
    )
    other = pb.SettleRequest(
        tenant_id=tenant_id, reservation_id=made[0].reservation.id, actual_tokens=70
    )
    settled = await asyncio.gather(
        *(
            tenancy.stub.Settle(request, metadata=issuer.internal("conversation"))
            for request in [*settle, again, other]
        ),
        return_exceptions=True,
    )
    answers = [s for s in settled if isinstance(s, pb.SettleResponse)]
    assert len(answers) == 13
    assert {(s.reservation.id, s.reservation.actual_tokens) for s in answers} == {
        (m.reservation.id, a) for m, a in zip(made, actual, strict=True)
    }
    (refused,) = [s for s in settled if isinstance(s, grpc.aio.AioRpcError)]
    assert rich_error(refused).reason == "RESERVATION_SETTLED"
    assert await counter(tenancy, tenant_id, "rpm") == 12
    assert await counter(tenancy, tenant_id, "tpm") == sum(actual)


async def test_reservations_arriving_together_past_a_limit_take_up_to_it_and_no_more(
    tenancy: Tenancy, issuer: TestIssuer
) -> None:
    """A group whose sum would pass a limit takes nothing as a group; its reservations are then
    made one by one, so exactly the limit's worth is granted."""
    tenant_id = await new_tenant(tenancy, rpm=1000, tpm=1000)
    made = await asyncio.gather(
        *(reserve(tenancy, issuer, tenant_id, 150) for _ in range(10)), return_exceptions=True
    )
    granted = [m for m in made if isinstance(m, pb.ReserveResponse)]
    assert sorted(m.remaining_tokens for m in granted) == [100, 250, 400, 550, 700, 850]
    reasons = {rich_error(m).reason for m in made if isinstance(m, grpc.aio.AioRpcError)}
    assert reasons == {"RATE_LIMITED"}
    assert await counter(tenancy, tenant_id, "rpm") == 6
    assert await counter(tenancy, tenant_id, "tpm") == 900


async def test_old_reservations_and_counters_are_pruned_beside_the_calls(
    tenancy: Tenancy, issuer: TestIssuer, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A prune runs beside the Reserve that drew it (not in its way) and removes reservations
    expired over a day ago, and rpm/tpm windows over an hour old."""
    tenant_id = await new_tenant(tenancy, rpm=100, tpm=100_000)
    old = await reserve(tenancy, issuer, tenant_id, 10)
    clock.now += 2 * 86_400
    monkeypatch.setattr(limits, "PRUNE_PROBABILITY", 1.0)
    await reserve(tenancy, issuer, tenant_id, 10)

    async def pruned() -> bool:
        async with tenancy.database.reading() as session:
            left = await session.scalar(
                select(func.count())
                .select_from(LimitReservationRecord)
                .where(LimitReservationRecord.id == uuid.UUID(old.reservation.id))
            )
        return left == 0

    await eventually(pruned, "the old reservation to be pruned")
    if tenancy.redis is None:
        async with tenancy.database.reading() as session:
            windows = set(
                await session.scalars(
                    select(LimitCounterRecord.window_start).where(
                        LimitCounterRecord.tenant_id == uuid.UUID(tenant_id),
                        LimitCounterRecord.kind == "rpm",
                    )
                )
            )
        assert windows == {limits.window_of(clock.now)}


# --- bad input ----------------------------------------------------------------------------------


async def test_bad_input_names_the_field(tenancy: Tenancy, issuer: TestIssuer) -> None:
    tenant_id = await new_tenant(tenancy, rpm=10, tpm=1000)
    cases = [
        (pb.ReserveRequest(tenant_id=tenant_id, tokens=10, requests=0), "requests"),
        (pb.ReserveRequest(tenant_id=tenant_id, tokens=10, requests=-3), "requests"),
        (pb.ReserveRequest(tenant_id=tenant_id, tokens=0), "tokens"),
        (pb.ReserveRequest(tenant_id=tenant_id, tokens=-1), "tokens"),
        (pb.ReserveRequest(tenant_id="nope", tokens=1), "tenant_id"),
        (pb.ReserveRequest(tenant_id=tenant_id, tokens=1, request_id="x" * 129), "request_id"),
        (pb.ReserveRequest(tenant_id=tenant_id, tokens=1, request_id="a\x00b"), "request_id"),
    ]
    for request, field in cases:
        error = rich_error(await failure(tenancy.stub.Reserve(request, metadata=issuer.internal())))
        assert error.code == grpc.StatusCode.INVALID_ARGUMENT, request
        assert field in error.field_violations, (request, error.field_violations)
    made = await reserve(tenancy, issuer, tenant_id, 10)
    error = rich_error(
        await failure(
            tenancy.stub.Settle(
                pb.SettleRequest(
                    tenant_id=tenant_id, reservation_id=made.reservation.id, actual_tokens=-1
                ),
                metadata=issuer.internal(),
            )
        )
    )
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT and "actual_tokens" in (
        error.field_violations
    )
    error = rich_error(
        await failure(
            tenancy.stub.Release(
                pb.ReleaseRequest(tenant_id=tenant_id, reservation_id="x"),
                metadata=issuer.internal(),
            )
        )
    )
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT and "reservation_id" in (
        error.field_violations
    )


async def test_unknown_things_are_not_found_and_too_large_is_refused(
    tenancy: Tenancy, issuer: TestIssuer
) -> None:
    tenant_id = await new_tenant(tenancy, rpm=10, tpm=1000)
    for call in (
        tenancy.stub.Settle(
            pb.SettleRequest(
                tenant_id=tenant_id, reservation_id=str(uuid.uuid4()), actual_tokens=1
            ),
            metadata=issuer.internal(),
        ),
        tenancy.stub.Release(
            pb.ReleaseRequest(tenant_id=tenant_id, reservation_id=str(uuid.uuid4())),
            metadata=issuer.internal(),
        ),
    ):
        error = rich_error(await failure(call))
        assert (error.code, error.reason) == (grpc.StatusCode.NOT_FOUND, "RESERVATION_NOT_FOUND")
    error = rich_error(await failure(reserve(tenancy, issuer, str(uuid.uuid4()), 1)))
    assert (error.code, error.reason) == (grpc.StatusCode.NOT_FOUND, "TENANT_NOT_FOUND")
    error = rich_error(await failure(reserve(tenancy, issuer, tenant_id, 1001)))
    assert (error.code, error.reason) == (grpc.StatusCode.RESOURCE_EXHAUSTED, "EXCEEDS_LIMIT")
    assert "retry_after_ms" not in error.metadata
    suspended = await new_tenant(tenancy, status=TenantStatus.SUSPENDED)
    error = rich_error(await failure(reserve(tenancy, issuer, suspended, 1)))
    assert (error.code, error.reason) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "TENANT_NOT_ACTIVE",
    )


# --- authorization ------------------------------------------------------------------------------


async def test_internal_callers_and_members_only(tenancy: Tenancy, issuer: TestIssuer) -> None:
    tenant_id = await new_tenant(tenancy, rpm=100, tpm=10_000)
    other_id = await new_tenant(tenancy, rpm=100, tpm=10_000)
    request = pb.ReserveRequest(tenant_id=tenant_id, tokens=1)
    for role in ("member", "admin", "owner"):
        await tenancy.stub.Reserve(request, metadata=issuer.member(tenant_id, role))
    await tenancy.stub.Reserve(request, metadata=issuer.internal())
    for metadata, reason in (
        (issuer.member(tenant_id, "viewer"), "ROLE_TOO_LOW"),
        (issuer.member(other_id, "owner"), "TENANT_MISMATCH"),
        (issuer.operator(), "TENANT_MISMATCH"),
    ):
        error = rich_error(await failure(tenancy.stub.Reserve(request, metadata=metadata)))
        assert (error.code, error.reason) == (grpc.StatusCode.PERMISSION_DENIED, reason)
    error = rich_error(await failure(tenancy.stub.Reserve(request)))
    assert error.code == grpc.StatusCode.UNAUTHENTICATED

    # Another tenant's reservation cannot be told apart from a missing one.
    made = await reserve(tenancy, issuer, tenant_id, 5)
    error = rich_error(
        await failure(
            tenancy.stub.Release(
                pb.ReleaseRequest(tenant_id=other_id, reservation_id=made.reservation.id),
                metadata=issuer.member(other_id, "owner"),
            )
        )
    )
    assert error.code == grpc.StatusCode.NOT_FOUND
    error = rich_error(
        await failure(
            tenancy.stub.Settle(
                pb.SettleRequest(
                    tenant_id=tenant_id, reservation_id=made.reservation.id, actual_tokens=1
                ),
                metadata=issuer.member(tenant_id, "viewer"),
            )
        )
    )
    assert error.code == grpc.StatusCode.PERMISSION_DENIED
    assert await counter(tenancy, tenant_id, "rpm") == 5


# --- many processes at once ---------------------------------------------------------------------

CALLS_PER_TENANT = 40
PROCESSES = 4

_CHILD = textwrap.dedent(
    """
    import asyncio, json, sys
    import grpc
    from quarterdeck.tenancy.v1 import limits_pb2 as pb
    from quarterdeck.tenancy.v1.limits_pb2_grpc import LimitsServiceStub

    job = json.loads(sys.argv[1])
    metadata = [tuple(pair) for pair in job["metadata"]]

    async def one(stub, tenant_id, tokens):
        try:
            await stub.Reserve(
                pb.ReserveRequest(tenant_id=tenant_id, tokens=tokens), metadata=metadata,
                timeout=30,
            )
            return "granted"
        except grpc.aio.AioRpcError as error:
            return error.code().name

    async def main():
        async with grpc.aio.insecure_channel(job["target"]) as channel:
            stub = LimitsServiceStub(channel)
            await channel.channel_ready()
            print("ready", flush=True)
            sys.stdin.readline()
            calls = []
            for tenant_id, tokens in job["tenants"]:
                calls += [one(stub, tenant_id, tokens) for _ in range(job["calls"])]
            outcomes = await asyncio.gather(*calls)
        counts = {}
        for (tenant_id, _), start in zip(job["tenants"], range(0, len(outcomes), job["calls"])):
            for outcome in outcomes[start:start + job["calls"]]:
                key = tenant_id + ":" + outcome
                counts[key] = counts.get(key, 0) + 1
        print(json.dumps(counts), flush=True)

    asyncio.run(main())
    """
)


def _run_children(jobs: list[dict[str, Any]]) -> list[dict[str, int]]:
    children = [
        subprocess.Popen(
            [sys.executable, "-c", _CHILD, json.dumps(job)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for job in jobs
    ]
    try:
        for child in children:  # every process connected before any of them fires
            assert child.stdout is not None
            line = child.stdout.readline()
            assert line.strip() == "ready", child.stderr.read() if child.stderr else line
        for child in children:
            assert child.stdin is not None
            child.stdin.write("go\n")
            child.stdin.flush()
        results = []
        for child in children:
            out, err = child.communicate(timeout=60)
            assert child.returncode == 0, err
            results.append(json.loads(out.strip().splitlines()[-1]))
        return results
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
                child.wait()


async def test_processes_reserving_at_once_through_two_replicas_never_exceed_a_limit(
    tenancy: Tenancy, issuer: TestIssuer
) -> None:
    by_requests = await new_tenant(tenancy, rpm=50, tpm=1_000_000)  # rpm binds: 50 of 160
    by_tokens = await new_tenant(tenancy, rpm=1000, tpm=2500)  # tpm binds: 25 of 160
    tenants = [(by_requests, 10), (by_tokens, 100)]
    async with running_service(
        "tenancy",
        tenancy.url,
        authenticator=issuer.authenticator(),
        clock=CLOCK,
        **tenancy.overrides,
    ) as replica:
        targets = [tenancy.running.target, replica.target]
        jobs = [
            {
                "target": targets[i % 2],
                "metadata": issuer.internal("conversation"),
                "tenants": tenants,
                "calls": CALLS_PER_TENANT,
            }
            for i in range(PROCESSES)
        ]
        results = await asyncio.get_running_loop().run_in_executor(None, _run_children, jobs)
    totals: dict[str, int] = {}
    for counts in results:
        for key, n in counts.items():
            totals[key] = totals.get(key, 0) + n
    attempts = PROCESSES * CALLS_PER_TENANT
    # Every call is either granted or refused as exhausted; nothing else went wrong.
    assert totals == {
        f"{by_requests}:granted": 50,
        f"{by_requests}:RESOURCE_EXHAUSTED": attempts - 50,
        f"{by_tokens}:granted": 25,
        f"{by_tokens}:RESOURCE_EXHAUSTED": attempts - 25,
    }
    assert await counter(tenancy, by_requests, "rpm") == 50
    assert await counter(tenancy, by_tokens, "tpm") == 2500
    async with tenancy.database.reading() as session:
        stored = await session.scalar(
            select(func.count())
            .select_from(LimitReservationRecord)
            .where(
                LimitReservationRecord.tenant_id.in_([uuid.UUID(by_requests), uuid.UUID(by_tokens)])
            )
        )
    assert stored == 75


# --- plan feature limits ----------------------------------------------------------------------

PERIOD_START = datetime(2026, 11, 1, tzinfo=UTC)
PERIOD_END = datetime(2026, 12, 1, tzinfo=UTC)


async def subscribe(
    tenancy: Tenancy,
    tenant_id: str,
    *features: tuple[str, Metric, int | None, int | None],
    status: SubscriptionStatus = SubscriptionStatus.ACTIVE,
) -> dict[str, str]:
    """Subscribes the tenant to a new plan with these (key, metric, hard, soft) features; the
    counter kind of each feature key."""
    async with tenancy.database.transaction() as session:
        plan = BillingPlanRecord(code=f"p-{uuid.uuid4().hex[:12]}", name="Plan", price_micros=0)
        session.add(plan)
        await session.flush()
        rows = [
            PlanFeatureRecord(
                plan_id=plan.id,
                feature_key=key,
                metric=metric,
                unit=metric.value,
                hard_limit=hard,
                soft_limit=soft,
            )
            for key, metric, hard, soft in features
        ]
        session.add_all(rows)
        session.add(
            SubscriptionRecord(
                tenant_id=uuid.UUID(tenant_id),
                plan_id=plan.id,
                status=status,
                current_period_start=PERIOD_START,
                current_period_end=PERIOD_END,
            )
        )
        await session.flush()
    return {row.feature_key: f"plan:{row.id}" for row in rows}


async def test_a_hard_plan_limit_refuses_the_reservation_that_would_pass_it(
    tenancy: Tenancy, issuer: TestIssuer
) -> None:
    tenant_id = await new_tenant(tenancy, rpm=100, tpm=100000)
    kinds = await subscribe(
        tenancy,
        tenant_id,
        ("tokens", Metric.TOTAL_TOKENS, 1000, None),
        ("storage", Metric.STORAGE_BYTES, 1, None),  # not a metric a reservation counts
    )
    assert list(kinds) == ["tokens", "storage"]
    first = await reserve(tenancy, issuer, tenant_id, 600)
    assert list(first.soft_limits_exceeded) == []
    assert await counter(tenancy, tenant_id, kinds["tokens"]) == 600
    assert await counter(tenancy, tenant_id, kinds["storage"]) == 0

    error = rich_error(await failure(reserve(tenancy, issuer, tenant_id, 401)))
    assert (error.code, error.reason) == (grpc.StatusCode.RESOURCE_EXHAUSTED, "PLAN_LIMIT_REACHED")
    assert error.metadata == {
        "feature": "tokens",
        "limit": "1000",
        "period_end": PERIOD_END.isoformat(),
    }
    # Nothing was taken by the refused call: not from the plan, rpm nor tpm.
    assert await counter(tenancy, tenant_id, kinds["tokens"]) == 600
    assert await counter(tenancy, tenant_id, "rpm") == 1
    assert await counter(tenancy, tenant_id, "tpm") == 600
    # More than the whole limit at once is refused the same way.
    error = rich_error(await failure(reserve(tenancy, issuer, tenant_id, 1001)))
    assert error.reason == "PLAN_LIMIT_REACHED"

    # Exactly up to the limit is granted; one more token is not, even in a later minute.
    await reserve(tenancy, issuer, tenant_id, 400)
    assert await counter(tenancy, tenant_id, kinds["tokens"]) == 1000
    CLOCK.now += 120
    error = rich_error(await failure(reserve(tenancy, issuer, tenant_id, 1)))
    assert error.reason == "PLAN_LIMIT_REACHED"
    assert "retry_after_ms" not in error.metadata


async def test_settling_and_releasing_adjust_the_plan_period_counters(
    tenancy: Tenancy, issuer: TestIssuer
) -> None:
    tenant_id = await new_tenant(tenancy, rpm=100, tpm=100000)
    kinds = await subscribe(
        tenancy,
        tenant_id,
        ("tokens", Metric.TOTAL_TOKENS, 1000, None),
        ("calls", Metric.REQUESTS, 3, None),
    )
    first = await reserve(tenancy, issuer, tenant_id, 900)
    assert rich_error(await failure(reserve(tenancy, issuer, tenant_id, 500))).reason == (
        "PLAN_LIMIT_REACHED"
    )
    await tenancy.stub.Settle(
        pb.SettleRequest(
            tenant_id=tenant_id, reservation_id=first.reservation.id, actual_tokens=300
        ),
        metadata=issuer.internal(),
    )
    assert await counter(tenancy, tenant_id, kinds["tokens"]) == 300
    assert await counter(tenancy, tenant_id, kinds["calls"]) == 1  # the request was made
    second = await reserve(tenancy, issuer, tenant_id, 500)  # the refund made room
    assert await counter(tenancy, tenant_id, kinds["tokens"]) == 800

    # An overrun is charged to the period even past the hard limit: the tokens were spent.
    await tenancy.stub.Settle(
        pb.SettleRequest(
            tenant_id=tenant_id, reservation_id=second.reservation.id, actual_tokens=800
        ),
        metadata=issuer.internal(),
    )
    assert await counter(tenancy, tenant_id, kinds["tokens"]) == 1100

    # Releasing refunds the plan's tokens and requests.
    tenant_id = await new_tenant(tenancy, rpm=100, tpm=100000)
    kinds = await subscribe(
        tenancy,
        tenant_id,
        ("tokens", Metric.TOTAL_TOKENS, 1000, None),
        ("calls", Metric.REQUESTS, 1, None),
    )
    held = await reserve(tenancy, issuer, tenant_id, 700)
    error = rich_error(await failure(reserve(tenancy, issuer, tenant_id, 10)))
    assert (error.reason, error.metadata["feature"]) == ("PLAN_LIMIT_REACHED", "calls")
    await tenancy.stub.Release(
        pb.ReleaseRequest(tenant_id=tenant_id, reservation_id=held.reservation.id),
        metadata=issuer.internal(),
    )
    assert await counter(tenancy, tenant_id, kinds["tokens"]) == 0
    assert await counter(tenancy, tenant_id, kinds["calls"]) == 0
    await reserve(tenancy, issuer, tenant_id, 1000)


async def test_a_soft_plan_limit_grants_and_reports(tenancy: Tenancy, issuer: TestIssuer) -> None:
    tenant_id = await new_tenant(tenancy, rpm=100, tpm=100000)
    kinds = await subscribe(
        tenancy,
        tenant_id,
        ("tokens", Metric.TOTAL_TOKENS, None, 1000),
        ("calls", Metric.REQUESTS, 10, 2),
        status=SubscriptionStatus.TRIALING,
    )
    first = await reserve(tenancy, issuer, tenant_id, 1000)
    assert list(first.soft_limits_exceeded) == []  # at the soft limit is not past it
    second = await reserve(tenancy, issuer, tenant_id, 5000)
    assert sorted(second.soft_limits_exceeded) == ["tokens"]
    third = await reserve(tenancy, issuer, tenant_id, 1)
    assert sorted(third.soft_limits_exceeded) == ["calls", "tokens"]
    assert await counter(tenancy, tenant_id, kinds["tokens"]) == 6001
    assert await counter(tenancy, tenant_id, kinds["calls"]) == 3


async def test_tenants_without_a_live_subscription_are_unaffected(
    tenancy: Tenancy, issuer: TestIssuer
) -> None:
    unsubscribed = await new_tenant(tenancy, rpm=100, tpm=100000)
    canceled = await new_tenant(tenancy, rpm=100, tpm=100000)
    kinds = await subscribe(
        tenancy,
        canceled,
        ("tokens", Metric.TOTAL_TOKENS, 10, 5),
        status=SubscriptionStatus.CANCELED,
    )
    for tenant_id in (unsubscribed, canceled):
        granted = await reserve(tenancy, issuer, tenant_id, 5000)
        assert list(granted.soft_limits_exceeded) == []
        assert granted.remaining_tokens == 95000
    assert await counter(tenancy, canceled, kinds["tokens"]) == 0
    assert await counter(tenancy, unsubscribed, "rpm") == 1
    async with tenancy.database.reading() as session:
        kinds_used = await session.scalars(
            select(LimitCounterRecord.kind).where(
                LimitCounterRecord.tenant_id == uuid.UUID(unsubscribed)
            )
        )
        # No plan counter; rpm and tpm rows only where the database holds them.
        expected = ["rpm", "tpm"] if tenancy.limits_backend == "database" else []
        assert sorted(kinds_used) == expected


async def test_concurrent_reservers_never_pass_a_hard_plan_limit(
    tenancy: Tenancy, issuer: TestIssuer
) -> None:
    tenant_id = await new_tenant(tenancy, rpm=1000, tpm=1_000_000)
    kinds = await subscribe(tenancy, tenant_id, ("tokens", Metric.TOTAL_TOKENS, 1000, None))

    async def one() -> str:
        try:
            await reserve(tenancy, issuer, tenant_id, 70)
            return "granted"
        except grpc.aio.AioRpcError as error:
            return rich_error(error).reason

    outcomes = await asyncio.gather(*(one() for _ in range(40)))
    assert outcomes.count("granted") == 1000 // 70
    assert outcomes.count("PLAN_LIMIT_REACHED") == 40 - 1000 // 70
    assert await counter(tenancy, tenant_id, kinds["tokens"]) == (1000 // 70) * 70
    assert await counter(tenancy, tenant_id, "tpm") == (1000 // 70) * 70
    assert await counter(tenancy, tenant_id, "rpm") == 1000 // 70
