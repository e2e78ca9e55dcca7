"""Spans partitioned by UTC day on PostgreSQL: each span lands in its day's partition (or the
DEFAULT one), retention drops whole expired days and deletes the partial rest, ingest stays
idempotent, reads answer as on SQLite's plain table, and migration 0009 moves stored spans in."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from alembic import command
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span
from sqlalchemy import Connection, event, text

from quarterdeck.telemetry.v1 import telemetry_pb2 as pb
from services.registry import spec_for
from services.telemetry.retention import RetentionEnforcer
from services.telemetry.schema import RETENTION_POLICIES, metadata
from services.telemetry.traces import partitions as partitions_module
from services.telemetry.traces.models import SpanRecord
from services.telemetry.traces.partitions import partition_name
from shared.db import Database
from shared.migrations import alembic_config, upgrade_to_head
from tests.service.test_telemetry_retention import ISSUER, Telemetry, telemetry_on, unix_nano
from tests.support.stack import Databases

DAY = timedelta(days=1)
HOUR = timedelta(hours=1)


@pytest.fixture
def today() -> datetime:
    """Midnight UTC starting today."""
    now = datetime.now(UTC)
    return datetime(now.year, now.month, now.day, tzinfo=UTC)


@pytest.fixture
async def pg_url(databases: Databases) -> str:
    return await databases.url("postgresql", "telemetry", f"partitions-{uuid.uuid4().hex[:8]}")


def span_at(moment: datetime, trace_id: bytes | None = None, parent: bytes = b"") -> Span:
    start = unix_nano(moment)
    return Span(
        trace_id=trace_id or uuid.uuid4().bytes,
        span_id=uuid.uuid4().bytes[:8],
        parent_span_id=parent,
        name="step",
        start_time_unix_nano=start,
        end_time_unix_nano=start + 1_000,
    )


def request_of(spans: list[Span]) -> ExportTraceServiceRequest:
    resource = Resource(
        attributes=[KeyValue(key="service.name", value=AnyValue(string_value="agent"))]
    )
    return ExportTraceServiceRequest(
        resource_spans=[ResourceSpans(resource=resource, scope_spans=[ScopeSpans(spans=spans)])]
    )


async def send(telemetry: Telemetry, spans: list[Span]) -> None:
    response = await telemetry.export.Export(request_of(spans))
    assert not response.HasField("partial_success")


async def rows_by_partition(database: Database) -> dict[str, int]:
    async with database.reading() as session:
        rows = await session.execute(
            text("SELECT tableoid::regclass::text, count(*) FROM spans GROUP BY 1")
        )
        return {name: int(count) for name, count in rows}


async def partitions(database: Database) -> set[str]:
    async with database.reading() as session:
        return set(
            await session.scalars(
                text(
                    "SELECT inhrelid::regclass::text FROM pg_inherits "
                    "WHERE inhparent = 'spans'::regclass"
                )
            )
        )


def day_of(moment: datetime) -> int:
    return (moment - datetime(1970, 1, 1, tzinfo=UTC)).days


def named(moment: datetime) -> str:
    return partition_name("spans", day_of(moment))


async def test_spans_land_in_their_days_partitions(pg_url: str, today: datetime) -> None:
    async with telemetry_on(pg_url) as telemetry:
        database = telemetry.running.context.database
        # The service start (and the migration) made yesterday to three days ahead.
        expected_days = {named(today + n * DAY) for n in range(-1, 4)}
        assert expected_days | {"spans_default"} <= await partitions(database)
        await send(
            telemetry,
            [
                span_at(today - DAY + HOUR),
                span_at(today + HOUR),
                span_at(today + 2 * HOUR),
                span_at(today + 2 * DAY + HOUR),
                span_at(today - 40 * DAY),  # before any partition: the DEFAULT one takes it
            ],
        )
        assert await rows_by_partition(database) == {
            named(today - DAY): 1,
            named(today): 2,
            named(today + 2 * DAY): 1,
            "spans_default": 1,
        }


async def test_an_old_span_before_any_partition_is_accepted_and_read(pg_url: str) -> None:
    async with telemetry_on(pg_url) as telemetry:
        old = span_at(datetime(1971, 3, 1, tzinfo=UTC))
        await send(telemetry, [old])
        assert await rows_by_partition(telemetry.running.context.database) == {"spans_default": 1}
        reply = await telemetry.stub.GetTrace(
            pb.GetTraceRequest(trace_id=old.trace_id.hex()), metadata=ISSUER.operator()
        )
        assert [span.span_id for span in reply.spans] == [old.span_id.hex()]


async def test_a_retried_export_stores_nothing_twice(pg_url: str, today: datetime) -> None:
    async with telemetry_on(pg_url) as telemetry:
        first = [span_at(today + HOUR), span_at(today - DAY), span_at(today - 100 * DAY)]
        await send(telemetry, first)
        # The retry carries the same spans plus one new one: only that one is stored.
        await send(telemetry, [*first, span_at(today + 2 * HOUR)])
        await send(telemetry, first)
        assert sum((await rows_by_partition(telemetry.running.context.database)).values()) == 4


async def test_retention_drops_expired_days_and_deletes_the_partial_rest(
    pg_url: str, today: datetime
) -> None:
    async with telemetry_on(pg_url) as telemetry:
        database = telemetry.running.context.database
        tomorrow = today + DAY
        await send(
            telemetry,
            [
                *(span_at(today - DAY + n * HOUR) for n in range(5)),  # yesterday's partition
                *(span_at(today + n * HOUR) for n in range(4)),  # today's
                span_at(tomorrow + HOUR),  # expired, in a day that is only partly expired
                span_at(tomorrow + 10 * HOUR),  # kept
                span_at(today - 40 * DAY),  # expired, in the DEFAULT partition
            ],
        )
        # 31 days and 6 hours on, the 30-day cutoff is tomorrow at 06:00.
        later = tomorrow + 30 * DAY + 6 * HOUR
        deletes: list[str] = []
        engine = database.engine.sync_engine

        def record(_conn: object, _cursor: object, statement: str, *_rest: Any) -> None:
            if statement.lstrip().upper().startswith("DELETE FROM SPANS"):
                deletes.append(statement)

        enforcer = RetentionEnforcer(
            database, telemetry.running.context.settings, metadata, RETENTION_POLICIES
        )
        event.listen(engine, "before_cursor_execute", record)
        try:
            [spans_result] = [r for r in await enforcer.run_once(later) if r.table == "spans"]
        finally:
            event.remove(engine, "before_cursor_execute", record)
        assert spans_result.deleted_rows == 11
        remaining = await partitions(database)
        assert named(today - DAY) not in remaining
        assert named(today) not in remaining
        assert {named(tomorrow), "spans_default"} <= remaining
        # The days around the pass's own date were created ahead too.
        assert named(later) in remaining
        # Only the 2 rows outside dropped partitions went by DELETE: one batch (of 3).
        assert len(deletes) == 1
        assert await rows_by_partition(database) == {named(tomorrow): 1}


async def test_creating_a_day_moves_its_rows_out_of_the_default_partition(
    pg_url: str, today: datetime
) -> None:
    async with telemetry_on(pg_url) as telemetry:
        database = telemetry.running.context.database
        ahead = today + 6 * DAY  # beyond the partitions made so far
        await send(telemetry, [span_at(ahead + HOUR), span_at(ahead + 2 * HOUR)])
        assert await rows_by_partition(database) == {"spans_default": 2}
        enforcer = RetentionEnforcer(
            database, telemetry.running.context.settings, metadata, RETENTION_POLICIES
        )
        await enforcer.prepare(ahead)
        assert await rows_by_partition(database) == {named(ahead): 2}
        await send(telemetry, [span_at(ahead + 3 * HOUR)])
        assert await rows_by_partition(database) == {named(ahead): 3}


async def test_reads_answer_as_on_sqlites_plain_table(
    databases: Databases, pg_url: str, today: datetime
) -> None:
    sqlite_url = await databases.url("sqlite", "telemetry", f"plain-{uuid.uuid4().hex[:8]}")
    # One trace across midnight (two partitions) with a span in the DEFAULT partition, and more
    # traces on several days.
    trace = uuid.uuid4().bytes
    root = span_at(today - HOUR, trace)
    spans = [
        root,
        span_at(today + HOUR, trace, root.span_id),
        span_at(today - 50 * DAY, trace, root.span_id),
        *(span_at(today + n * 7 * HOUR) for n in range(-3, 6)),
    ]
    answers = []
    for url in (sqlite_url, pg_url):
        async with telemetry_on(url) as telemetry:
            await send(telemetry, spans)
            got = await telemetry.stub.GetTrace(
                pb.GetTraceRequest(trace_id=trace.hex()), metadata=ISSUER.operator()
            )
            pages = []
            token = ""
            while True:
                page = await telemetry.stub.SearchTraces(
                    pb.SearchTracesRequest(page_size=4, page_token=token),
                    metadata=ISSUER.operator(),
                )
                pages.append(list(page.traces))
                token = page.next_page_token
                if not token:
                    break
            answers.append((list(got.spans), pages))
    (sqlite_trace, sqlite_pages), (pg_trace, pg_pages) = answers
    assert len(pg_trace) == 3
    assert pg_trace == sqlite_trace
    assert sum(len(page) for page in pg_pages) == 10
    assert pg_pages == sqlite_pages


async def test_the_migration_moves_stored_spans_into_day_partitions(
    postgres: Any, today: datetime
) -> None:
    name = await postgres.create_database("telemetry")
    database = Database(postgres.database_url(name))
    config = alembic_config(spec_for("telemetry").migrations_dir)
    try:
        await upgrade_to_head(database, spec_for("telemetry").migrations_dir)

        def down(connection: Connection) -> None:
            config.attributes["connection"] = connection
            command.downgrade(config, "0008_analytics_indexes")

        async with database.engine.begin() as connection:
            await connection.run_sync(down)
        assert await partitions_or_none(database) is None
        starts = [today - 10 * DAY + HOUR, today - 10 * DAY + 2 * HOUR, today + HOUR]
        async with database.transaction() as session:
            for n, moment in enumerate(starts):
                start = unix_nano(moment)
                session.add(
                    SpanRecord(
                        trace_id=uuid.uuid4().hex,
                        span_id=f"{n + 1:016x}",
                        service_name="agent",
                        name="step",
                        kind="internal",
                        start_time_unix_nano=start,
                        end_time_unix_nano=start,
                        duration_nano=0,
                        status_code="unset",
                    )
                )
        await upgrade_to_head(database, spec_for("telemetry").migrations_dir)
        assert await rows_by_partition(database) == {
            named(today - 10 * DAY): 2,
            named(today): 1,
        }
        assert named(today + 3 * DAY) in await partitions(database)
        # And back: a plain table with every span.
        async with database.engine.begin() as connection:
            await connection.run_sync(down)
        assert await partitions_or_none(database) is None
        assert await rows_by_partition(database) == {"spans": 3}
    finally:
        await database.dispose()
        await postgres.drop_databases([name])


async def partitions_or_none(database: Database) -> set[str] | None:
    async with database.reading() as session:
        kind = await session.scalar(
            text("SELECT relkind = 'r' FROM pg_class WHERE oid = 'spans'::regclass")
        )
    return None if kind else await partitions(database)


async def test_a_partition_held_by_a_long_read_is_left_to_batched_deletes(
    pg_url: str, today: datetime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(partitions_module, "LOCK_TIMEOUT", "200ms")
    async with telemetry_on(pg_url) as telemetry:
        database = telemetry.running.context.database
        await send(telemetry, [span_at(today - DAY + n * HOUR) for n in range(4)])
        enforcer = RetentionEnforcer(
            database, telemetry.running.context.settings, metadata, RETENTION_POLICIES
        )
        reader = Database(pg_url)
        try:
            async with reader.reading() as session:
                # An open read of spans: DETACH cannot have the table to itself meanwhile.
                await session.execute(text("SELECT count(*) FROM spans"))
                results = await enforcer.run_once(today + 31 * DAY)
        finally:
            await reader.dispose()
        [spans_result] = [r for r in results if r.table == "spans"]
        assert spans_result.deleted_rows == 4  # by batched DELETE instead
        assert named(today - DAY) in await partitions(database)
        # The next pass, unhindered, drops the emptied partition.
        await enforcer.run_once(today + 31 * DAY)
        assert named(today - DAY) not in await partitions(database)
