"""OpenTelemetry set-up shared by every process, driven by the standard OTEL_* variables.

Spans go over OTLP/gRPC (batched) to the telemetry service; W3C trace context crosses every gRPC
and HTTP hop; log lines carry the trace and span ids. Every RPC and HTTP request gets a span
(sampling follows the standard ``OTEL_TRACES_SAMPLER`` variables); SQL statements become child
spans only with ``QD_TRACE_SQL=true``, since per statement they cost more than the statement.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, cast

from opentelemetry import trace
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter

from shared.channel_options import RECONNECT_BACKOFF_OPTIONS
from shared.config import TracingSettings, load_settings

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

log = logging.getLogger("quarterdeck.tracing")
_provider: TracerProvider | None = None
#: The installed provider's exporter, given up on when the receiver does not take the last
#: spans in time.
_exporter_in_use: SpanExporter | None = None

#: How long stopping waits for the spans still buffered to reach the receiver, at most.
FLUSH_TIMEOUT_MILLIS = 5000
#: How long the final shutdown waits for the spans recorded while draining, at most.
SHUTDOWN_TIMEOUT_MILLIS = 2000

#: Health probes would drown real traffic in spans.
HEALTH_PREFIX = "/grpc.health.v1.Health/"


def configure_tracing(service_name: str, internal_key: str | None = None) -> TracerProvider | None:
    """Install the process-wide tracer provider once; returns None when the SDK is disabled.

    ``internal_key`` (a Quarterdeck process's internal API key) is the exporter's credential
    unless the OTEL_EXPORTER_OTLP_*HEADERS variables name one: the receiver refuses anonymous
    spans."""
    global _provider
    if _provider is not None:
        return _provider
    global _exporter_in_use
    settings = load_settings(TracingSettings)
    if settings.otel_sdk_disabled:
        return None
    provider, _exporter_in_use = _build(service_name, settings, internal_key)
    trace.set_tracer_provider(provider)
    _provider = provider
    return provider


def build_tracer_provider(
    service_name: str, settings: TracingSettings, internal_key: str | None = None
) -> TracerProvider:
    """A provider exporting as ``settings`` say; its sampler comes from ``OTEL_TRACES_SAMPLER``
    and ``OTEL_TRACES_SAMPLER_ARG`` (parent-based always-on when unset)."""
    return _build(service_name, settings, internal_key)[0]


def _build(
    service_name: str, settings: TracingSettings, internal_key: str | None
) -> tuple[TracerProvider, SpanExporter | None]:
    # Resource.create also reads OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES; the
    # service's own name applies only where those do not set one.
    resource = Resource({SERVICE_NAME: service_name}).merge(Resource.create())
    if str(resource.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
        resource = resource.merge(Resource({SERVICE_NAME: service_name}))
    provider = TracerProvider(resource=resource)
    exporter = _exporter(settings, internal_key)
    if exporter is not None:
        provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider, exporter


#: Where the stock exporter reads its headers; set, they win over the internal key.
_HEADER_VARIABLES = ("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "OTEL_EXPORTER_OTLP_HEADERS")


def _exporter(settings: TracingSettings, internal_key: str | None) -> SpanExporter | None:
    if settings.otel_traces_exporter == "none":
        return None
    if settings.otel_traces_exporter == "console":
        return ConsoleSpanExporter()
    if settings.traces_endpoint is None:
        return None  # nowhere to send them: spans still give log lines their trace ids
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

    headers = None
    if internal_key and not any(os.environ.get(name) for name in _HEADER_VARIABLES):
        headers = {"authorization": f"Bearer {internal_key}"}
    return OTLPSpanExporter(
        endpoint=settings.traces_endpoint,
        insecure=True,
        headers=headers,
        # The exporter's annotation says str values; grpc takes these as ints.
        channel_options=cast(Any, RECONNECT_BACKOFF_OPTIONS),
    )


def _within(seconds: float, work: Callable[[], object]) -> bool:
    """Run ``work`` on a daemon thread; True if it finished within ``seconds``.

    The SDK's own waits do not bound a stop: ``force_flush`` ignores its timeout
    (open-telemetry/opentelemetry-python#4568) and exports every queued batch, and the OTLP
    exporter retries an unreachable receiver for up to 10 s per batch. A process whose
    telemetry service stopped with it (the supervisor was killed: every child got SIGTERM at
    once) would otherwise outlive it by tens of seconds."""
    done = threading.Event()

    def run() -> None:
        try:
            work()
        finally:
            done.set()

    threading.Thread(target=run, name="span flush", daemon=True).start()
    return done.wait(seconds)


def _give_up_exporting() -> None:
    """Abort the exporter's retries (its shutdown wakes their backoff and closes its channel):
    the receiver is not taking spans, and the process is stopping."""
    if _exporter_in_use is not None:
        _exporter_in_use.shutdown()


def flush_tracing(timeout_millis: int = FLUSH_TIMEOUT_MILLIS) -> bool:
    """Export what the batch processor holds, waiting ``timeout_millis`` at most; True if it
    was all handed over in time. Past the timeout, the spans still held are given up."""
    provider = _provider
    if provider is None:
        return True
    if _within(timeout_millis / 1000, lambda: provider.force_flush(timeout_millis)):
        return True
    log.warning("spans not exported within %d ms of stopping: given up", timeout_millis)
    _give_up_exporting()
    return False


def shutdown_tracing(timeout_millis: int = SHUTDOWN_TIMEOUT_MILLIS) -> None:
    """Flush what the batch processor still holds, waiting ``timeout_millis`` at most; called
    last on shutdown."""
    global _provider, _exporter_in_use
    provider = _provider
    if provider is None:
        return
    if not _within(timeout_millis / 1000, provider.shutdown):
        log.warning("spans not exported within %d ms of stopping: given up", timeout_millis)
        _give_up_exporting()
    _provider = None
    _exporter_in_use = None


def instrument_engine(
    engine: AsyncEngine, tracer_provider: trace.TracerProvider | None = None
) -> bool:
    """Trace the engine's statements when ``QD_TRACE_SQL`` says so; True if it now is. The
    instrumentor is a process-wide singleton, so only the first engine of a process is
    instrumented: one service per process, as deployed."""
    if not load_settings(TracingSettings).qd_trace_sql:
        return False
    # Imported only here: it imports SQLAlchemy, which the gateway otherwise never loads.
    from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

    SQLAlchemyInstrumentor().instrument(
        engine=engine.sync_engine, tracer_provider=tracer_provider or trace.get_tracer_provider()
    )
    return True


def current_trace_ids() -> tuple[str, str]:
    """The current trace and span ids as hex, or empty strings outside a recorded span."""
    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return "", ""
    return trace.format_trace_id(context.trace_id), trace.format_span_id(context.span_id)


#: The span attribute naming the tenant a call acted for; the telemetry store files the span
#: under it, which is what lets a tenant read its own traces and nobody else's.
TENANT_ATTRIBUTE = "quarterdeck.tenant_id"


#: An attribute value as the SDK stores it once cleaned.
CleanValue = str | int | bool | float


def set_clean_attributes(span: trace.Span, attributes: Mapping[str, CleanValue]) -> None:
    """Put ``attributes`` on a span that records, straight into the SDK's own attribute map.

    The values must already be what the SDK would store (str, int, bool, float, as the RPC spans'
    are): ``set_attributes`` and ``start_span(attributes=...)`` run the SDK's per-value cleaning
    on each one (``_clean_attribute_value``, recursively over the mapping), a fifth of what
    starting a server span cost. Any other span, or attribute limits that could apply (a count
    or value-length limit set through ``OTEL_*_LIMIT``), takes the SDK's own way.
    """
    store = getattr(span, "_attributes", None)
    entries = getattr(store, "_dict", None)
    if (
        type(entries) is dict
        and store is not None
        and store.max_value_len is None
        and (store.maxlen is None or len(entries) + len(attributes) <= store.maxlen)
        and span.is_recording()
    ):
        entries.update(attributes)
    else:
        span.set_attributes(attributes)


def tag_tenant(tenant_id: str | None) -> None:
    """Name the tenant on the current span (a no-op outside a recording span)."""
    if tenant_id:
        span = trace.get_current_span()
        if span.is_recording():
            set_clean_attributes(span, {TENANT_ATTRIBUTE: tenant_id})


class TraceIdLogFilter(logging.Filter):
    """Adds trace_id and span_id to every log record so a log line leads to its trace."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.trace_id, record.span_id = current_trace_ids()
        return True


def configure_logging(level: str) -> None:
    handler = logging.StreamHandler()
    handler.addFilter(TraceIdLogFilter())
    handler.setFormatter(
        logging.Formatter(
            "%(asctime)s %(levelname)s %(name)s trace_id=%(trace_id)s span_id=%(span_id)s "
            "%(message)s"
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
