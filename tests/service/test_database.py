"""The shared database access: read sessions that write nothing, SQLite reads without a thread
hop, and recovery from a connection the server dropped (no pre-ping on checkout)."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import uuid
from collections.abc import AsyncIterator
from datetime import UTC

import asyncpg
import pytest
from sqlalchemy import Insert, bindparam, event, func, insert, select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from services.tenancy.tenants.models import TenantRecord, TenantStatus
from shared.db import Database, PreparedRead
from tests.support.postgres import PostgresServer
from tests.support.stack import Databases


@pytest.fixture
async def database(databases: Databases, backend: str) -> AsyncIterator[Database]:
    db = Database(await databases.url(backend, "tenancy", "database"), pool_size=1)
    yield db
    await db.dispose()


def _statements(db: Database) -> list[str]:
    seen: list[str] = []

    def note(_conn, _cursor, statement, _params, _context, _many) -> None:  # type: ignore[no-untyped-def]
        seen.append(statement.strip().upper())

    event.listen(db.engine.sync_engine, "before_cursor_execute", note)
    return seen


async def _insert_tenant(session: AsyncSession, tenant_id: uuid.UUID) -> None:
    session.add(TenantRecord(id=tenant_id, slug=f"db-{tenant_id.hex[:12]}", name="T"))
    await session.flush()


async def _count_tenant(db: Database, tenant_id: uuid.UUID) -> int:
    async with db.reading() as session:
        return 0 if await session.get(TenantRecord, tenant_id) is None else 1


async def test_a_read_session_opens_no_write_transaction_and_keeps_no_write(
    database: Database,
) -> None:
    seen = _statements(database)
    async with database.reading() as session:
        await session.execute(text("SELECT count(*) FROM tenants"))
    assert not [s for s in seen if s.startswith(("BEGIN IMMEDIATE", "BEGIN EXCLUSIVE"))]

    tenant_id = uuid.uuid4()
    # The block is the read-only transaction under test, refused differently per backend.
    with pytest.raises(_WriteRefused):  # noqa: PT012
        async with database.reading() as session:
            try:
                await _insert_tenant(session, tenant_id)
            except DBAPIError as refused:  # PostgreSQL: a READ ONLY transaction refuses it
                assert "read-only" in str(refused).lower()  # noqa: PT017
            raise _WriteRefused  # SQLite: the write stays in the uncommitted transaction
    assert await _count_tenant(database, tenant_id) == 0

    async with database.transaction() as session:
        await _insert_tenant(session, tenant_id)
    assert await _count_tenant(database, tenant_id) == 1


class _WriteRefused(Exception):
    pass


async def test_a_core_transaction_commits_on_success_and_rolls_back_on_error(
    database: Database, backend: str
) -> None:
    seen = _statements(database)
    kept, dropped = uuid.uuid4(), uuid.uuid4()

    def insert_tenant(tenant_id: uuid.UUID) -> Insert:
        return insert(TenantRecord).values(id=tenant_id, slug=f"db-{tenant_id.hex[:12]}", name="T")

    async with database.core_transaction() as connection:
        # Unflushed (PostgreSQL: synchronous_commit off for this transaction) is still kept.
        await database.commit_unflushed(connection)
        await connection.execute(insert_tenant(kept))
    with pytest.raises(_WriteRefused):  # noqa: PT012
        async with database.core_transaction() as connection:
            await connection.execute(insert_tenant(dropped))
            raise _WriteRefused
    assert await _count_tenant(database, kept) == 1
    assert await _count_tenant(database, dropped) == 0
    if backend == "sqlite":
        # The write lock is taken up front, as in transaction().
        assert seen.count("BEGIN IMMEDIATE") == 2


async def test_on_commit_hears_the_orm_writes_of_the_watched_tables_once_they_end(
    database: Database,
) -> None:
    heard: list[str] = []
    database.on_commit([TenantRecord.__table__.name], lambda: heard.append("tenants"))
    database.on_commit(["tenant_settings"], lambda: heard.append("settings"))
    tenant_id = uuid.uuid4()
    async with database.transaction() as session:
        await _insert_tenant(session, tenant_id)  # a flushed object
        assert heard == []  # not before the transaction is over
    assert heard == ["tenants"]
    async with database.transaction() as session:  # an ORM UPDATE statement
        await session.execute(
            update(TenantRecord).where(TenantRecord.id == tenant_id).values(name="Renamed")
        )
    assert heard == ["tenants", "tenants"]
    with pytest.raises(_WriteRefused):  # noqa: PT012 - rolled back: heard as well (a reload)
        async with database.transaction() as session:
            row = await session.get(TenantRecord, tenant_id)
            assert row is not None
            row.name = "Again"
            await session.flush()
            raise _WriteRefused
    assert heard == ["tenants"] * 3
    async with database.reading() as session:  # reads are not writes
        await session.get(TenantRecord, tenant_id)
    async with database.core_transaction() as connection:  # Core is not watched
        await connection.execute(
            update(TenantRecord).where(TenantRecord.id == tenant_id).values(name="Core")
        )
    assert heard == ["tenants"] * 3


#: How asyncpg reports a connection the server dropped, depending on when it notices.
DROPPED = (
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.InternalClientError,
    OSError,
)
_TENANTS = TenantRecord.__table__
#: A key, a literal fixed in the statement and a default (LIMIT): every kind of parameter.
_ACTIVE_TENANT = PreparedRead(
    select(*_TENANTS.columns)
    .where(_TENANTS.c.id == bindparam("id"), _TENANTS.c.status == "active")
    .limit(1)
)


async def test_a_prepared_read_returns_the_rows_fetch_returns_and_sees_every_commit(
    database: Database, backend: str
) -> None:
    seen = _statements(database)
    tenant_id = uuid.uuid4()
    assert await database.fetch_prepared(_ACTIVE_TENANT, {"id": tenant_id}) == []
    async with database.transaction() as session:
        await _insert_tenant(session, tenant_id)
    seen.clear()
    [row] = await database.fetch_prepared(_ACTIVE_TENANT, {"id": tenant_id})
    assert seen == []  # on the driver's connection: no SQLAlchemy statement, BEGIN or ROLLBACK
    # Typed alike (a UUID, the enum, UTC datetimes), by name and by position.
    assert tuple(row) == tuple(
        (await database.fetch(_ACTIVE_TENANT.statement, {"id": tenant_id}))[0]
    )
    assert row.id == tenant_id and row.status is TenantStatus.ACTIVE
    assert row.created_at.tzinfo is UTC
    async with database.transaction() as session:
        await session.execute(
            update(TenantRecord)
            .where(TenantRecord.id == tenant_id)
            .values(status=TenantStatus.SUSPENDED)
        )
    assert await database.fetch_prepared(_ACTIVE_TENANT, {"id": tenant_id}) == []

    with pytest.raises(ValueError, match="'id' has no value"):
        await database.fetch_prepared(_ACTIVE_TENANT, {})
    with pytest.raises(ValueError, match="expanding"):
        await database.fetch_prepared(
            PreparedRead(select(_TENANTS.c.id).where(_TENANTS.c.id.in_(bindparam("ids")))),
            {"ids": [tenant_id]},
        )
    # The driver's refusal of a statement is SQLAlchemy's DBAPIError, as from fetch(); the
    # connection stays usable.
    with pytest.raises(DBAPIError):
        await database.fetch_prepared(PreparedRead(select(text("* FROM no_such_table"))))
    assert len(await database.fetch_prepared(_ACTIVE_TENANT, {"id": uuid.uuid4()})) == 0


async def test_prepared_reads_keep_connections_without_starving_the_pool(
    databases: Databases, backend: str
) -> None:
    url = await databases.url(backend, "tenancy", "database")
    tenant_id = uuid.uuid4()
    # A pool of one: nothing is kept out of it, so a session still gets its connection.
    small = Database(url, pool_size=1, max_overflow=0)
    try:
        async with small.transaction() as session:
            await _insert_tenant(session, tenant_id)
        reads = [small.fetch_prepared(_ACTIVE_TENANT, {"id": tenant_id}) for _ in range(5)]
        assert [len(rows) for rows in await asyncio.gather(*reads)] == [1] * 5
        assert await _count_tenant(small, tenant_id) == 1
    finally:
        await small.dispose()
    database = Database(url, pool_size=4, max_overflow=0)
    try:
        reads = [database.fetch_prepared(_ACTIVE_TENANT, {"id": tenant_id}) for _ in range(8)]
        assert [len(rows) for rows in await asyncio.gather(*reads)] == [1] * 8
        if backend == "postgresql":  # half the pool at most is kept between reads
            assert database.engine.sync_engine.pool.checkedout() <= 2  # type: ignore[attr-defined]
        assert await _count_tenant(database, tenant_id) == 1
    finally:
        await database.dispose()


async def test_a_prepared_read_replaces_a_connection_the_server_dropped(
    databases: Databases, postgres: PostgresServer
) -> None:
    database = Database(
        await databases.url("postgresql", "tenancy", "database"), pool_size=2, max_overflow=0
    )
    backend_pid = PreparedRead(select(func.pg_backend_pid().label("pid")))
    admin = await asyncpg.connect(
        postgres.admin_url.set(drivername="postgresql").render_as_string(hide_password=False)
    )
    try:
        [(first_pid,)] = await database.fetch_prepared(backend_pid)
        assert [(first_pid,)] == await database.fetch_prepared(backend_pid)  # the one kept
        await admin.execute("SELECT pg_terminate_backend($1)", first_pid)
        await _wait_until_gone(admin, first_pid)
        # Replaced before its next use if asyncpg noticed the close already; else the read that
        # meets it fails, discards it, and the next read gets a new one.
        try:
            rows = await database.fetch_prepared(backend_pid)
        except DROPPED:
            rows = await database.fetch_prepared(backend_pid)
        [(second_pid,)] = rows
        assert second_pid != first_pid
    finally:
        await admin.close()
        await database.dispose()


async def test_sqlite_reads_run_on_the_event_loop_and_writes_take_the_lock_elsewhere(
    databases: Databases,
) -> None:
    database = Database(await databases.url("sqlite", "tenancy", "database"))
    seen = _statements(database)

    @event.listens_for(database.engine.sync_engine, "connect")
    def add_thread_function(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
        dbapi_connection.create_function("current_thread", 0, threading.get_ident)

    loop_thread = threading.get_ident()
    try:
        async with database.reading() as session:
            read_on = await session.scalar(text("SELECT current_thread()"))
        async with database.transaction() as session:
            await _insert_tenant(session, uuid.uuid4())
            in_write_on = await session.scalar(text("SELECT current_thread()"))
    finally:
        await database.dispose()
    assert read_on == loop_thread
    # Once the transaction holds the write lock, its statements cannot wait: inline as well.
    assert in_write_on == loop_thread
    assert "BEGIN IMMEDIATE" in seen and "BEGIN DEFERRED" in seen


async def test_sqlite_concurrent_writers_all_commit(databases: Databases) -> None:
    database = Database(await databases.url("sqlite", "tenancy", "database"))
    ids = [uuid.uuid4() for _ in range(20)]

    async def write(tenant_id: uuid.UUID) -> None:
        async with database.transaction() as session:
            await _insert_tenant(session, tenant_id)
            await asyncio.sleep(0)  # hold the write lock across a yield to the loop

    try:
        await asyncio.gather(*(write(tenant_id) for tenant_id in ids))
        assert [await _count_tenant(database, tenant_id) for tenant_id in ids] == [1] * len(ids)
    finally:
        await database.dispose()


async def _wait_until_gone(admin: asyncpg.Connection, pid: int) -> None:
    for _ in range(500):
        if not await admin.fetchval("SELECT count(*) FROM pg_stat_activity WHERE pid = $1", pid):
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"backend {pid} still listed 5s after pg_terminate_backend")


async def test_a_connection_the_server_dropped_is_replaced_by_the_next_call(
    databases: Databases, postgres: PostgresServer
) -> None:
    database = Database(
        await databases.url("postgresql", "tenancy", "database"), pool_size=1, max_overflow=0
    )
    admin = await asyncpg.connect(
        postgres.admin_url.set(drivername="postgresql").render_as_string(hide_password=False)
    )
    try:
        async with database.reading() as session:
            first_pid = await session.scalar(text("SELECT pg_backend_pid()"))
        await admin.execute("SELECT pg_terminate_backend($1)", first_pid)
        await _wait_until_gone(admin, first_pid)

        with pytest.raises(DBAPIError) as dropped:
            async with database.reading() as session:
                await session.execute(text("SELECT 1"))
        assert dropped.value.connection_invalidated

        async with database.reading() as session:
            second_pid = await session.scalar(text("SELECT pg_backend_pid()"))
        assert second_pid != first_pid
    finally:
        await admin.close()
        await database.dispose()


async def test_unflushed_driver_connections_commit_each_statement_unflushed_within_the_budget(
    databases: Databases, postgres: PostgresServer
) -> None:
    url = await databases.url("postgresql", "tenancy", "database")
    without = Database(url, pool_size=1, max_overflow=0, unflushed_pool_size=2)
    assert not without.has_unflushed_connections  # no overflow to take them from
    await without.dispose()
    database = Database(url, pool_size=1, max_overflow=3, unflushed_pool_size=2)
    admin = await asyncpg.connect(
        postgres.admin_url.set(drivername="postgresql").render_as_string(hide_password=False)
    )
    tenant_id = uuid.uuid4()
    try:
        # Taken out of the overflow: the process still opens pool_size + max_overflow at most.
        assert database.engine.pool.size() + database.engine.pool._max_overflow == 2  # type: ignore[attr-defined]
        async with database.unflushed_driver_connection() as connection:
            assert await connection.fetchval("SHOW synchronous_commit") == "off"
            await connection.execute(
                "INSERT INTO tenants (id, slug, name, status, version, created_at, updated_at) "
                "VALUES ($1, $2, 'T', 'active', 1, now(), now())",
                tenant_id,
                f"db-{tenant_id.hex[:12]}",
            )
            pid = await connection.fetchval("SELECT pg_backend_pid()")
        assert await _count_tenant(database, tenant_id) == 1  # committed on its own
        async with database.reading() as session:  # the main pool's commits stay flushed
            assert await session.scalar(text("SHOW synchronous_commit")) == "on"

        # A statement's own error leaves the connection in the pool; a dropped one is replaced.
        with pytest.raises(asyncpg.UniqueViolationError):
            async with database.unflushed_driver_connection() as connection:
                await connection.execute(
                    "INSERT INTO tenants (id, slug, name, status, version, created_at, updated_at) "
                    "VALUES ($1, 'x', 'T', 'active', 1, now(), now())",
                    tenant_id,
                )
        await admin.execute("SELECT pg_terminate_backend($1)", pid)
        await _wait_until_gone(admin, pid)
        # The connections are kept between calls: one the server dropped is replaced before its
        # next use if asyncpg noticed already, else the statement that meets it fails with one
        # of these (depending on when it notices) and the next call gets a new one.
        with contextlib.suppress(*DROPPED):
            async with database.unflushed_driver_connection() as connection:
                await connection.fetchval("SELECT 1")
        async with database.unflushed_driver_connection() as connection:
            assert await connection.fetchval("SELECT pg_backend_pid()") != pid
    finally:
        await admin.close()
        await database.dispose()


async def test_a_sqlite_driver_transaction_commits_on_success_and_rolls_back_on_error(
    databases: Databases,
) -> None:
    database = Database(await databases.url("sqlite", "tenancy", "database"))
    kept, dropped = uuid.uuid4(), uuid.uuid4()
    insert_tenant = (
        "INSERT INTO tenants (id, slug, name, status, version, created_at, updated_at) "
        "VALUES (?, ?, 'T', 'active', 1, '2026-01-01 00:00:00.000000', "
        "'2026-01-01 00:00:00.000000')"
    )
    try:
        async with database.sqlite_driver_transaction() as connection:
            assert connection.in_transaction  # BEGIN IMMEDIATE: the write lock is held
            await connection.execute(insert_tenant, (kept.hex, f"db-{kept.hex[:12]}"))
        with pytest.raises(_WriteRefused):  # noqa: PT012
            async with database.sqlite_driver_transaction() as connection:
                await connection.execute(insert_tenant, (dropped.hex, f"db-{dropped.hex[:12]}"))
                raise _WriteRefused
        assert await _count_tenant(database, kept) == 1  # read back through the ORM alike
        assert await _count_tenant(database, dropped) == 0
        async with database.sqlite_driver_transaction() as connection:  # none left open
            assert connection.in_transaction
    finally:
        await database.dispose()
