"""`quarterdeck worker`: a process that only carries out runs, scaled beside the conversation
service (whose in-process workers are the default; turn them off with
QD_CONVERSATION_RUN_WORKERS_IN_PROCESS=false when these do the work).

It reads the conversation service's settings (``QD_CONVERSATION_``: the database, identity,
tenancy, tooling and telemetry targets, its internal secret, the providers), requires the
database at its head revision, and runs the same worker and reaper the service runs in-process:
leases with heartbeats, fenced writes, the reaper re-queueing what a dead worker left. On
PostgreSQL it LISTENs for queued runs, polling as the fallback. SIGTERM or SIGINT stops it
within the grace period; a run it still holds is re-queued by a reaper once its lease lapses.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from datetime import timedelta

from services.conversation.config import ConversationSettings
from services.conversation.context import ConversationContext
from services.conversation.events.ledger import Ledger
from services.conversation.events.notifier import LedgerNotifier
from services.conversation.models import IdempotencyKey
from services.conversation.service import SPEC, build_worker, wakeup_listener
from shared.background import PeriodicJob, stop_jobs
from shared.config import ConfigurationError
from shared.db import Database
from shared.event_loop import freeze_start_up_objects, run_event_loop
from shared.idempotency import Idempotency
from shared.identity_link import IdentityLink, internal_api_key
from shared.migrations import require_head
from shared.pagination import PageTokenCodec
from shared.server import ServiceContext
from shared.tracing import (
    configure_logging,
    configure_tracing,
    flush_tracing,
    instrument_engine,
    shutdown_tracing,
)

log = logging.getLogger("quarterdeck.conversation.worker_process")


async def run_workers(settings: ConversationSettings, stop: asyncio.Event) -> None:
    """Carry out runs until ``stop`` is set."""
    if not (settings.tenancy_target and settings.tooling_target and settings.identity_target):
        raise ConfigurationError(
            "a worker needs QD_CONVERSATION_IDENTITY_TARGET, _TENANCY_TARGET and _TOOLING_TARGET"
        )
    database = Database(
        settings.resolved_database_url,
        pool_size=settings.database_pool_size,
        max_overflow=settings.database_max_overflow,
    )
    instrument_engine(database.engine)
    secret = settings.internal_secret
    context: ServiceContext[ConversationSettings, ConversationContext] = ServiceContext(
        settings=settings,
        database=database,
        page_tokens=PageTokenCodec(os.urandom(32)),  # a worker hands out no page tokens
        idempotency=Idempotency(
            database, IdempotencyKey, timedelta(hours=settings.idempotency_ttl_hours)
        ),
        identity=IdentityLink(
            settings.identity_target,
            SPEC.name,
            secret.get_secret_value() if secret else None,
            settings.jwks_max_age_seconds,
        ),
    )
    try:
        await database.ping()
        await require_head(database, SPEC.migrations_dir, SPEC.name)
        # Its appends' followers are in other processes: NOTIFY them.
        ctx = ConversationContext.of(context, Ledger(LedgerNotifier(), announce=True))
        worker = build_worker(context, ctx)
        assert worker is not None  # its targets and identity are set
        listener = wakeup_listener(settings, ctx, worker)
        if listener is not None:
            listener.start()
            context.resources.on_close(listener.close)
        ctx.runs.on_enqueued(worker.wake)

        async def reap(_job: PeriodicJob) -> None:
            await ctx.runs.reap()

        # A worker polls even when told not to in-process (interval 0 there turns it off).
        interval = settings.run_worker_interval_seconds or 1.0
        jobs = [
            PeriodicJob("run reaper", settings.run_reaper_interval_seconds, reap),
            worker.job(interval),
        ]
        for job in jobs:
            job.start()
        freeze_start_up_objects()
        log.info("conversation worker %s carrying out runs", worker.worker_id)
        worker.wake()  # runs queued before it started
        await stop.wait()
        log.info("conversation worker %s stopping", worker.worker_id)
        await stop_jobs(jobs, settings.grace_period_seconds)
    finally:
        await context.resources.close()
        if context.identity is not None:
            await context.identity.close()
        await database.dispose()


async def _main(settings: ConversationSettings) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await run_workers(settings, stop)
    flush_tracing()


def serve_worker(settings: ConversationSettings) -> None:
    """Run a worker process until SIGTERM or SIGINT."""
    configure_logging(settings.log_level)
    secret = settings.internal_secret
    configure_tracing(
        "conversation-worker",
        internal_api_key(SPEC.name, secret.get_secret_value()) if secret else None,
    )
    try:
        run_event_loop(_main(settings))
    finally:
        shutdown_tracing()
