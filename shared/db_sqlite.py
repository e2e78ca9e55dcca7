"""SQLite connections for SQLAlchemy's async engine without a thread hop per query.

aiosqlite runs every call (cursor, execute, fetch, close, commit) on the connection's thread and
wakes the event loop for each answer: a point read costs about a dozen hops and milliseconds,
against tens of microseconds for the query itself. These connections keep the aiosqlite
dialect's interface but run a statement on the event loop whenever it cannot wait for a lock:

- in WAL mode a reader never waits for a writer, so ``SELECT`` (and a deferred ``BEGIN``,
  ``COMMIT`` or ``ROLLBACK``, which take no lock) runs inline;
- a statement that may wait for the write lock (``BEGIN IMMEDIATE``, a write outside a
  transaction that already holds it) runs on the connection's own thread, so the busy timeout
  never blocks the loop and other coroutines can finish the transaction that holds the lock;
  ``BEGIN IMMEDIATE`` is first tried inline without waiting (busy timeout 0), since the lock is
  usually free, and goes to the thread only when it is taken;
- once the transaction holds the write lock, its statements run inline too.

Rows are fetched with the statement, in the same step. Reads that scan a lot block the loop
for as long as they take; this is the embedded default for small deployments.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial
from typing import Any

#: Statements after which the transaction holds the write lock.
_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE", "CREATE", "DROP", "ALTER")
#: How long a statement waits for a lock another connection holds, on the connection's thread.
BUSY_TIMEOUT_MS = 10_000
_TAKES_WRITE_LOCK = ("BEGIN IMMEDIATE", "BEGIN EXCLUSIVE")
#: Primary result codes of a lock held elsewhere (extended codes carry them in the low byte).
_LOCKED_CODES = frozenset({sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED})
#: Statements that take no lock, or only a WAL read mark.
_LOCK_FREE = frozenset({"BEGIN", "BEGIN DEFERRED", "COMMIT", "ROLLBACK", "END", "CLOSE"})


def _head(statement: str) -> str:
    return statement.lstrip()[:16].upper()


class InlineSqliteCursor:
    """The cursor interface the aiosqlite dialect awaits, answered without a hop where safe."""

    def __init__(self, connection: InlineSqliteConnection) -> None:
        self._connection = connection
        self._cursor = connection.raw.cursor()
        self._rows: list[Any] = []
        self.description: Any = None
        self.rowcount = -1
        self.lastrowid: int | None = None
        self.arraysize = 1

    def _run(self, operation: str, parameters: Any, many: bool) -> None:
        cursor = self._cursor
        try:
            if many:
                cursor.executemany(operation, parameters)
            else:
                cursor.execute(operation, parameters)
            self.description = cursor.description
            self._rows = cursor.fetchall() if cursor.description else []
            self.rowcount = cursor.rowcount
            self.lastrowid = cursor.lastrowid
        finally:
            self._connection.note_executed(operation)

    async def execute(self, operation: str, parameters: Any = ()) -> InlineSqliteCursor:
        await self._connection.run(operation, partial(self._run, operation, parameters, False))
        return self

    async def executemany(self, operation: str, parameters: Sequence[Any]) -> InlineSqliteCursor:
        await self._connection.run(operation, partial(self._run, operation, parameters, True))
        return self

    async def fetchall(self) -> list[Any]:
        rows, self._rows = self._rows, []
        return rows

    async def fetchone(self) -> Any:
        return self._rows.pop(0) if self._rows else None

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        size = size or self.arraysize
        rows, self._rows = self._rows[:size], self._rows[size:]
        return rows

    async def close(self) -> None:
        self._cursor.close()


class _IsolationQueue:
    """What the dialect's isolation-level setter puts its work on (aiosqlite's ``_tx``)."""

    def put_nowait(self, item: tuple[asyncio.Future[Any], Callable[[], None]]) -> None:
        future, function = item
        try:
            function()
        except Exception as exc:  # noqa: BLE001 - handed to the awaiting caller, not swallowed
            future.set_exception(exc)
        else:
            future.set_result(None)


class InlineSqliteConnection:
    """An aiosqlite-compatible connection: one stdlib connection and one thread of its own."""

    def __init__(self, raw: sqlite3.Connection, executor: ThreadPoolExecutor, wal: bool) -> None:
        self.raw = raw
        self._executor = executor
        #: Only WAL lets readers run beside a writer without waiting.
        self._inline_reads = wal
        self._holds_write_lock = False
        #: The last work handed to the thread: while it runs (even for a caller that was
        #: cancelled meanwhile), everything else queues behind it there, since touching the
        #: connection from the loop would block the loop until that work is done.
        self._in_thread: Future[None] | None = None
        self._tx = _IsolationQueue()

    @property
    def _conn(self) -> sqlite3.Connection:
        return self.raw

    @property
    def isolation_level(self) -> str | None:
        return self.raw.isolation_level

    @property
    def in_transaction(self) -> bool:
        return self.raw.in_transaction

    def _thread_busy(self) -> bool:
        return self._in_thread is not None and not self._in_thread.done()

    def _runs_inline(self, statement: str) -> bool:
        if not self._inline_reads or self._thread_busy():
            return False
        if self._holds_write_lock:
            return True
        head = _head(statement)
        return head.startswith("SELECT") or head.rstrip(" ;") in _LOCK_FREE

    def note_executed(self, statement: str) -> None:
        if not self.raw.in_transaction:
            self._holds_write_lock = False
        elif not self._holds_write_lock:
            head = _head(statement)
            self._holds_write_lock = head.startswith(_WRITES) or head.startswith(_TAKES_WRITE_LOCK)

    def _took_write_lock_at_once(self, statement: str, work: Callable[[], None]) -> bool:
        """Runs ``BEGIN IMMEDIATE`` inline if the write lock is free right now: a thread hop
        costs more than the statement. False (nothing begun) when another connection holds it."""
        if not self._inline_reads or self._thread_busy() or self.raw.in_transaction:
            return False
        if not _head(statement).startswith(_TAKES_WRITE_LOCK):
            return False
        self.raw.execute("PRAGMA busy_timeout=0")
        try:
            work()
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode & 0xFF not in _LOCKED_CODES:
                raise
            return False
        finally:
            self.raw.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        return True

    async def run(self, statement: str, work: Callable[[], None]) -> None:
        if self._runs_inline(statement):
            work()
        elif not self._took_write_lock_at_once(statement, work):
            self._in_thread = self._executor.submit(work)
            await asyncio.wrap_future(self._in_thread)

    async def cursor(self) -> InlineSqliteCursor:
        return InlineSqliteCursor(self)

    async def execute(self, operation: str, parameters: Any = ()) -> InlineSqliteCursor:
        cursor = InlineSqliteCursor(self)
        return await cursor.execute(operation, parameters)

    async def executemany(self, operation: str, parameters: Sequence[Any]) -> InlineSqliteCursor:
        cursor = InlineSqliteCursor(self)
        return await cursor.executemany(operation, parameters)

    async def create_function(self, *args: Any, **kwargs: Any) -> None:
        self.raw.create_function(*args, **kwargs)

    async def commit(self) -> None:
        await self.run("COMMIT", self._commit)

    def _commit(self) -> None:
        self.raw.commit()
        self._holds_write_lock = False

    async def rollback(self) -> None:
        await self.run("ROLLBACK", self._rollback)

    def _rollback(self) -> None:
        self.raw.rollback()
        self._holds_write_lock = False

    async def close(self) -> None:
        await self.run("CLOSE", self.raw.close)
        self._executor.shutdown(wait=False)

    def stop(self) -> None:
        """Close without waiting: on the thread, behind whatever it is still doing."""
        if self._thread_busy():
            self._executor.submit(self.raw.close)
        else:
            self.raw.close()
        self._executor.shutdown(wait=False)


def _open(database: str, uri: bool) -> tuple[sqlite3.Connection, bool]:
    # SQLAlchemy emits BEGIN itself, so the driver must not (isolation_level=None).
    raw = sqlite3.connect(database, uri=uri, isolation_level=None, check_same_thread=False)
    # The busy timeout goes first: switching to WAL needs a lock, and connections opened at the
    # same moment would otherwise fail at once with "database is locked".
    raw.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    raw.execute("PRAGMA foreign_keys=ON")
    mode = raw.execute("PRAGMA journal_mode=WAL").fetchone()[0]
    raw.execute("PRAGMA synchronous=NORMAL")
    return raw, str(mode).lower() == "wal"


def inline_sqlite_creator(database: str, uri: bool = False) -> Callable[[], Any]:
    """The ``async_creator`` of an engine on the ``sqlite+aiosqlite`` dialect."""

    async def connect() -> InlineSqliteConnection:
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite")
        # Opened on the connection's thread: switching to WAL may wait for a lock.
        raw, wal = await asyncio.get_running_loop().run_in_executor(executor, _open, database, uri)
        return InlineSqliteConnection(raw, executor, wal)

    return connect
