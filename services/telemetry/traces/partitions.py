"""Daily range partitions on PostgreSQL: created ahead of the spans they will hold, dropped whole
once past retention.

A table kept this way (``spans``, migration 0009) is RANGE-partitioned by an integer column of
Unix nanoseconds, one partition per UTC day named ``<table>_pYYYYMMDD``, plus a DEFAULT partition
``<table>_default`` that takes a row of any other time (a span from long ago, or from a clock far
ahead), so ingest never fails for want of a partition.

Upkeep runs from the retention pass, under its advisory lock (and once at service start):

* :func:`create_partitions` makes sure the days from yesterday to three days ahead have their
  own partition. A new partition is created as a plain table and ATTACHed, which locks the
  parent table only against other DDL (CREATE TABLE ... PARTITION OF would lock out ingest).
  Should the DEFAULT partition already hold rows of that day (the service was down for days, or
  an exporter's clock runs ahead), ATTACH would fail on them, so they are moved into the new
  table in the same transaction, the DEFAULT partition locked first so no new row of the day
  slips in between.
* :func:`drop_expired_partitions` DETACHes and DROPs every daily partition whose whole range is
  older than the retention cutoff. Rows past the cutoff elsewhere (the DEFAULT partition, the
  partly expired day) are left to the batched DELETE.

Both take their locks with a short ``lock_timeout``: DETACH needs the parent table to itself for
an instant, and a long read ahead of it must not make ingest queue behind the waiting DDL. A
partition that could not be locked in time is tried again next pass (its rows meanwhile go by
batched DELETE, so retention holds either way).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import Table, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from shared.db import Database, rows_matched

log = logging.getLogger("quarterdeck.telemetry.partitions")

NANOS_PER_DAY = 86_400 * 10**9
EPOCH_DAY = date(1970, 1, 1)
#: Days before and after today that always have their own partition.
DAYS_BEHIND = 1
DAYS_AHEAD = 3
#: How long upkeep waits for a table lock before leaving the partition to the next pass.
LOCK_TIMEOUT = "2s"
_BOUNDS = re.compile(r"FROM \('?(-?\d+)'?\) TO \('?(-?\d+)'?\)")


@dataclass(frozen=True)
class DailyPartition:
    name: str
    #: [low, high) in Unix nanoseconds.
    low: int
    high: int


def day_number(moment: datetime) -> int:
    """The UTC day ``moment`` falls on, counted from 1970-01-01."""
    return (moment.astimezone(UTC).date() - EPOCH_DAY).days


def partition_name(table: str, day: int) -> str:
    return f"{table}_p{EPOCH_DAY + timedelta(days=day):%Y%m%d}"


def default_partition_name(table: str) -> str:
    return f"{table}_default"


async def daily_partitions(session: AsyncSession, table: str) -> list[DailyPartition]:
    """The table's partitions with a range (not the DEFAULT one), oldest first."""
    rows = await session.execute(
        text(
            "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i "
            "JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = CAST(:table AS regclass)"
        ),
        {"table": table},
    )
    found = []
    for name, bound in rows:
        if match := _BOUNDS.search(bound or ""):
            found.append(DailyPartition(name, int(match[1]), int(match[2])))
    return sorted(found, key=lambda partition: partition.low)


async def is_partitioned(database: Database, table: str) -> bool:
    async with database.reading() as session:
        partitioned = await session.scalar(
            text("SELECT relkind = 'p' FROM pg_class WHERE oid = to_regclass(:table)"),
            {"table": table},
        )
    return bool(partitioned)


async def create_partitions(
    database: Database, table: Table, column: str, now: datetime
) -> list[str]:
    """Create the missing daily partitions from DAYS_BEHIND before ``now`` to DAYS_AHEAD after;
    returns their names."""
    today = day_number(now)
    async with database.reading() as session:
        existing = {partition.low for partition in await daily_partitions(session, table.name)}
    created = []
    for day in range(today - DAYS_BEHIND, today + DAYS_AHEAD + 1):
        if day * NANOS_PER_DAY in existing:
            continue
        name = partition_name(table.name, day)
        try:
            moved = await _create_partition(database, table, column, name, day)
        except DBAPIError as error:
            if not _lock_timed_out(error):
                raise
            # Until the next pass the day's spans land in the DEFAULT partition, then move.
            log.warning("partition %s not created this pass: a lock timed out", name)
            continue
        if moved:
            log.info("partition %s: moved %d rows over from the default partition", name, moved)
        created.append(name)
    return created


async def _create_partition(
    database: Database, table: Table, column: str, name: str, day: int
) -> int:
    low, high = day * NANOS_PER_DAY, (day + 1) * NANOS_PER_DAY
    parent, default = table.name, default_partition_name(table.name)
    in_day = f"{column} >= {low} AND {column} < {high}"
    async with database.transaction() as session:
        await session.execute(text(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'"))
        await session.execute(
            text(f"CREATE TABLE {name} (LIKE {parent} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)")
        )
        stranded = await session.scalar(
            text(f"SELECT EXISTS (SELECT 1 FROM {default} WHERE {in_day})")
        )
        moved = 0
        if stranded:
            # ATTACH locks the default partition this way anyway; taking it first keeps a new
            # row of the day from landing there between the move and the ATTACH.
            await session.execute(text(f"LOCK TABLE {default} IN ACCESS EXCLUSIVE MODE"))
            columns = ", ".join(f'"{c.name}"' for c in table.columns)
            result = await session.execute(
                text(
                    f"WITH moved AS (DELETE FROM {default} WHERE {in_day} RETURNING {columns}) "
                    f"INSERT INTO {name} ({columns}) SELECT {columns} FROM moved"
                )
            )
            moved = rows_matched(result) or 0
        # The CHECK spares ATTACH a scan of the new table to prove its rows fit the range.
        await session.execute(
            text(f"ALTER TABLE {name} ADD CONSTRAINT {name}_range CHECK ({in_day})")
        )
        await session.execute(
            text(
                f"ALTER TABLE {parent} ATTACH PARTITION {name} FOR VALUES FROM ({low}) TO ({high})"
            )
        )
        await session.execute(text(f"ALTER TABLE {name} DROP CONSTRAINT {name}_range"))
    return moved


async def drop_expired_partitions(database: Database, table: Table, cutoff: int) -> int:
    """DETACH and DROP every daily partition wholly older than ``cutoff`` (Unix nanoseconds);
    returns the rows they held."""
    async with database.reading() as session:
        expired = [p for p in await daily_partitions(session, table.name) if p.high <= cutoff]
    dropped = 0
    for partition in expired:
        try:
            async with database.transaction() as session:
                await session.execute(text(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'"))
                # Counted before DETACH, which holds the parent table to itself till commit.
                rows = int(
                    await session.scalar(text(f"SELECT count(*) FROM {partition.name}")) or 0
                )
                await session.execute(
                    text(f"ALTER TABLE {table.name} DETACH PARTITION {partition.name}")
                )
                await session.execute(text(f"DROP TABLE {partition.name}"))
        except DBAPIError as error:
            if not _lock_timed_out(error):
                raise
            # This pass's batched DELETE takes its rows instead; the next pass drops it.
            log.warning("partition %s not dropped this pass: a lock timed out", partition.name)
            continue
        log.info("retention: dropped partition %s (%d rows)", partition.name, rows)
        dropped += rows
    return dropped


def _lock_timed_out(error: DBAPIError) -> bool:
    return getattr(error.orig, "sqlstate", None) == "55P03"  # lock_not_available
