"""The model's streamed text into the ledger, batched: each write is one fenced transaction of
every piece that arrived while the previous write was under way.

The first piece is written at once (a follower sees the first token as soon as a transaction
allows); while a write runs, pieces queue, and the next write takes them all (at most
``max_batch``), so under load a stream costs a transaction per batch rather than per piece,
and idle it still costs no waiting. An event :meth:`StreamedText.hold` queued (the step's
``response.created``) rides with the first piece, and :meth:`StreamedText.finish` hands the
pieces not yet written to the step's closing write (its usage and end), so the stream's tail
costs no transaction of its own either. Each piece keeps its own event, cursor and dedupe key,
so a run repeated after a crash stores none twice. A write refused (the lease lost) surfaces
at the next piece, at :meth:`StreamedText.finish` or at :meth:`StreamedText.close`, which waits
until every piece is stored.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

from services.conversation.events.ledger import NewEvent
from services.conversation.runs.queue import ClaimedRun
from services.conversation.runs.writes import RunWrites


class StreamedText:
    def __init__(
        self,
        writes: RunWrites,
        run: ClaimedRun,
        *,
        max_batch: int,
        after_first_write: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self._writes = writes
        self._run = run
        self._max_batch = max_batch
        self._after_first_write = after_first_write
        self._pending: list[NewEvent] = []
        self._writer: asyncio.Task[None] | None = None
        #: Set by :meth:`finish`: the writer stops once at most a batch is left.
        self._finishing = False
        self._pieces = 0
        #: Transactions written (the benchmark and tests read it).
        self.writes = 0

    def hold(self, event: NewEvent) -> None:
        """Queue an event without starting a write: it goes with the first piece (or at
        :meth:`close`), so a step's opening event costs no transaction of its own."""
        self._pending.append(event)

    def add(self, event: NewEvent) -> None:
        """Queue one piece; start a write unless one is under way (it takes this one next)."""
        self._raise_failure()
        self._pending.append(event)
        self._pieces += 1
        if self._writer is None or self._writer.done():
            self._writer = asyncio.ensure_future(self._drain())

    async def close(self) -> None:
        """Wait until every piece queued is stored (or raise why it could not be); after
        :meth:`finish`, until at most a batch is left."""
        while self._writer is not None:
            writer = self._writer
            await writer
            if writer is self._writer:
                self._writer = None
        if self._pending and not self._finished:  # queued after the last write ended
            await self._drain()

    @property
    def _finished(self) -> bool:
        """Finishing, the first piece written (if any came), at most a batch left."""
        return (
            self._finishing
            and (self.writes > 0 or self._pieces == 0)
            and len(self._pending) <= self._max_batch
        )

    async def finish(self) -> list[NewEvent]:
        """Wait for the write under way (the first piece's at least, so a follower still sees
        it at once) and return what is left, at most a batch, for the caller's next write to
        carry instead of a transaction of its own."""
        self._finishing = True
        await self.close()
        pending, self._pending = self._pending, []
        return pending

    async def abandon(self) -> None:
        """Stop writing (the turn is ending some other way)."""
        writer, self._writer = self._writer, None
        if writer is not None and not writer.done():
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await writer

    def _raise_failure(self) -> None:
        writer = self._writer
        if writer is not None and writer.done() and not writer.cancelled():
            failure = writer.exception()
            if failure is not None:
                raise failure

    async def _drain(self) -> None:
        while self._pending and not self._finished:
            batch = self._pending[: self._max_batch]
            del self._pending[: len(batch)]
            await self._writes.events(self._run, batch)
            self.writes += 1
            if self.writes == 1 and self._after_first_write is not None:
                await self._after_first_write()
