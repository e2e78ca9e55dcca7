"""Workers inside the conversation process: each pass leases runs while there is room, and
carries each out as a task beside a heartbeat that keeps its lease.

A run's turn (what the agent does) is given as a :class:`Turn`. Its writes carry the run's
fence; when the heartbeat finds the lease lost (expired and taken over by another worker, or the
run cancelled), the turn is cancelled, and any write it still attempts is refused by the store.
A turn that returns finishes the run as completed unless it parked it (awaiting action); one
that raises fails it with the error's reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from services.conversation.runs.fencing import LeaseLost
from services.conversation.runs.links import ServiceLinks
from services.conversation.runs.queue import ClaimedRun, RunQueue
from shared.background import PeriodicJob, TaskSet
from shared.errors import DomainError

log = logging.getLogger("quarterdeck.conversation.worker")

#: Carries out one leased run; returns True when it parked the run instead of finishing it.
Turn = Callable[[ClaimedRun], Awaitable[bool]]


class RunWorker:
    def __init__(
        self, queue: RunQueue, turn: Turn, *, concurrency: int, links: ServiceLinks | None = None
    ) -> None:
        #: The services the turn calls (closed with the worker's owner).
        self.links = links
        self.worker_id = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._queue = queue
        self._turn = turn
        self._concurrency = concurrency
        self._runs = TaskSet("conversation runs")
        self._wakeups = TaskSet("conversation worker wake-ups")
        self._job: PeriodicJob | None = None

    def job(self, interval_seconds: float) -> PeriodicJob:
        """The periodic pass that polls the queue (runs enqueued by other replicas); runs
        enqueued in this process, and a run ending (its slot free), start a pass at once
        through :meth:`wake`."""
        self._job = PeriodicJob("run worker", interval_seconds, self.run_pass)
        return self._job

    def wake(self) -> None:
        if self._job is not None and not self._job.stopping:
            self._wakeups.spawn(self._job.run_once())

    @property
    def in_flight(self) -> int:
        return len(self._runs)

    async def run_pass(self, job: PeriodicJob | None = None) -> int:
        """Lease runs while there is room; returns how many it started."""
        started = 0
        while self.in_flight < self._concurrency and not (job is not None and job.stopping):
            claimed = await self._queue.claim(self.worker_id)
            if claimed is None:
                break
            # A slot freed: look for the next run at once, not at the next poll.
            self._runs.spawn(self.carry_out(claimed)).add_done_callback(lambda _done: self.wake())
            started += 1
        return started

    async def carry_out(self, run: ClaimedRun) -> None:
        turn = asyncio.ensure_future(self._turn(run))
        beat = asyncio.ensure_future(self._heartbeat(run, turn))
        try:
            parked = await turn
        except asyncio.CancelledError:
            log.info("run %s: lease lost or worker stopping; turn stopped", run.run_id)
            return
        except LeaseLost:
            log.info("run %s: lease lost; its late write was refused", run.run_id)
            return
        except DomainError as refusal:
            await self._fail(
                run,
                {"reason": refusal.reason, "message": refusal.message, "details": refusal.metadata},
            )
            return
        except Exception as exc:
            # A turn's bug or a malformed reply fails the run, never the worker.
            log.exception("run %s: the turn failed", run.run_id)
            await self._fail(
                run, {"reason": "RUN_FAILED", "message": f"the turn failed: {type(exc).__name__}"}
            )
            return
        finally:
            beat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beat
        if not parked:
            await self._close(run, None)

    async def _heartbeat(self, run: ClaimedRun, turn: asyncio.Future[Any]) -> None:
        interval = self._queue.lease.total_seconds() / 3
        while not turn.done():
            await asyncio.sleep(interval)
            if not await self._queue.heartbeat(run.fence):
                turn.cancel()
                return

    async def _fail(self, run: ClaimedRun, error: dict[str, Any]) -> None:
        await self._close(run, error)

    async def _close(self, run: ClaimedRun, error: dict[str, Any] | None) -> None:
        """Complete or fail the run; when even that fails (the database is away), its lease
        lapses and the reaper hands it to another attempt."""
        try:
            await self._queue.finish(run.fence, error=error)
        except LeaseLost:
            pass
        except Exception:
            log.exception("run %s: could not be closed; the reaper will retry it", run.run_id)

    async def drain(self, within_seconds: float | None = None) -> None:
        await self._runs.drain(within_seconds)

    async def close(self, within_seconds: float) -> None:
        await self._wakeups.close(within_seconds)
        await self._runs.close(within_seconds)
