"""Bulk ingest that skips rows already stored, shared by usage rows and spans.

On PostgreSQL the rows are COPYed straight into the table (asyncpg's binary COPY on a pooled
connection, one statement and so one transaction): the common case, new rows, at the speed of
COPY. If any row's key is stored already (an exporter retrying a batch, a concurrent call with
the same ids, a key repeated inside the batch), the unique index fails that COPY and its
transaction, storing nothing; the rows then go through a per-connection staging table and one
``INSERT ... SELECT ... ON CONFLICT DO NOTHING RETURNING``, which skips exactly those rows.

On SQLite one prepared ``INSERT`` runs over the whole batch (``executemany``), in one
transaction: nothing is compiled per batch. If any key is stored already, that transaction fails
and stores nothing, and the rows then go one by one through one prepared ``INSERT ... ON
CONFLICT DO NOTHING RETURNING``, in one transaction, which skips exactly those rows.

Rows are sequences (tuples or lists) in the target's column order, JSON columns already encoded
as JSON text (COPY takes text for JSONB; SQLite stores JSON as that same text), so nothing is
encoded per row twice.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property

# The json module's C encoder (private; typeshed declares neither name).
from json.encoder import c_make_encoder, encode_basestring  # type: ignore[attr-defined]
from typing import Any
from weakref import WeakKeyDictionary

import asyncpg
from sqlalchemy import JSON, Dialect, Table, TableClause, Text, column, table, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from shared.db import Database

_UNSEEN = object()


def _not_json(value: object) -> object:
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


_compact_json = json.JSONEncoder(ensure_ascii=False, check_circular=False, separators=(",", ":"))
# CPython's C encoder called directly: JSONEncoder.encode would build a new one per call, which
# costs more than encoding a span's few attributes.
_c_encoder = (
    c_make_encoder(None, _not_json, encode_basestring, None, ":", ",", False, False, True)
    if c_make_encoder is not None
    else None
)


def encode_json(value: object) -> str:
    """A JSON column's value as compact JSON text, encoded once per row by the C encoder.

    Values are JSON-safe already (no NaN or infinities, no NUL), as both backends need.
    """
    if _c_encoder is None:
        return _compact_json.encode(value)
    return "".join(_c_encoder(value, 0))


@dataclass(frozen=True)
class BulkTarget:
    """A table rows are ingested into: which columns a row holds, in order, and its key."""

    table: Table
    #: The columns of each row, in order (any subset of the table's, in any order).
    columns: tuple[str, ...]
    #: The unique key a stored row must not be inserted twice under.
    conflict_columns: tuple[str, ...]
    #: The column whose value identifies, in the result, each row actually inserted.
    returning: str

    _converters: dict[str, list[tuple[int, Callable[[Any], Any]]]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        unknown = set(self.columns) - set(self.table.columns.keys())
        if unknown:
            raise ValueError(f"{self.table.name} has no columns {sorted(unknown)}")

    @cached_property
    def returning_position(self) -> int:
        return self.columns.index(self.returning)

    @cached_property
    def staging_table(self) -> str:
        return f"{self.table.name}_staging"

    @cached_property
    def create_staging(self) -> str:
        # ON COMMIT DELETE ROWS: the table outlives the transaction on this pooled connection
        # (no catalog churn per batch), its rows never do.
        return (
            f"CREATE TEMP TABLE IF NOT EXISTS {self.staging_table} "
            f"(LIKE {self.table.name} INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
        )

    @cached_property
    def move_staged(self) -> str:
        quoted = ", ".join(f'"{name}"' for name in self.columns)
        return (
            f"INSERT INTO {self.table.name} ({quoted}) SELECT {quoted} FROM {self.staging_table} "
            f"ON CONFLICT ({', '.join(self.conflict_columns)}) DO NOTHING "
            f'RETURNING "{self.returning}"'
        )

    @cached_property
    def sqlite_insert(self) -> str:
        """The plain insert, run over a whole batch; a key stored already makes it fail."""
        quoted = ", ".join(f'"{name}"' for name in self.columns)
        marks = ", ".join("?" for _ in self.columns)
        return f"INSERT INTO {self.table.name} ({quoted}) VALUES ({marks})"

    @cached_property
    def sqlite_insert_new(self) -> str:
        """One row, skipped when its key is stored already; returns it when inserted."""
        return (
            f"{self.sqlite_insert} ON CONFLICT ({', '.join(self.conflict_columns)}) DO NOTHING "
            f'RETURNING "{self.returning}"'
        )

    def sqlite_values(
        self, dialect: Dialect, rows: Sequence[Sequence[Any]]
    ) -> list[tuple[Any, ...]]:
        """The rows as the driver takes them: each column's own conversion for SQLite (times as
        text, enums by name, UUIDs as text), applied only to the columns that have one, once
        per distinct value of the batch (a batch's spans share their received time, and enums
        take a handful of values)."""
        converters = self._sqlite_converters(dialect)
        if not converters:
            return [tuple(row) for row in rows]
        converted: list[tuple[Any, ...]] = []
        seen: list[dict[Any, Any]] = [{} for _ in converters]
        for row in rows:
            values = list(row)
            for (position, convert), known in zip(converters, seen, strict=True):
                value = values[position]
                if value is None:
                    continue
                done = known.get(value, _UNSEEN)
                if done is _UNSEEN:
                    done = known[value] = convert(value)
                values[position] = done
            converted.append(tuple(values))
        return converted

    def _sqlite_converters(self, dialect: Dialect) -> list[tuple[int, Callable[[Any], Any]]]:
        cached = self._converters.get(dialect.name)
        if cached is None:
            cached = []
            for position, name in enumerate(self.columns):
                convert = self.sqlite_table.c[name].type._cached_bind_processor(dialect)
                if convert is not None:
                    cached.append((position, convert))
            self._converters[dialect.name] = cached
        return cached

    @cached_property
    def sqlite_table(self) -> TableClause:
        """The table as SQLite inserts see it: JSON columns take the JSON text as it is."""
        types = self.table.columns
        return table(
            self.table.name,
            *(
                column(name, Text() if isinstance(types[name].type, JSON) else types[name].type)
                for name in self.columns
            ),
        )


async def insert_new_rows(
    database: Database, target: BulkTarget, rows: Sequence[Sequence[Any]]
) -> list[Any]:
    """Store the rows whose key is not stored yet, in one transaction; returns the
    ``target.returning`` value of each row inserted (of the first, for a key repeated in
    ``rows``)."""
    if not rows:
        return []
    if database.dialect == "postgresql":
        try:
            async with database.engine.connect() as connection:
                # One COPY statement is one transaction of its own (all rows or none), so it
                # needs no BEGIN, COMMIT or statement to open a session's transaction first:
                # one round trip per batch.
                raw = await _driver(connection)
                await raw.copy_records_to_table(
                    target.table.name, records=rows, columns=list(target.columns)
                )
            position = target.returning_position
            return [row[position] for row in rows]
        except asyncpg.UniqueViolationError:
            # Some keys are stored already: take the path that skips them row by row.
            async with database.transaction() as session:
                return await _copy_through_staging(session, target, rows)
    return await _insert_sqlite(database, target, rows)


async def _driver(connection: AsyncConnection) -> asyncpg.Connection:
    raw = (await connection.get_raw_connection()).driver_connection
    assert isinstance(raw, asyncpg.Connection)
    return raw


async def _copy_through_staging(
    session: AsyncSession, target: BulkTarget, rows: Sequence[Sequence[Any]]
) -> list[Any]:
    """COPY the rows into the staging table, then move over those not stored yet."""
    # Through the session, so its transaction is open before the raw COPY joins it.
    await session.execute(text(target.create_staging))
    raw = await _driver(await session.connection())
    await raw.copy_records_to_table(
        target.staging_table, records=rows, columns=list(target.columns)
    )
    inserted = await session.scalars(text(target.move_staged))
    return list(inserted.all())


async def _insert_sqlite(
    database: Database, target: BulkTarget, rows: Sequence[Sequence[Any]]
) -> list[Any]:
    values = target.sqlite_values(database.engine.dialect, rows)
    try:
        async with _sqlite_writer(database), database.transaction() as session:
            connection = await session.connection()
            # One prepared statement run over every row (executemany): nothing is compiled per
            # batch. A key stored already fails it, and its transaction stores nothing.
            await connection.exec_driver_sql(target.sqlite_insert, values)
        position = target.returning_position
        return [row[position] for row in rows]
    except IntegrityError as error:
        if "UNIQUE constraint failed" not in str(error.orig):
            raise
    # Some keys are stored already (a retried batch, a key repeated in it): row by row through
    # one prepared statement that skips them and says which it inserted, in one transaction.
    inserted: list[Any] = []
    async with _sqlite_writer(database), database.transaction() as session:
        connection = await session.connection()
        for row in values:
            result = await connection.exec_driver_sql(target.sqlite_insert_new, row)
            inserted += result.scalars().all()
    return inserted


_sqlite_writers: WeakKeyDictionary[Database, asyncio.Lock] = WeakKeyDictionary()


def _sqlite_writer(database: Database) -> asyncio.Lock:
    """This process's SQLite writers take turns here rather than in SQLite's busy handler,
    which polls with growing sleeps and leaves the write lock idle between them."""
    lock = _sqlite_writers.get(database)
    if lock is None:
        lock = _sqlite_writers[database] = asyncio.Lock()
    return lock
