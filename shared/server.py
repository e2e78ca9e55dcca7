"""The one way to run a service: ``grpc.aio`` server, interceptors, health, reflection, signals.

A service describes itself with a :class:`ServiceSpec`; :func:`start_service` brings it up (tests
use it directly, on port 0) and :func:`serve` runs it until SIGTERM or SIGINT, then drains.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, Generic, TypeVar

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from sqlalchemy import MetaData

from shared.auth import Authenticator, NoCredentialsAuthenticator
from shared.background import PeriodicJob, TaskSet, stop_jobs
from shared.clock import Clock, system_clock
from shared.config import ServiceSettings
from shared.db import Database
from shared.decoding import DecodingInterceptor
from shared.event_loop import freeze_start_up_objects, run_event_loop
from shared.idempotency import Idempotency, IdempotencyKeyMixin
from shared.identity_link import IdentityLink, internal_api_key
from shared.interceptors import (
    AccessLogInterceptor,
    AuthContextInterceptor,
    DeadlineInterceptor,
    ErrorMappingInterceptor,
    Layer,
    LayeredInterceptor,
    UntracedMethodsInterceptor,
)
from shared.method_handlers import serve_wrapped
from shared.migrations import require_head, upgrade_to_head
from shared.pagination import PageTokenCodec
from shared.revocation import (
    IdentityRevocations,
    RevocationCheckingAuthenticator,
    RevocationPoller,
    RevocationSet,
    RevocationSource,
)
from shared.security_events import SecurityEventSink, log_sink
from shared.server_spans import ServerSpanInterceptor
from shared.tokens import JwtAuthenticator, JwtVerifier
from shared.tracing import (
    configure_logging,
    configure_tracing,
    flush_tracing,
    instrument_engine,
    shutdown_tracing,
)

log = logging.getLogger("quarterdeck.server")

SettingsT = TypeVar("SettingsT", bound=ServiceSettings)
#: What a service's ``prepare`` builds: its own typed, long-lived objects (None without one).
StateT = TypeVar("StateT")


class ServiceResources:
    """What a service starts alongside its server (a connection pool, a background loop): each
    registers its release with :meth:`on_close`, run after the server has drained, last first."""

    def __init__(self) -> None:
        self._closers: list[Callable[[], Awaitable[None]]] = []

    def on_close(self, closer: Callable[[], Awaitable[None]]) -> None:
        self._closers.append(closer)

    async def close(self) -> None:
        closers, self._closers = self._closers, []
        for closer in reversed(closers):
            try:
                await closer()
            except Exception:
                # One failed release must not keep the others (and the pool) from closing.
                log.exception("releasing %r failed", closer)


@dataclass
class ServiceContext(Generic[SettingsT, StateT]):
    """What a service's handlers are built from."""

    settings: SettingsT
    database: Database
    page_tokens: PageTokenCodec
    idempotency: Idempotency
    #: The way to the identity service, when one is configured (every service but identity).
    identity: IdentityLink | None = None
    security_events: SecurityEventSink = log_sink
    #: What the spec's ``prepare`` built, typed by the service's spec; set once, before
    #: ``register`` and the rest of the spec see the context.
    state: StateT = field(init=False, repr=False)
    #: Releases of what ``prepare`` and ``register`` started, run when the service stops.
    resources: ServiceResources = field(default_factory=ServiceResources)
    #: Fire-and-forget work of the handlers, given the grace period to finish when the service
    #: stops, then cancelled.
    tasks: TaskSet = field(default_factory=lambda: TaskSet("service"))
    #: The time handlers reason with (tests pass their own to ``start_service``).
    clock: Clock = system_clock


@dataclass(frozen=True)
class ServiceSpec(Generic[SettingsT, StateT]):
    """Everything the bootstrap needs to know about one service."""

    name: str
    settings_type: type[SettingsT]
    metadata: MetaData
    migrations_dir: Path
    idempotency_model: type[IdempotencyKeyMixin]
    #: Adds the servicers to the server and returns the full names of the services added.
    register: Callable[[grpc.aio.Server, ServiceContext[SettingsT, StateT]], Sequence[str]]
    #: Methods that must never produce spans (the OTLP receiver's own Export would loop).
    untraced_methods: frozenset[str] = frozenset()
    public_methods: frozenset[str] = frozenset()
    #: Overrides how callers are verified (identity verifies with its own keys).
    authenticator: Callable[[ServiceContext[SettingsT, StateT]], Authenticator] | None = None
    #: Overrides where security events go (identity stores them itself).
    security_sink: Callable[[ServiceContext[SettingsT, StateT]], SecurityEventSink] | None = None
    #: Refusal reasons the service's handlers record themselves, with more detail.
    self_recorded_refusals: frozenset[str] = frozenset()
    #: Builds the service's long-lived objects once the database is known good; kept in
    #: ``context.state`` for ``authenticator``, ``security_sink`` and ``register``.
    prepare: Callable[[ServiceContext[SettingsT, Any]], Awaitable[StateT]] | None = None
    #: Where the service learns of revoked credentials, when not from identity's
    #: ListRevocations (identity reads its own database).
    revocation_source: Callable[[ServiceContext[SettingsT, StateT]], RevocationSource] | None = None
    #: The service's own layers around its handlers, inside the error mapping and the caller's
    #: verification (they may raise domain errors and read the principal), such as identity's
    #: throttling of credential methods.
    layers: Callable[[ServiceContext[SettingsT, StateT]], Sequence[Layer]] | None = None
    #: Releases what ``prepare`` built, after the server has drained.
    cleanup: Callable[[ServiceContext[SettingsT, StateT]], Awaitable[None]] | None = None
    #: The service's periodic jobs, started once it serves and stopped (within the grace
    #: period) when it stops; a job whose interval is 0 is not started.
    background: Callable[[ServiceContext[SettingsT, StateT]], Sequence[PeriodicJob]] | None = None
    #: PostgreSQL connections, out of the pool's overflow, kept for statements that commit
    #: unflushed on their own (``Database.unflushed_driver_connection``; tenancy's limits).
    unflushed_connections: int = 0


async def checking_revocations(
    spec: ServiceSpec[Any, Any], context: ServiceContext[Any, Any], authenticator: Authenticator
) -> Authenticator:
    """``authenticator`` refusing revoked credentials, polled every revocation_poll_seconds; as
    is without a source or with polling off."""
    interval = context.settings.revocation_poll_seconds
    if spec.revocation_source is not None:
        source = spec.revocation_source(context)
    elif (
        context.identity is not None
        and context.settings.identity_target
        and context.settings.internal_secret is not None
    ):
        feed = IdentityRevocations(context.settings.identity_target, context.identity)
        context.resources.on_close(feed.close)
        source = feed
    else:
        return authenticator
    if interval <= 0:
        return authenticator
    # The first poll runs in the loop: identity may start after this service.
    poller = RevocationPoller(source, interval, RevocationSet())
    poller.start()
    context.resources.on_close(poller.stop)
    return RevocationCheckingAuthenticator(authenticator, poller.revoked)


def default_authenticator(context: ServiceContext[Any, Any]) -> Authenticator:
    if context.identity is None:
        return NoCredentialsAuthenticator()
    return JwtAuthenticator(JwtVerifier(context.identity.jwks))


@dataclass
class RunningService(Generic[SettingsT, StateT]):
    spec: ServiceSpec[SettingsT, StateT]
    server: grpc.aio.Server
    health: health.aio.HealthServicer
    context: ServiceContext[SettingsT, StateT]
    port: int
    service_names: Sequence[str]
    jobs: Sequence[PeriodicJob] = ()

    @property
    def target(self) -> str:
        return f"{self.context.settings.host}:{self.port}"

    async def stop(self, grace: float | None = None) -> None:
        """Report NOT_SERVING, let in-flight calls finish within ``grace`` (default: the grace
        period setting) while running jobs end their passes within the grace period setting, give
        background tasks what is left of it, release the pool."""
        settings_grace = self.context.settings.grace_period_seconds
        loop = asyncio.get_running_loop()
        deadline = loop.time() + settings_grace
        await self.health.enter_graceful_shutdown()
        await asyncio.gather(
            self.server.stop(settings_grace if grace is None else grace),
            stop_jobs(self.jobs, settings_grace),
        )
        await self.context.tasks.close(max(deadline - loop.time(), 0.0))
        await _release(self.spec, self.context)


async def _release(
    spec: ServiceSpec[SettingsT, StateT], context: ServiceContext[SettingsT, StateT]
) -> None:
    """Free what a started service holds, last to first."""
    await context.resources.close()
    if spec.cleanup is not None:
        await spec.cleanup(context)
    if context.identity is not None:
        await context.identity.close()
    await context.database.dispose()


def _page_token_secret(settings: ServiceSettings, service: str) -> bytes:
    if settings.page_token_secret is not None:
        return settings.page_token_secret.get_secret_value().encode()
    log.warning(
        "%s: no page_token_secret set; page tokens will not survive a restart or cross replicas",
        service,
    )
    return os.urandom(32)


async def start_service(
    spec: ServiceSpec[SettingsT, StateT],
    settings: SettingsT,
    *,
    authenticator: Authenticator | None = None,
    clock: Clock | None = None,
) -> RunningService[SettingsT, StateT]:
    """Start serving once the database answers and is migrated; health turns SERVING last.

    ``authenticator`` replaces the spec's (tests verify tokens from their own keys with it);
    ``clock`` replaces the system clock (tests move time by hand with it).
    """
    database = Database(
        settings.resolved_database_url,
        pool_size=settings.database_pool_size,
        max_overflow=settings.database_max_overflow,
        unflushed_pool_size=spec.unflushed_connections,
    )
    instrument_engine(database.engine)
    try:
        await database.ping()
        if settings.migrate_on_start:
            await upgrade_to_head(database, spec.migrations_dir)
        else:
            await require_head(database, spec.migrations_dir, spec.name)
    except BaseException:
        await database.dispose()
        raise
    context: ServiceContext[SettingsT, StateT] = ServiceContext(
        settings=settings,
        database=database,
        page_tokens=PageTokenCodec(_page_token_secret(settings, spec.name)),
        idempotency=Idempotency(
            database, spec.idempotency_model, timedelta(hours=settings.idempotency_ttl_hours)
        ),
        clock=clock or system_clock,
    )
    if settings.identity_target:
        secret = settings.internal_secret
        context.identity = IdentityLink(
            settings.identity_target,
            spec.name,
            secret.get_secret_value() if secret else None,
            settings.jwks_max_age_seconds,
        )
        context.security_events = context.identity.report
    if spec.prepare is not None:
        context.state = await spec.prepare(context)
    else:
        # A spec without prepare declares its state type as None, which StateT cannot say.
        context.state = None  # type: ignore[assignment]
    if spec.security_sink is not None:
        context.security_events = spec.security_sink(context)
    if authenticator is None:
        authenticator = (spec.authenticator or default_authenticator)(context)
    authenticator = await checking_revocations(spec, context, authenticator)
    layers = LayeredInterceptor(
        [
            ServerSpanInterceptor(spec.untraced_methods),
            UntracedMethodsInterceptor(spec.untraced_methods),
            AccessLogInterceptor(),
            ErrorMappingInterceptor(
                spec.name, context.security_events, spec.self_recorded_refusals
            ),
            AuthContextInterceptor(authenticator, spec.public_methods),
            *(spec.layers(context) if spec.layers is not None else ()),
            DeadlineInterceptor(),
        ]
    )
    server = grpc.aio.server(options=[("grpc.so_reuseport", 0)])
    # The layers as the outer wrap, the checked deserializer inner, so the deserializer every
    # layer passes on is the checked one; wrapped once per method, not intercepted per call.
    serve_wrapped(server, layers.wrap, DecodingInterceptor().wrap)
    _generic_handlers_only(server)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    service_names = list(spec.register(server, context))
    for name in ["", *service_names]:
        await health_servicer.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
    reflection.enable_server_reflection(
        [
            *service_names,
            health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
            reflection.SERVICE_NAME,
        ],
        server,
    )
    try:
        port = server.add_insecure_port(settings.listen_address)
    except RuntimeError:  # grpc's answer when the address is taken
        port = 0
    if port == 0:
        await _release(spec, context)
        raise OSError(f"{spec.name}: cannot listen on {settings.listen_address}")
    await server.start()
    for name in ["", *service_names]:
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    jobs = list(spec.background(context)) if spec.background is not None else []
    for job in jobs:
        job.start()
    return RunningService(spec, server, health_servicer, context, port, service_names, jobs)


def _generic_handlers_only(server: grpc.aio.Server) -> None:
    """Serve every method through the generic handlers the generated ``add_*_to_server`` adds
    beside its registered ones, and register none.

    grpc.aio keeps one pending "request call" task per registered method and ``asyncio.wait``s
    on all of them for every call it accepts (``AioServer._server_main_loop``): with tenancy's
    ~50 methods that wait added and removed ~50 done-callbacks per call, a fixed cost that was
    about a third of a health Check's CPU. A generic handler is looked up by the full method
    name (one dict lookup per service), and the wraps (:func:`serve_wrapped`) see the same
    handlers.
    """

    def register_nothing(service_name: str, method_handlers: object) -> None:
        """The generated code adds the same handlers as a generic handler just before."""

    # An instance attribute shadows the method for this server alone (on purpose: mypy refuses
    # assigning to a method).
    server.add_registered_method_handlers = register_nothing  # type: ignore[method-assign]


async def _serve(spec: ServiceSpec[SettingsT, StateT], settings: SettingsT) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    running = await start_service(spec, settings)
    freeze_start_up_objects()
    log.info("%s serving on %s (%s)", spec.name, running.target, ", ".join(running.service_names))
    await stop.wait()
    log.info("%s draining (grace %.1fs)", spec.name, settings.grace_period_seconds)
    # Send what is buffered while the telemetry service surely still listens (for itself, too:
    # off the event loop, which serves telemetry's own Export meanwhile).
    await asyncio.to_thread(flush_tracing)
    await running.stop()
    log.info("%s stopped", spec.name)


def serve(spec: ServiceSpec[SettingsT, StateT], settings: SettingsT) -> None:
    """Run one service in this process until SIGTERM or SIGINT."""
    configure_logging(settings.log_level)
    secret = settings.internal_secret
    configure_tracing(
        spec.name, internal_api_key(spec.name, secret.get_secret_value()) if secret else None
    )
    try:
        run_event_loop(_serve(spec, settings))
    finally:
        shutdown_tracing()
