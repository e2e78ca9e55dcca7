"""Each service's migrations build exactly the schema its models describe, on both databases:
a model changed without a migration (or the reverse) fails here, not in production."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection

from services.registry import SERVICE_NAMES, spec_for
from shared.db import Database
from shared.migrations import partitions_excluded
from tests.support.stack import Databases


@pytest.mark.parametrize("service", SERVICE_NAMES)
async def test_migrations_match_the_models(
    service: str, backend: str, databases: Databases
) -> None:
    url = await databases.url(backend, service, "schema-check")
    metadata = spec_for(service).metadata

    def differences(connection: Connection) -> list[object]:
        context = MigrationContext.configure(
            connection,
            opts={"compare_type": True, "include_name": partitions_excluded(connection)},
        )
        return list(compare_metadata(context, metadata))

    database = Database(url)
    try:
        async with database.engine.connect() as conn:
            diff = await conn.run_sync(differences)
    finally:
        await database.dispose()
    assert diff == [], f"{service}: models and migrations differ: {diff}"
