"""The one way to reach a service's database: an async engine and a session factory.

SQLite through aiosqlite is the embedded default; PostgreSQL through asyncpg is the production
store. Each service owns its database and nobody else's.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import sqlite3
from collections import deque, namedtuple
from collections.abc import AsyncIterator, Callable, Hashable, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, cast

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Connection,
    CursorResult,
    Delete,
    Executable,
    Float,
    Index,
    Insert,
    MetaData,
    Numeric,
    Result,
    Row,
    Select,
    Table,
    TextClause,
    TextualSelect,
    Update,
    bindparam,
    event,
    text,
)
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.exc import DBAPIError, IntegrityError, StatementError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import ORMExecuteState, Session, SessionTransaction, UOWTransaction
from sqlalchemy.pool import Pool, PoolProxiedConnection, QueuePool
from sqlalchemy.sql.schema import ColumnCollectionConstraint
from sqlalchemy.types import TypeEngine
from sqlalchemy.util import greenlet_spawn

from shared.db_sqlite import inline_sqlite_creator
from shared.sqlite_files import make_private

T = TypeVar("T")

#: Constraint names are stable, so migrations and error messages can name them.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def service_metadata() -> MetaData:
    return MetaData(naming_convention=NAMING_CONVENTION)


def _sqlite_begin(conn: Any) -> None:
    # A write transaction takes the write lock up front: a deferred one that read first cannot
    # upgrade once another writer committed, and would fail with "database is locked".
    mode = conn.get_execution_options().get(_BEGIN_MODE, "DEFERRED")
    if mode is not None:  # None: each statement is its own (autocommit) transaction
        conn.exec_driver_sql(f"BEGIN {mode}")


_BEGIN_MODE = "quarterdeck_sqlite_begin"
#: ``session.info`` key: the names of the tables the session's current transaction wrote.
_WRITTEN = "quarterdeck_written_tables"
_READ_ONLY = {"postgresql_readonly": True}
_UNFLUSHED_COMMIT = text("SET LOCAL synchronous_commit TO OFF")
#: Per dialect, what makes a connection run each statement on its own, with no BEGIN and no
#: ROLLBACK around it. SQLite's driver already runs in autocommit mode (SQLAlchemy emits BEGIN),
#: so skipping that BEGIN is enough; asyncpg's AUTOCOMMIT is a flag on its adapter, no statement.
_AUTOCOMMIT: dict[str, dict[str, Any]] = {
    "sqlite": {_BEGIN_MODE: None},
    "postgresql": {"isolation_level": "AUTOCOMMIT"},
}


#: The most driver connections :meth:`Database.fetch_prepared` reads on (never more than half
#: the pool's steady size, so sessions are not starved of connections).
KEPT_READERS = 4
#: The most driver connections :meth:`Database.driver_transaction` writes on (PostgreSQL; never
#: more than half of the pool's steady size left beside the readers').
KEPT_WRITERS = 4


#: SQL text for a :class:`PreparedStatement`: returning rows (``text(...).columns(...)``) or not.
TextStatement = TextClause | TextualSelect


@dataclass(frozen=True, slots=True)
class _Parameter:
    name: str
    process: Callable[[Any], Any] | None
    default: Any
    required: bool
    #: A column's Python-side default or onupdate (a callable), called when no value is given.
    generate: Callable[[Any], Any] | None = None


@dataclass(frozen=True, slots=True)
class _CompiledRead:
    """A :class:`PreparedStatement` for one dialect: its SQL text in the driver's own
    paramstyle, its parameters in order with their bind processors, and the result processors
    of the columns it returns (none for a write without RETURNING)."""

    sql: str
    parameters: tuple[_Parameter, ...]
    results: tuple[Callable[[Any], Any] | None, ...]
    row: Callable[..., Any] | None

    def arguments(self, given: Mapping[str, Any]) -> list[Any]:
        values = []
        for parameter in self.parameters:
            if parameter.name in given:
                value = given[parameter.name]
            elif parameter.generate is not None:
                value = parameter.generate(None)
            elif parameter.required:
                raise ValueError(f"the parameter {parameter.name!r} has no value")
            else:
                value = parameter.default
            values.append(value if parameter.process is None else parameter.process(value))
        return values

    def rows(self, records: Iterable[Sequence[Any]]) -> list[Any]:
        results, row = self.results, self.row
        assert row is not None, "a statement that returns no rows"
        return [
            row(
                *[
                    value if p is None else p(value)
                    for p, value in zip(results, record, strict=True)
                ]
            )
            for record in records
        ]


class PreparedStatement:
    """A statement compiled once per dialect and run on the driver's own connection: no
    SQLAlchemy connection, execution context, result or ORM unit of work per call. A SELECT
    (:class:`PreparedRead`, for :meth:`Database.fetch_prepared` outside any transaction) or an
    INSERT, UPDATE or DELETE with or without RETURNING, run inside the caller's transaction by
    :func:`execute_prepared` (and :func:`execute_prepared_many`). Values
    given are processed by their columns' types, and rows returned come back as named tuples
    processed by their columns' types, exactly as SQLAlchemy would (UUIDs, UTC datetimes,
    enums, JSON), so they read like the rows of :meth:`Database.fetch`.

    For hot statements by key, built once at import. Parameters are named by ``bindparam``
    (typed by their column: :func:`column_param`) and given at each call, or
    are literals fixed in the statement; a column's Python-side default (INSERT) or onupdate
    (UPDATE) is computed at each call where no value is given, as SQLAlchemy computes it,
    and server-side ones are the database's. Expanding (``IN``) or literal-execute parameters are refused here:
    those belong to :meth:`Database.fetch` or a session.

    A statement Core cannot build (a data-modifying CTE, an ``ON CONFLICT`` update that
    decides per row) may be SQL text: ``text(...)`` with every parameter typed
    (``.bindparams(column_param(...))``), and ``.columns(...)`` naming what it returns (a
    :class:`TextualSelect`), if anything; its parameters are bound and its rows read by those
    types, the same way.
    """

    def __init__(self, statement: Select[Any] | Insert | Update | Delete | TextStatement) -> None:
        if not isinstance(
            statement, Select | Insert | Update | Delete | TextClause | TextualSelect
        ):
            raise TypeError("a PreparedStatement is a SELECT, INSERT, UPDATE, DELETE or SQL text")
        self.statement = statement
        self._compiled: dict[str, _CompiledRead] = {}

    @property
    def returns_rows(self) -> bool:
        statement = self.statement
        if isinstance(statement, Select | TextualSelect):
            return True
        return not isinstance(statement, TextClause) and bool(statement._returning)

    def compiled_for(self, dialect: Dialect) -> _CompiledRead:
        compiled = self._compiled.get(dialect.name)
        if compiled is None:
            compiled = self._compiled[dialect.name] = self._compile(dialect)
        return compiled

    def _compile(self, dialect: Dialect) -> _CompiledRead:
        compiled = self.statement.compile(dialect=dialect)
        if compiled.literal_execute_params or compiled.post_compile_params:
            raise ValueError("expanding and literal-execute parameters need Database.fetch")
        # Columns whose Python-side default (INSERT) or onupdate (UPDATE) SQLAlchemy computes
        # at each execution: named by the column's key, computed here the same way.
        defaults: dict[str, Any] = {}
        for column in compiled.insert_prefetch:
            defaults[column.key] = column.default
        for column in compiled.update_prefetch:
            defaults[column.key] = column.onupdate
        parameters = []
        for name in compiled.positiontup or ():
            bind = compiled.binds[name]
            generated = defaults.get(name)
            value, generate = bind.effective_value, None
            if generated is not None and generated.is_callable:
                generate = generated.arg
            elif generated is not None and generated.is_scalar:
                value = generated.arg
            parameters.append(
                _Parameter(
                    name,
                    bind.type.dialect_impl(dialect).bind_processor(dialect),
                    value,
                    bind.required and generated is None,
                    generate,
                )
            )
        statement = self.statement
        if isinstance(statement, Select | TextualSelect):
            columns = list(statement.selected_columns)
        elif isinstance(statement, TextClause):
            columns = []
        else:
            columns = list(statement.exported_columns) if statement._returning else []
        names = [str(column.key) for column in columns]
        return _CompiledRead(
            sql=compiled.string,
            parameters=tuple(parameters),
            results=tuple(_result_processor(column.type, dialect) for column in columns),
            row=namedtuple("PreparedRow", names, rename=True) if columns else None,
        )


#: PostgreSQL's type oids for floating-point and decimal columns (float8, numeric).
_PG_FLOAT, _PG_NUMERIC = 701, 1700


def _result_processor(type_: TypeEngine[Any], dialect: Dialect) -> Callable[[Any], Any] | None:
    """The result processor of a column of ``type_``. asyncpg's numeric types choose theirs by
    the type of the column the database reports, which is not known before a statement runs:
    the one ``type_`` creates its columns as (a float, or a decimal) is given in its place."""
    impl = type_.dialect_impl(dialect)
    reported = None
    if dialect.name == "postgresql" and isinstance(impl, Numeric):
        reported = _PG_FLOAT if isinstance(impl, Float) else _PG_NUMERIC
    return impl.result_processor(dialect, reported)


def column_param(name: str, column: ColumnElement[Any]) -> BindParameter[Any]:
    """A parameter of a :class:`PreparedStatement` named ``name``, typed by ``column`` (its
    values processed as the column's own)."""
    return bindparam(name, type_=column.type)


class PreparedRead(PreparedStatement):
    """A SELECT, compiled once per dialect for :meth:`Database.fetch_prepared`, which runs it
    on its own on a driver connection kept for such reads (see :class:`PreparedStatement`);
    inside a transaction, :func:`execute_prepared` runs it on the transaction's."""

    def __init__(self, statement: Select[Any]) -> None:
        if not isinstance(statement, Select):
            raise TypeError("a PreparedRead is a SELECT")
        super().__init__(statement)


@dataclass(frozen=True, slots=True)
class PreparedResult:
    """What :func:`execute_prepared` got: the rows a SELECT or a RETURNING gave
    (named tuples; empty for a write without RETURNING) and how many rows the statement
    matched (for a write without RETURNING; the number of rows otherwise)."""

    rows: list[Any]
    rowcount: int

    def first(self) -> Any:
        return self.rows[0] if self.rows else None


#: ``session.info`` key: the transaction and its driver connection :meth:`_driver_of` found.
_DRIVER = "quarterdeck_driver_connection"
_ROWCOUNT = re.compile(r"(?:UPDATE|DELETE|INSERT \d+|SELECT) (\d+)$")


class _KeptConnections:
    """Driver connections for the hot paths that bypass SQLAlchemy's per-call objects
    (:meth:`Database.fetch_prepared`, :meth:`Database.unflushed_driver_connection`,
    :meth:`Database.sqlite_driver_transaction`): up to ``size`` checked out of ``pool`` when
    first needed and kept between calls, since a checkout costs more than a point read or a
    one-statement write on the driver. A call that finds them all busy waits for the next one
    free (a round trip away) rather than checking out more: calls arrive in bursts (every call a
    turn of the event loop delivers reaches its statement before the first answer comes back),
    and a burst past the pool's size would open overflow connections and close them again each
    time. With ``size`` 0 (a small pool, SQLite in memory), each call checks a connection out
    and back in. Lent by :func:`_lent`.
    """

    def __init__(self, pool: Pool, size: int, *, closes_on_its_own: bool) -> None:
        self._pool = pool
        self._size = size
        #: asyncpg notices a connection the server closed; SQLite's are never closed under us.
        self._check_closed = closes_on_its_own
        self._idle: list[PoolProxiedConnection] = []
        self._open = 0
        #: Calls waiting for a connection, first come first served; woken with a connection,
        #: or with None to check out a new one (one was discarded).
        self._waiters: deque[asyncio.Future[PoolProxiedConnection | None]] = deque()

    async def take(self) -> PoolProxiedConnection:
        while True:
            if self._idle:
                connection = self._idle.pop()
                driver: Any = connection.driver_connection
                if not (self._check_closed and driver.is_closed()):
                    return connection
                await self.discard(connection)  # closed by the server (a restart, an idle timeout)
                continue
            if self._size == 0:
                return await greenlet_spawn(self._pool.connect)
            if self._open < self._size:
                self._open += 1
                try:
                    return await greenlet_spawn(self._pool.connect)
                except BaseException:
                    self._open -= 1
                    self._wake(None)
                    raise
            waiter: asyncio.Future[PoolProxiedConnection | None]
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                handed = await waiter
            except asyncio.CancelledError:
                if waiter.done() and not waiter.cancelled():  # woken, then cancelled
                    if (unused := waiter.result()) is not None:
                        await self.give(unused)
                    else:
                        self._wake(None)
                raise
            if handed is not None:
                return handed

    def _wake(self, connection: PoolProxiedConnection | None) -> bool:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(connection)
                return True
        return False

    async def give(self, connection: PoolProxiedConnection) -> None:
        """Hands ``connection`` back after a call that left it usable."""
        if self._size == 0:
            await greenlet_spawn(connection.close)  # back to the pool (which may close it)
        elif not self._wake(connection):
            self._idle.append(connection)

    async def discard(
        self, connection: PoolProxiedConnection, error: BaseException | None = None
    ) -> None:
        """Drops ``connection`` (broken, or cancelled mid-statement); a waiting call opens
        another."""
        if self._size > 0:
            self._open -= 1
            self._wake(None)
        await greenlet_spawn(connection.invalidate, error)

    async def close(self) -> None:
        idle, self._idle = self._idle, []
        self._open -= len(idle)
        for connection in idle:
            await greenlet_spawn(connection.close)


@asynccontextmanager
async def _lent(
    kept: _KeptConnections, discard_if: Callable[[BaseException], bool]
) -> AsyncIterator[Any]:
    """One of ``kept`` (the pool's connection: ``driver_connection`` is the driver's own,
    ``dbapi_connection`` SQLAlchemy's adapter of it), given back after the block; discarded (a
    new one opened when next needed) when the block raises an error ``discard_if`` accepts."""
    pooled = await kept.take()
    try:
        yield pooled
    except BaseException as error:
        if discard_if(error):
            await kept.discard(pooled, error)
        else:
            await kept.give(pooled)
        raise
    await kept.give(pooled)


class DriverTransaction:
    """A transaction on a driver connection of its own (:meth:`Database.driver_transaction`),
    which :func:`execute_prepared` and :func:`execute_prepared_many` run their statements in
    as in a session's, and :func:`call_after_commit` hears the commit of: no SQLAlchemy
    session, connection, pool checkout or transaction objects around the statements."""

    __slots__ = ("_after_commit", "adapter", "broken", "dialect", "driver")

    def __init__(self, dialect: Dialect, driver: Any, adapter: Any) -> None:
        self.dialect = dialect
        #: The driver's own connection (asyncpg's, or shared/db_sqlite.py's).
        self.driver = driver
        #: SQLAlchemy's DB-API adapter of it (what translates asyncpg's errors).
        self.adapter = adapter
        #: A statement failed other than by its own error (dropped, cancelled mid-statement):
        #: the connection is discarded, not used again.
        self.broken = False
        self._after_commit: dict[Hashable, Callable[[], None]] = {}

    def _committed(self) -> None:
        loop = asyncio.get_running_loop()
        for callback in self._after_commit.values():
            loop.call_soon(callback)


#: What a prepared statement runs in: a session's transaction (:meth:`Database.transaction`,
#: :meth:`Database.reading`), a Core connection's (:meth:`Database.core_transaction`) or a
#: driver connection's (:meth:`Database.driver_transaction`).
Transaction = AsyncSession | AsyncConnection | DriverTransaction


def dialect_name(transaction: Transaction) -> str:
    """The name of the dialect ``transaction`` runs on ("postgresql", "sqlite")."""
    if isinstance(transaction, DriverTransaction):
        return str(transaction.dialect.name)
    if isinstance(transaction, AsyncSession):
        return str(transaction.get_bind().dialect.name)
    return str(transaction.dialect.name)


class Database:
    """An engine plus the session factory every repository uses.

    A checkout is not pinged first: a connection the server dropped fails the statement that
    meets it, the dialect recognises the disconnect and the pool discards that connection (and
    every one opened before it), so the next call gets a fresh one. A session closes its own
    transaction, so the pool adds no rollback of its own on return.
    """

    def __init__(
        self,
        url: str,
        *,
        pool_size: int = 10,
        max_overflow: int = 20,
        unflushed_pool_size: int = 0,
    ) -> None:
        parsed = make_url(url)
        self.dialect = parsed.get_backend_name()
        options: dict[str, Any] = {"pool_pre_ping": False, "pool_reset_on_return": None}
        #: PostgreSQL connections whose every commit is unflushed, taken out of the overflow so
        #: the process still opens ``pool_size + max_overflow`` connections at most; none
        #: without an overflow to take them from (:meth:`unflushed_driver_connection`).
        self._unflushed_engine: AsyncEngine | None = None
        #: The driver connections the limits' hot path writes on (:class:`_KeptConnections`):
        #: the unflushed ones (PostgreSQL), or one for :meth:`sqlite_driver_transaction`.
        self._held: _KeptConnections | None = None
        unflushed = min(unflushed_pool_size, max_overflow)
        if self.dialect == "sqlite":
            database = parsed.database or ":memory:"
            if database != ":memory:" and not database.startswith("file:"):
                make_private(Path(database))
            uri = str(parsed.query.get("uri", "")).lower() in ("true", "1")
            options["async_creator"] = inline_sqlite_creator(database, uri)
        else:
            options.update(pool_size=pool_size, max_overflow=max_overflow - unflushed)
            if unflushed > 0:
                self._unflushed_engine = create_async_engine(
                    parsed,
                    pool_pre_ping=False,
                    pool_reset_on_return=None,
                    pool_size=unflushed,
                    max_overflow=0,
                    connect_args={"server_settings": {"synchronous_commit": "off"}},
                )
                self._held = _KeptConnections(
                    self._unflushed_engine.sync_engine.pool, unflushed, closes_on_its_own=True
                )
        self.engine: AsyncEngine = create_async_engine(parsed, **options)
        if self.dialect == "sqlite":
            event.listen(self.engine.sync_engine, "begin", _sqlite_begin)
            # One writer at a time holds SQLite's write lock: one kept connection serves them.
            self._held = _KeptConnections(self.engine.sync_engine.pool, 1, closes_on_its_own=False)
        #: This database's own session class, so the listeners of :meth:`on_commit` hear its
        #: sessions only (a process may hold several services' databases).
        self._session_class: type[Session] = type("DatabaseSession", (Session,), {})
        self.sessions = async_sessionmaker(
            self.engine, expire_on_commit=False, sync_session_class=self._session_class
        )
        self._commit_watchers: list[tuple[frozenset[str], Callable[[], None]]] = []
        self._statement_at_a_time = self.engine.sync_engine.execution_options(
            **_AUTOCOMMIT.get(self.dialect, {})
        )
        pool = self.engine.sync_engine.pool
        self._readers = _KeptConnections(
            pool,
            min(KEPT_READERS, pool.size() // 2) if isinstance(pool, QueuePool) else 0,
            closes_on_its_own=self.dialect == "postgresql",
        )
        readers = self._readers._size
        self._writers = _KeptConnections(
            pool,
            min(KEPT_WRITERS, (pool.size() - readers) // 2) if isinstance(pool, QueuePool) else 0,
            closes_on_its_own=self.dialect == "postgresql",
        )

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A session inside one transaction: committed on success, rolled back on any error."""
        async with self.sessions() as session:
            if self.dialect == "sqlite":
                await session.connection(execution_options={_BEGIN_MODE: "IMMEDIATE"})
            try:
                yield session
            except BaseException:
                await session.rollback()
                raise
            await session.commit()

    @asynccontextmanager
    async def core_transaction(self) -> AsyncIterator[AsyncConnection]:
        """Like :meth:`transaction`, on a Core connection instead of an ORM session: committed
        on success, rolled back on any error (on SQLite, ``BEGIN IMMEDIATE``).

        For hot paths that write with Core statements only: a session's identity map, flush and
        state tracking cost more CPU per statement than such a statement itself.
        """
        async with self.engine.connect() as connection:
            if self.dialect == "sqlite":
                await connection.execution_options(**{_BEGIN_MODE: "IMMEDIATE"})
            async with connection.begin():
                yield connection

    @asynccontextmanager
    async def driver_transaction(self) -> AsyncIterator[DriverTransaction]:
        """A transaction on a driver connection (:class:`DriverTransaction`): committed on
        success, rolled back on any error, like :meth:`transaction`'s, for a hot path whose
        every statement is prepared (:func:`execute_prepared`): the SQLAlchemy session,
        pool checkout and transaction objects cost several times the statements' own CPU.

        PostgreSQL: one of a few connections kept from first use (like
        :meth:`fetch_prepared`'s; a call finding them all busy waits for one), BEGIN and
        COMMIT sent as statements; a connection left in an unknown state (a statement
        dropped or cancelled, a rollback that failed) is discarded. SQLite: the write
        transaction of :meth:`sqlite_driver_transaction` (``BEGIN IMMEDIATE``).
        """
        if self.dialect == "sqlite":
            async with self.sqlite_driver_transaction() as sqlite:
                transaction = DriverTransaction(self.engine.dialect, sqlite, None)
                yield transaction
            transaction._committed()
            return
        pooled = await self._writers.take()
        driver: Any = pooled.driver_connection
        transaction = DriverTransaction(self.engine.dialect, driver, pooled.dbapi_connection)
        try:
            await driver.execute("BEGIN")
            yield transaction
            await driver.execute("COMMIT")
        except BaseException as error:
            if not isinstance(error, Exception) or transaction.broken:
                await self._writers.discard(pooled, error)  # cancelled or broken: unknown
                raise
            try:
                if driver.is_in_transaction():
                    await driver.execute("ROLLBACK")
            except BaseException as failed:  # noqa: BLE001 - any failure: the connection goes
                await self._writers.discard(pooled, failed)
                raise error from None
            await self._writers.give(pooled)
            raise
        await self._writers.give(pooled)
        transaction._committed()

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[AsyncSession]:
        """A session for reads only, in one read-only transaction that is never committed.

        On SQLite that is a deferred transaction (one snapshot, no write lock, no thread hop); on
        PostgreSQL a READ ONLY one, so a write attempted here fails instead of being kept.
        """
        async with self.sessions() as session:
            if self.dialect == "postgresql":
                await session.connection(execution_options=_READ_ONLY)
            yield session

    async def commit_unflushed(self, session: AsyncSession | AsyncConnection) -> None:
        """Lets the commit of ``session``'s transaction return before its changes reach the
        disk, so the row locks it holds are released without waiting for a flush. Called before
        the transaction's first lock on a contended row, it costs no round trip while holding it.

        A crash of the database server (not of this process) may then lose the transaction,
        whole, if it committed within the last moments; nothing is ever half applied, and what
        others read is unchanged. Only for data that may be lost so: the per-minute rate
        counters, not billing data. PostgreSQL: ``synchronous_commit`` off for this transaction
        alone. SQLite in WAL mode with ``synchronous=NORMAL`` (how connections are opened here)
        commits so already.
        """
        if self.dialect == "postgresql":
            await session.execute(_UNFLUSHED_COMMIT)

    @asynccontextmanager
    async def sqlite_driver_transaction(self) -> AsyncIterator[Any]:
        """SQLite only: the driver's own connection (shared/db_sqlite.py's) in a write
        transaction (``BEGIN IMMEDIATE``), committed on success and rolled back on any error.

        For a hot path of a few fixed statements: SQLAlchemy's connection, transaction and
        result objects cost several times what SQLite spends running such statements. The
        statements' text and their parameters' stored forms (UUIDs, datetimes) are the
        caller's to get right; with WAL and ``synchronous=NORMAL`` (how connections are
        opened here), the commit does not wait for a flush. One connection serves these
        transactions, kept from first use like :meth:`fetch_prepared`'s: a checkout of
        SQLAlchemy's pool per call cost more than the statements.
        """
        if self.dialect != "sqlite" or self._held is None:
            raise RuntimeError("sqlite_driver_transaction is for SQLite databases")
        # A transaction still open after the block (its rollback failed or was interrupted)
        # would hold the write lock: that connection is discarded.
        async with _lent(self._held, lambda _: driver.in_transaction) as pooled:
            driver = pooled.driver_connection
            await driver.execute("BEGIN IMMEDIATE")
            try:
                yield driver
                await driver.commit()
            except BaseException:
                if driver.in_transaction:
                    await driver.rollback()
                raise

    @property
    def can_write_at_once(self) -> bool:
        """Whether :meth:`writing_at_once` has connections to give: SQLite, or PostgreSQL
        with unflushed connections (:attr:`has_unflushed_connections`)."""
        return self.dialect == "sqlite" or self.has_unflushed_connections

    @asynccontextmanager
    async def writing_at_once(self) -> AsyncIterator[DriverTransaction]:
        """A hot path's writes of data a database server crash may lose (the last moments'
        rate counters, say), on a driver connection that :func:`execute_prepared` runs
        statements on (a :class:`DriverTransaction`): on PostgreSQL an unflushed one where each
        statement commits on its own, with no BEGIN or COMMIT round trip
        (:meth:`unflushed_driver_connection`; write what must hold together as one statement),
        on SQLite the driver's in a write transaction committed after the block
        (:meth:`sqlite_driver_transaction`). Only where :attr:`can_write_at_once`."""
        dialect = self.engine.dialect
        if self.dialect == "sqlite":
            async with self.sqlite_driver_transaction() as sqlite:
                yield DriverTransaction(dialect, sqlite, None)
            return
        if self._unflushed_engine is None or self._held is None:
            raise RuntimeError("this database has no unflushed connections")
        # A statement's own error (a constraint, ...) leaves the connection usable; a broken
        # or cancelled exchange leaves it in an unknown state.
        async with _lent(self._held, self._broken_by) as pooled:
            yield DriverTransaction(dialect, pooled.driver_connection, pooled.dbapi_connection)

    @property
    def has_unflushed_connections(self) -> bool:
        """Whether :meth:`unflushed_driver_connection` has connections to give (PostgreSQL with
        an overflow to take them from)."""
        return self._unflushed_engine is not None

    @asynccontextmanager
    async def unflushed_driver_connection(self) -> AsyncIterator[Any]:
        """The driver's own connection (asyncpg's), out of a small pool of its own whose
        connections commit without waiting for the flush (``synchronous_commit`` off for the
        whole connection, as :meth:`commit_unflushed` does for one transaction), outside any
        transaction: each statement commits on its own unless the caller begins one. Only where
        :attr:`has_unflushed_connections`.

        For a hot path that writes in one statement: no BEGIN, ``SET LOCAL`` or COMMIT round trip,
        so the row locks the statement takes are released when it ends, not a round trip (and a
        turn of the event loop) later. The connections are held from first use
        (like :meth:`fetch_prepared`'s), so asyncpg prepares each statement text once per
        connection and process, and a call costs no checkout of SQLAlchemy's pool.
        The same loss on a server crash as :meth:`commit_unflushed`: only for such data. A
        connection that failed other than by a statement's own error (SQLSTATE) is discarded.
        """
        if self._unflushed_engine is None or self._held is None:
            raise RuntimeError("this database has no unflushed connections")
        # A statement's own error (a constraint, ...) leaves the connection usable; a broken
        # or cancelled exchange leaves it in an unknown state.
        async with _lent(self._held, self._broken_by) as pooled:
            yield pooled.driver_connection

    async def outside_transaction(self, work: Callable[[Connection], T]) -> T:
        """Runs ``work`` on a connection where each statement is its own transaction: no BEGIN,
        COMMIT or ROLLBACK round trips, and one hand-over to SQLAlchemy's sync core for the
        whole of ``work`` instead of one per statement.

        For the hot path's reads (a row by key, a tenant's limits): each statement sees the
        latest committed data, but two statements need not see the same snapshot, so anything
        that must be read consistently, or written, belongs in :meth:`reading` or
        :meth:`transaction`. ``work`` runs on the event loop and must not block it.
        """

        def run() -> T:
            with self._statement_at_a_time.connect() as connection:
                return work(connection)

        return await greenlet_spawn(run)

    async def fetch(
        self, statement: Executable, parameters: Mapping[str, Any] | None = None
    ) -> Sequence[Row[Any]]:
        """The rows of one read statement, run on its own (see :meth:`outside_transaction`)."""
        return await self.outside_transaction(
            lambda connection: connection.execute(statement, parameters).all()
        )

    async def fetch_prepared(
        self, read: PreparedRead, parameters: Mapping[str, Any] | None = None
    ) -> list[Any]:
        """The rows of ``read`` (named tuples), run on its own like :meth:`fetch` (each
        statement sees the latest committed data; no BEGIN or ROLLBACK), on the driver's
        connection: asyncpg prepares the statement once per connection, and SQLite runs it on
        the event loop (shared/db_sqlite.py). A driver's refusal of the statement is raised as
        SQLAlchemy raises it from :meth:`fetch` (a :class:`DBAPIError`); a connection that failed
        otherwise (dropped, cancelled mid-statement) is discarded.
        """
        compiled = read.compiled_for(self.engine.dialect)
        arguments = compiled.arguments(parameters or {})
        adapter = None
        try:
            async with _lent(self._readers, self._broken_by) as pooled:
                driver, adapter = pooled.driver_connection, pooled.dbapi_connection
                if self.dialect == "postgresql":
                    records = await driver.fetch(compiled.sql, *arguments)
                else:
                    cursor = await driver.execute(compiled.sql, arguments)
                    records = await cursor.fetchall()
                    await cursor.close()
        except Exception as error:
            if adapter is not None and self._statement_error(error):
                raise _as_sqlalchemy_error(
                    self.engine.dialect, compiled.sql, arguments, error, adapter
                ) from error
            raise
        return compiled.rows(records)

    def _broken_by(self, error: BaseException) -> bool:
        """Whether ``error`` leaves a driver connection in an unknown state (dropped, cancelled
        mid-statement), so that it must be discarded rather than used again."""
        return not self._statement_error(error)

    def _statement_error(self, error: BaseException) -> bool:
        """Whether the driver refused the statement itself, leaving its connection usable."""
        return _statement_error(self.dialect, error)

    def on_commit(self, tables: Iterable[Table | str], callback: Callable[[], None]) -> None:
        """Calls ``callback`` once a session's transaction that wrote a row of ``tables`` has
        ended (committed, or rolled back: calling it then costs a cache a reload, never a stale
        value): how a per-process cache of rarely changing rows (shared/ttl_cache.py) learns
        that this process changed them. The writes it sees are the ORM's (objects flushed, and
        ``insert``/``update``/``delete`` of a mapped class run by a session); Core statements
        on a connection (:meth:`core_transaction`) are not watched."""
        names = frozenset(table if isinstance(table, str) else table.name for table in tables)
        if not self._commit_watchers:
            self._listen_for_writes()
        self._commit_watchers.append((names, callback))

    def _listen_for_writes(self) -> None:
        def written(session: Session) -> set[str]:
            tables: set[str] = session.info.setdefault(_WRITTEN, set())
            return tables

        def after_flush(session: Session, _flush: UOWTransaction) -> None:
            tables = written(session)
            for instance in (*session.new, *session.dirty, *session.deleted):
                table = getattr(type(instance), "__table__", None)
                if table is not None:
                    tables.add(table.name)

        def do_orm_execute(state: ORMExecuteState) -> None:
            if state.is_insert or state.is_update or state.is_delete:
                table = getattr(state.statement, "table", None)
                if table is not None:
                    written(state.session).add(table.name)

        def after_transaction_end(session: Session, transaction: SessionTransaction) -> None:
            if transaction.parent is not None:  # a savepoint or subtransaction: not over yet
                return
            tables = session.info.pop(_WRITTEN, None)
            if not tables:
                return
            for watched, callback in self._commit_watchers:
                if watched & tables:
                    callback()

        event.listen(self._session_class, "after_flush", after_flush)
        event.listen(self._session_class, "do_orm_execute", do_orm_execute)
        event.listen(self._session_class, "after_transaction_end", after_transaction_end)

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        await self._readers.close()
        await self._writers.close()
        if self._held is not None:
            await self._held.close()
        await self.engine.dispose()
        if self._unflushed_engine is not None:
            await self._unflushed_engine.dispose()


def _statement_error(dialect: str, error: BaseException) -> bool:
    """Whether the driver refused the statement itself, leaving its connection usable."""
    if dialect == "postgresql":
        import asyncpg

        return isinstance(error, asyncpg.PostgresError) and not isinstance(
            error, asyncpg.PostgresConnectionError
        )
    return isinstance(error, sqlite3.Error)


async def execute_prepared(
    session: Transaction,
    statement: PreparedStatement,
    parameters: Mapping[str, Any] | None = None,
) -> PreparedResult:
    """Run ``statement`` inside ``session``'s transaction (a session of
    :meth:`Database.transaction` or :meth:`Database.reading`, or a connection of
    :meth:`Database.core_transaction`), on that transaction's own driver connection: compiled
    once, with no SQLAlchemy execution context, result or unit of work per call. Its rows (a
    SELECT, a RETURNING) and the count of rows it matched.

    A session with changes not flushed yet is flushed first, as its own ``execute`` would (so
    the statement sees them, in order). What the statement writes is not seen by the session's
    objects already loaded (as with ``synchronize_session=False``), nor by
    :meth:`Database.on_commit`'s watchers. A driver's refusal of the statement is raised as
    SQLAlchemy raises it (:class:`IntegrityError` for a constraint, ... with the driver's error
    as ``orig``), leaving the transaction to be rolled back as usual; a connection that failed
    otherwise (dropped, cancelled mid-statement) is invalidated.
    """
    connection, driver, dialect = await _driver_of(session)
    compiled = statement.compiled_for(dialect)
    arguments = compiled.arguments(parameters or {})
    if isinstance(connection, DriverTransaction):
        if dialect.name == "sqlite":
            return _run_holding_sqlite_lock(connection, compiled, arguments)
        return await _run_on_asyncpg(connection, compiled, arguments)
    async with _raising_as_sqlalchemy(connection, dialect, compiled.sql, arguments):
        if dialect.name == "postgresql":
            if compiled.row is not None:
                records = await driver.fetch(compiled.sql, *arguments)
                return PreparedResult(compiled.rows(records), len(records))
            status = await driver.execute(compiled.sql, *arguments)
            matched = _ROWCOUNT.search(status or "")
            return PreparedResult([], int(matched[1]) if matched else -1)
        cursor = await driver.execute(compiled.sql, arguments)
        try:
            if compiled.row is not None:
                records = await cursor.fetchall()
                return PreparedResult(compiled.rows(records), len(records))
            return PreparedResult([], cursor.rowcount)
        finally:
            await cursor.close()


async def _run_on_asyncpg(
    transaction: DriverTransaction, compiled: _CompiledRead, arguments: list[Any]
) -> PreparedResult:
    """A PostgreSQL driver transaction's statement, its errors as :func:`_raising_as_sqlalchemy`
    raises them (without the context manager's own cost, which a hot path's one-statement
    write felt)."""
    driver = transaction.driver
    try:
        if compiled.row is not None:
            records = await driver.fetch(compiled.sql, *arguments)
            return PreparedResult(compiled.rows(records), len(records))
        status = await driver.execute(compiled.sql, *arguments)
    except BaseException as error:
        if not _statement_error("postgresql", error):
            transaction.broken = True
            raise
        raise _as_sqlalchemy_error(
            transaction.dialect, compiled.sql, arguments, error, transaction.adapter
        ) from error
    matched = _ROWCOUNT.search(status or "")
    return PreparedResult([], int(matched[1]) if matched else -1)


def _run_holding_sqlite_lock(
    transaction: DriverTransaction, compiled: _CompiledRead, arguments: list[Any]
) -> PreparedResult:
    """A SQLite driver transaction's statement: its transaction holds the write lock (``BEGIN
    IMMEDIATE``), so no statement waits, and it runs at once on the stdlib connection, with no
    cursor object of the driver's and no turn of the event loop; errors as
    :func:`_raising_as_sqlalchemy` raises them."""
    try:
        cursor = transaction.driver.raw.execute(compiled.sql, arguments)
        if compiled.row is None:
            return PreparedResult([], cursor.rowcount)
        records = cursor.fetchall()
    except sqlite3.Error as error:
        raise _as_sqlalchemy_error(
            transaction.dialect, compiled.sql, arguments, error, None
        ) from error
    return PreparedResult(compiled.rows(records), len(records))


async def execute_prepared_many(
    session: Transaction,
    statement: PreparedStatement,
    parameters: Sequence[Mapping[str, Any]],
) -> None:
    """Run ``statement`` (a write without RETURNING) once per set of ``parameters``, in order,
    inside ``session``'s transaction, as :func:`execute_prepared` does: one round trip on
    PostgreSQL (asyncpg's ``executemany``), one call on SQLite."""
    if not parameters:
        return
    connection, driver, dialect = await _driver_of(session)
    compiled = statement.compiled_for(dialect)
    if compiled.row is not None:
        raise ValueError("execute_prepared_many runs writes that return no rows")
    arguments = [compiled.arguments(given) for given in parameters]
    async with _raising_as_sqlalchemy(connection, dialect, compiled.sql, arguments):
        if dialect.name == "postgresql":
            await driver.executemany(compiled.sql, arguments)
        else:
            cursor = await driver.executemany(compiled.sql, arguments)
            await cursor.close()


async def _driver_of(
    session: Transaction,
) -> tuple[AsyncConnection | DriverTransaction, Any, Dialect]:
    """The connection of ``session``'s transaction, its driver connection, begun, and its
    dialect: SQLite's began with the transaction (its BEGIN is SQLAlchemy's); asyncpg's
    adapter begins only at its first statement, so that is done here when none came yet
    (through its own method, with the isolation and read-only settings of the session). Found
    once per transaction of a session (kept in its ``info``). A driver transaction is its
    own connection, begun already."""
    if isinstance(session, DriverTransaction):
        return session, session.driver, session.dialect
    if isinstance(session, AsyncSession):
        sync = session.sync_session
        if sync.autoflush and not sync._is_clean():
            await session.flush()
        transaction = sync.get_transaction()
        kept = sync.info.get(_DRIVER)
        if kept is not None and transaction is not None and kept[0] is transaction:
            connection, raw = kept[1], kept[2]
        else:
            connection = await session.connection()
            raw = await connection.get_raw_connection()
            sync.info[_DRIVER] = (sync.get_transaction(), connection, raw)
    else:
        connection = session
        raw = await connection.get_raw_connection()
    dialect = connection.dialect
    # SQLAlchemy's asyncpg adapter begins lazily, at its first statement.
    if dialect.name == "postgresql" and not raw.dbapi_connection._started:
        await raw.dbapi_connection._start_transaction()
    return connection, raw.driver_connection, dialect


@contextlib.asynccontextmanager
async def _raising_as_sqlalchemy(
    connection: AsyncConnection | DriverTransaction, dialect: Dialect, sql: str, arguments: Any
) -> AsyncIterator[None]:
    """Around running ``sql`` on ``connection``'s driver connection: a statement's own refusal
    is raised as SQLAlchemy raises it (:func:`_as_sqlalchemy_error`); anything else as it came,
    after invalidating the connection (a driver transaction's is marked broken, and discarded
    when the transaction ends)."""
    try:
        yield
    except BaseException as error:
        if isinstance(connection, DriverTransaction):
            if not _statement_error(dialect.name, error):
                connection.broken = True
                raise
            raise _as_sqlalchemy_error(
                dialect, sql, arguments, error, connection.adapter
            ) from error
        if not _statement_error(dialect.name, error):
            with contextlib.suppress(Exception):
                await connection.invalidate(error if isinstance(error, Exception) else None)
            raise
        adapter = (await connection.get_raw_connection()).dbapi_connection
        raise _as_sqlalchemy_error(dialect, sql, arguments, error, adapter) from error


def _as_sqlalchemy_error(
    dialect: Dialect, sql: str, arguments: Any, error: BaseException, adapter: Any
) -> StatementError:
    """A driver's refusal of ``sql`` as SQLAlchemy raises it from a session: translated by the
    dialect's own rules (asyncpg's by its DB-API ``adapter``), so :class:`IntegrityError`,
    :class:`DataError`, ... and their ``orig`` are as from a session."""
    translated: BaseException = error
    if dialect.name == "postgresql":
        try:
            adapter._handle_exception(error)
        except Exception as mapped:  # noqa: BLE001 - the adapter raises its DB-API form
            translated = mapped
    return DBAPIError.instance(
        sql, arguments, cast(Exception, translated), dialect.loaded_dbapi.Error, dialect=dialect
    )


_SQLITE_UNIQUE = re.compile(r"UNIQUE constraint failed: (?P<cols>[\w., ]+)")
_PG_UNIQUE = re.compile(r'unique constraint "(?P<name>\w+)"')


def unique_violation(exc: IntegrityError, metadata: MetaData) -> tuple[str, ...] | None:
    """The columns of the unique constraint an insert or update broke, or None if it was another."""
    message = str(exc.orig)
    if match := _SQLITE_UNIQUE.search(message):
        return tuple(part.split(".")[-1].strip() for part in match["cols"].split(","))
    if match := _PG_UNIQUE.search(message):
        name = match["name"]
        for table in metadata.tables.values():
            for constraint in [*table.constraints, *table.indexes]:
                if (
                    isinstance(constraint, ColumnCollectionConstraint | Index)
                    and constraint.name == name
                ):
                    return tuple(col.name for col in constraint.columns)
    return None


#: ``session.info`` key: what :func:`call_after_commit` was given for the session's transaction.
_AFTER_COMMIT = "quarterdeck_after_commit"
#: The session classes :func:`call_after_commit` listens to (each once).
_HOOKED_FOR_COMMIT: set[type[Session]] = set()


def call_after_commit(session: Transaction, key: Hashable, callback: Callable[[], None]) -> None:
    """Call ``callback`` on the event loop once ``session``'s transaction commits (never if it
    rolls back); a second callback under the same ``key`` in the same transaction is dropped
    (a conversation's followers woken once, however many appends it made).

    One listener per session class, installed at its first use, reads the callbacks kept in
    the session's ``info``: an ``event.listen`` per call costs more CPU than the statements
    it follows. Each callback is scheduled with ``call_soon`` rather than called in the
    commit, so an error in one is the loop's, not the committed transaction's."""
    if isinstance(session, DriverTransaction):
        session._after_commit.setdefault(key, callback)
        return
    if not isinstance(session, AsyncSession):
        raise TypeError("call_after_commit watches a session's or a driver transaction's commit")
    sync = session.sync_session
    waiting: dict[Hashable, Callable[[], None]] | None = sync.info.get(_AFTER_COMMIT)
    if waiting is None:
        kind = type(sync)
        if kind not in _HOOKED_FOR_COMMIT:
            event.listen(kind, "after_commit", _committed)
            event.listen(kind, "after_transaction_end", _transaction_ended)
            _HOOKED_FOR_COMMIT.add(kind)
        waiting = sync.info[_AFTER_COMMIT] = {}
    waiting.setdefault(key, callback)


def _committed(session: Session) -> None:
    waiting = session.info.pop(_AFTER_COMMIT, None)
    if waiting:
        loop = asyncio.get_running_loop()
        for callback in waiting.values():
            loop.call_soon(callback)


def _transaction_ended(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:  # rolled back (a commit took them already)
        session.info.pop(_AFTER_COMMIT, None)


def rows_matched(result: Result[Any]) -> int:
    """How many rows an UPDATE or DELETE matched. ``session.execute`` is typed as returning a
    plain Result, but for those statements it is a CursorResult, which carries the count."""
    return cast(CursorResult[Any], result).rowcount
