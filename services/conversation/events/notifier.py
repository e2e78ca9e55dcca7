"""Wakes the followers of a conversation in this process when its ledger grows.

An append calls :meth:`LedgerNotifier.notify_after_commit`; once the transaction commits, every
follower waiting on that conversation wakes and re-reads the ledger. Appends made by other
processes arrive as a NOTIFY where the listener runs (PostgreSQL), and otherwise by polling:
with a database, one poll every ``poll_seconds`` reads the cursor of every conversation
followers wait on, in one statement, and wakes those whose ledger grew past their cursor (the
cost of polling does not grow with the followers, only with the conversations they follow);
without one, each follower re-reads on its own every ``poll_seconds``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import logging
import uuid

from sqlalchemy import bindparam, select

from services.conversation.conversations.models import ConversationRecord
from shared.db import Database, Transaction, call_after_commit

log = logging.getLogger("quarterdeck.conversation.followers")

#: The most conversations one poll statement asks about.
POLL_BATCH = 500

_CURSORS = select(ConversationRecord.id, ConversationRecord.last_event_sequence).where(
    ConversationRecord.id.in_(bindparam("ids", expanding=True))
)


class LedgerNotifier:
    def __init__(self, database: Database | None = None, poll_seconds: float = 1.0) -> None:
        self._signals: dict[uuid.UUID, asyncio.Event] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._database = database
        self._poll_seconds = poll_seconds
        #: Per conversation followed, each waiting follower's cursor (by a token of its wait).
        self._waiting: dict[uuid.UUID, dict[int, int]] = {}
        self._tokens = itertools.count()
        self._poller: asyncio.Task[None] | None = None

    def signal(self, conversation_id: uuid.UUID) -> asyncio.Event:
        """The event the next append to the conversation sets: take it *before* reading the
        ledger, so an append between the read and the wait is not missed."""
        self._loop = asyncio.get_running_loop()
        signal = self._signals.get(conversation_id)
        if signal is None:
            signal = self._signals[conversation_id] = asyncio.Event()
        return signal

    def notify(self, conversation_id: uuid.UUID) -> None:
        signal = self._signals.pop(conversation_id, None)
        if signal is not None:
            signal.set()

    def notify_after_commit(self, session: Transaction, conversation_id: uuid.UUID) -> None:
        """Wake the conversation's followers once ``session``'s transaction commits (once,
        however many appends to it the transaction made)."""
        call_after_commit(
            session, (self, conversation_id), functools.partial(self.notify, conversation_id)
        )

    async def wait(
        self,
        conversation_id: uuid.UUID,
        after: int,
        signal: asyncio.Event,
        *,
        within: float | None = None,
    ) -> None:
        """Until ``signal`` is set (by an append here, a NOTIFY, or the poll finding the
        conversation's ledger past ``after``, the follower's cursor), or ``within`` seconds
        passed."""
        if self._database is None:
            seconds = self._poll_seconds if within is None else min(within, self._poll_seconds)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(signal.wait(), seconds)
            return
        token = next(self._tokens)
        waiting = self._waiting.setdefault(conversation_id, {})
        waiting[token] = after
        if self._poller is None or self._poller.done():
            self._poller = asyncio.get_running_loop().create_task(
                self._poll(), name="conversation followers' poll"
            )
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(signal.wait(), within)
        finally:
            waiting.pop(token, None)
            if not waiting and self._waiting.get(conversation_id) is waiting:
                del self._waiting[conversation_id]

    async def _poll(self) -> None:
        assert self._database is not None
        while self._waiting:
            await asyncio.sleep(self._poll_seconds)
            followed = list(self._waiting)
            for start in range(0, len(followed), POLL_BATCH):
                try:
                    rows = await self._database.fetch(
                        _CURSORS, {"ids": followed[start : start + POLL_BATCH]}
                    )
                except Exception:
                    log.exception("the followers' poll failed; trying again")
                    continue
                for conversation_id, last in rows:
                    waiting = self._waiting.get(conversation_id)
                    if waiting and last > min(waiting.values()):
                        self.notify(conversation_id)

    async def close(self) -> None:
        poller, self._poller = self._poller, None
        if poller is not None:
            poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await poller
