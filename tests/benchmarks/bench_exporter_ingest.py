"""Span ingest on the embedded default (SQLite) beside raw sqlite3, and the stock OpenTelemetry
exporter at its default settings against telemetry on SQLite and on PostgreSQL.

Run: ``uv run python -m tests.benchmarks.bench_exporter_ingest [--rows 40000] [--spans 200000]
[--rounds 5] [--backends sqlite,postgresql] [--modes direct,spool] [--work-us 0,50]
[--exporter-only]``.
Everything runs on loopback, each party a process of its own. Telemetry runs in each of its two
modes, side by side: ``spool`` (the default: Export answers once the request is appended to the
spool, a background job stores the spans) and ``direct`` (``otlp_spool_max_bytes=0``: Export
stores the spans, then answers).

1. **Span rows through the RPC on SQLite.** Telemetry runs in a child process on a migrated
   SQLite file; this process sends ``--rows`` spans as OTLP ``Export`` calls of 512 spans (the
   SDK's batch) over 4 concurrent streams, and times them until every one is stored. Then the
   very same rows, as the service stores them, go into the same table of the same file with raw
   ``sqlite3`` ``executemany``, one transaction per 512 rows. Both modes and the raw insert
   alternate for ``--rounds`` rounds (the raw figure alone swings by half between runs).
   Printed: rows/s answered and stored in each mode, raw rows/s, and the ratio stored/raw of
   each round with their median (target: at least 0.5).
2. **The stock exporter**, for each ``--work-us`` value. First with no receiver at all (an
   exporter in the SDK's process that encodes each batch to OTLP protobuf, as the OTLP exporter
   does, and discards it), then against a receiver that stores nothing and answers at once:
   what the SDK drops there is its own ceiling (its exporting thread, sharing the GIL with the
   thread ending spans, falls behind), not the receiver's doing. Then, for each backend and mode, a telemetry process; another process ends
   ``--spans`` spans as fast as it can through the stock SDK (``TracerProvider`` +
   ``BatchSpanProcessor`` with its default settings + the OTLP/gRPC exporter) and shuts the
   provider down (which flushes); telemetry then stores what its spool holds. Printed: spans
   ended, the SDK's drops (its own metrics), spans stored, spans lost (ended minus stored), the
   time from the first span to the end of the flush and to the last span stored, and the CPU
   each side spent per span (which, unlike the drops, does not depend on what else the machine
   is running).

Not collected by pytest (the name is bench_*).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import os
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Sequence
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from sqlalchemy.dialects import sqlite as sqlite_dialect

from services.registry import spec_for
from services.telemetry.traces.spans import SPAN_TARGET
from shared.db import Database
from shared.grpc_client import open_channel
from shared.migrations import upgrade_to_head
from tests.benchmarks.bench_telemetry_ingest import (
    _concurrently,
    _replica,
    _server_main,
    span_copy_rows,
    span_requests,
)
from tests.support.postgres import postgres_server

SDK_BATCH = 512
STREAMS = 4
SERVICE_NAME = "bench-agent"


async def _migrate(url: str) -> None:
    database = Database(url)
    try:
        await upgrade_to_head(database, spec_for("telemetry").migrations_dir)
    finally:
        await database.dispose()


#: The two ways Export can take spans: "spool" (the default: answered once appended to the
#: spool, stored by a background job) and "direct" (the spool off: stored, then answered).
MODES = {"direct": {"otlp_spool_max_bytes": 0}, "spool": {}}


class TelemetryProcess:
    """Telemetry in a child process (the bench_telemetry_ingest server, with its test issuer)."""

    def __init__(self, url: str, mode: str, spool_dir: Path) -> None:
        context = multiprocessing.get_context("spawn")
        self._pipe, theirs = context.Pipe()
        overrides = {**MODES[mode], "otlp_spool_dir": str(spool_dir)}
        self._process = context.Process(
            target=_server_main, args=(url, theirs, overrides), daemon=True
        )

    def __enter__(self) -> tuple[str, list[tuple[str, str]]]:
        self._process.start()
        target, metadata = self._pipe.recv()
        return target, metadata

    def cpu_seconds(self) -> float:
        """CPU seconds the telemetry process has used so far."""
        self._pipe.send("cpu")
        used: float = self._pipe.recv()
        return used

    def drain(self) -> None:
        """Returns once telemetry has stored every span export it accepted."""
        self._pipe.send("drain")
        self._pipe.recv()

    def __exit__(self, *exc: object) -> None:
        self._pipe.send("stop")
        self._process.join(timeout=15)
        if self._process.is_alive():
            self._process.terminate()


# ----- 1. span rows through the RPC beside raw sqlite3 executemany -----


def _sqlite_values(rows: Sequence[Sequence[Any]]) -> list[tuple[Any, ...]]:
    """The rows as SQLite stores them (the column types' own conversions), made untimed."""
    dialect = sqlite_dialect.dialect()
    processors = [
        SPAN_TARGET.sqlite_table.c[name].type._cached_bind_processor(dialect)
        for name in SPAN_TARGET.columns
    ]
    return [
        tuple(value if p is None else p(value) for p, value in zip(processors, row, strict=True))
        for row in rows
    ]


def _raw_executemany(path: Path, rows: list[tuple[Any, ...]]) -> float:
    columns = ", ".join(f'"{name}"' for name in SPAN_TARGET.columns)
    marks = ", ".join("?" for _ in SPAN_TARGET.columns)
    statement = f"INSERT INTO spans ({columns}) VALUES ({marks})"
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        connection.execute("PRAGMA busy_timeout=10000")
        connection.execute("PRAGMA synchronous=NORMAL")
        started = time.perf_counter()
        for start in range(0, len(rows), SDK_BATCH):
            connection.execute("BEGIN IMMEDIATE")
            connection.executemany(statement, rows[start : start + SDK_BATCH])
            connection.execute("COMMIT")
        return time.perf_counter() - started
    finally:
        connection.close()


def _count_and_empty(path: Path) -> int:
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        connection.execute("PRAGMA busy_timeout=10000")
        count = int(connection.execute("SELECT count(*) FROM spans").fetchone()[0])
        connection.execute("DELETE FROM spans")
        return count
    finally:
        connection.close()


async def _warm_up(target: str) -> None:
    channel = open_channel(target)
    try:
        await _replica(channel, []).export(span_requests(10, 10)[0].SerializeToString())
    finally:
        await channel.close()


async def _send_spans(target: str, requests: Sequence[ExportTraceServiceRequest]) -> float:
    channel = open_channel(target)
    try:
        replica = _replica(channel, [])
        encoded = [request.SerializeToString() for request in requests]

        def job(payload: bytes) -> Any:
            async def call() -> None:
                reply = await replica.export(payload)
                assert not reply.HasField("partial_success"), reply

            return call

        return await _concurrently([job(payload) for payload in encoded], STREAMS)
    finally:
        await channel.close()


def rpc_beside_raw(rows: int, directory: Path, rounds: int) -> float:
    """Stored/raw for each mode, measured in ``rounds`` alternating rounds (each mode, then raw,
    on the same file): the raw figure alone swings by half between runs (it is short and the
    disk is shared), so the ratios are taken per round and their median printed."""
    path = directory / "telemetry-rows.db"
    url = f"sqlite+aiosqlite:///{path}"
    asyncio.run(_migrate(url))
    requests = span_requests(rows, SDK_BATCH)
    raw_rows = _sqlite_values(span_copy_rows(requests))
    stored_rates: dict[str, list[float]] = {mode: [] for mode in MODES}
    accepted_rates: dict[str, list[float]] = {mode: [] for mode in MODES}
    raw_rates: list[float] = []
    #: CPU microseconds per row: telemetry's process for each mode, this process for raw.
    cpu_us: dict[str, list[float]] = {mode: [] for mode in (*MODES, "raw")}
    ratios: dict[str, list[float]] = {mode: [] for mode in MODES}
    processes = {
        mode: TelemetryProcess(url, mode, directory / f"spool-rows-{mode}") for mode in MODES
    }
    with contextlib.ExitStack() as stack:
        targets = {mode: stack.enter_context(process) for mode, process in processes.items()}
        for mode, (target, _) in targets.items():
            asyncio.run(_warm_up(target))
            processes[mode].drain()
        _count_and_empty(path)
        for _ in range(rounds):
            for mode, (target, _) in targets.items():
                cpu_before = processes[mode].cpu_seconds()
                started = time.perf_counter()
                accepted_rates[mode].append(rows / asyncio.run(_send_spans(target, requests)))
                processes[mode].drain()
                stored_rates[mode].append(rows / (time.perf_counter() - started))
                cpu_us[mode].append((processes[mode].cpu_seconds() - cpu_before) / rows * 1e6)
                stored = _count_and_empty(path)
                assert stored == rows, f"the RPC ({mode}) stored {stored} of {rows} spans"
            cpu_before = time.process_time()
            raw_rates.append(rows / _raw_executemany(path, raw_rows))
            cpu_us["raw"].append((time.process_time() - cpu_before) / rows * 1e6)
            stored = _count_and_empty(path)
            assert stored == rows, f"executemany stored {stored} of {rows} spans"
            for mode in MODES:
                ratios[mode].append(stored_rates[mode][-1] / raw_rates[-1])
    raw = statistics.median(raw_rates)
    for mode in MODES:
        print(
            f"span rows on SQLite, {rows} rows in batches of {SDK_BATCH} over {STREAMS} streams, "
            f"{mode:<6} (median of {rounds} rounds): Export answered "
            f"{statistics.median(accepted_rates[mode]):8.0f} rows/s, stored "
            f"{statistics.median(stored_rates[mode]):8.0f} rows/s   raw sqlite3 executemany "
            f"{raw:8.0f} rows/s   stored/raw {statistics.median(ratios[mode]):.2f} "
            f"CPU per row {statistics.median(cpu_us[mode]):.1f} us (raw "
            f"{statistics.median(cpu_us['raw']):.1f}) "
            f"(rounds: {', '.join(f'{ratio:.2f}' for ratio in ratios[mode])}; target: at least "
            "0.50)"
        )
    return statistics.median(ratios["spool"])


# ----- 2. the stock exporter, default settings -----


def _sdk_drops(reader: Any) -> int:
    """Spans the BatchSpanProcessor counted as dropped (its ``otel.sdk.processor.span.processed``
    counter, ``error.type`` set), read from its own internal metrics."""
    dropped = 0
    data = reader.get_metrics_data()
    for resource_metrics in data.resource_metrics if data else []:
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                if metric.name != "otel.sdk.processor.span.processed":
                    continue
                for point in metric.data.data_points:
                    if point.attributes.get("error.type"):
                        dropped += int(point.value)
    return dropped


#: ``_exporter_main``'s target for no receiver at all: the spans are encoded as the OTLP
#: exporter encodes them, then discarded in the SDK's own process.
NO_RECEIVER = ""


def _exporter_main(
    target: str,
    headers: dict[str, str],
    spans: int,
    work_us: float,
    service_name: str,
    pipe: Connection,
) -> None:
    """Ends ``spans`` spans through the stock SDK as fast as it can (after ``work_us`` of
    busy CPU work per span, holding the GIL as a traced program's own work does), then
    flushes. With ``target`` :data:`NO_RECEIVER`, the batches are encoded to OTLP protobuf and
    discarded, with no network."""
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
    from opentelemetry.trace import SpanKind

    class EncodeAndDiscard(SpanExporter):
        def export(self, spans: Any) -> SpanExportResult:
            encode_spans(spans).SerializeToString()
            return SpanExportResult.SUCCESS

    for name in [name for name in os.environ if name.startswith("OTEL_")]:
        del os.environ[name]  # the SDK's defaults, whatever this shell has set
    # Not a processor setting: it only makes the SDK count what its processor drops.
    os.environ["OTEL_PYTHON_SDK_INTERNAL_METRICS_ENABLED"] = "true"
    reader = InMemoryMetricReader()
    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    exporter: SpanExporter = (
        OTLPSpanExporter(endpoint=f"http://{target}", insecure=True, headers=headers)
        if target != NO_RECEIVER
        else EncodeAndDiscard()
    )
    provider.add_span_processor(
        BatchSpanProcessor(exporter, meter_provider=MeterProvider(metric_readers=[reader]))
    )
    tracer = provider.get_tracer("bench-exporter")
    work = work_us / 1e6
    started = time.perf_counter()
    for n in range(spans):
        if work:
            until = time.perf_counter() + work
            while time.perf_counter() < until:
                pass
        with tracer.start_as_current_span("llm.call", kind=SpanKind.CLIENT) as span:
            span.set_attribute("gen_ai.request.model", "gpt-4o-mini")
            span.set_attribute("gen_ai.usage.input_tokens", n)
    ended = time.perf_counter() - started
    provider.shutdown()  # flushes what the queue still holds
    total = time.perf_counter() - started
    pipe.send((spans, _sdk_drops(reader), ended, total, time.process_time()))


async def _stored(url: str, service_name: str) -> int:
    database = Database(url)
    try:
        async with database.engine.connect() as connection:
            result = await connection.exec_driver_sql(
                f"SELECT count(*) FROM spans WHERE service_name = '{service_name}'"
            )
            return int(result.scalar_one())
    finally:
        await database.dispose()


def _export(
    target: str,
    headers: dict[str, str],
    spans: int,
    work_us: float = 0.0,
    service_name: str = SERVICE_NAME,
) -> tuple[int, int, float, float, float]:
    """Runs the stock exporter in a process of its own: (ended, dropped, producing s, total s,
    the exporter process's CPU s)."""
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    exporter = context.Process(
        target=_exporter_main,
        args=(target, headers, spans, work_us, service_name, theirs),
        daemon=True,
    )
    exporter.start()
    figures: tuple[int, int, float, float, float] = ours.recv()
    exporter.join(timeout=60)
    return figures


class _DiscardingReceiver(trace_service_pb2_grpc.TraceServiceServicer):
    async def Export(  # noqa: N802 (the generated servicer's name)
        self, request: ExportTraceServiceRequest, context: grpc.aio.ServicerContext
    ) -> ExportTraceServiceResponse:
        return ExportTraceServiceResponse()


def _discarding_main(pipe: Connection) -> None:
    async def serve() -> None:
        server = grpc.aio.server()
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(_DiscardingReceiver(), server)
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        pipe.send(f"127.0.0.1:{port}")
        await asyncio.get_running_loop().run_in_executor(None, pipe.recv)
        await server.stop(0)

    asyncio.run(serve())


def no_receiver(spans: int, work_us: float = 0.0) -> None:
    """Below any receiver: the SDK's processor with an exporter that encodes each batch as the
    OTLP exporter does and discards it, in its own process, with no network. What it drops
    here no receiver can save: encoding a span costs the exporting thread more than the loop
    spends ending one, and both hold the one GIL."""
    ended, dropped, producing, total, sdk_cpu = _export(NO_RECEIVER, {}, spans, work_us)
    print(
        f"stock SDK -> no receiver, batches encoded and discarded (work {work_us:.0f} us/span): "
        f"{ended} spans ended in {producing:5.1f} s, flushed after {total:5.1f} s; dropped by "
        f"the SDK {dropped} ({dropped / ended:.1%}); SDK process CPU "
        f"{sdk_cpu / ended * 1e6:.0f} us/span"
    )


def discarding_receiver(spans: int, work_us: float = 0.0) -> None:
    """The ceiling: a receiver that answers every Export at once and stores nothing. What the
    SDK drops here it drops whatever the receiver does (its own exporting thread falls behind)."""
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    receiver = context.Process(target=_discarding_main, args=(theirs,), daemon=True)
    receiver.start()
    try:
        ended, dropped, producing, total, sdk_cpu = _export(ours.recv(), {}, spans, work_us)
    finally:
        ours.send("stop")
        receiver.join(timeout=15)
    print(
        f"stock exporter -> a receiver that stores nothing (work {work_us:.0f} us/span): "
        f"{ended} spans ended in "
        f"{producing:5.1f} s, flushed after {total:5.1f} s; dropped by the SDK {dropped} "
        f"({dropped / ended:.1%}, the SDK's own ceiling on this machine); SDK process CPU "
        f"{sdk_cpu / ended * 1e6:.0f} us/span"
    )


def stock_exporter(
    backend: str, url: str, spans: int, work_us: float, mode: str, spool_dir: Path
) -> int:
    service_name = f"{SERVICE_NAME}-{mode}-{work_us:.0f}"
    telemetry = TelemetryProcess(url, mode, spool_dir)
    with telemetry as (target, metadata):
        cpu_before = telemetry.cpu_seconds()
        ended, dropped, producing, total, sdk_cpu = _export(
            target, dict(metadata), spans, work_us, service_name
        )
        flushed = time.perf_counter()
        telemetry.drain()
        drained = time.perf_counter() - flushed
        telemetry_cpu = telemetry.cpu_seconds() - cpu_before
        stored = asyncio.run(_stored(url, service_name))
    lost = ended - stored
    print(
        f"stock exporter -> {backend:<10} {mode:<6} (work {work_us:.0f} us/span): {ended} spans "
        f"ended in {producing:5.1f} s, flushed after {total:5.1f} s, all stored "
        f"{drained:4.1f} s later ({stored / (total + drained):6.0f} spans/s stored); dropped by "
        f"the SDK {dropped}, stored {stored}, lost {lost} ({lost / ended:.1%}; target: 0); CPU: "
        f"telemetry {telemetry_cpu / max(stored, 1) * 1e6:.0f} us per span stored, "
        f"SDK process {sdk_cpu / ended * 1e6:.0f} us per span ended"
    )
    return lost


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=40_000)
    parser.add_argument("--spans", type=int, default=200_000)
    parser.add_argument(
        "--rounds", type=int, default=5, help="alternating rounds of the RPC-beside-raw part"
    )
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--modes", default=",".join(MODES), help="direct, spool or both")
    parser.add_argument(
        "--work-us",
        default="0,50",
        help="busy CPU work per span before ending it, comma-separated, one round each (0: "
        "spans ended back to back, the SDK's worst case; a traced program does its own work "
        "between spans)",
    )
    parser.add_argument(
        "--exporter-only", action="store_true", help="skip the RPC-beside-raw-sqlite3 part"
    )
    args = parser.parse_args()
    backends = [name for name in args.backends.split(",") if name]
    modes = [name for name in args.modes.split(",") if name]
    works = [float(work) for work in args.work_us.split(",") if work]
    print(f"cores: {os.cpu_count()}, load average at start: {os.getloadavg()}")
    with tempfile.TemporaryDirectory(prefix="bench-exporter-") as name, postgres_server() as pg:
        directory = Path(name)
        if not args.exporter_only:
            rpc_beside_raw(args.rows, directory, args.rounds)
        urls: dict[str, str] = {}
        if "sqlite" in backends:
            urls["SQLite"] = f"sqlite+aiosqlite:///{directory / 'telemetry-exporter.db'}"
        pg_name = None
        if "postgresql" in backends:
            pg_name = asyncio.run(pg.create_database("telemetry_exporter_bench"))
            urls["PostgreSQL"] = pg.database_url(pg_name)
        try:
            for url in urls.values():
                asyncio.run(_migrate(url))
            for work_us in works:
                no_receiver(args.spans, work_us)
                discarding_receiver(args.spans, work_us)
                for backend, url in urls.items():
                    for mode in modes:
                        spool_dir = directory / f"spool-{backend}-{mode}-{work_us:.0f}"
                        stock_exporter(backend, url, args.spans, work_us, mode, spool_dir)
        finally:
            if pg_name is not None:
                asyncio.run(pg.drop_databases([pg_name]))
    print(f"load average at end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
