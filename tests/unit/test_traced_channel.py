"""Outgoing calls on the channel every service opens are traced without interceptors: a CLIENT
span per call named by its method, W3C trace context in the call's metadata, the status on the
span, a failed method noted for the caller's error layer; health probes untraced."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import grpc
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from shared.downstream import failed_calls_record, watch_downstream_calls
from shared.traced_channel import TracedChannel

SERVICE = "test.Echo"


class Seen:
    def __init__(self) -> None:
        self.traceparents: list[str] = []

    def note(self, context: grpc.aio.ServicerContext) -> None:
        metadata = dict(context.invocation_metadata() or ())
        self.traceparents.append(str(metadata.get("traceparent", "")))


@asynccontextmanager
async def serving(seen: Seen) -> AsyncIterator[str]:
    async def echo(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        seen.note(context)
        return request

    async def fail(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        seen.note(context)
        await context.abort(grpc.StatusCode.NOT_FOUND, "no such thing")
        raise AssertionError("abort raises")

    async def count(request: bytes, context: grpc.aio.ServicerContext) -> AsyncIterator[bytes]:
        seen.note(context)
        for index in range(3):
            yield bytes([index])

    handler = grpc.method_handlers_generic_handler(
        SERVICE,
        {
            "Echo": grpc.unary_unary_rpc_method_handler(echo),
            "Fail": grpc.unary_unary_rpc_method_handler(fail),
            "Count": grpc.unary_stream_rpc_method_handler(count),
        },
    )
    health = grpc.method_handlers_generic_handler(
        "grpc.health.v1.Health", {"Check": grpc.unary_unary_rpc_method_handler(echo)}
    )
    server = grpc.aio.server()
    server.add_generic_rpc_handlers([handler, health])
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        await server.stop(None)


@pytest.fixture
def spans() -> InMemorySpanExporter:
    return InMemorySpanExporter()


def _channel(target: str, spans: InMemorySpanExporter) -> TracedChannel:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    return TracedChannel(grpc.aio.insecure_channel(target), provider.get_tracer("test"))


async def test_a_call_is_a_client_span_whose_context_the_server_receives(
    spans: InMemorySpanExporter,
) -> None:
    seen = Seen()
    async with serving(seen) as target, _channel(target, spans) as channel:
        assert await channel.unary_unary(f"/{SERVICE}/Echo")(b"hi", timeout=5) == b"hi"

    (span,) = spans.get_finished_spans()
    assert span.name == f"/{SERVICE}/Echo"
    assert span.kind is SpanKind.CLIENT
    assert dict(span.attributes or {}) == {
        "rpc.system": "grpc",
        "rpc.service": SERVICE,
        "rpc.method": "Echo",
        "rpc.grpc.status_code": 0,
    }
    assert span.status.status_code is StatusCode.UNSET
    context = span.get_span_context()
    (traceparent,) = seen.traceparents
    assert traceparent.startswith(f"00-{context.trace_id:032x}-{context.span_id:016x}-")


async def test_a_failed_call_marks_its_span_and_is_noted_for_the_callers_error_layer(
    spans: InMemorySpanExporter,
) -> None:
    seen = Seen()
    watch_downstream_calls()
    async with serving(seen) as target, _channel(target, spans) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await channel.unary_unary(f"/{SERVICE}/Fail")(b"x", timeout=5)
        # A call that fails without being awaited is still watched.
        unawaited = channel.unary_unary(f"/{SERVICE}/Fail")(b"x", timeout=5)
        with pytest.raises(grpc.aio.AioRpcError):
            await unawaited

    assert refused.value.code() is grpc.StatusCode.NOT_FOUND
    assert failed_calls_record() == [
        (f"/{SERVICE}/Fail", grpc.StatusCode.NOT_FOUND),
        (f"/{SERVICE}/Fail", grpc.StatusCode.NOT_FOUND),
    ]
    for span in spans.get_finished_spans():
        assert span.status.status_code is StatusCode.ERROR
        assert span.status.description == "NOT_FOUND: no such thing"
        assert (span.attributes or {})["rpc.grpc.status_code"] == grpc.StatusCode.NOT_FOUND.value[0]


async def test_a_stream_is_one_span_ended_when_the_stream_ends(
    spans: InMemorySpanExporter,
) -> None:
    seen = Seen()
    async with serving(seen) as target, _channel(target, spans) as channel:
        call = channel.unary_stream(f"/{SERVICE}/Count")(b"", timeout=5)
        received = [message async for message in call]
        assert received == [b"\x00", b"\x01", b"\x02"]
        assert await call.code() is grpc.StatusCode.OK

    (span,) = spans.get_finished_spans()
    assert span.name == f"/{SERVICE}/Count"
    assert span.end_time is not None
    assert seen.traceparents[0].startswith(f"00-{span.get_span_context().trace_id:032x}-")


async def test_health_probes_are_not_traced(spans: InMemorySpanExporter) -> None:
    seen = Seen()
    async with serving(seen) as target, _channel(target, spans) as channel:
        assert await channel.unary_unary("/grpc.health.v1.Health/Check")(b"", timeout=5) == b""

    assert spans.get_finished_spans() == ()
    assert seen.traceparents == [""]
