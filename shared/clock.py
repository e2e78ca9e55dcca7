"""The one way services tell the time they reason with (windows, expiries): a clock taken from
the service context, so tests pass a clock of their own instead of patching module globals."""

from __future__ import annotations

import time
from collections.abc import Callable

#: Seconds since the epoch, as ``time.time`` answers.
Clock = Callable[[], float]

system_clock: Clock = time.time
