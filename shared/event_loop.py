"""Which event loop a served process runs on (kept apart from the server so the gateway, which
has no database, can ask without importing the gRPC service machinery and SQLAlchemy)."""

from __future__ import annotations

import asyncio
import importlib.util
import os
from collections.abc import Coroutine
from typing import Any


def preferred_event_loop() -> str:
    """ "uvloop" where it is installed (a fraction of asyncio's cost per wake-up; grpc.aio and
    uvicorn support it), unless ``QD_EVENT_LOOP=asyncio`` asks for asyncio's own loop."""
    if os.environ.get("QD_EVENT_LOOP", "uvloop") != "uvloop":
        return "asyncio"
    return "uvloop" if importlib.util.find_spec("uvloop") is not None else "asyncio"


def run_event_loop(main: Coroutine[Any, Any, None]) -> None:
    """Run a served process's main coroutine on :func:`preferred_event_loop`."""
    if preferred_event_loop() == "uvloop":
        import uvloop

        uvloop.run(main)
    else:
        asyncio.run(main)
