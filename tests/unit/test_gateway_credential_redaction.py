"""A stream ticket in an events URL (``?ticket=``, for browsers' EventSource) never reaches the
request's span in clear: the gateway's span middleware redacts it, on a small ASGI app with a
recording tracer."""

from __future__ import annotations

import httpx
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from services.gateway.tracing import RequestSpanMiddleware

TICKET = "qdst_thisIsTheSecretPartOfTheTicket0123456789abc"


async def _span_attributes(url: str) -> dict[str, object]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))

    async def ok(_request: object) -> PlainTextResponse:
        return PlainTextResponse("ok")

    app = RequestSpanMiddleware(
        Starlette(routes=[Route("/v1/conversations/c/events", ok)]),
        tracer=provider.get_tracer("test"),
    )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://gateway"
    ) as client:
        assert (await client.get(url)).status_code == 200
    (span,) = exporter.get_finished_spans()
    provider.shutdown()
    return dict(span.attributes or {})


async def test_a_ticket_in_the_query_is_kept_redacted_and_the_rest_of_the_url_as_it_was() -> None:
    attributes = await _span_attributes(f"/v1/conversations/c/events?after=3&ticket={TICKET}")
    assert not any(TICKET in str(value) for value in attributes.values()), attributes
    urls = [str(v) for k, v in attributes.items() if k in ("http.url", "url.full")]
    assert urls and all("after=3&ticket=REDACTED" in url for url in urls), attributes


async def test_a_url_without_a_ticket_is_left_alone() -> None:
    attributes = await _span_attributes("/v1/conversations/c/events?after=3")
    urls = [str(v) for k, v in attributes.items() if k in ("http.url", "url.full")]
    assert urls and all(url.endswith("/v1/conversations/c/events?after=3") for url in urls)
