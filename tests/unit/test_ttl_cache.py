"""The shared TTL cache: reuse until the TTL ends, explicit invalidation that a load in flight
cannot undo, one load for concurrent misses, failures never kept."""

from __future__ import annotations

import asyncio

import pytest

from shared.ttl_cache import TtlCache


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def counting(value: str) -> tuple[list[int], object]:
    calls: list[int] = []

    async def load() -> str:
        calls.append(1)
        return f"{value}{len(calls)}"

    return calls, load


async def test_a_value_is_reused_until_its_ttl_ends() -> None:
    clock = Clock()
    cache: TtlCache[str, str] = TtlCache(5, clock=clock)
    calls, load = counting("v")
    assert await cache.get("k", load) == "v1"  # type: ignore[arg-type]
    clock.now += 4.9
    assert await cache.get("k", load) == "v1"  # type: ignore[arg-type]
    clock.now += 0.2
    assert await cache.get("k", load) == "v2"  # type: ignore[arg-type]
    assert len(calls) == 2


async def test_forget_and_clear_invalidate_at_once() -> None:
    cache: TtlCache[str, str] = TtlCache(60, clock=Clock())
    _, load = counting("v")
    await cache.get("a", load)  # type: ignore[arg-type]
    await cache.get("b", load)  # type: ignore[arg-type]
    cache.forget("a")
    assert await cache.get("a", load) == "v3"  # type: ignore[arg-type]
    assert await cache.get("b", load) == "v2"  # type: ignore[arg-type]
    cache.clear()
    assert await cache.get("b", load) == "v4"  # type: ignore[arg-type]


async def test_a_load_begun_before_an_invalidation_is_not_stored() -> None:
    cache: TtlCache[str, str] = TtlCache(60, clock=Clock())
    release = asyncio.Event()

    async def stale() -> str:
        await release.wait()
        return "stale"

    loading = asyncio.create_task(cache.get("k", stale))
    await asyncio.sleep(0)
    cache.forget("k")
    release.set()
    assert await loading == "stale"

    async def fresh() -> str:
        return "fresh"

    assert await cache.get("k", fresh) == "fresh"


async def test_concurrent_misses_share_one_load_and_failures_are_not_kept() -> None:
    cache: TtlCache[str, str] = TtlCache(60, clock=Clock())
    release = asyncio.Event()
    calls: list[int] = []

    async def failing() -> str:
        calls.append(1)
        await release.wait()
        raise RuntimeError("down")

    waiters = [asyncio.create_task(cache.get("k", failing)) for _ in range(3)]
    await asyncio.sleep(0)
    release.set()
    for waiter in waiters:
        with pytest.raises(RuntimeError):
            await waiter
    assert len(calls) == 1
    with pytest.raises(RuntimeError):
        await cache.get("k", failing)
    assert len(calls) == 2


async def test_values_not_cacheable_and_a_zero_ttl_are_loaded_every_time() -> None:
    calls, load = counting("v")
    never_kept: TtlCache[str, str] = TtlCache(60, clock=Clock(), cacheable=lambda v: False)
    await never_kept.get("k", load)  # type: ignore[arg-type]
    await never_kept.get("k", load)  # type: ignore[arg-type]
    off: TtlCache[str, str] = TtlCache(0, clock=Clock())
    await off.get("k", load)  # type: ignore[arg-type]
    assert len(calls) == 3 and len(never_kept) == 0 and len(off) == 0
