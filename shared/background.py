"""Work a service does besides answering calls: periodic jobs and fire-and-forget tasks.

A :class:`PeriodicJob` is declared on ``ServiceSpec.background``; the bootstrap starts it once the
server is serving and stops it when the service stops. A :class:`TaskSet` holds tasks nobody
awaits (a report sent in the background) until shutdown awaits or cancels them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any

log = logging.getLogger("quarterdeck.background")


class PeriodicJob:
    """A pass of ``run_pass`` every ``interval_seconds`` (the first one interval after the start),
    one at a time; a failed pass is logged and the next one tried an interval later.

    A pass that works in batches checks :attr:`stopping` between them: on stop it is given the
    grace period to end, and only past it is it cancelled. An interval of 0 (or less) turns the
    job off: :meth:`start` does nothing, but :meth:`run_once` still runs a pass on demand.

    A job fed by work arriving (a queue to drain) calls :meth:`wake` when some arrives: the next
    pass then starts at once (after the running one, if any) instead of an interval later.
    """

    def __init__(
        self,
        name: str,
        interval_seconds: float,
        run_pass: Callable[[PeriodicJob], Awaitable[object]],
    ) -> None:
        self.name = name
        self.interval_seconds = interval_seconds
        self._run_pass = run_pass
        self._lock = asyncio.Lock()
        self._stopping = asyncio.Event()
        self._woken = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        #: Passes begun and passes ended (failed ones too): what a caller waits on, not a clock.
        self.passes_started = 0
        self.passes_ended = 0

    @property
    def stopping(self) -> bool:
        """True once the service stops: a pass ends after its current batch."""
        return self._stopping.is_set()

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def run_once(self) -> None:
        """One pass; a second caller in this process waits for the running one to end."""
        async with self._lock:
            self.passes_started += 1
            try:
                await self._run_pass(self)
            finally:
                self.passes_ended += 1

    def start(self) -> None:
        if self.interval_seconds <= 0 or self._task is not None:
            return
        self._task = asyncio.get_running_loop().create_task(self._run_forever(), name=self.name)
        log.info("%s: a pass every %.1fs", self.name, self.interval_seconds)

    def wake(self) -> None:
        """Start the next pass now rather than at the end of the interval (once the running pass,
        if any, has ended). Cheap enough to call on every arrival of work."""
        self._woken.set()

    def request_stop(self) -> None:
        """Tell a running pass to end after its batch, and the loop to start no other."""
        self._stopping.set()

    async def stop(self, grace_seconds: float) -> None:
        """Let a running pass end after its batch within ``grace_seconds``, then cancel it."""
        self.request_stop()
        task, self._task = self._task, None
        if task is None:
            return
        done, _ = await asyncio.wait({task}, timeout=grace_seconds)
        if not done:
            log.info("%s: pass still running after %.1fs; cancelled", self.name, grace_seconds)
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def _run_forever(self) -> None:
        while not await self._stopped_within(self.interval_seconds):
            try:
                await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception(
                    "%s: pass failed; retrying in %.1fs", self.name, self.interval_seconds
                )

    async def _stopped_within(self, seconds: float) -> bool:
        """Waits the interval, or less if stopped or woken; a wake-up that came during the pass
        just ended starts the next one at once."""
        if not self._woken.is_set() and not self._stopping.is_set():
            waits = {
                asyncio.ensure_future(self._stopping.wait()),
                asyncio.ensure_future(self._woken.wait()),
            }
            try:
                await asyncio.wait(waits, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for waiting in waits:
                    waiting.cancel()
        self._woken.clear()
        return self.stopping


async def stop_jobs(jobs: Sequence[PeriodicJob], grace_seconds: float) -> None:
    """Stop every job at once, each within ``grace_seconds``."""
    for job in jobs:
        job.request_stop()
    await asyncio.gather(*(job.stop(grace_seconds) for job in jobs))


class TaskSet:
    """Fire-and-forget tasks, kept referenced until done, awaited or cancelled at shutdown."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._tasks: set[asyncio.Task[Any]] = set()

    def __len__(self) -> int:
        return len(self._tasks)

    def spawn(self, work: Coroutine[Any, Any, object]) -> asyncio.Task[Any]:
        """Run ``work`` in the background; the task copies the current context (trace, caller)."""
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def drain(self, within_seconds: float | None = None) -> None:
        """Wait for the tasks in flight, at most ``within_seconds``."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=within_seconds)

    async def close(self, within_seconds: float) -> None:
        """Give the tasks in flight ``within_seconds`` to finish, then cancel the rest."""
        await self.drain(within_seconds)
        left = set(self._tasks)
        if left:
            log.warning("%s: %d background tasks cancelled at shutdown", self._name, len(left))
        for task in left:
            task.cancel()
        if left:
            await asyncio.gather(*left, return_exceptions=True)
