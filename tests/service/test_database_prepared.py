"""Prepared statements inside the caller's transaction (``shared.db.execute_prepared``): writes
with and without RETURNING, compiled once and run on the transaction's own driver connection,
typed by their columns, rolled back with it, refused as SQLAlchemy refuses, on both databases."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import Float, Numeric, bindparam, cast, delete, event, func, insert, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError

from services.tenancy.models import Base
from services.tenancy.tenants.models import TenantRecord, TenantStatus
from shared.db import (
    Database,
    PreparedRead,
    PreparedStatement,
    execute_prepared,
    execute_prepared_many,
    unique_violation,
)
from shared.db_errors import input_error_of
from tests.support.stack import Databases

_TENANTS = TenantRecord.__table__
_C = _TENANTS.c


def _typed(name: str) -> object:
    return bindparam(name, type_=_C[name].type)


_INSERT = PreparedStatement(
    insert(_TENANTS).values(
        {
            name: _typed(name)
            for name in ("id", "slug", "name", "status", "version", "created_at", "updated_at")
        }
    )
)
_INSERT_RETURNING = PreparedStatement(
    insert(_TENANTS)
    .values(
        {
            name: _typed(name)
            for name in ("id", "slug", "name", "status", "version", "created_at", "updated_at")
        }
    )
    .returning(_C.id, _C.status, _C.created_at)
)
_RENAME = PreparedStatement(
    update(_TENANTS).where(_C.id == _typed("id")).values(name=_typed("name"))
)
_SUSPEND = PreparedStatement(
    update(_TENANTS)
    .where(_C.id == _typed("id"), _C.status == TenantStatus.ACTIVE)
    .values(status=TenantStatus.SUSPENDED, version=_C.version + 1)
    .returning(_C.id, _C.status, _C.version, _C.updated_at)
)
_DELETE = PreparedStatement(delete(_TENANTS).where(_C.id == _typed("id")))
_NAME = PreparedRead(select(_C.name).where(_C.id == _typed("id")).with_for_update())


@pytest.fixture
async def database(databases: Databases, backend: str) -> AsyncIterator[Database]:
    db = Database(await databases.url(backend, "tenancy", "database"), pool_size=2)
    yield db
    await db.dispose()


def _tenant(tenant_id: uuid.UUID, **given: object) -> dict[str, object]:
    now = datetime.now(UTC)
    return {
        "id": tenant_id,
        "slug": f"prep-{tenant_id.hex[:12]}",
        "name": "T",
        "status": TenantStatus.ACTIVE,
        "version": 1,
        "created_at": now,
        "updated_at": now,
        **given,
    }


async def _names(db: Database, *ids: uuid.UUID) -> dict[uuid.UUID, str]:
    async with db.reading() as session:
        rows = (await session.execute(select(_C.id, _C.name).where(_C.id.in_(ids)))).all()
    return {row.id: row.name for row in rows}


def _sqlalchemy_statements(db: Database) -> list[str]:
    seen: list[str] = []

    def note(_conn, _cursor, statement, _params, _context, _many) -> None:  # type: ignore[no-untyped-def]
        seen.append(statement.strip().split()[0].upper())

    event.listen(db.engine.sync_engine, "before_cursor_execute", note)
    return seen


async def test_writes_run_in_the_callers_transaction_typed_by_their_columns(
    database: Database,
) -> None:
    first, second = uuid.uuid4(), uuid.uuid4()
    seen = _sqlalchemy_statements(database)
    async with database.transaction() as session:
        # The first statement of the transaction: on PostgreSQL it begins asyncpg's.
        plain = await execute_prepared(session, _INSERT, _tenant(first))
        assert plain.rows == [] and plain.rowcount == 1
        [row] = (await execute_prepared(session, _INSERT_RETURNING, _tenant(second))).rows
        assert row.id == second and row.status is TenantStatus.ACTIVE
        assert row.created_at.tzinfo is UTC
        # Seen by the session's own reads in the same transaction, and by a prepared read.
        assert await session.scalar(select(_C.name).where(_C.id == first)) == "T"
        [named] = (await execute_prepared(session, _NAME, {"id": second})).rows
        assert named.name == "T"
        [suspended] = (await execute_prepared(session, _SUSPEND, {"id": first})).rows
        assert suspended.status is TenantStatus.SUSPENDED and suspended.version == 2
        again = await execute_prepared(session, _SUSPEND, {"id": first})
        assert again.rows == [] and again.first() is None
        assert (await execute_prepared(session, _RENAME, {"id": first, "name": "U"})) == (
            type(plain)([], 1)
        )
        missing = await execute_prepared(session, _RENAME, {"id": uuid.uuid4(), "name": "V"})
        assert missing.rowcount == 0
    # No SQLAlchemy statement but the session's one read, its BEGIN (SQLite) and none else.
    assert [s for s in seen if s not in ("BEGIN",)] == ["SELECT"]
    assert await _names(database, first, second) == {first: "U", second: "T"}

    # Rolled back with the transaction, as any of its statements.
    async def abandoned() -> None:
        async with database.transaction() as session:
            await execute_prepared(session, _RENAME, {"id": first, "name": "gone"})
            await execute_prepared(session, _DELETE, {"id": second})
            raise RuntimeError("abandon")

    with pytest.raises(RuntimeError):
        await abandoned()
    assert await _names(database, first, second) == {first: "U", second: "T"}


async def test_many_rows_in_one_call_and_a_session_flushed_first(database: Database) -> None:
    ids = [uuid.uuid4() for _ in range(3)]
    flushed = uuid.uuid4()
    async with database.transaction() as session:
        # An object added and not flushed yet is written before the statement, as the
        # session's own execute would (the rename below finds it).
        session.add(TenantRecord(id=flushed, slug=f"prep-{flushed.hex[:12]}", name="T"))
        await execute_prepared_many(session, _INSERT, [_tenant(i) for i in ids])
        renamed = await execute_prepared(session, _RENAME, {"id": flushed, "name": "F"})
        assert renamed.rowcount == 1
        await execute_prepared_many(session, _INSERT, [])
    assert await _names(database, flushed, *ids) == {flushed: "F", **dict.fromkeys(ids, "T")}
    with pytest.raises(ValueError, match="return no rows"):
        async with database.transaction() as session:
            await execute_prepared_many(session, _INSERT_RETURNING, [_tenant(ids[0])])


async def test_a_core_transaction_takes_them_too(database: Database) -> None:
    tenant_id = uuid.uuid4()
    async with database.core_transaction() as connection:
        await execute_prepared(connection, _INSERT, _tenant(tenant_id))
        await execute_prepared(connection, _RENAME, {"id": tenant_id, "name": "C"})
    assert await _names(database, tenant_id) == {tenant_id: "C"}


async def test_refusals_are_raised_as_sqlalchemy_raises_them(
    database: Database, backend: str
) -> None:
    tenant_id = uuid.uuid4()
    async with database.transaction() as session:
        await execute_prepared(session, _INSERT, _tenant(tenant_id))
    # A constraint: IntegrityError, whose columns unique_violation names, as from a session.
    with pytest.raises(IntegrityError) as refused:
        async with database.transaction() as session:
            await execute_prepared(session, _INSERT, _tenant(tenant_id, slug="prep-id"))
    assert unique_violation(refused.value, Base.metadata) == ("id",)
    with pytest.raises(IntegrityError) as refused:
        async with database.transaction() as session:
            await execute_prepared_many(
                session,
                _INSERT,
                [_tenant(uuid.uuid4(), slug="prep-same"), _tenant(uuid.uuid4(), slug="prep-same")],
            )
    assert unique_violation(refused.value, Base.metadata) == ("slug",)
    # Text PostgreSQL cannot store is the caller's input (INVALID_ARGUMENT), not INTERNAL
    # (SQLite stores a NUL in a bound value as given).
    if backend == "postgresql":
        with pytest.raises(DBAPIError) as refused_text:
            async with database.transaction() as session:
                await execute_prepared(session, _RENAME, {"id": tenant_id, "name": "a\x00b"})
        error = input_error_of(refused_text.value)
        assert error is not None and error.reason == "NUL_CHARACTER"
    # Every refusal rolled its transaction back and left the pool usable.
    assert await _names(database, tenant_id) == {tenant_id: "T"}
    with pytest.raises(ValueError, match="'name' has no value"):
        async with database.transaction() as session:
            await execute_prepared(session, _RENAME, {"id": tenant_id})


async def test_a_statement_cancelled_midway_leaves_a_usable_pool(
    database: Database, backend: str
) -> None:
    if backend != "postgresql":
        pytest.skip("SQLite runs a held transaction's statements without suspending")
    tenant_id = uuid.uuid4()
    slow = PreparedRead(select(func.pg_sleep(bindparam("seconds", type_=Float()))))
    started = asyncio.Event()

    async def cancelled_midway() -> None:
        async with database.transaction() as session:
            await execute_prepared(session, _INSERT, _tenant(tenant_id))
            started.set()
            await execute_prepared(session, slow, {"seconds": 30.0})

    task = asyncio.ensure_future(cancelled_midway())
    await started.wait()
    await asyncio.sleep(0.2)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    # Nothing of the cancelled transaction kept; its connection dropped, the next one works.
    assert await _names(database, tenant_id) == {}
    async with database.transaction() as session:
        await execute_prepared(session, _INSERT, _tenant(tenant_id))
    assert await _names(database, tenant_id) == {tenant_id: "T"}


async def test_float_and_decimal_columns_come_back_as_their_types_say(database: Database) -> None:
    # asyncpg's numeric types pick their result processing by the column's reported type.
    numbers = PreparedRead(
        select(
            cast(bindparam("f", type_=Float()), Float()).label("f"),
            cast(bindparam("d", type_=Numeric(10, 2)), Numeric(10, 2)).label("d"),
        )
    )
    [row] = await database.fetch_prepared(numbers, {"f": 0.25, "d": Decimal("1.50")})
    assert isinstance(row.f, float) and row.f == 0.25
    assert isinstance(row.d, Decimal) and row.d == Decimal("1.50")
    async with database.transaction() as session:
        [again] = (await execute_prepared(session, numbers, {"f": 0.5, "d": Decimal(2)})).rows
    assert (again.f, again.d) == (0.5, Decimal(2))
