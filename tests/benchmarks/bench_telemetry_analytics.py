"""Telemetry's analytics and read RPCs at millions of rows, beside a raw gRPC health check.

Run: ``uv run python -m tests.benchmarks.bench_telemetry_analytics [--rows 1000000]
[--calls 20]``. A fresh PostgreSQL database (testcontainers, QD_TEST_POSTGRES_URL or the local
server, as the tests find it) is migrated and loaded with COPY: ``--rows`` rows into each of
agent_telemetry, spans, agent_metrics, mcp_tool_usage, agent_requests and activity_events,
spread over 50 tenants (one holding ~30% of every table) and the last 30 days. Telemetry then
runs in this process with a test token issuer, and every analytics and read RPC is called
``--calls`` times through gRPC, as a member of the big tenant and as a platform operator; the
median and p95 are printed beside grpc.health.v1 Check measured the same way. Each RPC's SQL is
captured as the service runs it and replayed under EXPLAIN (ANALYZE), with the plan PostgreSQL
would keep for the service's prepared statement (custom or generic): the slowest statement's
time and the scans it used (index, index-only, bitmap, or a full sequential scan) are printed,
and, where PostgreSQL keeps a generic plan, what the custom plan would take.

``--keep`` keeps the loaded database and prints its URL; ``--database-url URL`` times an earlier
kept database again (migrating it to head first, so new indexes are built on the loaded rows);
``--only TEXT`` times only the RPCs whose name holds TEXT. Loading 1,000,000 rows per table
takes about two to three minutes on a 2-core machine. Not collected by pytest (the name is
bench_*).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from google.protobuf.duration_pb2 import Duration
from google.protobuf.timestamp_pb2 import Timestamp
from grpc_health.v1 import health_pb2, health_pb2_grpc
from sqlalchemy import Table, event
from sqlalchemy.engine import Engine

from quarterdeck.telemetry.v1 import (
    activity_pb2,
    metrics_pb2,
    requests_pb2,
    telemetry_pb2,
    tool_usage_pb2,
    usage_pb2,
)
from quarterdeck.telemetry.v1.activity_pb2_grpc import ActivityServiceStub
from quarterdeck.telemetry.v1.metrics_pb2_grpc import AgentMetricsServiceStub
from quarterdeck.telemetry.v1.requests_pb2_grpc import RequestLogServiceStub
from quarterdeck.telemetry.v1.telemetry_pb2_grpc import TelemetryServiceStub
from quarterdeck.telemetry.v1.tool_usage_pb2_grpc import ToolUsageServiceStub
from quarterdeck.telemetry.v1.usage_pb2_grpc import UsageServiceStub
from services.registry import spec_for
from services.telemetry.activity.models import ActivityEventRecord
from services.telemetry.metrics.models import AgentMetricRecord
from services.telemetry.requests.models import AgentRequestRecord
from services.telemetry.tool_usage.models import ToolUsageRecord
from services.telemetry.traces.models import SpanRecord
from services.telemetry.traces.spans import SPAN_TARGET
from services.telemetry.usage.models import UsageRecord
from services.telemetry.usage.rows import random_uuids
from shared.db import Database
from shared.grpc_client import open_channel
from shared.migrations import upgrade_to_head
from tests.support.postgres import postgres_server
from tests.support.stack import running_service
from tests.support.tokens import TestIssuer

TENANTS = 50
BIG_TENANT_SHARE = 0.30
DAYS = 30
CHUNK = 50_000
NANOS = 10**9
MODELS = [
    "claude-sonnet-4-20250514",
    "claude-3-5-haiku-20241022",
    "claude-opus-4-20250514",
    "gpt-4o",
    "gpt-4o-mini",
    "gemini-2.5-pro",
    "gemini-2.5-flash",
    "llama-3.1-70b",
]
SERVICES = ["gateway", "conversation", "agents", "tenancy", "identity", "telemetry"]
SPAN_NAMES = [f"{verb} {thing}" for verb in ("call", "load", "store") for thing in "abcdefg"]
TOOLS = [f"tool_{n:02d}" for n in range(30)]
ENDPOINTS = [
    f"/v1/{area}/{verb}" for area in ("agents", "chat", "usage", "tools") for verb in "abcde"
]
ACTIONS = ["agent.created", "agent.updated", "member.invited", "key.rotated", "model.configured"]
METRIC_TYPES = ["latency", "tokens", "cost", "success_rate", "error_rate"]
SPANS_PER_TRACE = 5


# ----- the data -----


@dataclass
class World:
    """Who and when: the tenants, the big one, and the 30 days ending now."""

    now: datetime
    tenants: list[uuid.UUID]
    cumulative: list[float]
    rows_per_table: int
    big_user: uuid.UUID = field(default_factory=uuid.uuid4)

    @classmethod
    def make(cls, rows_per_table: int) -> World:
        # The other 49 tenants share the rest with a gentle power-law tail, as real ones do.
        tail = [1 / (rank + 1) ** 0.8 for rank in range(TENANTS - 1)]
        weights = [BIG_TENANT_SHARE] + [(1 - BIG_TENANT_SHARE) * w / sum(tail) for w in tail]
        cumulative, running = [], 0.0
        for weight in weights:
            running += weight
            cumulative.append(running)
        now = datetime.now(UTC).replace(microsecond=0)
        return cls(now, [uuid.uuid4() for _ in range(TENANTS)], cumulative, rows_per_table)

    @property
    def big(self) -> uuid.UUID:
        return self.tenants[0]

    @property
    def start(self) -> datetime:
        return self.now - timedelta(days=DAYS)

    def tenant_indexes(self, count: int) -> list[int]:
        return random.choices(range(TENANTS), cum_weights=self.cumulative, k=count)

    def offsets(self, first: int, count: int, step: int = 1) -> list[float]:
        """Seconds after the start of the 30 days for rows ``first``, ``first + step``, ...:
        rising with the row number, as telemetry arrives (so a day's rows sit together on disk,
        as they do in production), with a second of jitter."""
        scale = (DAYS * 86_400 - 60) / self.rows_per_table
        return [(first + n * step) * scale + random.random() for n in range(count)]


def _not_null_constants(table: Table, varying: Sequence[str], now: datetime) -> dict[str, Any]:
    """Values for the NOT NULL columns a generator leaves alone: their model defaults."""
    constants: dict[str, Any] = {}
    for column in table.columns:
        if column.name in varying or column.nullable or column.autoincrement is True:
            continue
        default = column.default
        if default is None:
            raise RuntimeError(f"{table.name}.{column.name} needs a value")
        value = default.arg(None) if default.is_callable else default.arg
        if isinstance(value, datetime):
            value = now
        elif isinstance(value, dict | list):
            value = json.dumps(value)
        constants[column.name] = getattr(value, "value", value)
    return constants


@dataclass
class Load:
    table: Table
    varying: list[str]
    rows: Callable[[int, int], list[tuple[Any, ...]]]


def _hex(bits: int) -> str:
    return f"{random.getrandbits(bits):0{bits // 4}x}"


def usage_rows(world: World, first: int, count: int) -> list[tuple[Any, ...]]:
    ids = random_uuids(count)
    tenants = world.tenant_indexes(count)
    offsets = world.offsets(first, count)
    base = int(world.start.timestamp()) * NANOS
    rows = []
    for n in range(count):
        tenant = tenants[n]
        model = MODELS[n % 7 if n % 11 else 7]
        uncached = 500 + (n * 7919) % 8000
        cache_read = (n * 104729) % 20000 if n % 3 else 0
        cache_write = (n * 31) % 2000
        total_input = uncached + cache_read + cache_write
        output = 100 + (n * 613) % 3000
        rows.append(
            (
                ids[n],
                str(world.tenants[tenant]),
                f"evt-{first + n:09d}",
                base + int(offsets[n] * NANOS),
                model,
                f"agent-{tenant:02d}-{n % 40:02d}",
                "anthropic" if model.startswith("claude") else "other",
                uncached,
                output,
                cache_write,
                cache_read,
                total_input,
                3_000 * uncached + 15_000 * output + 300 * cache_read,
                cache_read / total_input,
                2_700 * cache_read,
                "priced",
                _hex(128),
                _hex(64),
                f"session-{(first + n) // 20}",
            )
        )
    return rows


USAGE_VARYING = [
    "id",
    "tenant_id",
    "event_id",
    "timestamp_unix_nano",
    "model_used",
    "agent_id",
    "provider",
    "input_tokens",
    "output_tokens",
    "cache_creation_input_tokens",
    "cache_read_input_tokens",
    "total_input_tokens",
    "computed_cost_picos",
    "cache_hit_rate",
    "cache_cost_savings_picos",
    "cost_status",
    "trace_id",
    "span_id",
    "session_id",
]
USAGE_FIXED = {"metric_type": "model_call", "metric_name": "completion"}


def span_rows(world: World, first: int, count: int) -> list[tuple[Any, ...]]:
    traces = count // SPANS_PER_TRACE + 1
    tenants = world.tenant_indexes(traces)
    offsets = world.offsets(first, traces, SPANS_PER_TRACE)
    base = int(world.start.timestamp()) * NANOS
    attributes = json.dumps({"gen_ai.request.model": "claude-sonnet-4-20250514"})
    resource = json.dumps({"service.name": "x"})
    rows = []
    for t in range(traces):
        trace_id = _hex(128)
        root_id = _hex(64)
        start = base + int(offsets[t] * NANOS)
        tenant = str(world.tenants[tenants[t]])
        service = SERVICES[t % len(SERVICES)]
        for s in range(SPANS_PER_TRACE):
            if len(rows) == count:
                break
            span_start = start + s * 2_000_000
            duration = (1 + (t * 37 + s * 101) % 400) * 1_000_000  # 1 ms to 400 ms
            errored = (t + s) % 50 == 0  # 2% of spans
            rows.append(
                (
                    trace_id,
                    root_id if s == 0 else _hex(64),
                    None if s == 0 else root_id,
                    service if s == 0 else SERVICES[(t + s) % len(SERVICES)],
                    SPAN_NAMES[(t + s) % len(SPAN_NAMES)],
                    "server" if s == 0 else "client",
                    span_start,
                    span_start + duration,
                    duration,
                    "error" if errored else "ok",
                    "boom" if errored else "",
                    attributes,
                    resource,
                    "[]",
                    tenant,
                    world.now,
                )
            )
    return rows


#: The span columns as the service itself stores them (its OTLP conversion's, and received_at).
SPAN_VARYING = list(SPAN_TARGET.columns)


def metric_rows(world: World, first: int, count: int) -> list[tuple[Any, ...]]:
    ids = random_uuids(count)
    tenants = world.tenant_indexes(count)
    offsets = world.offsets(first, count)
    rows = []
    for n in range(count):
        metric_type = METRIC_TYPES[n % 5]
        cost = 1_000_000 * (1 + n % 997) if metric_type == "cost" else None
        value = {
            "latency": float(50 + n % 3000),
            "tokens": float(100 + n % 9000),
            "cost": (cost or 0) / 10**12,
            "success_rate": float(90 + n % 11),
            "error_rate": float(n % 10),
        }[metric_type]
        rows.append(
            (
                ids[n],
                str(world.tenants[tenants[n]]),
                f"agent-{tenants[n]:02d}-{n % 40:02d}",
                metric_type,
                value,
                cost,
                world.start + timedelta(seconds=offsets[n]),
                "{}",
            )
        )
    return rows


METRIC_VARYING = [
    "id",
    "tenant_id",
    "agent_id",
    "metric_type",
    "metric_value",
    "cost_pico",
    "recorded_at",
    "context",
]


def tool_rows(world: World, first: int, count: int) -> list[tuple[Any, ...]]:
    tenants = world.tenant_indexes(count)
    offsets = world.offsets(first, count)
    rows = []
    for n in range(count):
        roll = n % 100
        status = "error" if roll < 7 else "timeout" if roll < 10 else "ok"
        rows.append(
            (
                str(world.tenants[tenants[n]]),
                TOOLS[(n * 7) % len(TOOLS)],
                status,
                5 + (n * 131) % 5000,
                100 + n % 900,
                50 + n % 400,
                "tool failed: upstream said no" if status != "ok" else None,
                world.start + timedelta(seconds=offsets[n]),
            )
        )
    return rows


TOOL_VARYING = [
    "tenant_id",
    "tool_name",
    "status",
    "latency_ms",
    "tokens_in",
    "tokens_out",
    "error",
    "created_at",
]


def request_rows(world: World, first: int, count: int) -> list[tuple[Any, ...]]:
    tenants = world.tenant_indexes(count)
    offsets = world.offsets(first, count)
    rows = []
    for n in range(count):
        roll = n % 100
        status = 500 if roll < 2 else 429 if roll < 4 else 404 if roll < 5 else 200
        rows.append(
            (
                # 2% unattributed (sign-in, anonymous calls): only operators see them.
                None if n % 50 == 7 else str(world.tenants[tenants[n]]),
                f"req-{first + n:010d}",
                ENDPOINTS[(n * 3) % len(ENDPOINTS)],
                "GET" if n % 3 else "POST",
                status,
                3 + (n * 17) % 2000,
                f"E{status}" if status >= 400 else None,
                "request failed" if status >= 400 else None,
                world.start + timedelta(seconds=offsets[n]),
            )
        )
    return rows


REQUEST_VARYING = [
    "tenant_id",
    "request_id",
    "endpoint",
    "method",
    "status_code",
    "latency_ms",
    "error_code",
    "error_message",
    "created_at",
]


def activity_rows(world: World, first: int, count: int) -> list[tuple[Any, ...]]:
    ids = random_uuids(count)
    tenants = world.tenant_indexes(count)
    offsets = world.offsets(first, count)
    rows = []
    for n in range(count):
        action = ACTIONS[n % len(ACTIONS)]
        rows.append(
            (
                ids[n],
                world.tenants[tenants[n]],
                action,
                world.start + timedelta(seconds=offsets[n]),
                "user",
                action.split(".")[0],
                f"obj-{n % 5000}",
                "success",
                f"{action} obj-{n % 5000}",
            )
        )
    return rows


ACTIVITY_VARYING = [
    "id",
    "tenant_id",
    "action",
    "created_at",
    "actor_type",
    "object_type",
    "object_id",
    "status",
    "summary",
]


async def _load_table(dsn: str, world: World, load: Load, total: int) -> float:
    fixed = USAGE_FIXED if load.table.name == "agent_telemetry" else {}
    constants = {**fixed, **_not_null_constants(load.table, [*load.varying, *fixed], world.now)}
    columns = load.varying + list(constants)
    tail = tuple(constants.values())
    started = time.perf_counter()
    connection = await asyncpg.connect(dsn)
    try:
        for first in range(0, total, CHUNK):
            rows = load.rows(first, min(CHUNK, total - first))
            if tail:
                rows = [row + tail for row in rows]
            await connection.copy_records_to_table(load.table.name, records=rows, columns=columns)
            # Let the other loaders encode while this one's COPY is in the server.
            await asyncio.sleep(0)
    finally:
        await connection.close()
    return time.perf_counter() - started


async def load_all(dsn: str, world: World, rows: int) -> None:
    loads = [
        Load(UsageRecord.__table__, USAGE_VARYING, lambda f, c: usage_rows(world, f, c)),
        Load(SpanRecord.__table__, SPAN_VARYING, lambda f, c: span_rows(world, f, c)),
        Load(AgentMetricRecord.__table__, METRIC_VARYING, lambda f, c: metric_rows(world, f, c)),
        Load(ToolUsageRecord.__table__, TOOL_VARYING, lambda f, c: tool_rows(world, f, c)),
        Load(AgentRequestRecord.__table__, REQUEST_VARYING, lambda f, c: request_rows(world, f, c)),
        Load(
            ActivityEventRecord.__table__, ACTIVITY_VARYING, lambda f, c: activity_rows(world, f, c)
        ),
    ]
    started = time.perf_counter()
    # Two loaders at a time: one encodes in Python while the other's COPY runs in PostgreSQL.
    gate = asyncio.Semaphore(2)

    async def one(load: Load) -> None:
        async with gate:
            seconds = await _load_table(dsn, world, load, rows)
        print(f"  loaded {rows:,} rows into {load.table.name:<16} in {seconds:6.1f} s", flush=True)

    await asyncio.gather(*(one(load) for load in loads))
    connection = await asyncpg.connect(dsn)
    try:
        await _activity_reads(connection, world)
        vacuum = time.perf_counter()
        for load in loads:
            await connection.execute(f"VACUUM ANALYZE {load.table.name}")
        for table in ("activity_event_receipts", "activity_last_seen"):
            await connection.execute(f"VACUUM ANALYZE {table}")
        print(f"  VACUUM ANALYZE in {time.perf_counter() - vacuum:.1f} s")
    finally:
        await connection.close()
    print(f"loaded {len(loads)} tables in {time.perf_counter() - started:.1f} s", flush=True)


async def _activity_reads(connection: asyncpg.Connection, world: World) -> None:
    """The big tenant's user: a last-seen marker with 500 events after it (under the unread
    cap, so the count is exact) and receipts for 2,000 events from the 250th newest back, so
    250 events are unread."""
    after = await connection.fetch(
        "SELECT created_at, id FROM activity_events WHERE tenant_id = $1 "
        "ORDER BY created_at DESC, id DESC OFFSET 500 LIMIT 1",
        world.big,
    )
    marker_at, marker_id = after[0]["created_at"], after[0]["id"]
    await connection.execute(
        "INSERT INTO activity_last_seen (id, tenant_id, user_id, last_seen_created_at, "
        "last_seen_event_id, updated_at) VALUES ($1, $2, $3, $4, $5, now())",
        uuid.uuid4(),
        world.big,
        world.big_user,
        marker_at,
        marker_id,
    )
    await connection.execute(
        "INSERT INTO activity_event_receipts (id, tenant_id, user_id, event_id, status, "
        "created_at, updated_at) SELECT gen_random_uuid(), tenant_id, $2, id, 'read', now(), "
        "now() FROM activity_events WHERE tenant_id = $1 ORDER BY created_at DESC "
        "OFFSET 250 LIMIT 2000",
        world.big,
        world.big_user,
    )


# ----- capturing and explaining the SQL an RPC runs -----


class Capture:
    """Every statement the in-process service sends, while armed (SQLAlchemy engine events)."""

    def __init__(self) -> None:
        self.armed = False
        self.statements: list[tuple[str, Any]] = []
        event.listen(Engine, "before_cursor_execute", self._seen)

    def _seen(self, conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if self.armed and statement.lstrip().upper().startswith(("SELECT", "WITH")):
            self.statements.append((statement, parameters))

    def arm(self) -> None:
        self.statements = []
        self.armed = True

    def disarm(self) -> list[tuple[str, Any]]:
        self.armed = False
        return self.statements


#: The loaded tables: a sequential scan of one of these is a full scan of a million rows (the
#: receipts and last-seen tables hold a few rows here, where a sequential scan is the right plan).
LARGE_TABLES = frozenset(
    {"agent_telemetry", "spans", "agent_metrics", "mcp_tool_usage", "agent_requests"}
    | {"activity_events"}
)


@dataclass
class Explained:
    milliseconds: float
    scans: list[str]
    #: When PostgreSQL keeps a generic plan: what the custom plan (the statement's values
    #: planned each time) takes, for comparison.
    custom_milliseconds: float | None = None

    @property
    def full_scan(self) -> bool:
        return any(
            scan.split()[0] == "SEQ" and scan.split()[1] in LARGE_TABLES for scan in self.scans
        )


def _scans(plan: dict[str, Any]) -> Iterator[str]:
    node = plan["Node Type"]
    if node == "Seq Scan":
        yield f"SEQ {plan['Relation Name']}"
    elif node in ("Index Scan", "Index Only Scan", "Bitmap Index Scan"):
        kind = {"Index Scan": "idx", "Index Only Scan": "idx-only", "Bitmap Index Scan": "bitmap"}
        yield f"{kind[node]} {plan['Index Name']}"
    for child in plan.get("Plans", []):
        yield from _scans(child)


def _literal(value: Any) -> str:
    """A bound value as SQL text, for EXECUTE of a statement prepared with $n parameters."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | float):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


async def _plan(connection: asyncpg.Connection, mode: str, execute: str, analyze: bool) -> Any:
    await connection.execute(f"SET plan_cache_mode = {mode}")
    options = "ANALYZE, FORMAT JSON" if analyze else "FORMAT JSON"
    return json.loads(await connection.fetchval(f"EXPLAIN ({options}) {execute}"))[0]


async def explain(connection: asyncpg.Connection, statement: str, parameters: Any) -> Explained:
    """The plan the service's connection runs, under EXPLAIN (ANALYZE).

    The service's driver prepares its statements, and after five runs PostgreSQL may switch a
    prepared statement to a generic plan (one for any parameter values) when that plan's
    estimate is cheaper than the custom plans' (plan_cache_mode auto). A plain EXPLAIN of the
    statement always shows a custom plan, so both are estimated here and the one PostgreSQL
    would keep is analyzed; generic plans are marked.
    """
    arguments = list(parameters) if isinstance(parameters, list | tuple) else []
    await connection.execute(f"PREPARE bench_statement AS {statement}")
    try:
        execute = "EXECUTE bench_statement"
        if arguments:
            execute += f"({', '.join(_literal(value) for value in arguments)})"
        custom = await _plan(connection, "force_custom_plan", execute, analyze=False)
        generic = await _plan(connection, "force_generic_plan", execute, analyze=False)
        is_generic = generic["Plan"]["Total Cost"] < custom["Plan"]["Total Cost"]
        mode = "force_generic_plan" if is_generic else "force_custom_plan"
        document = await _plan(connection, mode, execute, analyze=True)
        custom_ms = None
        if is_generic:
            analyzed = await _plan(connection, "force_custom_plan", execute, analyze=True)
            custom_ms = analyzed["Execution Time"]
    finally:
        await connection.execute("DEALLOCATE bench_statement")
        await connection.execute("RESET plan_cache_mode")
    scans = list(dict.fromkeys(_scans(document["Plan"])))
    if is_generic:
        scans = [f"{scan} [generic plan]" for scan in scans]
    return Explained(document["Execution Time"], scans, custom_ms)


# ----- the calls -----


@dataclass
class Case:
    name: str
    who: str
    call: Callable[[], Awaitable[object]]


async def _time(call: Callable[[], Awaitable[object]], calls: int) -> tuple[float, float]:
    # Warm-up: connections, the page cache, and past the five custom plans PostgreSQL makes for
    # a prepared statement before it may keep a generic one, so the steady state is measured.
    for _ in range(6):
        await call()
    samples = []
    for _ in range(calls):
        started = time.perf_counter()
        await call()
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    p95 = samples[min(len(samples) - 1, round(0.95 * (len(samples) - 1)))]
    return statistics.median(samples), p95


def _stamp(moment: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(moment)
    return stamp


def cases(
    channel: Any,
    world: World,
    member: list[tuple[str, str]],
    operator: list[tuple[str, str]],
    trace_ids: list[str],
) -> list[Case]:
    usage = UsageServiceStub(channel)
    traces = TelemetryServiceStub(channel)
    metrics = AgentMetricsServiceStub(channel)
    tools = ToolUsageServiceStub(channel)
    requests = RequestLogServiceStub(channel)
    activity = ActivityServiceStub(channel)
    big = str(world.big)
    end = _stamp(world.now)
    windows = {
        "24h": _stamp(world.now - timedelta(hours=24)),
        "7d": _stamp(world.now - timedelta(days=7)),
        "30d": _stamp(world.now - timedelta(days=30)),
    }
    dimensions = {
        "model": usage_pb2.COST_DIMENSION_MODEL,
        "agent": usage_pb2.COST_DIMENSION_AGENT,
        "day": usage_pb2.COST_DIMENSION_DAY,
    }
    result: list[Case] = []

    def add(name: str, who: str, call: Callable[[], Awaitable[object]]) -> None:
        result.append(Case(name, who, call))

    as_who = {"tenant": (member, ""), "operator": (operator, big)}
    for who, (metadata, tenant) in as_who.items():
        for window, start in windows.items():
            for label, dimension in dimensions.items():
                request = usage_pb2.SummarizeCostRequest(
                    tenant_id=tenant, start_time=start, end_time=end, group_by=[dimension]
                )
                add(
                    f"SummarizeCost by {label} {window}",
                    who,
                    lambda r=request, m=metadata: usage.SummarizeCost(r, metadata=m),
                )
        for window, start in windows.items():
            request = usage_pb2.GetCacheSavingsRequest(
                tenant_id=tenant, start_time=start, end_time=end
            )
            add(
                f"GetCacheSavings {window}",
                who,
                lambda r=request, m=metadata: usage.GetCacheSavings(r, metadata=m),
            )
        searches = {
            "newest": telemetry_pb2.SearchTracesRequest(tenant_id=tenant, page_size=50),
            "service": telemetry_pb2.SearchTracesRequest(
                tenant_id=tenant, service_name="agents", page_size=50
            ),
            "errors 24h": telemetry_pb2.SearchTracesRequest(
                tenant_id=tenant, errors_only=True, start_time=windows["24h"], page_size=50
            ),
            "name+min 300ms 7d": telemetry_pb2.SearchTracesRequest(
                tenant_id=tenant,
                span_name="call a",
                min_duration=Duration(seconds=0, nanos=300_000_000),
                start_time=windows["7d"],
                page_size=50,
            ),
        }
        for label, request in searches.items():
            add(
                f"SearchTraces {label}",
                who,
                lambda r=request, m=metadata: traces.SearchTraces(r, metadata=m),
            )
        picks = iter(trace_ids * 10)  # a different trace each call, the big tenant's
        add(
            "GetTrace",
            who,
            lambda m=metadata, p=picks: traces.GetTrace(
                telemetry_pb2.GetTraceRequest(trace_id=next(p)), metadata=m
            ),
        )
        for window, start in windows.items():
            request = metrics_pb2.GetAgentStatisticsRequest(
                tenant_id=tenant, start_time=start, end_time=end
            )
            add(
                f"GetAgentStatistics {window}",
                who,
                lambda r=request, m=metadata: metrics.GetAgentStatistics(r, metadata=m),
            )
        for window in ("24h", "7d"):
            request = tool_usage_pb2.GetToolUsageAnalyticsRequest(
                tenant_id=tenant, start_time=windows[window], end_time=end
            )
            add(
                f"GetToolUsageAnalytics {window}",
                who,
                lambda r=request, m=metadata: tools.GetToolUsageAnalytics(r, metadata=m),
            )
        errors = requests_pb2.ListRecentErrorsRequest(tenant_id=tenant, page_size=50)
        add(
            "ListRecentErrors",
            who,
            lambda r=errors, m=metadata: requests.ListRecentErrors(r, metadata=m),
        )
        tool_errors = tool_usage_pb2.ListRecentToolErrorsRequest(tenant_id=tenant, page_size=50)
        add(
            "ListRecentToolErrors",
            who,
            lambda r=tool_errors, m=metadata: tools.ListRecentToolErrors(r, metadata=m),
        )
        feed = activity_pb2.ListActivityRequest(tenant_id=tenant, page_size=50)
        add("ListActivity", who, lambda r=feed, m=metadata: activity.ListActivity(r, metadata=m))
        if who == "tenant":  # the unread count is a user's, and operators are not the tenant's
            unread = activity_pb2.GetUnreadCountRequest()
            add(
                "GetUnreadCount",
                who,
                lambda r=unread, m=metadata: activity.GetUnreadCount(r, metadata=m),
            )
    # Operators across every tenant, where the RPC allows it.
    everyone = {
        "SummarizeCost by model 24h (all tenants)": lambda: usage.SummarizeCost(
            usage_pb2.SummarizeCostRequest(
                start_time=windows["24h"],
                end_time=end,
                group_by=[usage_pb2.COST_DIMENSION_TENANT, usage_pb2.COST_DIMENSION_MODEL],
            ),
            metadata=operator,
        ),
        "GetCacheSavings 24h (all tenants)": lambda: usage.GetCacheSavings(
            usage_pb2.GetCacheSavingsRequest(start_time=windows["24h"], end_time=end),
            metadata=operator,
        ),
        "SearchTraces newest (all tenants)": lambda: traces.SearchTraces(
            telemetry_pb2.SearchTracesRequest(page_size=50), metadata=operator
        ),
        "SearchTraces errors 24h (all tenants)": lambda: traces.SearchTraces(
            telemetry_pb2.SearchTracesRequest(
                errors_only=True, start_time=windows["24h"], page_size=50
            ),
            metadata=operator,
        ),
        "ListRecentErrors (all tenants)": lambda: requests.ListRecentErrors(
            requests_pb2.ListRecentErrorsRequest(page_size=50), metadata=operator
        ),
        "ListRecentToolErrors (all tenants)": lambda: tools.ListRecentToolErrors(
            tool_usage_pb2.ListRecentToolErrorsRequest(page_size=50), metadata=operator
        ),
    }
    for name, call in everyone.items():
        add(name, "operator", call)
    return result


async def _run(url: str, dsn: str, world: World, calls: int, only: str) -> None:
    capture = Capture()
    issuer = TestIssuer()
    member = issuer.member(str(world.big), "viewer", user_id=str(world.big_user))
    operator = issuer.operator()
    connection = await asyncpg.connect(dsn)
    try:
        trace_ids = [
            row["trace_id"]
            for row in await connection.fetch(
                "SELECT trace_id FROM spans TABLESAMPLE SYSTEM (1) WHERE tenant_id = $1 LIMIT 40",
                str(world.big),
            )
        ] or [  # a small load may leave the 1% sample empty
            row["trace_id"]
            for row in await connection.fetch(
                "SELECT trace_id FROM spans WHERE tenant_id = $1 LIMIT 40", str(world.big)
            )
        ]
        async with (
            running_service(
                "telemetry", url, authenticator=issuer.authenticator(), retention_interval_seconds=0
            ) as service,
            open_channel(service.target) as channel,
        ):
            health = health_pb2_grpc.HealthStub(channel)
            check = health_pb2.HealthCheckRequest(service="")
            health_median, health_p95 = await _time(lambda: health.Check(check), calls)
            print(
                f"\n{'RPC':<44} {'as':<9} {'median':>8} {'p95':>8} {'/health':>8} "
                f"{'SQL ms':>7} {'custom':>7}  scans (slowest statement first)"
            )
            print(
                f"{'grpc.health.v1 Check':<44} {'-':<9} {health_median:8.2f} "
                f"{health_p95:8.2f} {1.0:8.1f}"
            )
            slow: list[str] = []
            for case in cases(channel, world, member, operator, trace_ids):
                if only and only not in case.name:
                    continue
                median, p95 = await _time(case.call, calls)
                capture.arm()
                await case.call()
                statements = capture.disarm()
                explained = sorted(
                    [await explain(connection, s, p) for s, p in statements],
                    key=lambda e: -e.milliseconds,
                )
                sql_ms = explained[0].milliseconds if explained else 0.0
                custom = explained[0].custom_milliseconds if explained else None
                scans = "; ".join(", ".join(e.scans) or "(no table)" for e in explained)
                flag = " FULL SCAN" if any(e.full_scan for e in explained) else ""
                print(
                    f"{case.name:<44} {case.who:<9} {median:8.2f} {p95:8.2f} "
                    f"{median / health_median:8.0f} {sql_ms:7.1f} "
                    f"{'' if custom is None else f'{custom:.1f}':>7}  {scans}{flag}",
                    flush=True,
                )
                if flag or median > 100:
                    slow.append(f"{case.name} ({case.who})")
            print(f"\nover ~100 ms or a full scan: {', '.join(slow) or 'none'}")
    finally:
        await connection.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows per table")
    parser.add_argument("--calls", type=int, default=20, help="timed calls per RPC")
    parser.add_argument("--only", default="", help="time only the RPCs whose name holds this")
    parser.add_argument(
        "--keep", action="store_true", help="keep the database (its name is printed)"
    )
    parser.add_argument(
        "--database-url", default="", help="reuse a database loaded by an earlier --keep run"
    )
    args = parser.parse_args()
    world = World.make(args.rows)
    with postgres_server() as postgres:
        name = ""
        if args.database_url:
            url = args.database_url
        else:
            name = asyncio.run(postgres.create_database("telemetry_analytics"))
            url = postgres.database_url(name)
        try:

            async def migrate() -> None:
                database = Database(url)
                try:
                    await upgrade_to_head(database, spec_for("telemetry").migrations_dir)
                finally:
                    await database.dispose()

            asyncio.run(migrate())
            dsn = url.replace("postgresql+asyncpg", "postgresql")
            print(f"PostgreSQL ({postgres.source}), database {url.rsplit('/', 1)[-1]}")
            if args.database_url:
                world = asyncio.run(_world_of(dsn, world))
            else:
                print(f"loading {args.rows:,} rows per table over {TENANTS} tenants, {DAYS} days")
                asyncio.run(load_all(dsn, world, args.rows))
            asyncio.run(_run(url, dsn, world, args.calls, args.only))
        finally:
            if name and not args.keep:
                asyncio.run(postgres.drop_databases([name]))
            elif name:
                print(f"kept: --database-url {url}")


async def _world_of(dsn: str, world: World) -> World:
    """An earlier run's world, recovered from its rows (the big tenant, its user, its 'now')."""
    connection = await asyncpg.connect(dsn)
    try:
        marker = await connection.fetchrow("SELECT tenant_id, user_id FROM activity_last_seen")
        newest = await connection.fetchval("SELECT max(created_at) FROM activity_events")
        await connection.execute("ANALYZE")
    finally:
        await connection.close()
    tenants = [marker["tenant_id"], *world.tenants[1:]]
    return World(
        newest.replace(microsecond=0) + timedelta(seconds=60),
        tenants,
        world.cumulative,
        world.rows_per_table,
        marker["user_id"],
    )


if __name__ == "__main__":
    main()
