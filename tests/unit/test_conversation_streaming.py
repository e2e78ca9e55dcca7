"""Streamed text into the ledger in batches: the first piece is written at once, pieces that
arrive while a write is under way go together in the next one (at most max_batch), in order,
a refused write surfaces at the next piece, and finish hands the tail to the caller's write."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from typing import Any, cast

import pytest

from services.conversation.events.ledger import NewEvent
from services.conversation.runs.fencing import Fence, LeaseLost
from services.conversation.runs.queue import ClaimedRun
from services.conversation.runs.streaming import StreamedText
from services.conversation.runs.writes import RunWrites


class GatedWrites:
    """Stands in for RunWrites.events: each write waits for its gate to open."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []
        self.gate = asyncio.Event()
        self.started = asyncio.Event()
        self.refuse = False

    async def events(self, run: ClaimedRun, events: Sequence[NewEvent]) -> list[Any]:
        self.started.set()
        await self.gate.wait()
        if self.refuse:
            raise LeaseLost("lease lost")
        self.batches.append([e.payload["delta"] for e in events])
        return []


def _run() -> ClaimedRun:
    run_id, conversation_id = uuid.uuid4(), uuid.uuid4()
    return ClaimedRun(
        run_id, uuid.uuid4(), conversation_id, None, {}, 1, Fence(run_id, conversation_id, 1)
    )


def _piece(n: int) -> NewEvent:
    return NewEvent("response.output_text.delta", {"delta": f"w{n}"}, dedupe_key=f"d{n}")


async def test_pieces_arriving_during_a_write_go_together_in_the_next() -> None:
    writes = GatedWrites()
    stream = StreamedText(cast(RunWrites, writes), _run(), max_batch=3)
    stream.add(_piece(0))
    await writes.started.wait()  # the first piece is being written on its own
    for n in range(1, 6):
        stream.add(_piece(n))
    writes.gate.set()
    await stream.close()
    assert writes.batches == [["w0"], ["w1", "w2", "w3"], ["w4", "w5"]]
    assert stream.writes == 3


async def test_a_refused_write_surfaces_at_the_next_piece_and_at_close() -> None:
    writes = GatedWrites()
    writes.refuse = True
    stream = StreamedText(cast(RunWrites, writes), _run(), max_batch=8)
    stream.add(_piece(0))
    writes.gate.set()
    with pytest.raises(LeaseLost):
        await stream.close()
    with pytest.raises(LeaseLost):
        stream.add(_piece(1))
    await stream.abandon()


async def test_a_held_event_goes_with_the_first_piece_or_alone_at_close() -> None:
    writes = GatedWrites()
    writes.gate.set()
    stream = StreamedText(cast(RunWrites, writes), _run(), max_batch=8)
    stream.hold(NewEvent("response.created", {"delta": "created"}, dedupe_key="c"))
    assert stream.writes == 0  # holding writes nothing
    stream.add(_piece(0))
    await stream.close()
    assert writes.batches == [["created", "w0"]] and stream.writes == 1

    alone = StreamedText(cast(RunWrites, writes), _run(), max_batch=8)
    alone.hold(NewEvent("response.created", {"delta": "again"}, dedupe_key="c2"))
    await alone.close()  # no piece came (the call failed): still stored
    assert writes.batches[-1] == ["again"]


async def test_finish_leaves_the_tail_to_the_callers_write_but_writes_the_first_piece() -> None:
    writes = GatedWrites()
    stream = StreamedText(cast(RunWrites, writes), _run(), max_batch=3)
    stream.add(_piece(0))
    await writes.started.wait()  # the first piece is being written on its own
    for n in range(1, 6):
        stream.add(_piece(n))
    writes.gate.set()
    tail = await stream.finish()
    # A batch left over after the first write goes on; the last (at most max_batch) is handed
    # back unwritten, in order.
    assert writes.batches == [["w0"], ["w1", "w2", "w3"]]
    assert [e.payload["delta"] for e in tail] == ["w4", "w5"]

    quick = GatedWrites()
    quick.gate.set()
    early = StreamedText(cast(RunWrites, quick), _run(), max_batch=8)
    early.add(_piece(0))
    early.add(_piece(1))  # every piece came before the writer ran: the first write still goes
    assert await early.finish() == [] and quick.batches == [["w0", "w1"]]


async def test_finish_without_a_piece_hands_back_the_held_event_unwritten() -> None:
    writes = GatedWrites()
    writes.gate.set()
    stream = StreamedText(cast(RunWrites, writes), _run(), max_batch=8)
    stream.hold(NewEvent("response.created", {"delta": "created"}, dedupe_key="c"))
    tail = await stream.finish()
    assert [e.kind for e in tail] == ["response.created"] and writes.batches == []
    assert stream.writes == 0
