"""How a served process runs: which event loop, and its start-up objects kept out of the garbage
collector's passes (kept apart from the server so the gateway, which has no database, can use
them without importing the gRPC service machinery and SQLAlchemy)."""

from __future__ import annotations

import asyncio
import gc
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


def freeze_start_up_objects() -> None:
    """Move everything start-up built (modules, the app or server, schemas: 130-160k objects) out
    of the collector's reach for the process's life. Unfrozen, each full collection walked them
    all: 86-92 ms of CPU in a service (tenancy, conversation), 50-400 ms in the gateway, every
    thousand or so requests."""
    gc.freeze()
