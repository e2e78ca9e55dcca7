"""The run worker's wake-ups: a burst of them costs one claim, a claim that found the queue
empty is not repeated by a run ending (nothing was queued since), and a run announced while
that claim was under way, or queued behind a run the worker carries out, is still claimed."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Any, cast

from services.conversation.runs.fencing import Fence
from services.conversation.runs.queue import ClaimedRun, RunQueue
from services.conversation.runs.worker import RunWorker


def _run(conversation_id: uuid.UUID | None = None) -> ClaimedRun:
    run_id, conversation_id = uuid.uuid4(), conversation_id or uuid.uuid4()
    return ClaimedRun(
        run_id=run_id,
        tenant_id=uuid.uuid4(),
        conversation_id=conversation_id,
        segment_id=None,
        payload={},
        attempt=1,
        fence=Fence(run_id, conversation_id, 1),
    )


class FakeQueue:
    """Hands out the runs put in it, then "empty"; counts the claims."""

    lease = timedelta(hours=1)

    def __init__(self) -> None:
        self.queued: list[ClaimedRun] = []
        self.claims = 0
        self.during_claim: Any = None

    async def lease_next(self, _worker_id: str) -> ClaimedRun | str:
        self.claims += 1
        await asyncio.sleep(0)
        if self.during_claim is not None:
            hook, self.during_claim = self.during_claim, None
            hook()
            return "empty"  # its snapshot predates what the hook queued
        return self.queued.pop(0) if self.queued else "empty"

    async def finish(self, _fence: Fence, *, error: Any = None) -> None:
        return None


class Turns:
    """Turns that each wait until released."""

    def __init__(self) -> None:
        self.started: list[ClaimedRun] = []
        self.release: dict[uuid.UUID, asyncio.Event] = {}

    async def __call__(self, run: ClaimedRun) -> bool:
        self.started.append(run)
        await self.release.setdefault(run.run_id, asyncio.Event()).wait()
        return False

    def end(self, run: ClaimedRun) -> None:
        self.release.setdefault(run.run_id, asyncio.Event()).set()


async def _settle() -> None:
    for _ in range(50):
        await asyncio.sleep(0)


def _worker() -> tuple[RunWorker, FakeQueue, Turns]:
    queue, turns = FakeQueue(), Turns()
    worker = RunWorker(cast(RunQueue, queue), turns, concurrency=4)
    worker.job(interval_seconds=3600)  # never polls here: only wake-ups
    return worker, queue, turns


async def test_a_burst_of_wake_ups_costs_one_claim() -> None:
    worker, queue, _turns = _worker()
    for _ in range(10):
        worker.wake(str(uuid.uuid4()))
    await _settle()
    assert queue.claims == 1


async def test_a_run_ending_claims_only_when_something_was_queued_since() -> None:
    worker, queue, turns = _worker()
    first = _run()
    queue.queued.append(first)
    worker.wake(str(first.conversation_id))
    await _settle()
    assert turns.started == [first] and queue.claims == 2  # the run, then "empty"
    turns.end(first)
    await _settle()
    assert queue.claims == 2  # the queue was empty and nothing was announced since
    second = _run()
    queue.queued.append(second)
    worker.wake(str(second.conversation_id))
    await _settle()
    assert turns.started == [first, second]
    turns.end(second)
    await _settle()
    await worker.close(1)


async def test_a_run_announced_while_a_claim_finds_nothing_is_claimed() -> None:
    worker, queue, turns = _worker()
    late = _run()

    def queued_meanwhile() -> None:
        queue.queued.append(late)
        worker.wake(str(late.conversation_id))

    queue.during_claim = queued_meanwhile
    worker.wake()
    await _settle()
    assert turns.started == [late]
    turns.end(late)
    await _settle()
    await worker.close(1)


async def test_a_run_queued_behind_the_workers_own_is_claimed_when_that_one_ends() -> None:
    worker, queue, turns = _worker()
    first = _run()
    queue.queued.append(first)
    worker.wake(str(first.conversation_id))
    await _settle()
    # The next message's run: not claimable while the first runs (the claim finds nothing).
    worker.wake(str(first.conversation_id))
    await _settle()
    assert turns.started == [first]
    behind = _run(first.conversation_id)
    queue.queued.append(behind)
    turns.end(first)
    await _settle()
    assert turns.started == [first, behind]
    turns.end(behind)
    await _settle()
    await worker.close(1)
