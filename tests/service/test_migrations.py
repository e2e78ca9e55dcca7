"""Each service's migrations build exactly the schema its models describe, on both databases:
a model changed without a migration (or the reverse) fails here, not in production."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection

from services.registry import SERVICE_NAMES, spec_for
from shared.db import Database
from shared.errors import FailedPrecondition
from shared.migrations import migration_state, partitions_excluded, require_head, upgrade_to_head
from tests.support.postgres import PostgresServer
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


async def test_a_database_at_head_starts_without_alembic(
    backend: str, databases: Databases
) -> None:
    """Checking (and "upgrading") a database already at head imports no part of Alembic: a fresh
    interpreter does both and reports what it imported."""
    url = await databases.url(backend, "tenancy", "at-head")
    check = (
        "import asyncio, sys\n"
        "from services.registry import spec_for\n"
        "from shared.db import Database\n"
        "from shared.migrations import require_head, upgrade_to_head\n"
        "async def main():\n"
        f"    database = Database({url!r})\n"
        "    spec = spec_for('tenancy')\n"
        "    await upgrade_to_head(database, spec.migrations_dir)\n"
        "    await require_head(database, spec.migrations_dir, 'tenancy')\n"
        "    await database.dispose()\n"
        "asyncio.run(main())\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('alembic', 'mako')))\n"
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", check, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    stdout, stderr = await process.communicate()
    assert process.returncode == 0, stderr.decode()
    assert stdout.decode().strip() == "[]"


async def test_an_empty_database_is_refused_then_migrated(
    backend: str, postgres: PostgresServer, tmp_path: Path
) -> None:
    created = [] if backend == "sqlite" else [await postgres.create_database("tenancy")]
    url = (
        postgres.database_url(created[0])
        if created
        else f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"
    )
    spec = spec_for("tenancy")
    database = Database(url)
    try:
        with pytest.raises(FailedPrecondition, match="at no revision"):
            await require_head(database, spec.migrations_dir, "tenancy")
        await upgrade_to_head(database, spec.migrations_dir)
        await require_head(database, spec.migrations_dir, "tenancy")
        assert await migration_state(database, spec.migrations_dir) == (
            {"0011_membership_revocations"},
            {"0011_membership_revocations"},
        )
    finally:
        await database.dispose()
        if created:
            await postgres.drop_databases(created)
