"""The shared request_id idempotency on both databases: a new key claims its row with one
INSERT before the create runs (no lookup first) and keeps the response with one UPDATE, both
on the driver's connection (prepared, not through SQLAlchemy's execution), a repeat replays
the stored response without creating, concurrent repeats create once, a key reused for another
request is refused, and an expired key is taken over by a new create; alike for a create in a
session's transaction (``run``) and in a driver transaction (``run_on_driver``)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import asyncpg
import pytest
from sqlalchemy import event, update
from sqlalchemy.ext.asyncio import AsyncSession

from quarterdeck.tenancy.v1 import tenancy_pb2 as tpb
from services.tenancy.models import IdempotencyKey
from shared.db import Database, DriverTransaction
from shared.db_types import utcnow
from shared.errors import InvalidArgument
from shared.idempotency import Idempotency
from tests.support.stack import Databases


@pytest.fixture
async def database(databases: Databases, backend: str) -> AsyncIterator[Database]:
    db = Database(await databases.url(backend, "tenancy", "idempotency"), pool_size=2)
    yield db
    await db.dispose()


class Creates:
    """A create that counts its calls and answers a new tenant id each time."""

    def __init__(self) -> None:
        self.calls = 0

    async def __call__(self, _transaction: AsyncSession | DriverTransaction) -> tpb.Tenant:
        self.calls += 1
        await asyncio.sleep(0.05)  # a concurrent repeat arrives while this one holds the key
        return tpb.Tenant(id=str(uuid.uuid4()), name=f"call {self.calls}")


@pytest.fixture(params=["session", "driver"])
def on_driver(request: pytest.FixtureRequest) -> bool:
    return bool(request.param == "driver")


async def _run(
    idempotency: Idempotency,
    request: tpb.CreateTenantRequest,
    creates: Creates,
    on_driver: bool,
) -> tpb.Tenant:
    run = idempotency.run_on_driver if on_driver else idempotency.run
    return await run(
        endpoint="CreateTenant",
        request=request,
        response_type=tpb.Tenant,
        create=creates,
        resource_id_of=lambda tenant: tenant.id,
        scope="test",
    )


def _request(request_id: str, name: str = "acme") -> tpb.CreateTenantRequest:
    return tpb.CreateTenantRequest(tenant=tpb.Tenant(name=name), request_id=request_id)


class Statements:
    """The first word of every statement ``database``'s connections are sent, counted at the
    driver (those run on the driver's connection, bypassing SQLAlchemy, too) and through
    SQLAlchemy apart. Listens from the first connection on."""

    def __init__(self, database: Database) -> None:
        self.at_driver: list[str] = []
        self.through_sqlalchemy: list[str] = []
        event.listen(database.engine.sync_engine.pool, "connect", self._connected)
        event.listen(database.engine.sync_engine, "before_cursor_execute", self._executed)

    def _connected(self, dbapi_connection: Any, _record: object) -> None:
        driver = dbapi_connection.driver_connection
        if isinstance(driver, asyncpg.Connection):
            driver.add_query_logger(lambda logged: self._note(self.at_driver, logged.query))
        else:
            driver._conn.set_trace_callback(lambda sql: self._note(self.at_driver, sql))

    def _executed(self, conn: Any, _cursor: object, statement: str, *_rest: object) -> None:
        self._note(self.through_sqlalchemy, statement)
        # asyncpg logs no statement SQLAlchemy runs (they go through its prepared statements).
        if conn.dialect.name == "postgresql":
            self._note(self.at_driver, statement)

    @staticmethod
    def _note(into: list[str], statement: str) -> None:
        word = statement.split()[0].upper()
        if word in ("SELECT", "INSERT", "UPDATE", "DELETE"):
            into.append(word)


async def test_a_new_key_is_claimed_without_a_lookup_and_a_repeat_replays(
    database: Database, on_driver: bool
) -> None:
    seen = Statements(database)
    idempotency = Idempotency(database, IdempotencyKey, timedelta(hours=1))
    creates = Creates()
    key = str(uuid.uuid4())
    first = await _run(idempotency, _request(key), creates, on_driver)
    assert seen.at_driver == ["INSERT", "UPDATE"] and seen.through_sqlalchemy == []
    again = await _run(idempotency, _request(key), creates, on_driver)
    assert again == first and creates.calls == 1
    with pytest.raises(InvalidArgument):
        await _run(idempotency, _request(key, name="other"), creates, on_driver)
    assert creates.calls == 1


async def test_concurrent_repeats_create_once(database: Database, on_driver: bool) -> None:
    idempotency = Idempotency(database, IdempotencyKey, timedelta(hours=1))
    creates = Creates()
    key = str(uuid.uuid4())
    answers = await asyncio.gather(
        *(_run(idempotency, _request(key), creates, on_driver) for _ in range(2))
    )
    assert creates.calls == 1 and answers[0] == answers[1]


async def test_an_expired_key_is_taken_over_by_a_new_create(
    database: Database, on_driver: bool
) -> None:
    idempotency = Idempotency(database, IdempotencyKey, timedelta(hours=1))
    creates = Creates()
    key = str(uuid.uuid4())
    first = await _run(idempotency, _request(key), creates, on_driver)
    async with database.transaction() as session:
        await session.execute(
            update(IdempotencyKey)
            .where(IdempotencyKey.idempotency_key == key)
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    second = await _run(idempotency, _request(key), creates, on_driver)
    assert creates.calls == 2 and second.id != first.id
    assert (
        await _run(idempotency, _request(key), creates, on_driver) == second and creates.calls == 2
    )
