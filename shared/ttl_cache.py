"""Values that rarely change, kept per process for a short time-to-live.

Every replica keeps its own :class:`TtlCache`, so replicas agree by the TTL alone: a change is
seen everywhere within ``ttl`` seconds. The replica that made a change sees it at once by
invalidating (:meth:`TtlCache.forget` or :meth:`TtlCache.clear`) after its commit; a load that
began before an invalidation is not stored after it, so it cannot put the old value back.
Concurrent misses of one key share one load; a failed load is not cached.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

KeyT = TypeVar("KeyT", bound=Hashable)
ValueT = TypeVar("ValueT")

#: Past this many entries the cache starts again empty rather than grow without bound.
DEFAULT_MAX_ENTRIES = 10_000


class TtlCache(Generic[KeyT, ValueT]):
    """Values by key for ``ttl_seconds`` (0 turns caching off), at most ``max_entries``."""

    def __init__(
        self,
        ttl_seconds: float,
        *,
        max_entries: int = DEFAULT_MAX_ENTRIES,
        clock: Callable[[], float] = time.monotonic,
        cacheable: Callable[[ValueT], bool] = lambda _value: True,
    ) -> None:
        if ttl_seconds < 0:
            raise ValueError("ttl_seconds must not be negative")
        self._ttl = ttl_seconds
        self._max_entries = max_entries
        self._clock = clock
        #: Which loaded values are kept (e.g. not "no such thing", which may appear any time).
        self._cacheable = cacheable
        self._values: dict[KeyT, tuple[float, ValueT]] = {}
        self._loading: dict[KeyT, asyncio.Future[ValueT]] = {}
        #: Bumped by every invalidation, so a load begun before one is not stored after it.
        self._generation = 0

    async def get(self, key: KeyT, load: Callable[[], Awaitable[ValueT]]) -> ValueT:
        """The value under ``key``: cached, or ``load``ed (once for concurrent callers)."""
        cached = self._values.get(key)
        if cached is not None and cached[0] > self._clock():
            return cached[1]
        pending = self._loading.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[ValueT] = asyncio.get_running_loop().create_future()
        self._loading[key] = future
        generation = self._generation
        # The expiry counts from before the load, so a value is never trusted for longer than
        # the TTL after the state it reports.
        expires = self._clock() + self._ttl
        try:
            value = await load()
        except asyncio.CancelledError:
            future.cancel()
            raise
        except Exception as exc:
            future.set_exception(exc)
            future.exception()  # marked retrieved: only the waiters re-raise it
            raise
        else:
            future.set_result(value)
            if self._ttl > 0 and generation == self._generation and self._cacheable(value):
                if len(self._values) >= self._max_entries:
                    self._values.clear()
                self._values[key] = (expires, value)
            return value
        finally:
            if self._loading.get(key) is future:
                del self._loading[key]

    def forget(self, key: KeyT) -> None:
        """Invalidate one key (after this process changed what it holds)."""
        self._generation += 1
        self._values.pop(key, None)
        self._loading.pop(key, None)

    def clear(self) -> None:
        """Invalidate every key."""
        self._generation += 1
        self._values.clear()
        self._loading.clear()

    def __len__(self) -> int:
        return len(self._values)
