"""A clock tests set by hand, given to a service through ``running_service(..., clock=...)``."""

from __future__ import annotations

import time


class ManualClock:
    """Answers :attr:`now` (seconds since the epoch) until a test moves it."""

    def __init__(self, now: float | None = None) -> None:
        self.now = time.time() if now is None else now

    def __call__(self) -> float:
        return self.now
