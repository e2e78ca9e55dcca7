"""The shared request_id idempotency on both databases: a new key claims its row with one
INSERT before the create runs (no lookup first), a repeat replays the stored response without
creating, concurrent repeats create once, a key reused for another request is refused, and an
expired key is taken over by a new create."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import event, update
from sqlalchemy.ext.asyncio import AsyncSession

from quarterdeck.tenancy.v1 import tenancy_pb2 as tpb
from services.tenancy.models import IdempotencyKey
from shared.db import Database
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

    async def __call__(self, _session: AsyncSession) -> tpb.Tenant:
        self.calls += 1
        await asyncio.sleep(0.05)  # a concurrent repeat arrives while this one holds the key
        return tpb.Tenant(id=str(uuid.uuid4()), name=f"call {self.calls}")


async def _run(
    idempotency: Idempotency, request: tpb.CreateTenantRequest, creates: Creates
) -> tpb.Tenant:
    return await idempotency.run(
        endpoint="CreateTenant",
        request=request,
        response_type=tpb.Tenant,
        create=creates,
        resource_id_of=lambda tenant: tenant.id,
        scope="test",
    )


def _request(request_id: str, name: str = "acme") -> tpb.CreateTenantRequest:
    return tpb.CreateTenantRequest(tenant=tpb.Tenant(name=name), request_id=request_id)


async def test_a_new_key_is_claimed_without_a_lookup_and_a_repeat_replays(
    database: Database,
) -> None:
    idempotency = Idempotency(database, IdempotencyKey, timedelta(hours=1))
    creates = Creates()
    seen: list[str] = []

    def note(_conn: object, _cursor: object, statement: str, *_rest: object) -> None:
        seen.append(statement.split()[0].upper())

    event.listen(database.engine.sync_engine, "before_cursor_execute", note)
    key = str(uuid.uuid4())
    first = await _run(idempotency, _request(key), creates)
    assert [s for s in seen if s in ("SELECT", "INSERT", "UPDATE")] == ["INSERT", "UPDATE"]
    again = await _run(idempotency, _request(key), creates)
    assert again == first and creates.calls == 1
    with pytest.raises(InvalidArgument):
        await _run(idempotency, _request(key, name="other"), creates)
    assert creates.calls == 1


async def test_concurrent_repeats_create_once(database: Database) -> None:
    idempotency = Idempotency(database, IdempotencyKey, timedelta(hours=1))
    creates = Creates()
    key = str(uuid.uuid4())
    answers = await asyncio.gather(*(_run(idempotency, _request(key), creates) for _ in range(2)))
    assert creates.calls == 1 and answers[0] == answers[1]


async def test_an_expired_key_is_taken_over_by_a_new_create(database: Database) -> None:
    idempotency = Idempotency(database, IdempotencyKey, timedelta(hours=1))
    creates = Creates()
    key = str(uuid.uuid4())
    first = await _run(idempotency, _request(key), creates)
    async with database.transaction() as session:
        await session.execute(
            update(IdempotencyKey)
            .where(IdempotencyKey.idempotency_key == key)
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    second = await _run(idempotency, _request(key), creates)
    assert creates.calls == 2 and second.id != first.id
    assert await _run(idempotency, _request(key), creates) == second and creates.calls == 2
