"""Writes that arrive together, written together: one statement for a group of calls.

Fifty callers reserving for one tenant each take that tenant's rpm and tpm rows; on PostgreSQL
each statement holds those rows' locks until it commits, so one at a time gets through,
whatever the number of connections, while each costs a round trip (a write and a read on the
socket, a wake-up of the event loop) and the server a statement. :class:`Grouped` gathers the
calls for one key (a tenant's window) that arrive in the same turn of the event loop, or while
the previous group for that key is being written, and hands them to ``write`` as one group: one
statement, one round trip, the rows locked once. A group's calls are answered when it is
written; the next group, gathered meanwhile, starts then (one group in flight per key, as a
group commit does). A lone call waits one turn of the loop more than it would alone.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable, Sequence
from typing import Generic, TypeVar

from shared.background import TaskSet

K = TypeVar("K", bound=Hashable)
I = TypeVar("I")  # noqa: E741 - the item, beside K and R
R = TypeVar("R")


class Grouped(Generic[K, I, R]):
    """Items submitted under one key are written in groups by ``write(key, items)``, which
    answers each item's outcome, in order; an error it raises is every item's."""

    def __init__(self, write: Callable[[K, list[I]], Awaitable[Sequence[R | Exception]]]) -> None:
        self._write = write
        #: Per key, the items waiting for the next group, with their callers' futures.
        self._gathering: dict[K, list[tuple[I, asyncio.Future[R]]]] = {}
        #: Keys with a group being written.
        self._writing: set[K] = set()
        #: The groups being written.
        self._groups = TaskSet("limit groups")

    async def submit(self, key: K, item: I) -> R:
        """Writes ``item`` with those submitted with it; its outcome. A caller cancelled
        while waiting does not stop its item's write once its group started."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[R] = loop.create_future()
        gathering = self._gathering.get(key)
        if gathering is None:
            gathering = self._gathering[key] = []
            if key not in self._writing:
                # After the calls this turn of the loop runs, so that they join the group.
                loop.call_soon(self._start, key)
        gathering.append((item, future))
        return await future

    def _start(self, key: K) -> None:
        group = [
            (item, future) for item, future in self._gathering.pop(key, ()) if not future.done()
        ]
        if not group:
            return
        self._writing.add(key)
        self._groups.spawn(self._run(key, group))

    async def _run(self, key: K, group: list[tuple[I, asyncio.Future[R]]]) -> None:
        try:
            outcomes = await self._write(key, [item for item, _ in group])
        except Exception as error:  # noqa: BLE001 - every caller's answer
            for _, future in group:
                if not future.done():
                    future.set_exception(error)
        except BaseException:
            for _, future in group:
                future.cancel()
            raise
        else:
            for (_, future), outcome in zip(group, outcomes, strict=True):
                if future.done():  # its caller was cancelled
                    continue
                if isinstance(outcome, Exception):
                    future.set_exception(outcome)
                else:
                    future.set_result(outcome)
        finally:
            self._writing.discard(key)
            if key in self._gathering:
                self._start(key)
