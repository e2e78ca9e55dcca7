"""The one way tests build services: migrated databases on each backend, in-process servers on
port 0, and stubs over traced channels."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from services.registry import spec_for
from shared.config import load_settings
from shared.db import Database
from shared.migrations import upgrade_to_head
from shared.server import RunningService, start_service
from tests.support.postgres import PostgresServer

BACKENDS = ("sqlite", "postgresql")
TEST_PAGE_TOKEN_SECRET = "test-page-token-secret"


class Databases:
    """Creates one migrated database per (backend, service, label) for the whole test run."""

    def __init__(self, tmp_dir: Path, postgres: PostgresServer) -> None:
        self._tmp = tmp_dir
        self._postgres = postgres
        self._urls: dict[tuple[str, str, str], str] = {}
        self._pg_names: list[str] = []

    async def url(self, backend: str, service: str, label: str = "default") -> str:
        key = (backend, service, label)
        if key not in self._urls:
            if backend == "sqlite":
                url = f"sqlite+aiosqlite:///{self._tmp / f'{service}-{label}.db'}"
            else:
                name = await self._postgres.create_database(service)
                self._pg_names.append(name)
                url = self._postgres.database_url(name)
            database = Database(url)
            try:
                await upgrade_to_head(database, spec_for(service).migrations_dir)
            finally:
                await database.dispose()
            self._urls[key] = url
        return self._urls[key]

    async def drop_all(self) -> None:
        if self._pg_names:
            await self._postgres.drop_databases(self._pg_names)


@asynccontextmanager
async def running_service(
    service: str, database_url: str, **overrides: Any
) -> AsyncIterator[RunningService[Any]]:
    spec = spec_for(service)
    settings = load_settings(
        spec.settings_type,
        **{
            "port": 0,
            "database_url": database_url,
            "page_token_secret": TEST_PAGE_TOKEN_SECRET,
            "grace_period_seconds": 1.0,
            **overrides,
        },
    )
    running = await start_service(spec, settings)
    try:
        yield running
    finally:
        await running.stop(0.5)
