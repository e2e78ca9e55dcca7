"""PriceUsage's model cache: entries live their TTL, a clear wins over a load in flight."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

from quarterdeck.tenancy.v1 import pricing_pb2 as pb
from services.tenancy.pricing.cache import CachedModel, CachedPrice, ModelPriceCache
from services.tenancy.pricing.models import PriceTier
from shared.pricing_math import Rates

T0 = datetime(2030, 1, 1, tzinfo=UTC)


def price(tier: PriceTier, start: datetime, end: datetime | None, name: str) -> CachedPrice:
    return CachedPrice(tier, start, end, Rates(), pb.ModelPrice(id=name))


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def loader(results: list[CachedModel | None]):  # type: ignore[no-untyped-def]
    calls: list[int] = []

    async def load() -> CachedModel | None:
        calls.append(1)
        return results[len(calls) - 1]

    return load, calls


async def test_an_entry_is_reused_until_its_ttl_ends() -> None:
    clock = Clock()
    cache = ModelPriceCache(30, clock)
    first, second = CachedModel(uuid.uuid4(), ()), CachedModel(uuid.uuid4(), ())
    load, calls = loader([first, second])
    assert await cache.get("k", load) is first
    clock.now = 29.9
    assert await cache.get("k", load) is first and len(calls) == 1
    clock.now = 30.0
    assert await cache.get("k", load) is second and len(calls) == 2


async def test_unknown_models_and_a_zero_ttl_are_never_cached() -> None:
    load, calls = loader([None, None])
    cache = ModelPriceCache(30, Clock())
    assert await cache.get("k", load) is None
    assert await cache.get("k", load) is None and len(calls) == 2
    model = CachedModel(uuid.uuid4(), ())
    load, calls = loader([model, model])
    uncached = ModelPriceCache(0, Clock())
    await uncached.get("k", load)
    await uncached.get("k", load)
    assert len(calls) == 2


async def test_a_load_begun_before_a_clear_is_not_stored() -> None:
    cache = ModelPriceCache(30, Clock())
    started, finish = asyncio.Event(), asyncio.Event()
    stale = CachedModel(uuid.uuid4(), ())

    async def slow() -> CachedModel | None:
        started.set()
        await finish.wait()
        return stale

    pending = asyncio.create_task(cache.get("k", slow))
    await started.wait()
    cache.clear()
    finish.set()
    assert await pending is stale  # answered, but not kept
    fresh = CachedModel(uuid.uuid4(), ())
    load, _ = loader([fresh])
    assert await cache.get("k", load) is fresh


def test_the_price_in_effect_is_chosen_as_the_query_chose_it() -> None:
    model = CachedModel(
        uuid.uuid4(),
        (
            price(PriceTier.STANDARD, T0 + timedelta(days=2), None, "third"),
            price(PriceTier.BATCH, T0 + timedelta(days=1), None, "batch"),
            price(PriceTier.STANDARD, T0 + timedelta(days=1), T0 + timedelta(days=2), "second"),
            price(PriceTier.STANDARD, T0, T0 + timedelta(days=1), "first"),
        ),
    )

    def chosen(tier: PriceTier, at: datetime) -> str | None:
        found = model.price_at(tier, at)
        return None if found is None else found.message.id

    assert chosen(PriceTier.STANDARD, T0 - timedelta(microseconds=1)) is None
    assert chosen(PriceTier.STANDARD, T0) == "first"
    assert chosen(PriceTier.STANDARD, T0 + timedelta(days=1)) == "second"  # end is exclusive
    assert chosen(PriceTier.STANDARD, T0 + timedelta(days=9)) == "third"
    assert chosen(PriceTier.BATCH, T0) is None
    assert chosen(PriceTier.BATCH, T0 + timedelta(days=9)) == "batch"
    assert chosen(PriceTier.LONG_CONTEXT, T0 + timedelta(days=9)) is None
