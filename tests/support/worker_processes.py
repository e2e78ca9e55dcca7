"""`quarterdeck worker` processes beside an in-process turn stack (tests.support.conversation_turn
built with ``run_workers_in_process=False``): they lease the stack's runs from its conversation
database, as replicas scaled beside the conversation service do. For the worker tests (killed
with SIGKILL at a phase) and the turn benchmark's deployment-like mode."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from tests.support.conversation_turn import TurnStack


def worker_environment(stack: TurnStack, **settings: object) -> dict[str, str]:
    """The QD_CONVERSATION_ settings of a worker process: the in-process conversation service's
    database and targets, quick polls, plus ``settings``."""
    service = stack.conversation.running.context.settings
    secret = service.internal_secret
    values: dict[str, object] = {
        "database_url": service.resolved_database_url,
        "identity_target": service.identity_target,
        "internal_secret": secret.get_secret_value() if secret else None,
        "tenancy_target": service.tenancy_target,
        "tooling_target": service.tooling_target,
        "telemetry_target": service.telemetry_target,
        "test_provider_base_url": service.test_provider_base_url,
        "provider_backoff_seconds": 0,
        # Long: a lease lapsing on a loaded machine would repeat the run (attempt 2).
        "run_lease_seconds": 60,
        "run_reaper_interval_seconds": 0.2,
        "run_worker_interval_seconds": 0.5,
        "grace_period_seconds": 1.0,
        **settings,
    }
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QD_", "OTEL_"))}
    env.update({f"QD_CONVERSATION_{k.upper()}": str(v) for k, v in values.items() if v is not None})
    return env


@asynccontextmanager
async def worker_process(
    stack: TurnStack, log: Path, **settings: object
) -> AsyncIterator[asyncio.subprocess.Process]:
    """A `quarterdeck worker` process, stopped (SIGTERM, then SIGKILL) when the block ends
    unless the test killed it first."""
    with log.open("ab") as output:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "services.cli",
            "worker",
            env=worker_environment(stack, **settings),
            stdout=output,
            stderr=output,
        )
    try:
        yield process
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), 15)
            except TimeoutError:
                process.kill()
                await process.wait()
