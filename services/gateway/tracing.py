"""HTTP side of tracing: server spans named after their route, and the trace id on responses."""

from __future__ import annotations

import re

from opentelemetry import trace
from opentelemetry.trace import Span
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.tracing import current_trace_ids

TRACE_ID_HEADER = "X-Trace-Id"
#: Liveness probes would drown real traffic in spans (regexes searched in the full URL).
UNTRACED_URLS = r"/healthz$"
#: Query parameters that carry a credential (a stream ticket: browsers' EventSource cannot send
#: headers), and the span attributes a request's URL or query lands in.
_CREDENTIAL_PARAMETER = re.compile(r"(^|[?&])(ticket)=[^&#]*")
_URL_ATTRIBUTES = ("http.url", "http.target", "url.full", "url.query")
REDACTED = "REDACTED"


def redact_credentials(span: Span, scope: Scope) -> None:
    """A server-request hook of the OpenTelemetry middleware: a credential in the query string
    (``?ticket=``) is kept in the request's span as REDACTED, never in clear."""
    if b"ticket=" not in (scope.get("query_string") or b"") or not span.is_recording():
        return
    attributes = getattr(span, "attributes", None) or {}
    for name in _URL_ATTRIBUTES:
        value = attributes.get(name)
        if isinstance(value, str):
            span.set_attribute(name, _CREDENTIAL_PARAMETER.sub(rf"\1\2={REDACTED}", value))


class TraceIdHeaderMiddleware:
    """Runs inside the OpenTelemetry middleware, where the request's server span is current.

    Adds ``X-Trace-Id`` so a client can find its trace, and renames the span from the concrete
    path (``GET /v1/tenants/8c1e...``) to the route template once routing has matched one.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_trace_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                _name_span_after_route(scope)
                trace_id, _ = current_trace_ids()
                if trace_id:
                    MutableHeaders(scope=message).append(TRACE_ID_HEADER, trace_id)
            await send(message)

        await self.app(scope, receive, send_with_trace_id)


def _name_span_after_route(scope: Scope) -> None:
    template = getattr(scope.get("route"), "path_format", None)
    span = trace.get_current_span()
    if template and span.is_recording():
        span.update_name(f"{scope.get('method', 'HTTP')} {template}")
        span.set_attribute("http.route", template)
