"""The gateway's request span on a small ASGI app with a recording tracer: one SERVER span per
request named after its route template, the attributes the instrumentation recorded, ERROR on a
5xx, the trace id on the response, and no span for liveness probes."""

from __future__ import annotations

import httpx
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from services.gateway.tracing import TRACE_ID_HEADER, RequestSpanMiddleware
from shared.tracing import current_trace_ids


async def _spans(*paths: str) -> tuple[list[httpx.Response], list[ReadableSpan]]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))

    async def item(request: Request) -> PlainTextResponse:
        # The app runs inside the span: what it logs or calls carries the request's trace.
        return PlainTextResponse(current_trace_ids()[0])

    async def broken(_request: Request) -> PlainTextResponse:
        return PlainTextResponse("down", status_code=503)

    async def healthz(_request: Request) -> PlainTextResponse:
        return PlainTextResponse("ok")

    app = Starlette(
        routes=[
            Route("/v1/items/{item_id}", item),
            Route("/broken", broken),
            Route("/healthz", healthz),
        ]
    )
    traced = RequestSpanMiddleware(app, tracer=provider.get_tracer("test"))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=traced), base_url="http://gateway"
    ) as client:
        responses = [await client.get(path, headers={"user-agent": "bench/1"}) for path in paths]
    spans = list(exporter.get_finished_spans())
    provider.shutdown()
    return responses, spans


async def test_a_request_has_one_server_span_named_after_its_route() -> None:
    (response,), (span,) = await _spans("/v1/items/8c1e?page=2")
    assert response.status_code == 200
    trace_id = f"{span.context.trace_id:032x}"
    assert response.headers[TRACE_ID_HEADER] == trace_id == response.text
    assert span.name == "GET /v1/items/{item_id}"
    assert span.kind is SpanKind.SERVER
    assert span.parent is None
    assert span.status.status_code is StatusCode.UNSET
    attributes = dict(span.attributes or {})
    assert attributes["http.method"] == "GET"
    assert attributes["http.route"] == "/v1/items/{item_id}"
    assert attributes["http.status_code"] == 200
    assert attributes["http.target"] == "/v1/items/8c1e?page=2"
    assert str(attributes["http.url"]).endswith("/v1/items/8c1e?page=2")
    assert attributes["http.user_agent"] == "bench/1"
    assert "net.peer.ip" in attributes


async def test_a_5xx_is_an_error_and_an_unmatched_path_keeps_only_its_method() -> None:
    responses, spans = await _spans("/broken", "/nowhere/secret-looking-path")
    assert [r.status_code for r in responses] == [503, 404]
    broken, unmatched = spans
    assert broken.status.status_code is StatusCode.ERROR
    assert unmatched.name == "GET"
    assert unmatched.status.status_code is StatusCode.UNSET
    assert dict(unmatched.attributes or {})["http.status_code"] == 404


async def test_liveness_probes_are_not_traced() -> None:
    (response,), spans = await _spans("/healthz")
    assert response.status_code == 200
    assert spans == []
    assert TRACE_ID_HEADER not in response.headers
