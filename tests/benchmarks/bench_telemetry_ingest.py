"""Telemetry ingest throughput beside a raw COPY of the same rows, in the same run.

Run: ``uv run python -m tests.benchmarks.bench_telemetry_ingest [--rows 100000] [--batch 1000]
[--streams 4] [--replicas 1]``. The default is the single-process figure the target (RPC at
least half the raw COPY rate) is quoted for. A fresh PostgreSQL database (testcontainers,
QD_TEST_POSTGRES_URL or the local server, as the tests find it) is migrated; telemetry runs in
a child process (``--replicas`` processes sharing the batches, as replicas behind one address
would) with a test token issuer and no tenancy (rows are stored unpriced; pricing is a
dictionary lookup and integer arithmetic once a model's prices are cached). This process then,
for usage and for spans:

* sends ``--rows`` rows through the RPC (RecordUsageBatch, OTLP TraceService Export) in batches
  of ``--batch`` over ``--streams`` concurrent streams of batches;
* copies the very same rows (as the service would store them) into the same table with asyncpg
  ``copy_records_to_table``, in the same batches over the same number of connections;

truncating the table before each. It prints the machine's core count and the number of
telemetry processes, rows per second through the RPC and through COPY with their ratio, and the
CPU the telemetry processes spent per row during the RPC run (with how many cores that kept
busy: below one, a single process was waiting on PostgreSQL or on the machine). Not collected
by pytest (the name is bench_*).
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from typing import Any

import asyncpg
import grpc
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status

from quarterdeck.telemetry.v1 import usage_pb2 as pb
from services.registry import spec_for
from services.telemetry.traces.ingest_auth import INGEST_SCOPE
from services.telemetry.traces.otlp import convert_request
from services.telemetry.traces.spans import SPAN_TARGET
from services.telemetry.usage.models import CostStatus
from services.telemetry.usage.rows import COLUMN, COPY_COLUMNS, _check
from shared.auth import Principal
from shared.db import Database
from shared.grpc_client import open_channel
from shared.migrations import upgrade_to_head
from tests.support.postgres import postgres_server
from tests.support.stack import running_service
from tests.support.tokens import TestIssuer

TENANT = "bench-tenant"
Job = Callable[[], Awaitable[object]]


async def _serve(database_url: str, pipe: Connection, overrides: dict[str, Any]) -> None:
    issuer = TestIssuer()
    # Spans are exported anonymously, as from a trusted network: what is measured is storing.
    async with running_service(
        "telemetry",
        database_url,
        authenticator=issuer.authenticator(),
        otlp_unauthenticated_export=True,
        **overrides,
    ) as s:
        # A tenant key with the ingest scope, as the stock exporter is given (it also records
        # usage as a member).
        exporter = Principal(
            subject="sa:bench",
            kind="service_account",
            tenant_id=TENANT,
            role="member",
            scopes=frozenset({INGEST_SCOPE}),
        )
        pipe.send((s.target, issuer.metadata(exporter)))
        loop = asyncio.get_running_loop()
        # "cpu" asks for the CPU seconds this process has used so far, "drain" waits until
        # the span exports it accepted are stored; anything else stops it.
        while (command := await loop.run_in_executor(None, pipe.recv)) in ("cpu", "drain"):
            if command == "drain" and s.context.state.spool is not None:
                await s.context.state.spool.drained()
            pipe.send(time.process_time())


def _server_main(
    database_url: str, pipe: Connection, overrides: dict[str, Any] | None = None
) -> None:
    asyncio.run(_serve(database_url, pipe, overrides or {}))


# ----- the rows -----


def usage_records(count: int) -> list[pb.UsageRecord]:
    """Model calls as an agent runtime reports them: a dozen fields set, trace ids included."""
    base = int(datetime(2026, 1, 1, tzinfo=UTC).timestamp())
    records = []
    for n in range(count):
        record = pb.UsageRecord(
            event_id=f"evt-{n:09d}",
            session_id=f"session-{n // 50}",
            agent_id=f"agent-{n % 20}",
            provider="anthropic",
            model_used="claude-sonnet-4-20250514" if n % 3 else "claude-3-5-haiku-20241022",
            token_convention=pb.TOKEN_CONVENTION_INPUT_EXCLUDES_CACHED,
            input_tokens=1000 + n % 5000,
            output_tokens=200 + n % 700,
            cache_read_input_tokens=n % 4000,
            cache_creation_input_tokens=n % 300,
            service_name="conversation",
            trace_id=uuid.uuid4().hex,
            span_id=uuid.uuid4().hex[:16],
        )
        record.time.FromSeconds(base + n)
        records.append(record)
    return records


def usage_copy_rows(records: Sequence[pb.UsageRecord]) -> list[tuple[Any, ...]]:
    """The rows exactly as the service stores them (same checks, same column values)."""
    now = datetime.now(UTC)
    rows = []
    for record in records:
        outcome = _check(record, "r", TENANT, 0, ("", ""), now)
        assert not isinstance(outcome, list), outcome
        row = outcome[0]
        row[COLUMN["cost_status"]] = CostStatus.PRICING_UNAVAILABLE
        rows.append(tuple(row))
    return rows


def span_requests(count: int, batch: int) -> list[ExportTraceServiceRequest]:
    resource = Resource(
        attributes=[KeyValue(key="service.name", value=AnyValue(string_value="conversation"))]
    )
    requests = []
    base = 1_767_225_600 * 10**9
    for start in range(0, count, batch):
        spans = []
        for n in range(start, min(count, start + batch)):
            trace_id = uuid.uuid4().bytes
            spans.append(
                Span(
                    trace_id=trace_id,
                    span_id=(n + 1).to_bytes(8, "big"),
                    parent_span_id=(n + 2).to_bytes(8, "big") if n % 4 else b"",
                    name=f"call-model-{n % 10}",
                    kind=Span.SPAN_KIND_CLIENT,
                    start_time_unix_nano=base + n * 1000,
                    end_time_unix_nano=base + n * 1000 + 5_000_000,
                    attributes=[
                        KeyValue(key="quarterdeck.tenant_id", value=AnyValue(string_value=TENANT)),
                        KeyValue(key="gen_ai.request.model", value=AnyValue(string_value="m")),
                        KeyValue(key="gen_ai.usage.input_tokens", value=AnyValue(int_value=n)),
                    ],
                    status=Status(code=Status.STATUS_CODE_OK),
                )
            )
        requests.append(
            ExportTraceServiceRequest(
                resource_spans=[
                    ResourceSpans(resource=resource, scope_spans=[ScopeSpans(spans=spans)])
                ]
            )
        )
    return requests


def span_copy_rows(requests: Sequence[ExportTraceServiceRequest]) -> list[tuple[Any, ...]]:
    """The span rows exactly as the service stores them (columns in SPAN_TARGET order)."""
    received = (datetime.now(UTC),)
    return [
        record + received for request in requests for record in convert_request(request).records
    ]


# ----- measuring -----


async def _concurrently(jobs: Sequence[Callable[[], Awaitable[object]]], streams: int) -> float:
    """Run the jobs over ``streams`` workers; seconds taken."""
    queue = list(reversed(jobs))

    async def worker() -> None:
        while queue:
            await queue.pop()()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(streams)))
    return time.perf_counter() - started


async def _copy(
    dsn: str, table: str, columns: list[str], rows: list[tuple[Any, ...]], batch: int, streams: int
) -> float:
    connections = [await asyncpg.connect(dsn) for _ in range(streams)]
    free = list(connections)
    try:

        def job(chunk: list[tuple[Any, ...]]) -> Callable[[], Awaitable[object]]:
            async def copy() -> None:
                connection = free.pop()
                try:
                    await connection.copy_records_to_table(table, records=chunk, columns=columns)
                finally:
                    free.append(connection)

            return copy

        jobs = [job(rows[start : start + batch]) for start in range(0, len(rows), batch)]
        return await _concurrently(jobs, streams)
    finally:
        for connection in connections:
            await connection.close()


async def _count(dsn: str, table: str, truncate: bool = False) -> int:
    connection = await asyncpg.connect(dsn)
    try:
        count = int(await connection.fetchval(f"SELECT count(*) FROM {table}"))
        if truncate:
            await connection.execute(f"TRUNCATE {table}")
        return count
    finally:
        await connection.close()


@dataclass
class Measured:
    """One kind of row through the RPC and through raw COPY."""

    what: str
    rpc_seconds: float
    copy_seconds: float
    #: CPU seconds the telemetry processes spent during the RPC run, all together.
    server_cpu_seconds: float

    def report(self, rows: int) -> float:
        rpc, copy = rows / self.rpc_seconds, rows / self.copy_seconds
        cpu_per_row = self.server_cpu_seconds / rows * 1e6
        busy = self.server_cpu_seconds / self.rpc_seconds
        print(
            f"{self.what:<26} RPC {rpc:8.0f} rows/s   COPY {copy:8.0f} rows/s   "
            f"ratio {rpc / copy:.2f}   (telemetry CPU {cpu_per_row:.1f} us/row, "
            f"{busy:.2f} cores busy)"
        )
        return rpc / copy


def _server_cpu(pipes: Sequence[Connection]) -> float:
    for pipe in pipes:
        pipe.send("cpu")
    return sum(pipe.recv() for pipe in pipes)


@dataclass
class Replica:
    """One telemetry process as this benchmark calls it (tokens are per process)."""

    metadata: list[tuple[str, str]]
    record_batch: grpc.aio.UnaryUnaryMultiCallable
    export: grpc.aio.UnaryUnaryMultiCallable


def _replica(channel: grpc.aio.Channel, metadata: list[tuple[str, str]]) -> Replica:
    # Requests are encoded before the clock starts: producers are other processes, and what is
    # measured is the service's ingest, not this process's protobuf encoding.
    return Replica(
        metadata,
        channel.unary_unary(
            "/quarterdeck.telemetry.v1.UsageService/RecordUsageBatch",
            request_serializer=None,
            response_deserializer=pb.RecordUsageBatchResponse.FromString,
        ),
        channel.unary_unary(
            "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
            request_serializer=None,
            response_deserializer=ExportTraceServiceResponse.FromString,
        ),
    )


async def _drive(
    servers: list[tuple[str, list[tuple[str, str]]]],
    pipes: Sequence[Connection],
    dsn: str,
    rows: int,
    batch: int,
    streams: int,
) -> None:
    records = usage_records(rows)
    usage_rows = usage_copy_rows(records)
    requests = span_requests(rows, batch)
    span_rows = span_copy_rows(requests)
    channels = [open_channel(target) for target, _ in servers]
    try:
        replicas = [
            _replica(channel, metadata)
            for channel, (_, metadata) in zip(channels, servers, strict=True)
        ]
        # Warm up connections, code paths and the staging table; then start from empty tables.
        for n, replica in enumerate(replicas):
            warm_up = pb.RecordUsageBatchRequest(records=usage_records(10))
            for record in warm_up.records:
                record.event_id += f"-warm-{n}"
            await replica.record_batch(warm_up.SerializeToString(), metadata=replica.metadata)
            await replica.export(span_requests(10, 10)[0].SerializeToString())
        await _count(dsn, "agent_telemetry", truncate=True)
        await _count(dsn, "spans", truncate=True)

        def usage_job(number: int, chunk: Sequence[pb.UsageRecord]) -> Job:
            replica = replicas[number % len(replicas)]
            encoded = pb.RecordUsageBatchRequest(records=chunk).SerializeToString()

            async def call() -> None:
                reply = await replica.record_batch(encoded, metadata=replica.metadata)
                assert reply.accepted_count == len(chunk), reply

            return call

        cpu_before = _server_cpu(pipes)
        usage_rpc = await _concurrently(
            [
                usage_job(number, records[start : start + batch])
                for number, start in enumerate(range(0, rows, batch))
            ],
            streams,
        )
        usage_cpu = _server_cpu(pipes) - cpu_before
        assert await _count(dsn, "agent_telemetry", truncate=True) == rows
        usage_copy = await _copy(
            dsn, "agent_telemetry", list(COPY_COLUMNS), usage_rows, batch, streams
        )
        assert await _count(dsn, "agent_telemetry", truncate=True) == rows

        def span_job(number: int, request: ExportTraceServiceRequest) -> Job:
            replica = replicas[number % len(replicas)]
            encoded = request.SerializeToString()

            async def call() -> None:
                reply = await replica.export(encoded)
                assert not reply.HasField("partial_success"), reply

            return call

        cpu_before = _server_cpu(pipes)
        span_rpc = await _concurrently(
            [span_job(number, request) for number, request in enumerate(requests)], streams
        )
        span_cpu = _server_cpu(pipes) - cpu_before
        assert await _count(dsn, "spans", truncate=True) == rows
        span_copy = await _copy(dsn, "spans", list(SPAN_TARGET.columns), span_rows, batch, streams)
        assert await _count(dsn, "spans", truncate=True) == rows
    finally:
        for channel in channels:
            await channel.close()
    print(
        f"cores: {os.cpu_count()}, telemetry processes: {len(servers)}, rows: {rows}, "
        f"batch: {batch}, concurrent streams: {streams}"
    )
    usage = Measured("usage (RecordUsageBatch)", usage_rpc, usage_copy, usage_cpu).report(rows)
    spans = Measured("spans (OTLP Export)", span_rpc, span_copy, span_cpu).report(rows)
    print(f"ratios RPC/COPY: usage {usage:.2f}, spans {spans:.2f} (target: at least 0.50 each)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--streams", type=int, default=4)
    parser.add_argument(
        "--replicas",
        type=int,
        default=1,
        help="telemetry processes sharing the load, as replicas behind one address would "
        "(default: one, the figure the target is quoted for)",
    )
    args = parser.parse_args()
    with postgres_server() as postgres:
        name = asyncio.run(postgres.create_database("telemetry_bench"))
        try:
            url = postgres.database_url(name)

            async def migrate() -> None:
                database = Database(url)
                try:
                    await upgrade_to_head(database, spec_for("telemetry").migrations_dir)
                finally:
                    await database.dispose()

            asyncio.run(migrate())
            dsn = url.replace("postgresql+asyncpg", "postgresql")
            context = multiprocessing.get_context("spawn")
            pipes, processes = [], []
            for _ in range(args.replicas):
                ours, theirs = context.Pipe()
                # The spool off: Export stores the spans before it answers, so what the
                # sends take is the storing (bench_exporter_ingest measures the spool).
                process = context.Process(
                    target=_server_main,
                    args=(url, theirs, {"otlp_spool_max_bytes": 0}),
                    daemon=True,
                )
                process.start()
                pipes.append(ours)
                processes.append(process)
            try:
                servers = [pipe.recv() for pipe in pipes]
                print(f"telemetry at {[t for t, _ in servers]} on PostgreSQL ({postgres.source})")
                asyncio.run(_drive(servers, pipes, dsn, args.rows, args.batch, args.streams))
            finally:
                for pipe in pipes:
                    pipe.send("stop")
                for process in processes:
                    process.join(timeout=10)
                    if process.is_alive():
                        process.terminate()
        finally:
            asyncio.run(postgres.drop_databases([name]))


if __name__ == "__main__":
    main()
