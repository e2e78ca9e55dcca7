"""Where a request's trace starts: at the gateway, unless the caller is one the deployment trusts.

A ``traceparent`` from an outside caller would make the request's spans part of whatever trace
it names, someone else's included. So, before the OpenTelemetry middleware sees the request, the
headers of trace context are taken off every request that does not come straight from one of the
``trusted_trace_sources``: the gateway starts a new trace, and the caller's span context is kept
as a link on the gateway's span (and as attributes, which the telemetry store keeps), so a
client's own tracing still joins up with the platform's.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from opentelemetry import trace
from opentelemetry.trace import Span, SpanContext
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from starlette.types import ASGIApp, Receive, Scope, Send

from services.gateway.config import IpNetwork

#: Request headers that carry trace context (W3C Trace Context and Baggage).
TRACE_CONTEXT_HEADERS = frozenset({b"traceparent", b"tracestate", b"baggage"})
CALLER_TRACE_ID_ATTRIBUTE = "quarterdeck.caller.trace_id"
CALLER_SPAN_ID_ATTRIBUTE = "quarterdeck.caller.span_id"
_CALLER_CONTEXT = "quarterdeck.caller_span_context"
_PROPAGATOR = TraceContextTextMapPropagator()


def _trusted(scope: Scope, networks: Sequence[IpNetwork]) -> bool:
    client = scope.get("client")
    if not networks or not client:
        return False
    try:
        address = ipaddress.ip_address(client[0])
    except ValueError:
        return False
    return any(address in network for network in networks)


def _caller_context(headers: list[tuple[bytes, bytes]]) -> SpanContext | None:
    carrier = {
        name.decode("latin-1"): value.decode("latin-1")
        for name, value in headers
        if name in (b"traceparent", b"tracestate")
    }
    context = trace.get_current_span(_PROPAGATOR.extract(carrier)).get_span_context()
    return context if context.is_valid else None


class ExternalTraceMiddleware:
    """Outermost: strips an untrusted caller's trace context, remembering it for the link."""

    def __init__(self, app: ASGIApp, trusted_sources: Sequence[IpNetwork]) -> None:
        self.app = app
        self._trusted = tuple(trusted_sources)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not _trusted(scope, self._trusted):
            headers = list(scope.get("headers") or ())
            if any(name in TRACE_CONTEXT_HEADERS for name, _ in headers):
                scope = {
                    **scope,
                    "headers": [(n, v) for n, v in headers if n not in TRACE_CONTEXT_HEADERS],
                    _CALLER_CONTEXT: _caller_context(headers),
                }
        await self.app(scope, receive, send)


def link_caller_trace(span: Span, scope: Scope) -> None:
    """The OpenTelemetry middleware's server-request hook: links the caller's span context."""
    caller: SpanContext | None = scope.get(_CALLER_CONTEXT)
    if caller is None or not span.is_recording():
        return
    caller_ids = {
        CALLER_TRACE_ID_ATTRIBUTE: trace.format_trace_id(caller.trace_id),
        CALLER_SPAN_ID_ATTRIBUTE: trace.format_span_id(caller.span_id),
    }
    span.add_link(caller, caller_ids)
    span.set_attributes(caller_ids)
