"""Every call a service serves is one SERVER span, child of the caller's W3C trace context, with
the final status: a refusal (NOT_FOUND) leaves the span's status unset, the server's own failure
(INTERNAL) marks it an error; health probes and untraced methods get none."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import grpc
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from shared.interceptors import LayeredInterceptor
from shared.server_spans import ServerSpanInterceptor

SERVICE = "test.Things"
TRACE_ID = 0x4BF92F3577B34DA6A3CE929D0E0E4736
PARENT_ID = 0x00F067AA0BA902B7
TRACEPARENT = f"00-{TRACE_ID:032x}-{PARENT_ID:016x}-01"


@asynccontextmanager
async def serving(spans: InMemorySpanExporter) -> AsyncIterator[grpc.aio.Channel]:
    async def get(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        if request == b"missing":
            await context.abort(grpc.StatusCode.NOT_FOUND, "no such thing")
        if request == b"broken":
            raise RuntimeError("boom")
        return request

    async def count(request: bytes, context: grpc.aio.ServicerContext) -> AsyncIterator[bytes]:
        for index in range(2):
            yield bytes([index])

    handlers = grpc.method_handlers_generic_handler(
        SERVICE,
        {
            "Get": grpc.unary_unary_rpc_method_handler(get),
            "Quiet": grpc.unary_unary_rpc_method_handler(get),
            "Count": grpc.unary_stream_rpc_method_handler(count),
        },
    )
    health = grpc.method_handlers_generic_handler(
        "grpc.health.v1.Health", {"Check": grpc.unary_unary_rpc_method_handler(get)}
    )
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    layer = ServerSpanInterceptor(
        frozenset({f"/{SERVICE}/Quiet"}), tracer=provider.get_tracer("test")
    )
    server = grpc.aio.server(interceptors=[LayeredInterceptor([layer])])
    server.add_generic_rpc_handlers([handlers, health])
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield channel
    finally:
        await server.stop(None)


@pytest.fixture
def spans() -> InMemorySpanExporter:
    return InMemorySpanExporter()


async def test_a_call_is_a_server_span_under_the_callers_trace(
    spans: InMemorySpanExporter,
) -> None:
    async with serving(spans) as channel:
        get = channel.unary_unary(f"/{SERVICE}/Get")
        assert await get(b"x", metadata=(("traceparent", TRACEPARENT),), timeout=5) == b"x"

    (span,) = spans.get_finished_spans()
    assert span.name == f"/{SERVICE}/Get"
    assert span.kind is SpanKind.SERVER
    assert span.get_span_context().trace_id == TRACE_ID
    assert span.parent is not None and span.parent.span_id == PARENT_ID
    attributes = dict(span.attributes or {})
    assert attributes["rpc.system"] == "grpc"
    assert attributes["rpc.service"] == SERVICE
    assert attributes["rpc.method"] == "Get"
    assert attributes["rpc.grpc.status_code"] == 0
    assert attributes["net.peer.ip"] == "127.0.0.1"
    assert str(attributes["net.peer.port"]).isdigit()
    assert span.status.status_code is StatusCode.UNSET


async def test_a_call_without_trace_context_starts_a_trace(spans: InMemorySpanExporter) -> None:
    async with serving(spans) as channel:
        await channel.unary_unary(f"/{SERVICE}/Get")(b"x", timeout=5)

    (span,) = spans.get_finished_spans()
    assert span.parent is None


async def test_a_refusal_is_not_the_servers_error_but_a_failure_is(
    spans: InMemorySpanExporter,
) -> None:
    async with serving(spans) as channel:
        get = channel.unary_unary(f"/{SERVICE}/Get")
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await get(b"missing", timeout=5)
        with pytest.raises(grpc.aio.AioRpcError) as broken:
            await get(b"broken", timeout=5)

    assert refused.value.code() is grpc.StatusCode.NOT_FOUND
    assert broken.value.code() is grpc.StatusCode.UNKNOWN
    missing, failed = spans.get_finished_spans()
    assert (missing.attributes or {})["rpc.grpc.status_code"] == grpc.StatusCode.NOT_FOUND.value[0]
    assert missing.status.status_code is StatusCode.UNSET
    assert (failed.attributes or {})["rpc.grpc.status_code"] == grpc.StatusCode.UNKNOWN.value[0]
    assert failed.status.status_code is StatusCode.ERROR


async def test_a_stream_is_one_span(spans: InMemorySpanExporter) -> None:
    async with serving(spans) as channel:
        received = [m async for m in channel.unary_stream(f"/{SERVICE}/Count")(b"", timeout=5)]

    assert received == [b"\x00", b"\x01"]
    (span,) = spans.get_finished_spans()
    assert span.name == f"/{SERVICE}/Count"
    assert (span.attributes or {})["rpc.grpc.status_code"] == 0


async def test_health_probes_and_untraced_methods_have_no_span(
    spans: InMemorySpanExporter,
) -> None:
    async with serving(spans) as channel:
        await channel.unary_unary("/grpc.health.v1.Health/Check")(b"", timeout=5)
        await channel.unary_unary(f"/{SERVICE}/Quiet")(b"", timeout=5)

    assert spans.get_finished_spans() == ()
