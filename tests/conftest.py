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


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Keep ``--dist loadgroup`` grouping on pytest 9.2 (pytest-dev/pytest-xdist#1386, open).

    An xdist worker marks a test's group by writing ``<nodeid>@<group>`` to ``item._nodeid``;
    pytest 9.2 keeps the id in ``item._id`` instead, so the suffix never reaches the
    scheduler and grouped tests are spread over the workers as if unmarked: the end-to-end
    tests then started one shared platform per worker, and ran apart from the tests whose
    state they share. Here the id xdist meant is applied where pytest reads it; where xdist's
    write already took effect (older pytest, or a fixed xdist), nothing changes."""
    if not getattr(config.option, "loadgroup", False):  # set on xdist's workers only
        return
    try:
        from _pytest.nodeid import NodeId
    except ImportError:  # a pytest before 9.2, where xdist's own write works
        return
    for item in items:
        meant = item.__dict__.get("_nodeid")
        if isinstance(meant, str) and meant != item.nodeid and hasattr(item, "_id"):
            item._id = NodeId.parse(meant)


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
