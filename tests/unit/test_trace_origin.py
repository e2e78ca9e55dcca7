"""The gateway's trace origin on a small ASGI app with a recording tracer: an outside caller's
traceparent becomes a link on a new trace; a trusted caller's is adopted as the parent."""

from __future__ import annotations

import ipaddress

import httpx
import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from services.gateway.trace_origin import CALLER_SPAN_ID_ATTRIBUTE, CALLER_TRACE_ID_ATTRIBUTE
from services.gateway.tracing import TRACE_ID_HEADER, RequestSpanMiddleware

CALLER_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN = "00f067aa0ba902b7"
TRACEPARENT = f"00-{CALLER_TRACE}-{CALLER_SPAN}-01"


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


async def _served_span(exporter: InMemorySpanExporter, trusted: str | None) -> ReadableSpan:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))

    async def ok(_request: object) -> PlainTextResponse:
        return PlainTextResponse("ok")

    app = Starlette(routes=[Route("/", ok)])
    networks = [ipaddress.ip_network(trusted)] if trusted else []
    outer = RequestSpanMiddleware(app, networks, tracer=provider.get_tracer("test"))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=outer), base_url="http://gateway"
    ) as client:
        response = await client.get("/", headers={"traceparent": TRACEPARENT})
    assert response.status_code == 200
    (span,) = exporter.get_finished_spans()
    assert response.headers[TRACE_ID_HEADER] == f"{span.context.trace_id:032x}"
    provider.shutdown()
    return span


async def test_an_untrusted_traceparent_is_a_link_on_a_new_trace(
    exporter: InMemorySpanExporter,
) -> None:
    span = await _served_span(exporter, trusted=None)
    assert f"{span.context.trace_id:032x}" != CALLER_TRACE
    assert span.parent is None
    (link,) = span.links
    assert f"{link.context.trace_id:032x}" == CALLER_TRACE
    assert f"{link.context.span_id:016x}" == CALLER_SPAN
    assert span.attributes is not None
    assert span.attributes[CALLER_TRACE_ID_ATTRIBUTE] == CALLER_TRACE
    assert span.attributes[CALLER_SPAN_ID_ATTRIBUTE] == CALLER_SPAN


async def test_a_trusted_traceparent_is_the_parent(exporter: InMemorySpanExporter) -> None:
    span = await _served_span(exporter, trusted="127.0.0.0/8")
    assert f"{span.context.trace_id:032x}" == CALLER_TRACE
    assert span.parent is not None and f"{span.parent.span_id:016x}" == CALLER_SPAN
    assert not span.links
