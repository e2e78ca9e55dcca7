"""The price cache telemetry prices usage rows from: one fetch per model per TTL, shared by
concurrent lookups, and the price chosen exactly as tenancy's PriceUsage chooses it."""

from __future__ import annotations

import asyncio

import pytest

from quarterdeck.tenancy.v1 import pricing_pb2 as tpb
from shared.model_prices import (
    ModelPrices,
    PriceCache,
    PriceRange,
    PricingUnavailable,
)
from shared.pricing_math import Rates

SECOND = 10**9
OLD = PriceRange(tpb.PRICE_TIER_STANDARD, 0, 100 * SECOND, Rates(input_per_mtok=1), "seed")
NEW = PriceRange(tpb.PRICE_TIER_STANDARD, 100 * SECOND, None, Rates(input_per_mtok=2), "operator")
BATCH = PriceRange(tpb.PRICE_TIER_BATCH, 0, None, Rates(input_per_mtok=3), "seed")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class CountingSource:
    """A PriceSource that answers from a dict and counts what it was asked."""

    def __init__(self) -> None:
        self.catalogue_reads: list[str] = []
        self.price_reads: list[str] = []
        self.failing = False
        self.release = asyncio.Event()
        self.release.set()

    async def model_ids(self, provider: str) -> dict[str, str]:
        self.catalogue_reads.append(provider)
        if self.failing:
            raise PricingUnavailable("tenancy is down")
        await self.release.wait()
        return {"m": "id-m"} if provider == "p" else {}

    async def prices(self, model_id: str) -> tuple[PriceRange, ...]:
        self.price_reads.append(model_id)
        return (OLD, NEW, BATCH)


def test_price_at_picks_the_range_in_effect_like_price_usage() -> None:
    prices = ModelPrices("id-m", (OLD, NEW, BATCH))
    assert prices.price_at(tpb.PRICE_TIER_STANDARD, 0) is OLD
    assert prices.price_at(tpb.PRICE_TIER_STANDARD, 100 * SECOND - 1) is OLD
    # effective_to is exclusive, effective_from inclusive.
    assert prices.price_at(tpb.PRICE_TIER_STANDARD, 100 * SECOND) is NEW
    assert prices.price_at(tpb.PRICE_TIER_BATCH, 10**20) is BATCH
    assert prices.price_at(tpb.PRICE_TIER_LONG_CONTEXT, 5) is None
    assert prices.price_at(tpb.PRICE_TIER_STANDARD, -1) is None


async def test_one_fetch_per_model_until_the_ttl_passes() -> None:
    source, clock = CountingSource(), Clock()
    cache = PriceCache(source, ttl_seconds=60, clock=clock)
    for _ in range(100):
        prices = await cache.model_prices("p", "m")
        assert prices is not None and prices.model_id == "id-m"
    assert (source.catalogue_reads, source.price_reads) == (["p"], ["id-m"])
    assert await cache.model_prices("p", "unknown") is None  # same provider: no new read
    assert source.catalogue_reads == ["p"]
    clock.now += 61
    await cache.model_prices("p", "m")
    assert (source.catalogue_reads, source.price_reads) == (["p", "p"], ["id-m", "id-m"])


async def test_concurrent_lookups_share_one_fetch() -> None:
    source = CountingSource()
    source.release.clear()
    cache = PriceCache(source, ttl_seconds=60, clock=Clock())
    lookups = [asyncio.create_task(cache.model_prices("p", "m")) for _ in range(20)]
    await asyncio.sleep(0)
    source.release.set()
    results = await asyncio.gather(*lookups)
    assert all(result is results[0] for result in results)
    assert (source.catalogue_reads, source.price_reads) == (["p"], ["id-m"])


async def test_a_failed_fetch_is_not_cached() -> None:
    source = CountingSource()
    cache = PriceCache(source, ttl_seconds=60, clock=Clock())
    source.failing = True
    with pytest.raises(PricingUnavailable):
        await cache.model_prices("p", "m")
    source.failing = False
    assert await cache.model_prices("p", "m") is not None
    assert source.catalogue_reads == ["p", "p"]
