"""Wakes the followers of a conversation in this process when its ledger grows.

An append calls :meth:`LedgerNotifier.notify_after_commit`; once the transaction commits, every
follower waiting on that conversation wakes and re-reads the ledger. Appends made by other
replicas wake nobody here, so followers also re-read every ``follow_poll_seconds``.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession


class LedgerNotifier:
    def __init__(self) -> None:
        self._signals: dict[uuid.UUID, asyncio.Event] = {}
        self._loop: asyncio.AbstractEventLoop | None = None

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

    def notify_after_commit(self, session: AsyncSession, conversation_id: uuid.UUID) -> None:
        loop = asyncio.get_running_loop()

        def committed(_session: object) -> None:
            loop.call_soon_threadsafe(self.notify, conversation_id)

        event.listen(session.sync_session, "after_commit", committed, once=True)

    @staticmethod
    async def wait(signal: asyncio.Event, seconds: float) -> None:
        """Until ``signal`` is set or ``seconds`` passed."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(signal.wait(), seconds)
