"""Fixtures every test level shares: the PostgreSQL source, per-backend databases, services."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from tests.support.postgres import PostgresServer, postgres_server
from tests.support.stack import BACKENDS, Databases

_postgres_source: list[str] = []


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    with postgres_server() as server:
        _postgres_source.append(server.source)
        yield server


@pytest.fixture(scope="session")
async def databases(
    tmp_path_factory: pytest.TempPathFactory, postgres: PostgresServer
) -> AsyncIterator[Databases]:
    dbs = Databases(tmp_path_factory.mktemp("databases"), postgres)
    yield dbs
    await dbs.drop_all()


@pytest.fixture(params=BACKENDS, scope="module")
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def pytest_sessionfinish(session: pytest.Session) -> None:
    # Under xdist each worker found its own PostgreSQL; it hands the source to the controller.
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None and _postgres_source:
        workeroutput["postgres_source"] = _postgres_source[0]


def pytest_testnodedown(node: object, error: object) -> None:
    source = getattr(node, "workeroutput", {}).get("postgres_source")
    if source and not _postgres_source:
        _postgres_source.append(source)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _postgres_source:
        terminalreporter.write_line(f"PostgreSQL for this run: {_postgres_source[0]}")
