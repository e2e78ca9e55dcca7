"""Retention policies and their enforcement: each table keeps rows for a configured number of days.

Expired rows are deleted in small batches, each its own short transaction that picks the oldest
rows by primary key through the table's time index and deletes only those. Ingest is never
blocked behind a long delete: on PostgreSQL a batch locks only the rows it deletes; on SQLite
(one writer at a time) an export waits at most for one batch.

A policy marked ``daily_partitions`` (spans) is, on PostgreSQL, a table range-partitioned by UTC
day on its time column (see partitions.py): each pass first creates the coming days' partitions
and DROPs every partition wholly past the cutoff, which costs the same whatever it held; the
batched delete then takes only what is left (the DEFAULT partition's rows, the partly expired
day). On SQLite the same policy is enforced by batched deletes alone.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Column, DateTime, Integer, MetaData, Table, delete, func, select, tuple_

from quarterdeck.telemetry.v1 import telemetry_pb2 as pb
from services.telemetry.config import TelemetrySettings
from services.telemetry.traces.partitions import (
    create_partitions,
    drop_expired_partitions,
    is_partitioned,
)
from shared.auth import require_operator
from shared.background import PeriodicJob
from shared.db import Database, rows_matched
from shared.db_types import utcnow
from shared.timestamps import to_timestamp

log = logging.getLogger("quarterdeck.telemetry.retention")

UNIX_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
#: The PostgreSQL advisory lock one retention pass holds, whichever replica runs it.
ADVISORY_LOCK_KEY = int.from_bytes(b"qdretain", "big") & (2**63 - 1)
RETENTION_JOB = "telemetry-retention"


@dataclass(frozen=True)
class RetentionPolicy:
    """Rows of ``table`` whose ``time_column`` is older than the setting ``days_setting`` (days,
    on TelemetrySettings) are deleted in batches.

    ``time_column`` is a timestamp column, or an integer column of Unix nanoseconds."""

    table: str
    time_column: str
    days_setting: str
    #: On PostgreSQL the table is partitioned by UTC day on ``time_column`` (Unix nanoseconds):
    #: expired days are dropped whole (partitions.py).
    daily_partitions: bool = False


@dataclass(frozen=True)
class TableRetention:
    """What one policy did in one pass."""

    table: str
    days: int
    #: Rows older than this were deleted; None when the table keeps rows forever.
    cutoff: datetime | None
    deleted_rows: int


def cutoff_value(column: Column[Any], cutoff: datetime) -> datetime | int:
    """``cutoff`` in the column's own terms: a datetime, or Unix nanoseconds for an integer."""
    stored = getattr(column.type, "impl", column.type)  # a TypeDecorator's underlying type
    if isinstance(stored, DateTime):
        return cutoff
    if isinstance(stored, Integer):
        return (cutoff - UNIX_EPOCH) // timedelta(microseconds=1) * 1_000
    raise ValueError(
        f"retention: {column.table.name}.{column.name} is neither a timestamp nor Unix nanoseconds"
    )


def _column(policy: RetentionPolicy, metadata: MetaData) -> Column[Any]:
    return metadata.tables[policy.table].c[policy.time_column]


def policy_problem(
    policy: RetentionPolicy, metadata: MetaData, settings: TelemetrySettings
) -> str | None:
    """Why a policy cannot be enforced (a missing table, column or setting), or None."""
    table = metadata.tables.get(policy.table)
    if table is None:
        return f"no table {policy.table!r}"
    if policy.time_column not in table.c:
        return f"{policy.table} has no column {policy.time_column!r}"
    if not isinstance(getattr(settings, policy.days_setting, None), int):
        return f"no integer setting {policy.days_setting!r}"
    try:
        cutoff = cutoff_value(table.c[policy.time_column], utcnow())
    except ValueError as error:
        return str(error)
    if policy.daily_partitions and not isinstance(cutoff, int):
        return f"{policy.table} is partitioned by day on Unix nanoseconds, not a timestamp"
    return None


class RetentionEnforcer:
    """Enforces every policy, one pass at a time, however many callers ask at once."""

    def __init__(
        self,
        database: Database,
        settings: TelemetrySettings,
        metadata: MetaData,
        policies: Sequence[RetentionPolicy],
    ) -> None:
        self._db = database
        self._settings = settings
        self._batch_size = settings.retention_batch_size
        self._lock = asyncio.Lock()
        self._targets: list[tuple[RetentionPolicy, Table, Column[Any]]] = []
        for policy in policies:
            if problem := policy_problem(policy, metadata, settings):
                # Logged loudly rather than failing the service: its other tables' retention
                # and all of its ingest must go on.
                log.error("retention policy for %s skipped: %s", policy.table, problem)
                continue
            self._targets.append((policy, metadata.tables[policy.table], _column(policy, metadata)))

    async def run_once(self, now: datetime | None = None) -> list[TableRetention]:
        """One pass over every policy; a second caller (in this process or, on PostgreSQL, in
        another replica) waits for the running pass to end."""
        async with self._lock, self._across_replicas():
            moment = now or utcnow()
            await self._create_partitions(moment)
            results = []
            for policy, table, column in self._targets:
                days = int(getattr(self._settings, policy.days_setting))
                if days <= 0:
                    results.append(TableRetention(policy.table, days, None, 0))
                    continue
                cutoff = moment - timedelta(days=days)
                value = cutoff_value(column, cutoff)
                deleted = 0
                if isinstance(value, int) and await self._partitioned(policy):
                    deleted = await drop_expired_partitions(self._db, table, value)
                deleted += await self._expire(table, column, value)
                if deleted:
                    log.info("retention: deleted %d rows from %s", deleted, policy.table)
                results.append(TableRetention(policy.table, days, cutoff, deleted))
            return results

    async def prepare(self, now: datetime | None = None) -> None:
        """Partition upkeep alone (at service start, so a fresh database has today's
        partition before the first pass), under the same locks as a pass."""
        async with self._lock, self._across_replicas():
            await self._create_partitions(now or utcnow())

    async def _partitioned(self, policy: RetentionPolicy) -> bool:
        # Asked of the catalog, not assumed: a table made from the models alone (create_all,
        # not migration 0009) is a plain one.
        return (
            policy.daily_partitions
            and self._db.dialect == "postgresql"
            and await is_partitioned(self._db, policy.table)
        )

    async def _create_partitions(self, moment: datetime) -> None:
        for policy, table, column in self._targets:
            if await self._partitioned(policy):
                await create_partitions(self._db, table, column.name, moment)

    @asynccontextmanager
    async def _across_replicas(self) -> AsyncIterator[None]:
        """On PostgreSQL, a session advisory lock held for the pass on a connection outside any
        transaction (so it pins no snapshot); SQLite has one process, and the asyncio lock."""
        if self._db.dialect != "postgresql":
            yield
            return
        async with self._db.engine.connect() as connection:
            connection = await connection.execution_options(isolation_level="AUTOCOMMIT")
            await connection.execute(select(func.pg_advisory_lock(ADVISORY_LOCK_KEY)))
            try:
                yield
            finally:
                await connection.execute(select(func.pg_advisory_unlock(ADVISORY_LOCK_KEY)))

    async def _expire(self, table: Table, column: Column[Any], cutoff: datetime | int) -> int:
        key = list(table.primary_key.columns)
        expired = select(*key).where(column < cutoff).limit(self._batch_size)
        statement = delete(table).where(tuple_(*key).in_(expired))
        total = 0
        while True:
            async with self._db.transaction() as session:
                deleted = rows_matched(await session.execute(statement)) or 0
            total += deleted
            if deleted < self._batch_size:
                return total
            await asyncio.sleep(0)  # let waiting writers in between batches


def retention_job(enforcer: RetentionEnforcer, interval_seconds: float) -> PeriodicJob:
    """The background loop: a pass every ``interval_seconds`` (0 turns it off)."""

    async def run_pass(job: PeriodicJob) -> None:
        await enforcer.run_once()

    return PeriodicJob(RETENTION_JOB, interval_seconds, run_pass)


class RetentionHandlers:
    """RunRetention: an on-demand pass, for operators (and tests)."""

    def __init__(self, enforcer: RetentionEnforcer) -> None:
        self._enforcer = enforcer

    async def run_retention(self, request: pb.RunRetentionRequest) -> pb.RunRetentionResponse:
        require_operator()
        results = await self._enforcer.run_once()
        return pb.RunRetentionResponse(
            tables=[
                pb.TableRetention(
                    table=result.table,
                    retention_days=result.days,
                    cutoff_time=to_timestamp(result.cutoff),
                    deleted_rows=result.deleted_rows,
                )
                for result in results
            ]
        )
