"""The telemetry service over a real in-process gRPC server, on SQLite and on PostgreSQL: spans
arrive through the stock OTLP exporter and come back through GetTrace."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
from grpc_health.v1.health_pb2 import HealthCheckRequest, HealthCheckResponse
from grpc_health.v1.health_pb2_grpc import HealthStub
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.utils import is_instrumentation_enabled
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2_grpc import TraceServiceStub
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource as ResourceProto
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode
from sqlalchemy import event, func, select

from quarterdeck.telemetry.v1 import telemetry_pb2 as pb
from quarterdeck.telemetry.v1.telemetry_pb2_grpc import TelemetryServiceStub
from services.telemetry.traces.models import SpanRecord
from shared.errors import ERROR_DOMAIN
from shared.grpc_client import open_channel
from shared.server import RunningService
from tests.support.errors import failure, rich_error
from tests.support.stack import Databases, StoringExports, running_service, spans_stored
from tests.support.tokens import TestIssuer, authorized_channel

ISSUER = TestIssuer()

TEST_SERVICE = "quarterdeck-test-agent"


@dataclass
class Telemetry:
    running: RunningService[Any, Any]
    traces: StoringExports
    reads: TelemetryServiceStub


@pytest.fixture(scope="module")
async def telemetry(backend: str, databases: Databases) -> AsyncIterator[Telemetry]:
    url = await databases.url(backend, "telemetry")
    async with (
        running_service("telemetry", url, authenticator=ISSUER.authenticator()) as running,
        # Spans are exported as the platform's services do, with an internal token.
        authorized_channel(running.target, ISSUER.internal()) as channel,
        authorized_channel(running.target, ISSUER.operator()) as operator_channel,
    ):
        yield Telemetry(
            running,
            StoringExports(TraceServiceStub(channel), running),
            TelemetryServiceStub(operator_channel),
        )


def new_trace_id() -> bytes:
    return uuid.uuid4().bytes


def otlp_span(trace_id: bytes, number: int, **fields: object) -> Span:
    """A valid span whose span_id is ``number``, started ``number`` microseconds in."""
    start = 1_700_000_000_000_000_000 + number * 1_000
    fields.setdefault("name", f"step-{number}")
    return Span(
        trace_id=trace_id,
        span_id=number.to_bytes(8, "big"),
        start_time_unix_nano=start,
        end_time_unix_nano=start + 500,
        **fields,  # type: ignore[arg-type]
    )


def export_request(*spans: Span) -> ExportTraceServiceRequest:
    resource = ResourceProto(
        attributes=[KeyValue(key="service.name", value=AnyValue(string_value=TEST_SERVICE))]
    )
    return ExportTraceServiceRequest(
        resource_spans=[ResourceSpans(resource=resource, scope_spans=[ScopeSpans(spans=spans)])]
    )


@dataclass(frozen=True)
class RecordedTrace:
    trace_id: str
    parent: str
    child: str
    grandchild: str


def record_trace_with_the_stock_exporter(target: str, tenant_id: str) -> RecordedTrace:
    """Blocks on every span end (SimpleSpanProcessor), so it must run off the event loop."""
    provider = TracerProvider(resource=Resource({"service.name": TEST_SERVICE}))
    provider.add_span_processor(
        SimpleSpanProcessor(
            OTLPSpanExporter(endpoint=target, insecure=True, headers=dict(ISSUER.internal()))
        )
    )
    tracer = provider.get_tracer("tests.telemetry")
    try:
        with tracer.start_as_current_span("handle-turn", kind=SpanKind.SERVER) as parent:
            parent.set_status(Status(StatusCode.OK))
            with tracer.start_as_current_span(
                "call-model",
                kind=SpanKind.CLIENT,
                attributes={
                    "quarterdeck.tenant_id": tenant_id,
                    "llm.tokens": 1234,
                    "llm.cached": True,
                    "llm.stop": ["\n", "END"],
                },
            ) as child:
                child.add_event("retry", {"attempt": 2})
                with tracer.start_as_current_span("parse-reply") as grandchild:
                    grandchild.set_status(Status(StatusCode.ERROR, "reply was not JSON"))
        assert provider.force_flush(10_000)
    finally:
        provider.shutdown()
    ids = [s.get_span_context() for s in (parent, child, grandchild)]
    return RecordedTrace(
        trace.format_trace_id(ids[0].trace_id), *(trace.format_span_id(c.span_id) for c in ids)
    )


async def test_spans_from_the_stock_exporter_come_back_through_get_trace(
    telemetry: Telemetry,
) -> None:
    tenant_id = str(uuid.uuid4())
    recorded = await asyncio.to_thread(
        record_trace_with_the_stock_exporter, telemetry.running.target, tenant_id
    )
    await spans_stored(telemetry.running)
    spans = (await telemetry.reads.GetTrace(pb.GetTraceRequest(trace_id=recorded.trace_id))).spans
    assert [s.span_id for s in spans] == [recorded.parent, recorded.child, recorded.grandchild]
    parent, child, grandchild = spans
    assert {s.trace_id for s in spans} == {recorded.trace_id}
    assert {s.service_name for s in spans} == {TEST_SERVICE}
    assert (parent.parent_span_id, child.parent_span_id, grandchild.parent_span_id) == (
        "",
        recorded.parent,
        recorded.child,
    )
    assert (parent.name, parent.kind, parent.status_code) == (
        "handle-turn",
        pb.SPAN_KIND_SERVER,
        pb.SPAN_STATUS_CODE_OK,
    )
    assert (child.name, child.kind, child.status_code) == (
        "call-model",
        pb.SPAN_KIND_CLIENT,
        pb.SPAN_STATUS_CODE_UNSPECIFIED,
    )
    assert (grandchild.kind, grandchild.status_code, grandchild.status_message) == (
        pb.SPAN_KIND_INTERNAL,
        pb.SPAN_STATUS_CODE_ERROR,
        "reply was not JSON",
    )
    assert dict(child.attributes) == {
        "quarterdeck.tenant_id": tenant_id,
        "llm.tokens": 1234.0,  # Struct numbers are doubles
        "llm.cached": True,
        "llm.stop": ["\n", "END"],
    }
    # Only the span that carries the attribute is filed under the tenant.
    assert [s.tenant_id for s in spans] == ["", tenant_id, ""]
    for span in spans:
        assert span.start_time.ToNanoseconds() > 0
        assert span.end_time.ToNanoseconds() >= span.start_time.ToNanoseconds()
    assert parent.start_time.ToNanoseconds() <= child.start_time.ToNanoseconds()
    assert child.end_time.ToNanoseconds() <= parent.end_time.ToNanoseconds()


async def test_the_span_event_is_stored_with_its_attributes(telemetry: Telemetry) -> None:
    trace_id = new_trace_id()
    event = Span.Event(
        name="retry",
        time_unix_nano=1_700_000_000_000_000_100,
        attributes=[KeyValue(key="attempt", value=AnyValue(int_value=2))],
    )
    await telemetry.traces.Export(export_request(otlp_span(trace_id, 1, events=[event])))
    async with telemetry.running.context.database.reading() as session:
        stored = await session.scalar(
            select(SpanRecord.events).where(SpanRecord.trace_id == trace_id.hex())
        )
    assert stored == [
        {"name": "retry", "time_unix_nano": 1_700_000_000_000_000_100, "attributes": {"attempt": 2}}
    ]


async def test_the_same_export_twice_stores_each_span_once(telemetry: Telemetry) -> None:
    trace_id = new_trace_id()
    request = export_request(
        otlp_span(trace_id, 1),
        otlp_span(trace_id, 2, parent_span_id=(1).to_bytes(8, "big")),
    )
    first = await telemetry.traces.Export(request)
    again = await telemetry.traces.Export(request)
    assert first == again == ExportTraceServiceResponse()
    assert not again.HasField("partial_success")
    spans = (await telemetry.reads.GetTrace(pb.GetTraceRequest(trace_id=trace_id.hex()))).spans
    assert [s.span_id for s in spans] == ["0000000000000001", "0000000000000002"]


async def test_a_span_with_a_bad_trace_id_is_rejected_and_the_rest_stored(
    telemetry: Telemetry,
) -> None:
    trace_id = new_trace_id()
    request = export_request(
        otlp_span(trace_id, 1),
        otlp_span(trace_id[:15], 2),
        otlp_span(trace_id, 3),
    )
    response = await telemetry.traces.Export(request)
    assert response.partial_success.rejected_spans == 1
    assert "trace_id must be 16 bytes, got 15" in response.partial_success.error_message
    assert "resource_spans[0].scope_spans[0].spans[1]" in response.partial_success.error_message
    spans = (await telemetry.reads.GetTrace(pb.GetTraceRequest(trace_id=trace_id.hex()))).spans
    assert [s.span_id for s in spans] == ["0000000000000001", "0000000000000003"]


async def test_values_json_cannot_hold_are_stored_safely(telemetry: Telemetry) -> None:
    trace_id = new_trace_id()
    attributes = [
        KeyValue(key="ratio", value=AnyValue(double_value=float("nan"))),
        KeyValue(key="blob", value=AnyValue(bytes_value=b"\x00\x01")),
        KeyValue(key="text", value=AnyValue(string_value="a\x00b")),
    ]
    span = otlp_span(trace_id, 1, name="nul\x00name", attributes=attributes)
    response = await telemetry.traces.Export(export_request(span))
    assert not response.HasField("partial_success")
    (stored,) = (await telemetry.reads.GetTrace(pb.GetTraceRequest(trace_id=trace_id.hex()))).spans
    assert stored.name == "nul\ufffdname"
    assert dict(stored.attributes) == {"ratio": "NaN", "blob": "AAE=", "text": "a\ufffdb"}


async def test_health_and_reflection_name_both_services(telemetry: Telemetry) -> None:
    names = [
        "opentelemetry.proto.collector.trace.v1.TraceService",
        "quarterdeck.telemetry.v1.TelemetryService",
    ]
    assert list(telemetry.running.service_names)[:2] == names  # then one service per area
    async with open_channel(telemetry.running.target) as channel:
        health = HealthStub(channel)
        for name in names:
            reply = await health.Check(HealthCheckRequest(service=name))
            assert reply.status == HealthCheckResponse.SERVING


@pytest.mark.parametrize(
    "trace_id",
    ["", "xyz", "0AF7651916CD43DD8448EB211C80319C", "0af7651916cd43dd8448eb211c80319", "0" * 32],
)
async def test_a_malformed_trace_id_is_invalid_argument(
    telemetry: Telemetry, trace_id: str
) -> None:
    error = rich_error(
        await failure(telemetry.reads.GetTrace(pb.GetTraceRequest(trace_id=trace_id)))
    )
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert list(error.field_violations) == ["trace_id"]
    assert error.domain == ERROR_DOMAIN


async def test_an_unknown_trace_is_not_found(telemetry: Telemetry) -> None:
    trace_id = new_trace_id().hex()
    error = rich_error(
        await failure(telemetry.reads.GetTrace(pb.GetTraceRequest(trace_id=trace_id)))
    )
    assert error.code == grpc.StatusCode.NOT_FOUND
    assert error.reason == "TRACE_NOT_FOUND" and error.metadata == {"trace_id": trace_id}


@pytest.fixture
def sql_instrumentation(telemetry: Telemetry) -> Iterator[list[bool]]:
    """Whether instrumentation was on for each SQL statement the service ran meanwhile."""
    engine = telemetry.running.context.database.engine.sync_engine
    seen: list[bool] = []

    def record(*_args: object) -> None:
        seen.append(is_instrumentation_enabled())

    # The hook SQLAlchemy's instrumentation uses to decide whether to record a span.
    event.listen(engine, "before_cursor_execute", record)
    yield seen
    event.remove(engine, "before_cursor_execute", record)


async def test_storing_spans_records_no_spans_of_its_own(
    telemetry: Telemetry, sql_instrumentation: list[bool]
) -> None:
    trace_id = new_trace_id()
    # Twice: on PostgreSQL the first is a raw COPY, which SQLAlchemy (and its instrumentation)
    # never sees; the retry goes through the staging table, in SQL statements it does see.
    await telemetry.traces.Export(export_request(otlp_span(trace_id, 1)))
    await telemetry.traces.Export(export_request(otlp_span(trace_id, 1)))
    assert sql_instrumentation and not any(sql_instrumentation)
    sql_instrumentation.clear()
    await telemetry.reads.GetTrace(pb.GetTraceRequest(trace_id=trace_id.hex()))
    assert sql_instrumentation and all(sql_instrumentation)  # reads are traced as usual


async def test_one_export_is_one_bulk_write(telemetry: Telemetry) -> None:
    """SQLite runs one prepared INSERT over every row (executemany); PostgreSQL takes a COPY,
    no INSERT at all."""
    database = telemetry.running.context.database
    inserts: list[tuple[str, bool, int]] = []

    def record(
        _conn: object,
        _cursor: object,
        statement: str,
        parameters: Any,
        _context: object,
        executemany: bool,
    ) -> None:
        if statement.lstrip().upper().startswith("INSERT"):
            inserts.append((statement, executemany, len(parameters) if executemany else 1))

    trace_id = new_trace_id()
    event.listen(database.engine.sync_engine, "before_cursor_execute", record)
    try:
        await telemetry.traces.Export(
            export_request(*(otlp_span(trace_id, n) for n in range(1, 51)))
        )
    finally:
        event.remove(database.engine.sync_engine, "before_cursor_execute", record)
    if database.dialect == "postgresql":
        assert inserts == []
    else:
        assert [(executemany, rows) for _, executemany, rows in inserts] == [(True, 50)]
        assert "ON CONFLICT" not in inserts[0][0].upper()  # nothing stored yet: the plain insert
    async with database.reading() as session:
        count = await session.scalar(
            select(func.count()).where(SpanRecord.trace_id == trace_id.hex())
        )
    assert count == 50


async def test_a_retried_export_with_new_and_repeated_spans_stores_each_span_once(
    telemetry: Telemetry,
) -> None:
    """The bulk write of a batch holding a stored span fails (PostgreSQL's COPY, SQLite's
    executemany) and stores nothing; the batch then goes through the path that skips the stored
    span and the one repeated inside the batch (keeping the first), and stores the new ones. A
    malformed span in it is still reported by its position."""
    trace_id = new_trace_id()
    await telemetry.traces.Export(export_request(otlp_span(trace_id, 1, name="first")))
    retried = export_request(
        otlp_span(trace_id, 1, name="first, retried"),
        otlp_span(trace_id, 2, name="new"),
        otlp_span(b"short", 4),
        otlp_span(trace_id, 3, name="new, sent once"),
        otlp_span(trace_id, 3, name="new, sent twice"),
    )
    response = await telemetry.traces.Export(retried)
    assert response.partial_success.rejected_spans == 1
    assert "resource_spans[0].scope_spans[0].spans[2]" in response.partial_success.error_message
    spans = (await telemetry.reads.GetTrace(pb.GetTraceRequest(trace_id=trace_id.hex()))).spans
    assert [(s.span_id, s.name) for s in spans] == [
        ("0000000000000001", "first"),
        ("0000000000000002", "new"),
        ("0000000000000003", "new, sent once"),
    ]
    again = await telemetry.traces.Export(retried)  # all stored: nothing changes
    assert again == response
    assert (
        len((await telemetry.reads.GetTrace(pb.GetTraceRequest(trace_id=trace_id.hex()))).spans)
        == 3
    )


async def test_the_tenant_and_resource_attributes_are_stored_with_each_span(
    telemetry: Telemetry,
) -> None:
    trace_id = new_trace_id()
    resource = ResourceProto(
        attributes=[
            KeyValue(key="service.name", value=AnyValue(string_value="billing-agent")),
            KeyValue(key="tenant.id", value=AnyValue(string_value="tenant-from-resource")),
            KeyValue(key="host.name", value=AnyValue(string_value="box-1")),
        ]
    )
    own_tenant = [
        KeyValue(key="quarterdeck.tenant_id", value=AnyValue(string_value="tenant-own")),
        KeyValue(key="retries", value=AnyValue(int_value=3)),
        KeyValue(key="cached", value=AnyValue(bool_value=True)),
    ]
    request = ExportTraceServiceRequest(
        resource_spans=[
            ResourceSpans(
                resource=resource,
                scope_spans=[
                    ScopeSpans(
                        spans=[
                            otlp_span(trace_id, 1),
                            otlp_span(trace_id, 2, attributes=own_tenant),
                        ]
                    )
                ],
            )
        ]
    )
    assert await telemetry.traces.Export(request) == ExportTraceServiceResponse()
    async with telemetry.running.context.database.reading() as session:
        rows = (
            await session.execute(
                select(
                    SpanRecord.span_id,
                    SpanRecord.service_name,
                    SpanRecord.tenant_id,
                    SpanRecord.attributes,
                    SpanRecord.resource_attributes,
                    SpanRecord.events,
                )
                .where(SpanRecord.trace_id == trace_id.hex())
                .order_by(SpanRecord.span_id)
            )
        ).all()
    resource_attributes = {
        "service.name": "billing-agent",
        "tenant.id": "tenant-from-resource",
        "host.name": "box-1",
    }
    assert [tuple(row) for row in rows] == [
        ("0000000000000001", "billing-agent", "tenant-from-resource", {}, resource_attributes, []),
        (
            "0000000000000002",
            "billing-agent",
            "tenant-own",
            {"quarterdeck.tenant_id": "tenant-own", "retries": 3, "cached": True},
            resource_attributes,
            [],
        ),
    ]


async def test_reading_a_trace_needs_a_caller_and_hides_it_from_other_tenants(
    telemetry: Telemetry,
) -> None:
    trace_id = new_trace_id()
    tenant_attribute = KeyValue(key="quarterdeck.tenant_id", value=AnyValue(string_value="t-1"))
    await telemetry.traces.Export(
        export_request(otlp_span(trace_id, 1, attributes=[tenant_attribute]))
    )
    request = pb.GetTraceRequest(trace_id=trace_id.hex())
    async with open_channel(telemetry.running.target) as channel:
        stub = TelemetryServiceStub(channel)
        error = rich_error(await failure(stub.GetTrace(request)))
        assert error.code == grpc.StatusCode.UNAUTHENTICATED
        member = ISSUER.member(str(uuid.uuid4()), "owner")
        error = rich_error(await failure(stub.GetTrace(request, metadata=member)))
        # Exactly what a trace that does not exist answers.
        assert error.code == grpc.StatusCode.NOT_FOUND
        assert error.reason == "TRACE_NOT_FOUND"
        assert error.metadata == {"trace_id": trace_id.hex()}
        own = await stub.GetTrace(request, metadata=ISSUER.member("t-1", "viewer"))
        assert [s.span_id for s in own.spans] == ["0000000000000001"]
