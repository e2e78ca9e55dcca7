"""HTTP side of tracing: one server span per request, named after its route, and the trace id on
the response.

OpenTelemetry's ASGI middleware did this with a span and its attributes built through several
layers per request (a getter over the headers, semantic-convention helpers, a wrapper around
every send), and three more middlewares around it adjusted the result: one took an outside
caller's trace context off the request, one redacted credentials in the URL, one added
``X-Trace-Id`` and renamed the span. :class:`RequestSpanMiddleware` is all of that in one pass
over the headers, as :mod:`shared.server_spans` is for gRPC calls. The span keeps the
instrumentation's names for what it records (``http.method``, ``http.url``, ``http.target``,
``http.status_code``, ``http.route``, ...), its kind SERVER and its status (ERROR on a 5xx).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.trace import Link, SpanKind, Status, StatusCode
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.gateway.config import IpNetwork
from services.gateway.trace_origin import caller_link, trusted_source

TRACE_ID_HEADER = "X-Trace-Id"
_TRACE_ID_HEADER = TRACE_ID_HEADER.lower().encode("latin-1")
#: Liveness probes would drown real traffic in spans.
UNTRACED_PATHS = frozenset({"/healthz"})
#: Query parameters that carry a credential (a stream ticket: browsers' EventSource cannot send
#: headers): kept in the span as REDACTED, never in clear.
_CREDENTIAL_PARAMETER = re.compile(r"(^|[?&])(ticket)=[^&#]*")
REDACTED = "REDACTED"
#: Request headers that carry trace context (W3C Trace Context and Baggage).
TRACE_CONTEXT_HEADERS = frozenset({b"traceparent", b"tracestate", b"baggage"})

_tracer = trace.get_tracer("quarterdeck.gateway.http")


def redacted_query(query: str) -> str:
    """``query`` with every credential parameter's value replaced by REDACTED."""
    if "ticket=" not in query:
        return query
    return _CREDENTIAL_PARAMETER.sub(rf"\1\2={REDACTED}", query)


def _request_attributes(scope: Scope, user_agent: bytes | None) -> dict[str, Any]:
    """What the instrumentation recorded of a request (its old semantic conventions)."""
    scheme = scope.get("scheme") or "http"
    server = scope.get("server") or ("0.0.0.0", 80)
    host = server[0] if server[1] in (None, 80) else f"{server[0]}:{server[1]}"
    target = scope.get("root_path", "") + scope["path"]
    if query := scope.get("query_string"):
        target = f"{target}?{redacted_query(query.decode('latin-1'))}"
    attributes: dict[str, Any] = {
        "http.method": scope["method"],
        "http.scheme": scheme,
        "http.flavor": scope.get("http_version", ""),
        "http.target": target,
        "http.url": f"{scheme}://{host}{target}",
    }
    if server[1] is not None:
        attributes["net.host.port"] = server[1]
    if client := scope.get("client"):
        attributes["net.peer.ip"] = client[0]
        attributes["net.peer.port"] = client[1]
    if user_agent is not None:
        attributes["http.user_agent"] = user_agent.decode("latin-1")
    return attributes


class RequestSpanMiddleware:
    """Outermost: the request's SERVER span, current while the app runs.

    A caller's W3C trace context (``traceparent``, ``tracestate``, ``baggage``) is adopted only
    from a ``trusted_sources`` address; anyone else's request starts a new trace, with the
    caller's span context as a link (see :mod:`services.gateway.trace_origin`). The response
    carries ``X-Trace-Id``; once routing has matched, the span is named ``GET /v1/tenants/{id}``
    (the route template, never the concrete path) and records ``http.route``.
    """

    def __init__(
        self,
        app: ASGIApp,
        trusted_sources: Sequence[IpNetwork] = (),
        tracer: trace.Tracer | None = None,
    ) -> None:
        self.app = app
        self._trusted = tuple(trusted_sources)
        self._tracer = tracer or _tracer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in UNTRACED_PATHS:
            await self.app(scope, receive, send)
            return
        user_agent = None
        trace_headers: dict[str, str] | None = None
        for name, value in scope["headers"]:
            if name == b"user-agent":
                user_agent = value
            elif name in TRACE_CONTEXT_HEADERS:
                if trace_headers is None:
                    trace_headers = {}
                trace_headers[name.decode("latin-1")] = value.decode("latin-1")
        parent = otel_context.Context()  # a new trace, unless a trusted caller names one
        links: list[Link] | None = None
        attributes = _request_attributes(scope, user_agent)
        if trace_headers is not None:
            if trusted_source(scope, self._trusted):
                parent = propagate.extract(trace_headers, context=parent)
            elif (link := caller_link(trace_headers)) is not None:
                links = [link]
                attributes.update(link.attributes or {})
        span = self._tracer.start_span(
            scope["method"],
            context=parent,
            kind=SpanKind.SERVER,
            attributes=attributes,
            links=links,
            record_exception=False,
            set_status_on_exception=False,
        )
        span_context = span.get_span_context()
        trace_id = (
            format(span_context.trace_id, "032x").encode("latin-1")
            if span_context.is_valid
            else None
        )
        status: list[int] = []

        async def send_with_trace_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status.append(message["status"])
                if trace_id is not None:
                    message["headers"] = [*message.get("headers", ()), (_TRACE_ID_HEADER, trace_id)]
            await send(message)

        token = otel_context.attach(trace.set_span_in_context(span, parent))
        try:
            await self.app(scope, receive, send_with_trace_id)
        except BaseException as exc:
            if span.is_recording():
                span.record_exception(exc)
                span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))
            raise
        finally:
            otel_context.detach(token)
            _finish(span, scope, status)


def _finish(span: Any, scope: Scope, status: list[int]) -> None:
    if span.is_recording():
        template = getattr(scope.get("route"), "path_format", None)
        if template:
            span.update_name(f"{scope['method']} {template}")
        ended: dict[str, str | int] = {}
        if template:
            ended["http.route"] = template
        if status:
            ended["http.status_code"] = status[0]
            if status[0] >= 500:
                span.set_status(Status(StatusCode.ERROR))
        span.set_attributes(ended)
    span.end()
