"""Waiting on conditions instead of sleeping a fixed time: poll until the condition holds, and
when it never does, fail with what was awaited and for how long. Timeouts are generous because a
loaded machine is slow, not wrong; a fast one returns at the first poll that succeeds."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

#: How long a test waits for something that happens in the background before it gives up.
DEFAULT_WAIT_SECONDS = 30.0


async def eventually(
    condition: Callable[[], Awaitable[bool]],
    waiting_for: str,
    within: float = DEFAULT_WAIT_SECONDS,
    interval: float = 0.05,
) -> None:
    """Return once ``condition()`` is true; raise naming ``waiting_for`` after ``within`` seconds."""
    deadline = time.monotonic() + within
    while not await condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up after {within:.0f} s waiting for {waiting_for}")
        await asyncio.sleep(interval)


def eventually_sync(
    condition: Callable[[], bool],
    waiting_for: str,
    within: float = DEFAULT_WAIT_SECONDS,
    interval: float = 0.2,
) -> None:
    """The blocking twin of :func:`eventually`, for tests that drive processes."""
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up after {within:.0f} s waiting for {waiting_for}")
        time.sleep(interval)
