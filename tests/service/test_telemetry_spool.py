"""The span spool over a real telemetry service on SQLite and PostgreSQL: Export answers once a
request is spooled, and every span the stock exporter sends is stored once the spool drains; a
telemetry process killed with exports still spooled stores them after its restart; a full spool
refuses with RESOURCE_EXHAUSTED and a retry delay."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
import sqlite3
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2_grpc import TraceServiceStub
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource as ResourceProto
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from sqlalchemy import text

from shared.db import Database
from shared.errors import RETRY_INFO_TRAILER
from shared.grpc_client import open_channel
from tests.support.errors import rich_error
from tests.support.stack import Databases, running_service, spans_stored
from tests.support.tokens import TestIssuer
from tests.support.waiting import DEFAULT_WAIT_SECONDS

ISSUER = TestIssuer()
SPANS = 3_000


async def stored_spans(url: str, service_name: str) -> int:
    database = Database(url)
    try:
        async with database.engine.connect() as connection:
            result = await connection.execute(
                text("SELECT count(*) FROM spans WHERE service_name = :name"),
                {"name": service_name},
            )
            return int(result.scalar_one())
    finally:
        await database.dispose()


def spool_sizes(directory: Path) -> list[int]:
    return [path.stat().st_size for path in directory.glob("*.spool")]


def export_with_the_stock_sdk(target: str, service_name: str, spans: int) -> None:
    """The stock SDK at its default settings (BatchSpanProcessor, OTLP/gRPC exporter). Flushed
    every 1,000 spans, well inside its queue of 2,048: in one process with the server, ending
    spans back to back outruns the SDK's own exporting thread whatever the receiver does (what
    bench_exporter_ingest measures); here every span must reach the receiver."""
    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    provider.add_span_processor(
        BatchSpanProcessor(
            OTLPSpanExporter(endpoint=target, insecure=True, headers=dict(ISSUER.internal()))
        )
    )
    tracer = provider.get_tracer("tests.spool")
    try:
        for n in range(spans):
            with tracer.start_as_current_span("llm.call") as span:
                span.set_attribute("n", n)
            if n % 1_000 == 999:
                assert provider.force_flush(30_000)
    finally:
        provider.shutdown()


async def test_every_span_the_stock_exporter_sends_is_stored(
    backend: str, databases: Databases, tmp_path: Path
) -> None:
    url = await databases.url(backend, "telemetry", "spool-stock")
    service_name = f"stock-{uuid.uuid4().hex[:8]}"
    async with running_service(
        "telemetry", url, authenticator=ISSUER.authenticator(), otlp_spool_dir=tmp_path
    ) as telemetry:
        await asyncio.to_thread(export_with_the_stock_sdk, telemetry.target, service_name, SPANS)
        await spans_stored(telemetry)
        assert await stored_spans(url, service_name) == SPANS
    assert spool_sizes(tmp_path) == []  # stored, so nothing is left to replay


def request_of(service_name: str, first: int, count: int) -> ExportTraceServiceRequest:
    trace_id = uuid.uuid4().bytes
    start = 1_800_000_000_000_000_000
    spans = [
        Span(
            trace_id=trace_id,
            span_id=(first + n + 1).to_bytes(8, "big"),
            name="step",
            start_time_unix_nano=start + n,
            end_time_unix_nano=start + n + 1_000,
        )
        for n in range(count)
    ]
    resource = ResourceProto(
        attributes=[KeyValue(key="service.name", value=AnyValue(string_value=service_name))]
    )
    return ExportTraceServiceRequest(
        resource_spans=[ResourceSpans(resource=resource, scope_spans=[ScopeSpans(spans=spans)])]
    )


def _telemetry_main(url: str, spool_dir: str, pipe: Connection) -> None:
    """Telemetry in a process of its own, taking exports with no credential (the platform's
    own network): it reports its target, then serves until it is killed."""

    async def serve() -> None:
        async with running_service(
            "telemetry", url, otlp_spool_dir=Path(spool_dir), otlp_unauthenticated_export=True
        ) as telemetry:
            pipe.send(telemetry.target)
            await asyncio.Event().wait()

    asyncio.run(serve())


@contextmanager
def telemetry_process(url: str, spool_dir: Path) -> Iterator[tuple[str, Any]]:
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    process = context.Process(target=_telemetry_main, args=(url, str(spool_dir), theirs))
    process.start()
    try:
        if not ours.poll(120):
            raise AssertionError("the telemetry process did not start within 120 s")
        yield ours.recv(), process
    finally:
        if process.is_alive():
            process.kill()
        process.join(30)


@asynccontextmanager
async def spans_table_locked(backend: str, url: str) -> AsyncIterator[None]:
    """Holds a lock that keeps every writer out of the spans table, so exports stay spooled."""
    if backend == "sqlite":
        connection = sqlite3.connect(url.split("///", 1)[1], isolation_level=None)
        try:
            connection.execute("BEGIN EXCLUSIVE")
            yield
            connection.execute("ROLLBACK")
        finally:
            connection.close()
        return
    database = Database(url)
    try:
        async with database.engine.connect() as connection:
            await connection.exec_driver_sql("LOCK TABLE spans IN ACCESS EXCLUSIVE MODE")
            try:
                yield
            finally:
                await connection.rollback()
    finally:
        await database.dispose()


async def test_spooled_exports_are_stored_after_the_process_is_killed(
    backend: str, databases: Databases, tmp_path: Path
) -> None:
    url = await databases.url(backend, "telemetry", "spool-kill")
    service_name = f"killed-{uuid.uuid4().hex[:8]}"
    requests = [request_of(service_name, n * 100, 100) for n in range(5)]
    with telemetry_process(url, tmp_path) as (target, process):
        async with spans_table_locked(backend, url), open_channel(target) as channel:
            for request in requests:
                response = await TraceServiceStub(channel).Export(request, timeout=30)
                assert not response.HasField("partial_success")
            # Accepted, none stored (the table is locked): killed with all of it spooled.
            os.kill(process.pid, signal.SIGKILL)
            process.join(30)
    (left,) = spool_sizes(tmp_path)
    assert left > 0
    assert await stored_spans(url, service_name) == 0
    async with running_service(
        "telemetry", url, otlp_spool_dir=tmp_path, otlp_unauthenticated_export=True
    ) as telemetry:
        await spans_stored(telemetry)
        assert await stored_spans(url, service_name) == 500
        # The killed process's file is gone; the new process's own is empty.
        assert spool_sizes(tmp_path) == [0]
    assert spool_sizes(tmp_path) == []


async def test_a_full_spool_refuses_with_a_retry_delay(
    backend: str, databases: Databases, tmp_path: Path
) -> None:
    url = await databases.url(backend, "telemetry", "spool-full")
    service_name = f"full-{uuid.uuid4().hex[:8]}"
    first, second = request_of(service_name, 0, 50), request_of(service_name, 100, 50)
    async with (
        running_service(
            "telemetry",
            url,
            otlp_spool_dir=tmp_path,
            otlp_unauthenticated_export=True,
            # Room for one of these requests, not two.
            otlp_spool_max_bytes=first.ByteSize() + 100,
        ) as telemetry,
        open_channel(telemetry.target) as channel,
    ):
        stub = TraceServiceStub(channel)
        async with spans_table_locked(backend, url):
            await stub.Export(first, timeout=30)
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await stub.Export(second, timeout=30)
            error = refused.value
            assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert rich_error(error).reason == "SPAN_SPOOL_FULL"
            trailers = dict(error.trailing_metadata() or ())
            retry = error_details_pb2.RetryInfo.FromString(trailers[RETRY_INFO_TRAILER])
            assert retry.retry_delay.seconds >= 1
        # Once the first is stored there is room again, as the exporter's retry finds.
        await asyncio.wait_for(spans_stored(telemetry), DEFAULT_WAIT_SECONDS)
        await stub.Export(second, timeout=30)
        await spans_stored(telemetry)
        assert await stored_spans(url, service_name) == 100
