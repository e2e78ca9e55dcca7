"""DB_QUERY: one tool's own read-only statement against a database its tenant registered.

Only the statement stored in the tool's config runs, never SQL from the arguments: its
``:name`` parameters are bound (never spliced) from the arguments, which the tool's input schema
has validated, and each must be a string, number, boolean or null. PostgreSQL is reached at the
address the egress guard checked (the host resolved once; a private address needs the operators'
allow-list) and runs the statement in a READ ONLY transaction with ``statement_timeout``; SQLite
opens the file read-only (``mode=ro``, ``query_only``) and is interrupted at the timeout. At
most ``max_rows`` rows come back (``truncated`` says when there were more); values that JSON
cannot carry become strings.
"""

from __future__ import annotations

import asyncio
import base64
import re
import sqlite3
import time
from collections.abc import Mapping
from datetime import date, datetime, timedelta
from datetime import time as clock_time
from decimal import Decimal
from typing import Any
from uuid import UUID

from services.tooling.egress import EgressGuard
from services.tooling.executions.runners import ToolFailed
from services.tooling.tools.databases import Dsn

#: ``:name`` outside ``::`` casts.
_PARAMETER = re.compile(r"(?<![:\w]):([A-Za-z_][A-Za-z0-9_]*)")
_READ_STATEMENT = re.compile(r"^\s*(select|with|values|table)\b", re.IGNORECASE)
DEFAULT_TIMEOUT_SECONDS = 5.0
DEFAULT_MAX_ROWS = 100


def _json_safe(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if value == value and abs(value) != float("inf") else str(value)
    if isinstance(value, Decimal | UUID | timedelta):
        return str(value)
    if isinstance(value, datetime | date | clock_time):
        return value.isoformat()
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode()
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    return str(value)


def _statement(config: Mapping[str, Any]) -> tuple[str, list[str]]:
    """The tool's statement and the parameter names it uses, in order of appearance."""
    statement = config.get("statement")
    if not isinstance(statement, str) or not statement.strip():
        raise ToolFailed("the tool's config has no statement", "BAD_TOOL_CONFIG")
    if not _READ_STATEMENT.match(statement):
        raise ToolFailed("the tool's statement must be a query (SELECT or WITH)", "BAD_TOOL_CONFIG")
    return statement, _PARAMETER.findall(statement)


def _parameters(names: list[str], arguments: Mapping[str, Any]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name in dict.fromkeys(names):
        if name not in arguments:
            raise ToolFailed(f"the statement needs the argument {name!r}", "MISSING_PARAMETER")
        value = arguments[name]
        if value is not None and not isinstance(value, str | int | float | bool):
            raise ToolFailed(
                f"the argument {name!r} must be a string, number, boolean or null",
                "BAD_PARAMETER",
            )
        values[name] = value
    return values


def _limits(config: Mapping[str, Any], max_rows_cap: int, timeout_cap: float) -> tuple[int, float]:
    try:
        max_rows = int(config.get("max_rows", DEFAULT_MAX_ROWS))
        timeout = float(config.get("timeout", DEFAULT_TIMEOUT_SECONDS))
    except (TypeError, ValueError):
        raise ToolFailed(
            "the tool's max_rows and timeout must be numbers", "BAD_TOOL_CONFIG"
        ) from None
    if max_rows < 1 or timeout <= 0:
        raise ToolFailed("the tool's max_rows and timeout must be positive", "BAD_TOOL_CONFIG")
    return min(max_rows, max_rows_cap), min(timeout, timeout_cap)


async def run_db_query(
    guard: EgressGuard,
    dsn: Dsn,
    config: Mapping[str, Any],
    arguments: Mapping[str, Any],
    *,
    max_rows_cap: int,
    timeout_cap: float,
) -> dict[str, Any]:
    statement, names = _statement(config)
    values = _parameters(names, arguments)
    max_rows, timeout = _limits(config, max_rows_cap, timeout_cap)
    if dsn.dialect == "sqlite":
        columns, rows, more = await _sqlite(dsn, statement, values, max_rows, timeout)
    else:
        columns, rows, more = await _postgresql(
            guard, dsn, statement, names, values, max_rows, timeout
        )
    return {
        "columns": columns,
        "rows": [dict(zip(columns, (_json_safe(v) for v in row), strict=True)) for row in rows],
        "row_count": len(rows),
        "truncated": more,
    }


async def _postgresql(
    guard: EgressGuard,
    dsn: Dsn,
    statement: str,
    names: list[str],
    values: dict[str, Any],
    max_rows: int,
    seconds: float,
) -> tuple[list[str], list[Any], bool]:
    import asyncpg

    timeout = seconds
    address = await guard.checked_address(dsn.host)  # EgressDenied for a private host
    numbered = {name: i + 1 for i, name in enumerate(dict.fromkeys(names))}
    sql = _PARAMETER.sub(lambda m: f"${numbered[m.group(1)]}", statement)
    args = [values[name] for name in numbered]
    try:
        async with asyncio.timeout(timeout + 2):
            connection = await asyncpg.connect(
                host=address,
                port=dsn.port,
                user=dsn.user or None,
                password=dsn.password or None,
                database=dsn.database,
                timeout=timeout,
                server_settings={"application_name": "quarterdeck-db-query"},
            )
            try:
                async with connection.transaction(readonly=True):
                    await connection.execute(f"SET LOCAL statement_timeout = {int(timeout * 1000)}")
                    prepared = await connection.prepare(sql)
                    columns = [a.name for a in prepared.get_attributes()]
                    cursor = await prepared.cursor(*args)
                    records = await cursor.fetch(max_rows + 1)
            finally:
                await connection.close(timeout=2)
    except asyncpg.QueryCanceledError:
        raise TimeoutError from None
    except asyncpg.ReadOnlySQLTransactionError:
        raise ToolFailed(
            "the statement tried to write; DB_QUERY is read-only", "READ_ONLY"
        ) from None
    except asyncpg.PostgresError as exc:
        raise ToolFailed(f"the database refused the statement: {exc}"[:500], "DB_ERROR") from None
    except (OSError, asyncpg.InterfaceError) as exc:
        raise ToolFailed(
            f"the database could not be reached: {type(exc).__name__}", "DB_UNREACHABLE"
        ) from None
    return columns, [tuple(r) for r in records[:max_rows]], len(records) > max_rows


async def _sqlite(
    dsn: Dsn, statement: str, values: dict[str, Any], max_rows: int, seconds: float
) -> tuple[list[str], list[Any], bool]:
    timeout = seconds
    path = dsn.path
    assert path is not None
    if not path.is_file():
        raise ToolFailed("the registered SQLite file does not exist", "DB_UNREACHABLE")

    def run() -> tuple[list[str], list[Any], bool]:
        deadline = time.monotonic() + timeout
        connection = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, timeout=timeout)
        try:
            connection.execute("PRAGMA query_only = ON")
            # Called every 1000 VM steps: a non-zero answer interrupts the statement.
            connection.set_progress_handler(lambda: int(time.monotonic() > deadline), 1000)
            cursor = connection.execute(statement, values)
            rows = cursor.fetchmany(max_rows + 1)
            columns = [d[0] for d in cursor.description or ()]
        except sqlite3.OperationalError as exc:
            if time.monotonic() > deadline:
                raise TimeoutError from None
            raise ToolFailed(
                f"the database refused the statement: {exc}"[:500], "DB_ERROR"
            ) from None
        except (sqlite3.Error, ValueError) as exc:
            raise ToolFailed(
                f"the database refused the statement: {exc}"[:500], "DB_ERROR"
            ) from None
        finally:
            connection.close()
        return columns, rows[:max_rows], len(rows) > max_rows

    return await asyncio.to_thread(run)
