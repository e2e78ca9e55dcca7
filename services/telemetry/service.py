"""The telemetry service as the shared bootstrap runs it: an OTLP receiver, trace reads, and one
gRPC service per area (usage, metrics, requests, tool usage, activity, status subscriptions)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

from quarterdeck.telemetry.v1 import telemetry_pb2, telemetry_pb2_grpc
from services.telemetry.activity import servicer as activity
from services.telemetry.config import TelemetrySettings
from services.telemetry.context import TelemetryContext, TelemetryState
from services.telemetry.metrics import servicer as metrics
from services.telemetry.models import IdempotencyKey
from services.telemetry.requests import servicer as requests
from services.telemetry.retention import RetentionEnforcer, RetentionHandlers, retention_job
from services.telemetry.schema import RETENTION_POLICIES, metadata
from services.telemetry.status import servicer as status
from services.telemetry.tool_usage import servicer as tool_usage
from services.telemetry.traces.ingest_auth import ExportAuthenticator, api_key_tokens
from services.telemetry.traces.servicer import TelemetryServicer, TraceServicer
from services.telemetry.traces.spans import SpanHandlers, store_spooled
from services.telemetry.traces.spool import SpanSpool, spool_directory
from services.telemetry.usage import servicer as usage
from shared.auth import Authenticator
from shared.background import PeriodicJob
from shared.config import ConfigurationError
from shared.server import ServiceContext, ServiceSpec, default_authenticator
from shared.tokens import JwtVerifier

log = logging.getLogger("quarterdeck.telemetry")

TRACE_SERVICE = trace_service_pb2.DESCRIPTOR.services_by_name["TraceService"].full_name
TELEMETRY_SERVICE = telemetry_pb2.DESCRIPTOR.services_by_name["TelemetryService"].full_name


async def prepare(context: ServiceContext[TelemetrySettings, Any]) -> TelemetryState:
    """Telemetry's own long-lived objects: the retention enforcer (its loop is the spec's
    background job), after
    it has made today's partitions before the first export (PostgreSQL; nothing to do on
    SQLite), under retention's locks so replicas starting together do not race."""
    enforcer = RetentionEnforcer(context.database, context.settings, metadata, RETENTION_POLICIES)
    try:
        await enforcer.prepare()
    except Exception:
        # Not fatal: the DEFAULT partition takes every span, and each retention pass tries again.
        log.exception("partition upkeep at start failed; the next retention pass retries it")
    return TelemetryState(retention=enforcer, spool=_open_spool(context))


def _open_spool(context: ServiceContext[TelemetrySettings, Any]) -> SpanSpool | None:
    """The spool of accepted span exports, with what a previous run left in it to store."""
    settings = context.settings
    if settings.otlp_spool_max_bytes == 0:
        return None
    directory = settings.otlp_spool_dir or spool_directory(
        settings.data_dir, settings.resolved_database_url
    )
    spool = SpanSpool(directory, settings.otlp_spool_max_bytes, settings.otlp_spool_fsync_seconds)
    try:
        spool.open()
    except OSError as error:
        raise ConfigurationError(
            f"QD_TELEMETRY_OTLP_SPOOL_DIR: the span spool cannot be opened at {directory} "
            f"({error.strerror}); point it at a writable directory"
        ) from None
    return spool


def background(context: TelemetryContext) -> list[PeriodicJob]:
    jobs = [retention_job(context.state.retention, context.settings.retention_interval_seconds)]
    if (spool := context.state.spool) is not None:
        database = context.database

        async def store(job: PeriodicJob) -> None:
            await store_spooled(database, spool, job)

        job = PeriodicJob("span-spool", context.settings.otlp_spool_interval_seconds, store)
        spool.on_append(job.wake)
        jobs.append(job)
    return jobs


async def cleanup(context: TelemetryContext) -> None:
    if context.state.spool is not None:
        context.state.spool.close()


def register(server: grpc.aio.Server, context: TelemetryContext) -> Sequence[str]:
    handlers = SpanHandlers(context)
    retention = RetentionHandlers(context.state.retention)
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(TraceServicer(handlers), server)
    telemetry_pb2_grpc.add_TelemetryServiceServicer_to_server(
        TelemetryServicer(handlers, retention), server
    )
    return [
        TRACE_SERVICE,
        TELEMETRY_SERVICE,
        *usage.register(server, context),
        *metrics.register(server, context),
        *requests.register(server, context),
        *tool_usage.register(server, context),
        *activity.register(server, context),
        *status.register(server, context),
    ]


def authenticator(context: TelemetryContext) -> Authenticator:
    """Tokens as every service verifies them; for Export, exporters' API keys as well."""
    tokens = default_authenticator(context)
    if context.identity is None:
        return tokens
    return ExportAuthenticator(
        tokens,
        JwtVerifier(context.identity.jwks),
        api_key_tokens(context.identity, context.settings.otlp_api_key_cache_seconds),
        EXPORT_METHOD,
    )


EXPORT_METHOD = f"/{TRACE_SERVICE}/Export"

SPEC = ServiceSpec(
    name="telemetry",
    settings_type=TelemetrySettings,
    metadata=metadata,
    migrations_dir=Path(__file__).parent / "migrations",
    idempotency_model=IdempotencyKey,
    prepare=prepare,
    register=register,
    background=background,
    cleanup=cleanup,
    # Tracing the receiver's own Export would record a span per export, to be exported in
    # turn: a loop that never ends.
    untraced_methods=frozenset({EXPORT_METHOD}),
    authenticator=authenticator,
    # A status subscription's own token is the credential of its verify and unsubscribe links.
    # Export is not public: its handler decides who may export
    # (services.telemetry.traces.ingest_auth).
    public_methods=status.PUBLIC_METHODS,
)
