"""Span retention on PostgreSQL: one pass over ``--rows`` expired spans, with ingest running.

Run: ``uv run python -m tests.benchmarks.bench_telemetry_retention [--rows 1000000] [--days 10]``.
A fresh database (found as the tests find PostgreSQL) is migrated; ``--rows`` spans spread over
``--days`` UTC days ending 31 days ago (all past the 30-day default) are COPYed in, each day into
its own partition where the schema partitions spans (the partitions are made first, as the
retention pass would have made them when those days were today). Meanwhile one task keeps
storing batches of 1,000 current spans through the service's own bulk insert. It prints the
pass's time and rows expired, and ingest's rows per second and slowest batch before and during
the pass. Not collected by pytest (the name is bench_*).
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from services.registry import spec_for
from services.telemetry.bulk_insert import insert_new_rows
from services.telemetry.config import TelemetrySettings
from services.telemetry.retention import UNIX_EPOCH, RetentionEnforcer
from services.telemetry.schema import RETENTION_POLICIES, metadata
from services.telemetry.traces.spans import SPAN_TARGET
from shared.db import Database
from shared.migrations import upgrade_to_head
from tests.support.postgres import postgres_server

BATCH = 1_000


def _nanos(moment: datetime) -> int:
    return (moment - UNIX_EPOCH) // timedelta(microseconds=1) * 1_000


def span_rows(count: int, first: int, step: int) -> list[tuple[Any, ...]]:
    """``count`` spans starting ``step`` ns apart from ``first``, in SPAN_TARGET's columns."""
    received = datetime.now(UTC)
    rows = []
    for n in range(count):
        start = first + n * step
        rows.append(
            (
                uuid.uuid4().hex,
                f"{n + 1:016x}",
                None,
                "conversation",
                f"call-model-{n % 10}",
                "client",
                start,
                start + 5_000_000,
                5_000_000,
                "ok",
                "",
                '{"model":"claude"}',
                '{"service.name":"conversation"}',
                "[]",
                "bench-tenant",
                received,
            )
        )
    return rows


class Ingest:
    """Stores a batch of current spans after another until stopped, timing each."""

    def __init__(self, database: Database) -> None:
        self._db = database
        self.batches: list[tuple[float, float]] = []  # (ended at, seconds taken)
        self._stop = asyncio.Event()

    async def run(self) -> None:
        now = _nanos(datetime.now(UTC))
        while not self._stop.is_set():
            rows = span_rows(BATCH, now, 1_000)
            began = time.perf_counter()
            await insert_new_rows(self._db, SPAN_TARGET, rows)
            ended = time.perf_counter()
            self.batches.append((ended, ended - began))
            now += BATCH * 1_000

    def stop(self) -> None:
        self._stop.set()

    def between(self, start: float, end: float) -> tuple[float, float]:
        """Rows per second and the slowest batch (s) of the batches ended in [start, end)."""
        taken = [seconds for ended, seconds in self.batches if start <= ended < end]
        if not taken:
            return 0.0, 0.0
        return len(taken) * BATCH / (end - start), max(taken)


async def load(database: Database, url: str, rows: int, days: int) -> None:
    last_day = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    last_day -= timedelta(days=32)
    first_day = last_day - timedelta(days=days - 1)
    enforcer = RetentionEnforcer(database, TelemetrySettings(), metadata, RETENTION_POLICIES)
    prepare = getattr(enforcer, "prepare", None)  # None before spans were partitioned
    per_day = rows // days
    step = 86_400 * 10**9 // per_day
    connection = await asyncpg.connect(url.replace("postgresql+asyncpg", "postgresql"))
    try:
        for day in range(days):
            moment = first_day + timedelta(days=day)
            if prepare is not None:
                await prepare(moment)
            records = span_rows(per_day, _nanos(moment), step)
            await connection.copy_records_to_table(
                "spans", records=records, columns=list(SPAN_TARGET.columns)
            )
        await connection.execute("VACUUM ANALYZE spans")
    finally:
        await connection.close()


async def measure(url: str, rows: int, days: int) -> None:
    database = Database(url, pool_size=8)
    try:
        await upgrade_to_head(database, spec_for("telemetry").migrations_dir)
        began = time.perf_counter()
        await load(database, url, rows, days)
        print(f"loaded {rows} expired spans over {days} days in {time.perf_counter() - began:.1f}s")
        enforcer = RetentionEnforcer(database, TelemetrySettings(), metadata, RETENTION_POLICIES)
        ingest = Ingest(database)
        task = asyncio.create_task(ingest.run())
        await asyncio.sleep(3)
        before_end = time.perf_counter()
        results = await enforcer.run_once()
        pass_end = time.perf_counter()
        ingest.stop()
        await task
        [spans] = [result for result in results if result.table == "spans"]
        rate_before, worst_before = ingest.between(before_end - 3, before_end)
        rate_during, worst_during = ingest.between(before_end, pass_end)
        print(f"retention pass: {pass_end - before_end:.2f}s, {spans.deleted_rows} spans expired")
        print(
            f"ingest before:  {rate_before:8.0f} rows/s, slowest batch {worst_before * 1000:.0f} ms"
        )
        print(
            f"ingest during:  {rate_during:8.0f} rows/s, slowest batch {worst_during * 1000:.0f} ms"
        )
    finally:
        await database.dispose()


def main(rows: int, days: int) -> None:
    # postgres_server() probes with asyncio.run of its own, so it is entered outside the loop.
    with postgres_server() as server:
        name = asyncio.run(server.create_database("bench_retention"))
        try:
            asyncio.run(measure(server.database_url(name), rows, days))
        finally:
            asyncio.run(server.drop_databases([name]))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=10)
    arguments = parser.parse_args()
    main(arguments.rows, arguments.days)
