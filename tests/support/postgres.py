"""Where the tests get PostgreSQL: testcontainers when a Docker engine answers, else the DSN in
QD_TEST_POSTGRES_URL, else the local server at 127.0.0.1:5432. Each run creates throwaway
databases and drops them at the end."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import asyncpg
from sqlalchemy.engine import URL, make_url

LOCAL_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
ENV_DSN = "QD_TEST_POSTGRES_URL"


@dataclass(frozen=True)
class PostgresServer:
    admin_url: URL
    source: str

    def database_url(self, database: str) -> str:
        return self.admin_url.set(
            drivername="postgresql+asyncpg", database=database
        ).render_as_string(hide_password=False)

    def _dsn(self) -> str:
        return self.admin_url.set(drivername="postgresql").render_as_string(hide_password=False)

    async def create_database(self, prefix: str) -> str:
        name = f"qd_test_{prefix}_{uuid.uuid4().hex[:10]}"
        conn = await asyncpg.connect(self._dsn())
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()
        return name

    async def drop_databases(self, names: list[str]) -> None:
        conn = await asyncpg.connect(self._dsn())
        try:
            for name in names:
                await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()


def _docker_reachable() -> bool:
    try:
        import docker

        docker.from_env(timeout=2).ping()
        return True
    except Exception:  # noqa: BLE001 - any docker failure means no docker here
        return False


def _answers(dsn: str) -> bool:
    async def probe() -> None:
        conn = await asyncpg.connect(dsn, timeout=5)
        await conn.close()

    try:
        asyncio.run(probe())
        return True
    except (OSError, asyncpg.PostgresError, TimeoutError):
        return False


@contextmanager
def postgres_server() -> Iterator[PostgresServer]:
    if _docker_reachable():
        from testcontainers.postgres import PostgresContainer

        with PostgresContainer("postgres:15-alpine", driver=None) as container:
            yield PostgresServer(make_url(container.get_connection_url()), "testcontainers")
        return
    if dsn := os.environ.get(ENV_DSN):
        yield PostgresServer(make_url(dsn), f"{ENV_DSN} ({make_url(dsn).host})")
        return
    if not _answers(LOCAL_DSN):
        raise RuntimeError(
            f"no PostgreSQL for the tests: no Docker engine, {ENV_DSN} unset, and nothing answers "
            f"at {LOCAL_DSN} (start it with `pg_ctlcluster 15 main start`)"
        )
    yield PostgresServer(make_url(LOCAL_DSN), "local server at 127.0.0.1:5432")
