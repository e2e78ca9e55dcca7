"""DB_QUERY tools, with tooling on SQLite and on PostgreSQL, each querying a tenant's registered
PostgreSQL database (created by the test on the local server at 127.0.0.1, which the test's
operator allow-list admits) and a registered SQLite file (in the directory operators allow): only
the tool's own statement runs, its parameters bound from the validated arguments, in a read-only
transaction with a statement timeout and a row cap; the DSN is sealed and never returned; bad
input and refusals are the calls' errors naming the cause."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import grpc
import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select

from quarterdeck.tooling.v1 import agents_pb2 as apb
from quarterdeck.tooling.v1 import executions_pb2 as pb
from quarterdeck.tooling.v1 import tools_pb2 as tpb
from services.tooling.tools.models import TenantDatabaseRecord
from services.tooling.tools.seed_catalogue import base_tool_id
from shared.json_values import dict_to_struct, value_to_python
from tests.support.errors import rich_error
from tests.support.postgres import PostgresServer
from tests.support.stack import Databases
from tests.support.tokens import TestIssuer
from tests.support.tooling import Tooling, create_agent, failure, tooling_service

ISSUER = TestIssuer()
ROWS = [
    (1, "acme", "12.50", "2026-01-05"),
    (2, "acme", "7.25", "2026-02-05"),
    (3, "globex", "99.00", "2026-02-06"),
    (4, "acme", "1.00", "2026-03-05"),
    (5, "initech", "3.30", "2026-03-07"),
]
CREATE = "CREATE TABLE invoices (id integer, customer text, amount numeric(10, 2), issued date)"
BY_CUSTOMER = "SELECT id, customer FROM invoices WHERE customer = :customer ORDER BY id"


@dataclass
class Customer:
    """The databases a tenant registers: DSNs by dialect, and how to count their rows."""

    dsns: dict[str, str]
    sqlite_path: Path
    pg_dsn: str


@pytest.fixture(scope="module")
async def customer(
    postgres: PostgresServer, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Customer]:
    name = await postgres.create_database("dbquery")
    pg_dsn = postgres.admin_url.set(drivername="postgresql", database=name).render_as_string(
        hide_password=False
    )
    connection = await asyncpg.connect(pg_dsn)
    try:
        await connection.execute(CREATE)
        await connection.executemany(
            "INSERT INTO invoices VALUES ($1, $2, $3::text::numeric, $4::text::date)", ROWS
        )
    finally:
        await connection.close()
    folder = tmp_path_factory.mktemp("tenant-sqlite")
    path = folder / "invoices.db"
    with sqlite3.connect(path) as lite:
        lite.execute(CREATE)
        lite.executemany("INSERT INTO invoices VALUES (?, ?, ?, ?)", ROWS)
    lite.close()
    url = postgres.admin_url
    host_dsn = (
        f"postgresql://{url.username or 'postgres'}"
        f"{':' + url.password if url.password else ''}@127.0.0.1:{url.port or 5432}/{name}"
    )
    yield Customer({"postgresql": host_dsn, "sqlite": f"sqlite:///{path}"}, path, pg_dsn)
    await postgres.drop_databases([name])


@dataclass
class Services:
    open: Tooling  # 127.0.0.1 allowed by the operators, the SQLite folder allowed
    closed: Tooling  # neither


@pytest.fixture(scope="module")
async def services(
    backend: str, databases: Databases, customer: Customer
) -> AsyncIterator[Services]:
    key = Fernet.generate_key().decode()
    async with (
        tooling_service(
            databases,
            backend,
            "db-query",
            ISSUER,
            secret_encryption_keys=key,
            egress_allowed_hosts="127.0.0.1",
            db_query_sqlite_dir=str(customer.sqlite_path.parent),
        ) as opened,
        tooling_service(
            databases, backend, "db-query-closed", ISSUER, secret_encryption_keys=key
        ) as closed,
    ):
        yield Services(opened, closed)


DIALECTS = ["postgresql", "sqlite"]


@dataclass
class Setup:
    tenant: str
    admin: list[tuple[str, str]]
    agent: str
    database: tpb.Database


async def setup(tooling: Tooling, customer: Customer, dialect: str) -> Setup:
    tenant = str(uuid.uuid4())
    admin = ISSUER.member(tenant, "admin")
    registered = await tooling.tools.RegisterDatabase(
        tpb.RegisterDatabaseRequest(
            database=tpb.Database(tenant_id=tenant, name="billing", dsn=customer.dsns[dialect])
        ),
        metadata=admin,
    )
    agent = (await create_agent(tooling, admin, tenant_id=tenant)).agent
    return Setup(tenant, admin, agent.id, registered.database)


async def query_tool(
    tooling: Tooling, s: Setup, statement: str, schema: dict[str, Any] | None = None, **config: Any
) -> str:
    tool = await tooling.tools.CreateToolConfig(
        tpb.CreateToolConfigRequest(
            tool=tpb.ToolConfig(
                tenant_id=s.tenant,
                name=f"q-{uuid.uuid4().hex[:8]}",
                base_tool_id=str(base_tool_id("DB_QUERY")),
                config=dict_to_struct(
                    {"database_id": s.database.id, "statement": statement, **config}
                ),
                input_schema=dict_to_struct(schema or {"type": "object"}),
            )
        ),
        metadata=s.admin,
    )
    await tooling.agents.SetAgentTool(
        apb.SetAgentToolRequest(
            tenant_id=s.tenant, agent_id=s.agent, tool_id=tool.tool.id, priority=1
        ),
        metadata=s.admin,
    )
    return tool.tool.id


async def run(tooling: Tooling, s: Setup, tool_id: str, **arguments: Any) -> pb.ToolCall:
    reply = await tooling.executions.ExecuteTool(
        pb.ExecuteToolRequest(
            tenant_id=s.tenant,
            agent_id=s.agent,
            tool_id=tool_id,
            arguments=dict_to_struct(arguments),
        ),
        metadata=s.admin,
    )
    return reply.tool_call


async def stored_rows(customer: Customer, dialect: str) -> int:
    if dialect == "sqlite":
        with sqlite3.connect(customer.sqlite_path) as lite:
            (count,) = lite.execute("SELECT count(*) FROM invoices").fetchone()
        lite.close()
        return int(count)
    connection = await asyncpg.connect(customer.pg_dsn)
    try:
        return int(await connection.fetchval("SELECT count(*) FROM invoices"))
    finally:
        await connection.close()


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_the_tools_statement_runs_with_bound_parameters_and_a_row_cap(
    services: Services, customer: Customer, dialect: str
) -> None:
    tooling = services.open
    s = await setup(tooling, customer, dialect)
    schema = {
        "type": "object",
        "properties": {"customer": {"type": "string", "maxLength": 40}},
        "required": ["customer"],
    }
    tool = await query_tool(tooling, s, BY_CUSTOMER, schema, max_rows=2)
    call = await run(tooling, s, tool, customer="acme")
    assert call.state == pb.TOOL_CALL_STATE_OK, call.error
    result = value_to_python(call.result)
    assert result["columns"] == ["id", "customer"]
    assert result["rows"] == [{"id": 1, "customer": "acme"}, {"id": 2, "customer": "acme"}]
    assert (result["row_count"], result["truncated"]) == (2, True)
    # The argument is bound, never spliced into the SQL.
    injected = await run(tooling, s, tool, customer="x' OR '1'='1")
    assert value_to_python(injected.result)["rows"] == []
    # Arguments failing the tool's schema never reach the database.
    bad = await failure(
        tooling.executions.ExecuteTool(
            pb.ExecuteToolRequest(
                tenant_id=s.tenant,
                agent_id=s.agent,
                tool_id=tool,
                arguments=dict_to_struct({"customer": 7}),
            ),
            metadata=s.admin,
        )
    )
    assert "arguments.customer" in rich_error(bad).field_violations
    typed = await query_tool(
        tooling, s, "SELECT amount, issued FROM invoices WHERE id = :id", max_rows=5
    )
    [row] = value_to_python((await run(tooling, s, typed, id=3)).result)["rows"]
    assert str(row["amount"]).startswith("99") and str(row["issued"]) == "2026-02-06"


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_writes_are_refused_and_nothing_changes(
    services: Services, customer: Customer, dialect: str
) -> None:
    tooling = services.open
    s = await setup(tooling, customer, dialect)
    before = await stored_rows(customer, dialect)
    sneaky = await query_tool(
        tooling, s, "WITH gone AS (DELETE FROM invoices RETURNING id) SELECT id FROM gone"
    )
    call = await run(tooling, s, sneaky)
    assert call.state == pb.TOOL_CALL_STATE_ERROR
    assert call.error_reason in {"READ_ONLY", "DB_ERROR"}, call.error
    plain = await query_tool(tooling, s, "DELETE FROM invoices")
    call = await run(tooling, s, plain)
    assert (call.state, call.error_reason) == (pb.TOOL_CALL_STATE_ERROR, "BAD_TOOL_CONFIG")
    two = await query_tool(tooling, s, "SELECT 1; DELETE FROM invoices")
    call = await run(tooling, s, two)
    assert call.state == pb.TOOL_CALL_STATE_ERROR, call.error
    assert await stored_rows(customer, dialect) == before


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_a_slow_statement_is_stopped_at_its_timeout(
    services: Services, customer: Customer, dialect: str
) -> None:
    tooling = services.open
    s = await setup(tooling, customer, dialect)
    statement = (
        "SELECT pg_sleep(:seconds)"
        if dialect == "postgresql"
        else "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE :seconds > 0)"
        " SELECT count(*) FROM c"
    )
    slow = await query_tool(tooling, s, statement, timeout=0.3)
    call = await run(tooling, s, slow, seconds=30)
    assert (call.state, call.error_reason) == (pb.TOOL_CALL_STATE_TIMEOUT, "TIMEOUT")


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_bad_parameters_and_other_tenants_databases_are_the_calls_errors(
    services: Services, customer: Customer, dialect: str
) -> None:
    tooling = services.open
    s = await setup(tooling, customer, dialect)
    tool = await query_tool(tooling, s, BY_CUSTOMER)
    missing = await run(tooling, s, tool)
    assert (missing.state, missing.error_reason) == (pb.TOOL_CALL_STATE_ERROR, "MISSING_PARAMETER")
    assert "customer" in missing.error
    nested = await run(tooling, s, tool, customer={"$ne": 1})
    assert nested.error_reason == "BAD_PARAMETER"
    other = await setup(tooling, customer, dialect)
    other.database = s.database  # a tool naming another tenant's database
    foreign = await query_tool(tooling, other, BY_CUSTOMER)
    refused = await failure(
        tooling.executions.ExecuteTool(
            pb.ExecuteToolRequest(
                tenant_id=other.tenant,
                agent_id=other.agent,
                tool_id=foreign,
                arguments=dict_to_struct({"customer": "acme"}),
            ),
            metadata=other.admin,
        )
    )
    assert refused.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert rich_error(refused).reason == "NO_DATABASE_CONFIGURED"


async def test_registration_checks_the_dsn_and_never_returns_or_stores_it_in_clear(
    services: Services, customer: Customer, tmp_path: Path
) -> None:
    tooling = services.open
    tenant = str(uuid.uuid4())
    admin = ISSUER.member(tenant, "admin")
    for dsn in (
        "mysql://root@127.0.0.1/x",
        "postgresql://127.0.0.1:5432",
        f"sqlite:///{tmp_path / 'elsewhere.db'}",
        "sqlite:////etc/passwd",
    ):
        bad = await failure(
            tooling.tools.RegisterDatabase(
                tpb.RegisterDatabaseRequest(
                    database=tpb.Database(tenant_id=tenant, name="x", dsn=dsn)
                ),
                metadata=admin,
            )
        )
        assert bad.code() == grpc.StatusCode.INVALID_ARGUMENT, dsn
        assert "database.dsn" in rich_error(bad).field_violations
    member = await failure(
        tooling.tools.RegisterDatabase(
            tpb.RegisterDatabaseRequest(
                database=tpb.Database(tenant_id=tenant, name="x", dsn=customer.dsns["postgresql"])
            ),
            metadata=ISSUER.member(tenant, "member"),
        )
    )
    assert member.code() == grpc.StatusCode.PERMISSION_DENIED
    s = await setup(tooling, customer, "postgresql")
    assert (s.database.dsn, s.database.dialect) == ("", "postgresql")
    assert s.database.location.startswith("127.0.0.1:")
    listed = await tooling.tools.ListDatabases(
        tpb.ListDatabasesRequest(tenant_id=s.tenant), metadata=ISSUER.member(s.tenant, "viewer")
    )
    assert [(d.name, d.dsn) for d in listed.databases] == [("billing", "")]
    async with tooling.running.context.database.reading() as session:
        row = await session.scalar(
            select(TenantDatabaseRecord).where(TenantDatabaseRecord.id == uuid.UUID(s.database.id))
        )
    assert row is not None
    assert customer.dsns["postgresql"].encode() not in row.sealed_dsn


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_without_the_operators_allowance_the_database_is_not_reached(
    services: Services, customer: Customer, dialect: str
) -> None:
    tooling = services.closed
    if dialect == "sqlite":  # no SQLite folder allowed: not even registered
        refused = await failure(
            tooling.tools.RegisterDatabase(
                tpb.RegisterDatabaseRequest(
                    database=tpb.Database(name="billing", dsn=customer.dsns["sqlite"])
                ),
                metadata=ISSUER.member(str(uuid.uuid4()), "admin"),
            )
        )
        assert (
            "QD_TOOLING_DB_QUERY_SQLITE_DIR" in rich_error(refused).field_violations["database.dsn"]
        )
        return
    s = await setup(tooling, customer, dialect)
    tool = await query_tool(tooling, s, BY_CUSTOMER)
    call = await run(tooling, s, tool, customer="acme")
    assert (call.state, call.error_reason) == (pb.TOOL_CALL_STATE_ERROR, "EGRESS_DENIED")
