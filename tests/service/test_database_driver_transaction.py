"""A transaction on a driver connection (``shared.db.Database.driver_transaction``): prepared
statements run in it as in a session's, committed or rolled back with it, refused as SQLAlchemy
refuses, the commit heard by ``call_after_commit``; a connection left in an unknown state is
discarded, one that is not is used again; on both databases."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import cast

import pytest
from sqlalchemy import Float, Table, bindparam, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from services.tenancy.tenants.models import TenantRecord, TenantStatus
from shared.db import (
    Database,
    PreparedRead,
    PreparedStatement,
    call_after_commit,
    execute_prepared,
    execute_prepared_many,
)
from tests.support.stack import Databases

_TENANTS = cast(Table, TenantRecord.__table__)
_C = _TENANTS.c


def _typed(name: str) -> object:
    return bindparam(name, type_=_C[name].type)


_COLUMNS = ("id", "slug", "name", "status", "version", "created_at", "updated_at")
_INSERT = PreparedStatement(insert(_TENANTS).values({name: _typed(name) for name in _COLUMNS}))
_RENAME = PreparedStatement(
    update(_TENANTS)
    .where(_C.id == _typed("id"))
    .values(name=_typed("name"))
    .returning(_C.id, _C.name)
)


@pytest.fixture(params=[10, 2], ids=["kept", "checked-out"])
async def database(
    databases: Databases, backend: str, request: pytest.FixtureRequest
) -> AsyncIterator[Database]:
    # A pool of 10 keeps writers' connections; of 2, each transaction checks one out.
    db = Database(await databases.url(backend, "tenancy", "driver"), pool_size=request.param)
    yield db
    await db.dispose()


def _tenant(tenant_id: uuid.UUID, **given: object) -> dict[str, object]:
    now = datetime.now(UTC)
    return {
        "id": tenant_id,
        "slug": f"drv-{tenant_id.hex[:12]}",
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


async def test_committed_with_its_callbacks_once_per_key(database: Database) -> None:
    first, second = uuid.uuid4(), uuid.uuid4()
    heard: list[str] = []
    async with database.driver_transaction() as transaction:
        await execute_prepared_many(transaction, _INSERT, [_tenant(first), _tenant(second)])
        [renamed] = (await execute_prepared(transaction, _RENAME, {"id": first, "name": "U"})).rows
        assert renamed.id == first and renamed.name == "U"
        call_after_commit(transaction, "a", lambda: heard.append("a"))
        call_after_commit(transaction, "a", lambda: heard.append("a again"))
        call_after_commit(transaction, "b", lambda: heard.append("b"))
        assert await _names(database, first) == {}  # not committed yet
    await asyncio.sleep(0)  # the callbacks run on the loop, after the commit
    assert heard == ["a", "b"]
    assert await _names(database, first, second) == {first: "U", second: "T"}


async def test_rolled_back_by_an_error_and_its_connection_used_again(database: Database) -> None:
    tenant_id = uuid.uuid4()
    heard: list[str] = []

    async def failing() -> None:
        async with database.driver_transaction() as transaction:
            await execute_prepared(transaction, _INSERT, _tenant(tenant_id))
            call_after_commit(transaction, "a", lambda: heard.append("a"))
            raise RuntimeError("the caller's own failure")

    with pytest.raises(RuntimeError):
        await failing()
    await asyncio.sleep(0)
    assert heard == [] and await _names(database, tenant_id) == {}
    async with database.driver_transaction() as transaction:
        await execute_prepared(transaction, _INSERT, _tenant(tenant_id))

    async def refused() -> None:
        async with database.driver_transaction() as transaction:
            await execute_prepared(transaction, _RENAME, {"id": tenant_id, "name": "V"})
            await execute_prepared(transaction, _INSERT, _tenant(tenant_id, slug="drv-other"))

    # A constraint: IntegrityError as from a session; the transaction rolled back with it.
    with pytest.raises(IntegrityError):
        await refused()
    assert await _names(database, tenant_id) == {tenant_id: "T"}
    async with database.driver_transaction() as transaction:
        await execute_prepared(transaction, _RENAME, {"id": tenant_id, "name": "W"})
    assert await _names(database, tenant_id) == {tenant_id: "W"}


async def test_a_statement_cancelled_midway_discards_its_connection(
    database: Database, backend: str
) -> None:
    if backend != "postgresql":
        pytest.skip("SQLite runs a held transaction's statements without suspending")
    tenant_id = uuid.uuid4()
    slow = PreparedRead(select(func.pg_sleep(bindparam("seconds", type_=Float()))))
    started = asyncio.Event()

    async def cancelled_midway() -> None:
        async with database.driver_transaction() as transaction:
            await execute_prepared(transaction, _INSERT, _tenant(tenant_id))
            started.set()
            await execute_prepared(transaction, slow, {"seconds": 30.0})

    task = asyncio.ensure_future(cancelled_midway())
    await started.wait()
    await asyncio.sleep(0.2)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    # Nothing of the cancelled transaction kept; its connection dropped, the next one works.
    assert await _names(database, tenant_id) == {}
    for _ in range(3):
        async with database.driver_transaction() as transaction:
            await execute_prepared(transaction, _INSERT, _tenant(tenant_id))
            await execute_prepared(transaction, _RENAME, {"id": tenant_id, "name": "X"})
        assert await _names(database, tenant_id) == {tenant_id: "X"}
        async with database.transaction() as session:
            await session.execute(delete(_TENANTS).where(_C.id == tenant_id))
