"""BackgroundBatches: rows queued while a call is out go in the next call, at most max_batch
per call, every row once; transient failures are retried with the rows kept, refusals and a
full queue are counted as lost (and logged), never raised to the caller."""

from __future__ import annotations

import asyncio
from typing import Any

import grpc

from shared.background_calls import BackgroundBatches


class Token:
    async def internal_metadata(self) -> list[tuple[str, str]]:
        return [("authorization", "Bearer internal")]

    def forget_internal_token(self) -> None:
        pass


class Receiver:
    """A stand-in RPC: records each request's rows; the first call waits for ``release``."""

    def __init__(self, failures: list[grpc.StatusCode] | None = None) -> None:
        self.batches: list[list[int]] = []
        self.release = asyncio.Event()
        self.failures = list(failures or [])

    async def __call__(self, request: list[int], **_: Any) -> None:
        if not self.batches and not self.release.is_set():
            await self.release.wait()
        if self.failures:
            code = self.failures.pop(0)
            raise grpc.aio.AioRpcError(code, grpc.aio.Metadata(), grpc.aio.Metadata(), "no")
        self.batches.append(list(request))


def batches(receiver: Receiver, **options: Any) -> BackgroundBatches[int]:
    return BackgroundBatches(
        "test", "rows", Token(), receiver, list, first_backoff_seconds=0.01, **options
    )


async def test_rows_queued_during_a_call_go_in_the_next_one_at_most_max_batch_each() -> None:
    receiver = Receiver()
    sender = batches(receiver, max_batch=4)
    sender.add(0)
    await asyncio.sleep(0)  # the first call is out, waiting
    for row in range(1, 11):
        sender.add(row)
    receiver.release.set()
    await sender.drain(10)
    assert receiver.batches == [[0], [1, 2, 3, 4], [5, 6, 7, 8], [9, 10]]
    assert (sender.sent, sender.lost, len(sender)) == (11, 0, 0)
    sender.add(11)  # a new sender starts once the last one ended
    await sender.drain(10)
    assert receiver.batches[-1] == [11]


async def test_a_transient_failure_is_retried_with_its_rows_and_a_refusal_loses_them() -> None:
    receiver = Receiver([grpc.StatusCode.UNAVAILABLE])
    receiver.release.set()
    sender = batches(receiver)
    sender.add(1)
    sender.add(2)
    await sender.drain(10)
    assert receiver.batches == [[1, 2]]
    receiver.failures = [grpc.StatusCode.INVALID_ARGUMENT]
    sender.add(3)
    await sender.drain(10)
    assert (sender.sent, sender.lost) == (2, 1)


async def test_past_max_pending_rows_are_dropped_and_counted() -> None:
    receiver = Receiver()
    sender = batches(receiver, max_pending=3)
    sender.add(0)
    await asyncio.sleep(0)
    for row in range(1, 6):
        sender.add(row)
    assert (len(sender), sender.lost) == (3, 2)
    receiver.release.set()
    await sender.drain(10)
    assert receiver.batches == [[0], [1, 2, 3]]
    await sender.close()


async def test_with_a_linger_rows_added_meanwhile_share_the_first_call() -> None:
    receiver = Receiver()
    receiver.release.set()
    sender = batches(receiver, linger_seconds=0.05)
    sender.add(1)
    await asyncio.sleep(0)  # the sender is lingering, no call made yet
    sender.add(2)
    sender.add(3)
    await sender.drain(10)
    assert receiver.batches == [[1, 2, 3]]
