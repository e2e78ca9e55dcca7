"""Retention over a real telemetry service on SQLite and PostgreSQL: RunRetention deletes what
each policy expired, in batches, one pass at a time; 0 days keeps rows forever; the background
loop enforces it on its own and survives a failing pass."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import grpc
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2_grpc import TraceServiceStub
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span
from sqlalchemy import event, func, select

from quarterdeck.telemetry.v1 import telemetry_pb2 as pb
from quarterdeck.telemetry.v1.telemetry_pb2_grpc import TelemetryServiceStub
from services.telemetry.config import TelemetrySettings
from services.telemetry.models import Base
from services.telemetry.retention import (
    RETENTION_JOB,
    UNIX_EPOCH,
    RetentionEnforcer,
    RetentionPolicy,
    retention_job,
)
from services.telemetry.traces.models import SpanRecord
from shared.db import Database
from shared.db_types import utcnow
from shared.grpc_client import open_channel
from shared.server import RunningService
from tests.support.errors import rich_error
from tests.support.stack import Databases, StoringExports, running_service
from tests.support.tokens import TestIssuer, authorized_channel

ISSUER = TestIssuer()
BATCH_SIZE = 3
SPANS_POLICY = RetentionPolicy("spans", "start_time_unix_nano", "spans_retention_days")


@dataclass
class Telemetry:
    running: RunningService[Any, Any]
    export: StoringExports
    stub: TelemetryServiceStub


@asynccontextmanager
async def telemetry_on(url: str, **overrides: Any) -> AsyncIterator[Telemetry]:
    settings = {"retention_interval_seconds": 0, "retention_batch_size": BATCH_SIZE, **overrides}
    async with (
        running_service("telemetry", url, authenticator=ISSUER.authenticator(), **settings) as svc,
        open_channel(svc.target) as channel,
        authorized_channel(svc.target, ISSUER.internal()) as export_channel,
    ):
        yield Telemetry(
            svc,
            StoringExports(TraceServiceStub(export_channel), svc),
            TelemetryServiceStub(channel),
        )


@pytest.fixture
async def database_url(backend: str, databases: Databases) -> str:
    """A database of its own per test: a retention pass deletes every expired span in it."""
    return await databases.url(backend, "telemetry", f"retention-{uuid.uuid4().hex[:8]}")


def unix_nano(moment: datetime) -> int:
    return (moment - UNIX_EPOCH) // timedelta(microseconds=1) * 1_000


def spans_started(moment: datetime, count: int) -> list[Span]:
    start = unix_nano(moment)
    return [
        Span(
            trace_id=uuid.uuid4().bytes,
            span_id=uuid.uuid4().bytes[:8],
            name="step",
            start_time_unix_nano=start,
            end_time_unix_nano=start + 1_000,
        )
        for _ in range(count)
    ]


async def export(telemetry: Telemetry, spans: list[Span]) -> None:
    resource = Resource(
        attributes=[KeyValue(key="service.name", value=AnyValue(string_value="agent"))]
    )
    request = ExportTraceServiceRequest(
        resource_spans=[ResourceSpans(resource=resource, scope_spans=[ScopeSpans(spans=spans)])]
    )
    response = await telemetry.export.Export(request)
    assert not response.HasField("partial_success")


async def stored_spans(telemetry: Telemetry) -> int:
    async with telemetry.running.context.database.reading() as session:
        return int(await session.scalar(select(func.count()).select_from(SpanRecord)) or 0)


def spans_entry(reply: pb.RunRetentionResponse) -> pb.TableRetention:
    [entry] = [table for table in reply.tables if table.table == "spans"]
    return entry


async def test_run_retention_deletes_expired_spans_in_batches_and_keeps_the_rest(
    database_url: str,
) -> None:
    async with telemetry_on(database_url) as telemetry:
        now = utcnow()
        await export(telemetry, spans_started(now - timedelta(days=31), 7))
        await export(telemetry, spans_started(now - timedelta(days=29), 2))
        engine = telemetry.running.context.database.engine.sync_engine
        deletes: list[str] = []

        def record(_conn: object, _cursor: object, statement: str, *_rest: object) -> None:
            if statement.lstrip().upper().startswith("DELETE FROM SPANS"):
                deletes.append(statement)

        event.listen(engine, "before_cursor_execute", record)
        try:
            reply = await telemetry.stub.RunRetention(
                pb.RunRetentionRequest(), metadata=ISSUER.operator()
            )
        finally:
            event.remove(engine, "before_cursor_execute", record)
        entry = spans_entry(reply)
        assert (entry.retention_days, entry.deleted_rows) == (30, 7)
        cutoff = entry.cutoff_time.ToDatetime(tzinfo=now.tzinfo)
        assert timedelta(0) <= cutoff - (now - timedelta(days=30)) < timedelta(minutes=1)
        assert len(deletes) == 3  # 3 + 3 + 1: each batch its own short statement
        assert await stored_spans(telemetry) == 2
        again = await telemetry.stub.RunRetention(
            pb.RunRetentionRequest(), metadata=ISSUER.operator()
        )
        assert spans_entry(again).deleted_rows == 0


async def test_two_runs_at_once_do_not_overlap(database_url: str) -> None:
    async with telemetry_on(database_url) as telemetry:
        await export(telemetry, spans_started(utcnow() - timedelta(days=40), 10))
        replies = await asyncio.gather(
            *(
                telemetry.stub.RunRetention(pb.RunRetentionRequest(), metadata=ISSUER.operator())
                for _ in range(2)
            )
        )
        # One pass deleted everything; the other started after it and found nothing.
        assert sorted(spans_entry(reply).deleted_rows for reply in replies) == [0, 10]
        assert await stored_spans(telemetry) == 0


async def test_zero_days_keeps_spans_forever(database_url: str) -> None:
    async with telemetry_on(database_url, spans_retention_days=0) as telemetry:
        await export(telemetry, spans_started(utcnow() - timedelta(days=3650), 2))
        reply = await telemetry.stub.RunRetention(
            pb.RunRetentionRequest(), metadata=ISSUER.operator()
        )
        entry = spans_entry(reply)
        assert (entry.retention_days, entry.deleted_rows) == (0, 0)
        assert not entry.HasField("cutoff_time")
        assert await stored_spans(telemetry) == 2


async def test_run_retention_is_for_operators(database_url: str) -> None:
    async with telemetry_on(database_url) as telemetry:
        await export(telemetry, spans_started(utcnow() - timedelta(days=40), 1))
        for metadata, code in [
            (None, grpc.StatusCode.UNAUTHENTICATED),
            (ISSUER.member(str(uuid.uuid4()), "owner"), grpc.StatusCode.PERMISSION_DENIED),
        ]:
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await telemetry.stub.RunRetention(pb.RunRetentionRequest(), metadata=metadata)
            assert rich_error(caught.value).code == code
        assert await stored_spans(telemetry) == 1  # a refused call changed nothing


async def eventually(check: Callable[[], Any]) -> None:
    """Poll (for at most 10 s) until ``check`` answers true: the loop runs on its own clock."""
    for _ in range(200):
        if await check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the background loop did not get there within 10 s")


async def test_the_background_loop_enforces_retention_by_itself(database_url: str) -> None:
    async with telemetry_on(database_url, retention_interval_seconds=0.1) as telemetry:
        await export(telemetry, spans_started(utcnow() - timedelta(days=31), 5))
        await export(telemetry, spans_started(utcnow(), 1))

        async def only_recent_left() -> bool:
            return await stored_spans(telemetry) == 1

        await eventually(only_recent_left)


async def test_a_failing_pass_is_logged_and_the_next_one_runs(
    tmp_path: Any, caplog: pytest.LogCaptureFixture
) -> None:
    # A database the spans table does not exist in yet: every pass fails until it is created.
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'late.db'}")
    settings = TelemetrySettings(retention_batch_size=BATCH_SIZE)
    enforcer = RetentionEnforcer(database, settings, Base.metadata, [SPANS_POLICY])
    loop = retention_job(enforcer, 0.05)
    loop.start()
    try:
        with caplog.at_level(logging.ERROR, logger="quarterdeck.background"):

            async def failed_twice() -> bool:
                failed = f"{RETENTION_JOB}: pass failed"
                return sum(failed in r.message for r in caplog.records) >= 2

            await eventually(failed_twice)
        async with database.engine.begin() as connection:
            await connection.run_sync(SpanRecord.__table__.create)
        old = unix_nano(utcnow() - timedelta(days=60))
        async with database.transaction() as session:
            session.add_all(
                SpanRecord(
                    trace_id=uuid.uuid4().hex,
                    span_id=f"{n:016x}",
                    service_name="agent",
                    name="step",
                    kind="internal",
                    start_time_unix_nano=old,
                    end_time_unix_nano=old,
                    duration_nano=0,
                    status_code="unset",
                )
                for n in range(1, 5)
            )

        async def emptied() -> bool:
            async with database.reading() as session:
                return not await session.scalar(select(func.count()).select_from(SpanRecord))

        await eventually(emptied)
        assert loop.running
    finally:
        await loop.stop(grace_seconds=5)
        assert not loop.running
        await database.dispose()


async def test_two_replicas_do_not_run_passes_at_once(backend: str, database_url: str) -> None:
    if backend != "postgresql":
        pytest.skip("replicas share a PostgreSQL database; SQLite serves one process")
    async with (
        telemetry_on(database_url) as first,
        telemetry_on(database_url) as second,
    ):
        await export(first, spans_started(utcnow() - timedelta(days=40), 10))
        replies = await asyncio.gather(
            *(
                replica.stub.RunRetention(pb.RunRetentionRequest(), metadata=ISSUER.operator())
                for replica in (first, second)
            )
        )
        assert sorted(spans_entry(reply).deleted_rows for reply in replies) == [0, 10]
