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
        #: A woken pass is spawned and has not begun yet.
        self._pass_waiting = False
        #: Reasons to claim so far (runs announced, polls), and how many there were when the
        #: last claim that found nothing claimable began: none came since, none is worth a
        #: claim (counted, so a run announced while that claim ran is not forgotten).
        self._reasons = 1
        self._reasons_when_empty = 0
        #: The conversations whose runs this worker carries out now.
        self._running: set[str] = set()
        #: Those of them with a run queued behind theirs (announced meanwhile).
        self._blocked: set[str] = set()

    def job(self, interval_seconds: float) -> PeriodicJob:
        """The periodic pass that polls the queue (runs enqueued where no announcement reaches
        this process: SQLite elsewhere, a notification lost); runs announced as enqueued, and
        a run ending (its slot free), start a pass at once through :meth:`wake`."""
        self._job = PeriodicJob("run worker", interval_seconds, self.run_pass)
        return self._job

    def wake(self, conversation_id: str | None = None) -> None:
        """A run was queued (of ``conversation_id``, when known): claim soon. A run queued
        behind one this worker carries out may not be claimable before that one ends: the
        end claims again. Wake-ups coalesce: while a woken pass waits for the one under way to
        end, another adds nothing (that pass claims what either would)."""
        if conversation_id and conversation_id in self._running:
            # Claimable now if that run was interrupted, else once it ends: claimed then.
            self._blocked.add(conversation_id)
        self._reasons += 1
        self._pass_soon()

    def _ended(self, conversation_id: str) -> None:
        """A run ended, its slot free: claim again, unless the last claim found the queue
        empty and nothing was queued since (a claim then would find it empty again)."""
        self._running.discard(conversation_id)
        if conversation_id in self._blocked:
            self._blocked.discard(conversation_id)
            self._reasons += 1
        if self._maybe_claimable:
            self._pass_soon()

    @property
    def _maybe_claimable(self) -> bool:
        return self._reasons != self._reasons_when_empty

    def _on_end(self, conversation_id: str) -> Callable[[object], None]:
        return lambda _done: self._ended(conversation_id)

    def _pass_soon(self) -> None:
        if self._job is not None and not self._job.stopping and not self._pass_waiting:
            self._pass_waiting = True
            self._wakeups.spawn(self._job.run_once())

    @property
    def in_flight(self) -> int:
        return len(self._runs)

    async def run_pass(self, job: PeriodicJob | None = None) -> int:
        """Lease runs while there is room and the queue may hold a claimable one; returns how
        many it started."""
        # Begun: a wake-up from now on may find this pass past its last claim, so it counts.
        woken, self._pass_waiting = self._pass_waiting, False
        if not woken:  # a poll: runs may have been queued unannounced
            self._reasons += 1
        started = 0
        while (
            self._maybe_claimable
            and self.in_flight < self._concurrency
            and not (job is not None and job.stopping)
        ):
            reasons = self._reasons
            claimed = await self._queue.lease_next(self.worker_id)
            if claimed == "empty":
                self._reasons_when_empty = reasons
                break
            if claimed == "busy":
                break  # tried again on the next pass
            assert isinstance(claimed, ClaimedRun)
            conversation_id = str(claimed.conversation_id)
            self._running.add(conversation_id)
            # A slot freed: look for the next run at once, not at the next poll.
            self._runs.spawn(self.carry_out(claimed)).add_done_callback(
                self._on_end(conversation_id)
            )
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
