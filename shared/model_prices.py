"""Tenancy's model prices, cached so a service prices usage locally instead of paying a
PriceUsage round trip each time: telemetry's ingest (a row each) and the conversation worker
(a model call each).

A model's price rows (every tier, with their effective ranges) are fetched once with
ListModelPrices and reused for ``price_cache_seconds``; the model's id comes from one ListModels
page of its provider, cached the same way. Rows are then priced with :mod:`shared.pricing_math`,
the very math PriceUsage runs, choosing the price exactly as PriceUsage does (the row's tier,
``effective_from <= time < effective_to``, the latest such start), so the cost is the same.

Concurrent lookups of one key share one fetch. A price an operator sets takes effect no earlier
than when it is set, so a cached history prices rows of the past exactly; rows recorded after a
new price starts may use the old one until the cache entry expires (at most the TTL).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

import grpc

from quarterdeck.tenancy.v1 import pricing_pb2 as tpb
from quarterdeck.tenancy.v1.pricing_pb2_grpc import ModelCatalogServiceStub
from shared.internal_client import InternalToken, call_internal
from shared.pricing_math import Rates, parse_usd_micros
from shared.ttl_cache import TtlCache

#: Tenancy's page maximum: most providers' catalogues and price histories fit in one page.
_PAGE_SIZE = 1000
_CALL_TIMEOUT_SECONDS = 5.0


class PricingUnavailable(Exception):
    """Tenancy could not be asked (unreachable, refused, or not configured)."""


@dataclass(frozen=True, slots=True)
class PriceRange:
    """One of tenancy's price rows: the rates of one tier over [effective_from, effective_to)."""

    tier: int
    effective_from_ns: int
    effective_to_ns: int | None
    rates: Rates
    source: str
    #: The price row's id (what PriceUsage answers as ``price.id``).
    price_id: str = ""


@dataclass(frozen=True, slots=True)
class ModelPrices:
    model_id: str
    ranges: tuple[PriceRange, ...]

    def price_at(self, tier: int, at_ns: int) -> PriceRange | None:
        """The price of ``tier`` in effect at ``at_ns``, chosen as PriceUsage chooses it."""
        best: PriceRange | None = None
        for candidate in self.ranges:
            if (
                candidate.tier == tier
                and candidate.effective_from_ns <= at_ns
                and (candidate.effective_to_ns is None or candidate.effective_to_ns > at_ns)
                and (best is None or candidate.effective_from_ns > best.effective_from_ns)
            ):
                best = candidate
        return best


class PriceSource(Protocol):
    async def model_ids(self, provider: str) -> dict[str, str]: ...

    async def prices(self, model_id: str) -> tuple[PriceRange, ...]: ...


def _rates(price: tpb.ModelPrice) -> Rates:
    return Rates(
        input_per_mtok=parse_usd_micros(price.input_per_mtok, "input_per_mtok"),
        output_per_mtok=parse_usd_micros(price.output_per_mtok, "output_per_mtok"),
        cache_write_per_mtok=parse_usd_micros(price.cache_write_per_mtok, "cache_write_per_mtok"),
        cache_read_per_mtok=parse_usd_micros(price.cache_read_per_mtok, "cache_read_per_mtok"),
        web_search_per_1k=parse_usd_micros(price.web_search_per_1k, "web_search_per_1k"),
        neurons_per_1k=parse_usd_micros(price.neurons_per_1k, "neurons_per_1k"),
        code_exec_per_second=parse_usd_micros(price.code_exec_per_second, "code_exec_per_second"),
    )


class TenancyPriceSource:
    """ListModels and ListModelPrices on tenancy's catalogue, with the caller's internal token;
    the channel is the caller's (closed by it)."""

    def __init__(self, catalog: ModelCatalogServiceStub, identity: InternalToken) -> None:
        self._stub = catalog
        self._identity = identity

    async def _call(self, method: Callable[..., Awaitable[object]], request: object) -> object:
        try:
            return await call_internal(
                method, request, self._identity, call_timeout=_CALL_TIMEOUT_SECONDS
            )
        except (grpc.aio.AioRpcError, RuntimeError) as exc:  # RuntimeError: no internal secret
            raise PricingUnavailable(str(exc)) from exc

    async def model_ids(self, provider: str) -> dict[str, str]:
        found: dict[str, str] = {}
        token = ""
        while True:
            page = await self._call(
                self._stub.ListModels,
                tpb.ListModelsRequest(provider=provider, page_size=_PAGE_SIZE, page_token=token),
            )
            assert isinstance(page, tpb.ListModelsResponse)
            found.update({model.model_name: model.id for model in page.models})
            token = page.next_page_token
            if not token:
                return found

    async def prices(self, model_id: str) -> tuple[PriceRange, ...]:
        ranges: list[PriceRange] = []
        token = ""
        while True:
            page = await self._call(
                self._stub.ListModelPrices,
                tpb.ListModelPricesRequest(
                    model_id=model_id, page_size=_PAGE_SIZE, page_token=token
                ),
            )
            assert isinstance(page, tpb.ListModelPricesResponse)
            ranges += [
                PriceRange(
                    tier=price.tier,
                    effective_from_ns=price.effective_from.ToNanoseconds(),
                    effective_to_ns=(
                        price.effective_to.ToNanoseconds()
                        if price.HasField("effective_to")
                        else None
                    ),
                    rates=_rates(price),
                    source=price.source,
                    price_id=price.id,
                )
                for price in page.prices
            ]
            token = page.next_page_token
            if not token:
                return tuple(ranges)


class PriceCache:
    """Model prices by (provider, model_name), from a :class:`PriceSource`, kept for ``ttl``."""

    def __init__(
        self, source: PriceSource, ttl_seconds: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._source = source
        self._catalogues: TtlCache[str, dict[str, str]] = TtlCache(ttl_seconds, clock=clock)
        self._prices: TtlCache[str, ModelPrices] = TtlCache(ttl_seconds, clock=clock)

    async def model_prices(self, provider: str, model_name: str) -> ModelPrices | None:
        """The model's prices, or None when tenancy has no such model; raises
        PricingUnavailable when tenancy cannot be asked."""
        catalogue = await self._catalogues.get(provider, lambda: self._source.model_ids(provider))
        model_id = catalogue.get(model_name)
        if model_id is None:
            return None

        return await self.prices_of(model_id)

    async def prices_of(self, model_id: str) -> ModelPrices:
        """The prices of the model with id ``model_id`` (none for a model tenancy has none of);
        raises PricingUnavailable when tenancy cannot be asked."""

        async def load() -> ModelPrices:
            return ModelPrices(model_id, await self._source.prices(model_id))

        return await self._prices.get(model_id, load)
