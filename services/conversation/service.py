"""The conversation service as the shared bootstrap runs it: one servicer per proto service
(area), each over its transport-free handlers, all built from one :class:`ConversationContext`;
the run reaper declared as its background work."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import grpc
import httpx
from google.protobuf.descriptor import FileDescriptor

from quarterdeck.conversation.v1 import (
    conversations_pb2,
    conversations_pb2_grpc,
    events_pb2,
    events_pb2_grpc,
    messages_pb2,
    messages_pb2_grpc,
    runs_pb2,
    runs_pb2_grpc,
    stream_tickets_pb2,
    stream_tickets_pb2_grpc,
)
from services.conversation.config import ConversationSettings
from services.conversation.context import ConversationContext
from services.conversation.conversations.handlers import ConversationHandlers
from services.conversation.conversations.servicer import ConversationServiceServicer
from services.conversation.events.handlers import EventHandlers
from services.conversation.events.ledger import Ledger
from services.conversation.events.notifier import LedgerNotifier
from services.conversation.events.servicer import EventServiceServicer
from services.conversation.messages.handlers import MessageHandlers
from services.conversation.messages.servicer import MessageServiceServicer
from services.conversation.models import IdempotencyKey
from services.conversation.runs.handlers import RunHandlers
from services.conversation.runs.links import ServiceLinks
from services.conversation.runs.servicer import RunServiceServicer
from services.conversation.runs.turn import AgentTurn
from services.conversation.runs.wakeups import LEDGER_CHANNEL, RUNS_CHANNEL, Listener
from services.conversation.runs.worker import RunWorker
from services.conversation.schema import metadata
from services.conversation.tickets.handlers import StreamTicketHandlers
from services.conversation.tickets.servicer import PUBLIC_METHODS, StreamTicketServiceServicer
from shared.background import PeriodicJob
from shared.model_prices import PriceCache, TenancyPriceSource
from shared.server import ServiceContext, ServiceSpec


def _full_name(descriptor: FileDescriptor, service: str) -> str:
    return descriptor.services_by_name[service].full_name


async def prepare(context: ServiceContext[ConversationSettings, Any]) -> ConversationContext:
    settings = context.settings
    notifier = LedgerNotifier(context.database, settings.follow_poll_seconds)
    context.resources.on_close(notifier.close)
    ctx = ConversationContext.of(context, Ledger(notifier, announce=settings.ledger_notify))
    worker = build_worker(context, ctx) if settings.run_workers_in_process else None
    listener = wakeup_listener(settings, ctx, worker)
    if listener is not None:
        listener.start()
        context.resources.on_close(listener.close)
        ctx = replace(ctx, listener=listener)
    if worker is None:
        # Runs wait in the queue: for `quarterdeck worker` processes, or (without the services
        # a run needs) for good.
        return ctx
    ctx.runs.on_enqueued(worker.wake)
    return replace(ctx, worker=worker, links=worker.links)


def build_worker(
    context: ServiceContext[ConversationSettings, Any], ctx: ConversationContext
) -> RunWorker | None:
    """The worker that carries out runs (in the conversation process, or in a `quarterdeck
    worker` process), or None when the services a run calls are not configured."""
    settings = context.settings
    if not (settings.tenancy_target and settings.tooling_target and context.identity):
        return None
    links = ServiceLinks(
        token=context.identity,
        tenancy_target=settings.tenancy_target,
        tooling_target=settings.tooling_target,
        telemetry_target=settings.telemetry_target,
        call_timeout=settings.internal_call_timeout_seconds,
    )
    http = httpx.AsyncClient(trust_env=False)
    prices = PriceCache(
        TenancyPriceSource(links.catalog, context.identity), settings.run_config_cache_seconds
    )
    turn = AgentTurn(settings, ctx.database, ctx.runs, ctx.writes, links, http, prices)
    worker = RunWorker(ctx.runs, turn, concurrency=settings.run_worker_concurrency, links=links)
    context.resources.on_close(links.close)
    context.resources.on_close(http.aclose)
    context.resources.on_close(lambda: worker.close(settings.grace_period_seconds))
    return worker


def wakeup_listener(
    settings: ConversationSettings, ctx: ConversationContext, worker: RunWorker | None
) -> Listener | None:
    """On PostgreSQL, the connection that LISTENs for runs queued (waking ``worker``) and for
    ledger appends made by other processes (waking this process's followers)."""
    if ctx.database.dialect != "postgresql" or not settings.run_wakeup_listen:
        return None
    handlers: dict[str, Callable[[str], None]] = {
        LEDGER_CHANNEL: lambda payload: ctx.ledger.notifier.notify(uuid.UUID(payload))
    }
    if worker is not None:
        handlers[RUNS_CHANNEL] = lambda payload: worker.wake(payload or None)
    return Listener(settings.resolved_database_url, handlers)


def register(
    server: grpc.aio.Server, context: ServiceContext[ConversationSettings, ConversationContext]
) -> Sequence[str]:
    ctx = context.state
    conversations_pb2_grpc.add_ConversationServiceServicer_to_server(
        ConversationServiceServicer(ConversationHandlers(ctx)), server
    )
    messages_pb2_grpc.add_MessageServiceServicer_to_server(
        MessageServiceServicer(MessageHandlers(ctx)), server
    )
    runs_pb2_grpc.add_RunServiceServicer_to_server(RunServiceServicer(RunHandlers(ctx)), server)
    events_pb2_grpc.add_EventServiceServicer_to_server(
        EventServiceServicer(EventHandlers(ctx)), server
    )
    stream_tickets_pb2_grpc.add_StreamTicketServiceServicer_to_server(
        StreamTicketServiceServicer(StreamTicketHandlers(ctx)), server
    )
    return [
        _full_name(conversations_pb2.DESCRIPTOR, "ConversationService"),
        _full_name(messages_pb2.DESCRIPTOR, "MessageService"),
        _full_name(runs_pb2.DESCRIPTOR, "RunService"),
        _full_name(events_pb2.DESCRIPTOR, "EventService"),
        _full_name(stream_tickets_pb2.DESCRIPTOR, "StreamTicketService"),
    ]


def background(
    context: ServiceContext[ConversationSettings, ConversationContext],
) -> Sequence[PeriodicJob]:
    ctx = context.state

    async def reap(job: PeriodicJob) -> None:
        await ctx.runs.reap()

    async def sweep_tickets(job: PeriodicJob) -> None:
        await StreamTicketHandlers(ctx).sweep()

    jobs = [
        PeriodicJob("run reaper", context.settings.run_reaper_interval_seconds, reap),
        PeriodicJob(
            "stream ticket sweep",
            context.settings.stream_ticket_sweep_interval_seconds,
            sweep_tickets,
        ),
    ]
    if ctx.worker is not None:
        jobs.append(ctx.worker.job(context.settings.run_worker_interval_seconds))
    return jobs


SPEC = ServiceSpec(
    name="conversation",
    settings_type=ConversationSettings,
    metadata=metadata,
    migrations_dir=Path(__file__).parent / "migrations",
    idempotency_model=IdempotencyKey,
    register=register,
    prepare=prepare,
    background=background,
    public_methods=PUBLIC_METHODS,
)
