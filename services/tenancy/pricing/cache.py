"""PriceUsage's cache of models and their prices: prices rarely change, and usage is priced on
every model call.

Each entry is one model (looked up by id or by provider and name) with every price row it has,
all tiers and all effective ranges, so the price in effect at any moment is chosen from it
exactly as the database query chose it. Entries live ``price_cache_seconds``. Every catalogue
change made through this process (a model created or updated, a price set) clears the cache
once its transaction has committed; other replicas see the change when their entries expire,
at most ``price_cache_seconds`` later. A load that started before a clear does not store its
(possibly stale) result. Unknown models are not cached: a model created on another replica is
found on the next call.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from datetime import datetime

from quarterdeck.tenancy.v1 import pricing_pb2 as pb
from services.tenancy.pricing.models import PriceTier
from shared.pricing_math import Rates
from shared.ttl_cache import TtlCache

#: Entries kept at most; past it the cache starts over (the catalogue is far smaller).
MAX_ENTRIES = 10_000


@dataclass(frozen=True, slots=True)
class CachedPrice:
    """One price row: its tier and range, its rates, and its message as PriceUsage sends it."""

    tier: PriceTier
    effective_from: datetime
    effective_to: datetime | None
    rates: Rates
    message: pb.ModelPrice


@dataclass(frozen=True, slots=True)
class CachedModel:
    model_id: uuid.UUID
    #: Latest effective_from first.
    prices: tuple[CachedPrice, ...]

    def price_at(self, tier: PriceTier, moment: datetime) -> CachedPrice | None:
        """The price of ``tier`` in effect at ``moment``: ``effective_from <= moment <
        effective_to`` (open-ended when unset), the latest such start."""
        for price in self.prices:
            if (
                price.tier == tier
                and price.effective_from <= moment
                and (price.effective_to is None or price.effective_to > moment)
            ):
                return price
        return None


class ModelPriceCache:
    """Each model with its whole price history, for ``ttl_seconds``; unknown models are not
    kept (one may be added at any time)."""

    def __init__(self, ttl_seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._cache: TtlCache[Hashable, CachedModel | None] = TtlCache(
            ttl_seconds,
            max_entries=MAX_ENTRIES,
            clock=clock,
            cacheable=lambda model: model is not None,
        )

    async def get(
        self, key: Hashable, load: Callable[[], Awaitable[CachedModel | None]]
    ) -> CachedModel | None:
        """The model under ``key``, from the cache or else ``load``ed (None: no such model)."""
        return await self._cache.get(key, load)

    def clear(self) -> None:
        """Forgets every entry: called after any change to models or prices commits."""
        self._cache.clear()
