"""One SERVER span per call, as the outermost layer of every service's handlers.

OpenTelemetry's own aio server interceptor ran per call: it awaited its own ``intercept_service``,
built a new handler and closures for the call, and wrapped the servicer context in a proxy that
every later layer then went through. This layer is composed once per method with the others
(:class:`shared.interceptors.LayeredInterceptor`); per call it extracts the caller's W3C trace
context from the metadata, starts the span (named by the full method, kind SERVER, with
``rpc.system``/``rpc.service``/``rpc.method`` and the peer's address, as the instrumentation
named them) and sets the final status from the servicer context. Log lines and downstream calls
made inside it carry its ids.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from contextvars import Token
from typing import Any
from urllib.parse import unquote

import grpc
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.propagators.textmap import Getter
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from shared.interceptors import Layer, StreamCall, UnaryCall
from shared.tracing import HEALTH_PREFIX, set_clean_attributes

_tracer = trace.get_tracer("quarterdeck.grpc.server")

#: The codes that are the server's own failure (OpenTelemetry's semantic conventions for gRPC
#: server spans); a refusal such as NOT_FOUND is the caller's business and leaves the status unset.
_SERVER_ERRORS = frozenset(
    {
        grpc.StatusCode.UNKNOWN,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.UNIMPLEMENTED,
        grpc.StatusCode.INTERNAL,
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DATA_LOSS,
    }
)

Metadata = Iterable[tuple[str, str | bytes]]


class _MetadataGetter(Getter[Metadata]):
    def get(self, carrier: Metadata, key: str) -> list[str] | None:
        values = [value for name, value in carrier if name == key and isinstance(value, str)]
        return values or None

    def keys(self, carrier: Metadata) -> list[str]:
        return [name for name, _ in carrier]


_GETTER = _MetadataGetter()
#: What a call without trace context in its metadata is the child of: nothing (a new trace),
#: as ``propagate.extract`` answers for such metadata.
_NO_CALLER_CONTEXT = Context()
#: The installed propagator and the metadata keys it reads, kept while it stays installed.
_propagator_fields: tuple[object, frozenset[str]] = (None, frozenset())


def _caller_context(metadata: Metadata) -> Context:
    """The caller's trace context from the call's metadata; the propagators are not run for a
    call whose metadata holds none of the keys they read (a health probe's, a direct client's)."""
    global _propagator_fields
    textmap = propagate.get_global_textmap()
    known, fields = _propagator_fields
    if known is not textmap:
        fields = frozenset(textmap.fields)
        _propagator_fields = (textmap, fields)
    if not any(name in fields for name, _ in metadata):
        return _NO_CALLER_CONTEXT
    return propagate.extract(metadata, getter=_GETTER)


#: The final status code's attribute, per code.
_STATUS_ATTRIBUTES = {code: {"rpc.grpc.status_code": code.value[0]} for code in grpc.StatusCode}
#: How many (method, peer) attribute sets a layer remembers before starting over: a peer is a
#: client connection, so they come and go.
_REMEMBERED_PEERS = 1024


def _peer_attributes(peer: str) -> dict[str, str]:
    """``ipv4:127.0.0.1:57284`` / ``ipv6:[::1]:57284`` -> net.peer.ip and net.peer.port."""
    if not peer or peer.startswith("unix:"):
        return {}
    address = peer.split(",", 1)[0].partition(":")[2]
    ip, _, port = address.rpartition(":")
    if not ip:
        return {}
    return {"net.peer.ip": unquote(ip), "net.peer.port": port}


def _status_code(context: grpc.aio.ServicerContext, failed: bool) -> grpc.StatusCode:
    code = context.code()
    if code is None:
        return grpc.StatusCode.UNKNOWN if failed else grpc.StatusCode.OK
    if isinstance(code, int):  # what an abort leaves on some grpc versions
        return next(
            (known for known in grpc.StatusCode if known.value[0] == code), grpc.StatusCode.UNKNOWN
        )
    return code


def _finish(span: Span, context: grpc.aio.ServicerContext, failed: bool) -> None:
    code = _status_code(context, failed)
    set_clean_attributes(span, _STATUS_ATTRIBUTES[code])
    if code in _SERVER_ERRORS:
        span.set_status(Status(StatusCode.ERROR, f"{code}:{context.details() or ''}"))


class ServerSpanInterceptor(Layer):
    """A SERVER span around every call but health probes and ``untraced`` methods (the OTLP
    receiver's own, whose spans would be exported back to it forever)."""

    def __init__(self, untraced: frozenset[str] = frozenset(), tracer: trace.Tracer | None = None):
        self._untraced = untraced
        self._tracer = tracer or _tracer
        self._attributes: dict[tuple[str, str], dict[str, str]] = {}

    def applies_to(self, method: str) -> bool:
        return not method.startswith(HEALTH_PREFIX) and method not in self._untraced

    def _call_attributes(self, method: str, peer: str) -> dict[str, str]:
        """rpc.* of ``method`` and net.peer.* of ``peer``, worked out once per connection (the
        span copies them)."""
        known = self._attributes.get((method, peer))
        if known is None:
            if len(self._attributes) >= _REMEMBERED_PEERS:
                self._attributes.clear()
            service, _, name = method.lstrip("/").partition("/")
            known = {"rpc.system": "grpc", "rpc.service": service, "rpc.method": name}
            known.update(_peer_attributes(peer))
            self._attributes[(method, peer)] = known
        return known

    def _start(self, method: str, context: grpc.aio.ServicerContext) -> tuple[Span, Token[Context]]:
        """The call's span, made current; what :func:`_end` takes to end it. Started and made
        current directly: ``start_as_current_span``'s context managers cost a fifth of the
        layer's CPU per call. Its attributes are set once it has started, without the SDK's
        cleaning (:func:`set_clean_attributes`): the sampler does not see them, and none of the
        ``OTEL_TRACES_SAMPLER`` choices looks at attributes."""
        span = self._tracer.start_span(
            method,
            context=_caller_context(context.invocation_metadata() or ()),
            kind=SpanKind.SERVER,
            record_exception=False,
            set_status_on_exception=False,
        )
        set_clean_attributes(span, self._call_attributes(method, context.peer()))
        return span, otel_context.attach(trace.set_span_in_context(span))

    @staticmethod
    def _end(
        span: Span, token: Token[Context], context: grpc.aio.ServicerContext, failed: bool
    ) -> None:
        try:
            _finish(span, context, failed)
        finally:
            span.end()
            otel_context.detach(token)

    async def around_unary(
        self, method: str, request: Any, context: grpc.aio.ServicerContext, call: UnaryCall
    ) -> Any:
        span, token = self._start(method, context)
        failed = True
        try:
            result = await call(request, context)
            failed = False
            return result
        finally:
            self._end(span, token, context, failed)

    async def around_stream(
        self, method: str, request: Any, context: grpc.aio.ServicerContext, call: StreamCall
    ) -> AsyncIterator[Any]:
        span, token = self._start(method, context)
        failed = True
        try:
            async for item in call(request, context):
                yield item
            failed = False
        finally:
            self._end(span, token, context, failed)
