"""Named points of a run's turn where a test may stop a worker dead, to kill -9 it there.

``run_pause_at`` names one phase; the first run of the worker to reach it writes ``<pid> <run
id>`` to ``run_pause_file`` and then waits forever (its heartbeat goes on), so the test, which
waits for the file, kills the process at exactly that point. Unset (always, outside tests), a
phase costs nothing.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from pathlib import Path

#: Leased, nothing of the turn done yet.
LEASED = "leased"
#: The first piece of the model's text stored in the ledger, the rest not yet.
STREAMING = "streaming"
#: A tool call executed through tooling, its result not yet stored.
TOOL_REQUESTED = "tool_requested"
#: The assistant's answer stored, the run's accounting (task record, usage counters) not yet.
ANSWERED = "answered"
PHASES = (LEASED, STREAMING, TOOL_REQUESTED, ANSWERED)


class PausePoints:
    def __init__(self, phase: str | None, file: str | None) -> None:
        if phase is not None and phase not in PHASES:
            raise ValueError(f"run_pause_at must be one of {', '.join(PHASES)}, not {phase!r}")
        if phase is not None and not file:
            raise ValueError("run_pause_at needs run_pause_file")
        self._phase = phase
        self._file = Path(file) if file else None

    async def reached(self, phase: str, run_id: uuid.UUID) -> None:
        if phase != self._phase or self._file is None:
            return
        self._phase = None  # once
        self._file.write_text(f"{os.getpid()} {run_id}\n")
        await asyncio.Event().wait()
