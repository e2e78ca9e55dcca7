"""Completed agent turns per second beside a raw gRPC health check of the conversation service,
and the time from posting a message to its first streamed token, in the same run.

Run: ``uv run python -m tests.benchmarks.bench_conversation_turn [--backend sqlite|postgresql]
[--conversations 50] [--tenants 10] [--turns 3] [--seconds 5] [--workers 8]
[--worker-processes 0] [--count-calls]``. Every service runs in this one process (identity, tenancy, tooling,
telemetry, conversation) with the local test provider at zero latency, as the service tests
build them. With ``--worker-processes N`` the runs are carried out by N `quarterdeck worker`
processes (``--workers`` runs each), as deployed beside the conversation service, which then
runs no worker of its own; CPU per turn is given per process (this one: every other service
and the clients; each worker), read from /proc. Without it, the workers run in this process
too, and the figures are of one CPU-shared process, a floor for a deployment. Turns:
``--conversations`` conversations across ``--tenants`` tenants each post ``--turns`` messages
one after another, each waiting for its run to complete. First token: a follower of the
conversation's ledger notes the first response.output_text.delta after each post; a closed loop
with no pause is saturated by design, its first token mostly queueing, so a second round of as
many turns pauses before each post (exponential, offering about half the rate just measured)
and gives the first token below saturation. Not collected
by pytest (the name is bench_*). ``--count-calls`` installs a tracer provider (no exporter) whose
server spans count the RPCs served per turn, by method, in this process, and prints the floor
of a turn: its calls at a health check's CPU and its statements at a raw ``SELECT 1``'s, the
least CPU a turn making those calls and statements could cost, and so the highest
turns/health ratio it could reach.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import os
import random
import re
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import asyncpg
from grpc_health.v1 import health_pb2, health_pb2_grpc
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.trace import SpanKind
from sqlalchemy import Pool, event
from sqlalchemy.engine import Engine

from quarterdeck.conversation.v1 import events_pb2 as epb
from quarterdeck.conversation.v1 import runs_pb2 as rpb
from shared.grpc_client import open_channel
from tests.benchmarks.bench_hot_path import _cpu_seconds
from tests.benchmarks.bench_pricing import _measure
from tests.support.conversation import new_conversation, say
from tests.support.conversation_turn import Tenant, TurnStack, new_tenant, turn_stack
from tests.support.postgres import PostgresServer, postgres_server
from tests.support.stack import Databases
from tests.support.worker_processes import worker_process

FINISHED = (rpb.RUN_STATUS_COMPLETED, rpb.RUN_STATUS_FAILED)


async def _conversation_turns(
    stack: TurnStack,
    tenant: Tenant,
    turns: int,
    first_tokens: list[float],
    phases: list[tuple[float, float]],
    think_seconds: float = 0.0,
) -> int:
    """Posts ``turns`` messages one after another to a new conversation, each after the last
    run completed and a pause drawn from an exponential distribution of mean ``think_seconds``
    (none at 0); returns how many runs completed."""
    conversation = await new_conversation(
        stack.conversation, tenant.member, agent_id=tenant.agent_id
    )
    follow = stack.conversation.events.FollowEvents(
        epb.FollowEventsRequest(conversation_id=conversation.id), metadata=tenant.member
    )
    posted_at: list[float] = []
    completed: asyncio.Queue[str] = asyncio.Queue()

    async def read() -> None:
        seen_for = -1
        async for response in follow:
            event = response.event
            if event.kind == "response.output_text.delta" and seen_for < len(posted_at) - 1:
                seen_for = len(posted_at) - 1
                first_tokens.append(time.perf_counter() - posted_at[seen_for])
            elif event.kind in ("run.completed", "run.failed"):
                await completed.put(event.kind)

    reader = asyncio.ensure_future(read())
    done = 0
    try:
        for i in range(turns):
            if think_seconds:
                await asyncio.sleep(random.expovariate(1 / think_seconds))
            posted_at.append(time.perf_counter())
            posted = await say(
                stack.conversation, tenant.member, conversation.id, f"turn {i}", start_run=True
            )
            if await asyncio.wait_for(completed.get(), 120) == "run.completed":
                done += 1
            run = (
                await stack.conversation.runs.GetRun(
                    rpb.GetRunRequest(run_id=posted.run.id), metadata=tenant.member
                )
            ).run
            created, began, ended = (
                t.ToNanoseconds() / 1e9
                for t in (run.create_time, run.start_time, run.complete_time)
            )
            phases.append((began - created, ended - began))
    finally:
        follow.cancel()
        reader.cancel()
    return done


def _service_of(database: str) -> str:
    """The service a database belongs to, from its name or file (``qd_test_conversation_ab12cd``,
    ``.../conversation-bench.db``)."""
    return re.sub(r"^qd_(test_)?|_[0-9a-f]{6,}$|-[a-z]+$", "", Path(database).stem)


class _Statements:
    """Statements each service's database is sent while :attr:`counting`, counted at the driver
    (so those run on the driver's connection, bypassing SQLAlchemy, count too; BEGIN, COMMIT
    and PRAGMAs included): every statement SQLite's connection runs (its trace callback), and on
    PostgreSQL asyncpg's own statements (its query logger) plus SQLAlchemy's, which go through
    prepared statements asyncpg does not log. ``<service> commits`` counts the COMMITs.
    Installed before the services open any connection: it hooks each connection as the pool
    makes it."""

    def __init__(self) -> None:
        self.counted: collections.Counter[str] = collections.Counter()
        self.counting = False

    def install(self) -> None:
        event.listen(Pool, "connect", self._connected)
        event.listen(Engine, "before_cursor_execute", self._executed)

    def remove(self) -> None:
        event.remove(Pool, "connect", self._connected)
        event.remove(Engine, "before_cursor_execute", self._executed)

    def _count(self, service: str, statement: str) -> None:
        if self.counting:
            self.counted[service] += 1
            if statement.lstrip()[:6].upper() == "COMMIT":
                self.counted[f"{service} commits"] += 1

    def _connected(self, dbapi_connection: Any, _record: Any) -> None:
        driver = dbapi_connection.driver_connection
        if isinstance(driver, asyncpg.Connection):
            service = _service_of(driver._params.database)
            driver.add_query_logger(lambda logged: self._count(service, logged.query))
        else:  # aiosqlite's: its sqlite3 connection, shared with its thread
            raw: sqlite3.Connection = driver._conn
            service = _service_of(raw.execute("PRAGMA database_list").fetchone()[2])
            last = [""]

            def traced(statement: str) -> None:
                # Not statements sent: a virtual table's own ("-- ..."), and the statement
                # reported again at the start of each trigger it fires (same text, values and
                # all, right after it).
                if statement.startswith("--") or statement == last[0]:
                    return
                last[0] = statement
                self._count(service, statement)

            raw.set_trace_callback(traced)

    def _executed(self, connection: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if connection.dialect.name == "postgresql":
            self._count(_service_of(str(connection.engine.url.database or "")), statement)


class _ServedCalls(SpanProcessor):
    """Counts the RPCs this process serves, by ``Service/Method``, from their server spans."""

    def __init__(self) -> None:
        self.counted: collections.Counter[str] = collections.Counter()

    def on_end(self, span: ReadableSpan) -> None:
        if span.kind is SpanKind.SERVER:
            service, _, method = span.name.lstrip("/").partition("/")
            self.counted[f"{service.rsplit('.', 1)[-1]}/{method}"] += 1


async def _raw_statement_cpu(database_url: str, statements: int = 4000) -> float:
    """CPU seconds one raw ``SELECT 1`` round trip to the conversation database costs with the
    driver alone (asyncpg's prepared statement; sqlite3 on the file): the least any statement
    of a turn can cost. The CPU is this thread's (where the statements and their socket calls
    run), so gRPC's threads, still winding down from the health checks, do not count."""
    if database_url.startswith("postgresql"):
        connection = await asyncpg.connect(database_url.replace("+asyncpg", ""))
        try:
            one = await connection.prepare("SELECT 1")
            started = time.thread_time()
            for _ in range(statements):
                await one.fetchval()
            spent = time.thread_time() - started
        finally:
            await connection.close()
    else:
        with contextlib.closing(sqlite3.connect(database_url.split("///", 1)[1])) as raw:
            started = time.thread_time()
            for _ in range(statements):
                raw.execute("SELECT 1").fetchone()
            spent = time.thread_time() - started
    return spent / statements


async def _workers_ready(logs: list[Path], within: float = 120.0) -> None:
    """Wait until every worker process says it is carrying out runs."""
    deadline = time.monotonic() + within
    while not all(log.exists() and b"carrying out runs" in log.read_bytes() for log in logs):
        if time.monotonic() > deadline:
            raise TimeoutError(f"worker processes not ready within {within} s: see {logs}")
        await asyncio.sleep(0.2)


async def main(
    postgres: PostgresServer,
    backend: str,
    conversations: int,
    tenants: int,
    turns: int,
    seconds: float,
    workers: int,
    worker_processes: int,
    count_calls: bool = False,
) -> None:
    served = _ServedCalls()
    statements = _Statements()
    statements.install()
    if count_calls:  # before any service starts: their tracers resolve to this provider
        provider = TracerProvider()
        provider.add_span_processor(served)
        trace.set_tracer_provider(provider)
    with tempfile.TemporaryDirectory() as scratch:
        databases = Databases(Path(scratch), postgres)
        if worker_processes:
            # As deployed: the service runs no worker; on PostgreSQL its followers learn of
            # the workers' appends by NOTIFY, polling rarely.
            overrides: dict[str, object] = {
                "run_workers_in_process": False,
                "follow_poll_seconds": 60 if backend == "postgresql" else 1.0,
            }
        else:
            overrides = {"run_worker_concurrency": workers}
        try:
            async with contextlib.AsyncExitStack() as running:
                stack = await running.enter_async_context(
                    turn_stack(databases, backend, "bench", **overrides)
                )
                logs = [Path(scratch) / f"worker-{n}.log" for n in range(worker_processes)]
                processes = [
                    await running.enter_async_context(
                        worker_process(
                            stack,
                            log,
                            run_worker_concurrency=workers,
                            run_worker_interval_seconds=0.2,
                        )
                    )
                    for log in logs
                ]
                await _workers_ready(logs)
                made = [await new_tenant(stack) for _ in range(tenants)]
                async with open_channel(stack.conversation.running.target) as channel:
                    health = health_pb2_grpc.HealthStub(channel)
                    cpu_before = time.process_time()
                    checks, _ = await _measure(
                        lambda: health.Check(health_pb2.HealthCheckRequest()),
                        conversations,
                        seconds,
                    )
                    # Warm-up (not counted in the rate) included: at the same rate.
                    health_cpu = (time.process_time() - cpu_before) / (
                        checks * (seconds + min(1.0, seconds / 5))
                    )
                statement_cpu = await _raw_statement_cpu(
                    await databases.url(backend, "conversation", "bench")
                )
                first_tokens: list[float] = []
                phases: list[tuple[float, float]] = []
                started = time.perf_counter()
                cpu_started = time.process_time()
                workers_started = [_cpu_seconds(p.pid) for p in processes]
                served.counted.clear()
                statements.counting = True
                completed = await asyncio.gather(
                    *(
                        _conversation_turns(stack, made[i % tenants], turns, first_tokens, phases)
                        for i in range(conversations)
                    )
                )
                statements.counting = False
                served_in_turns = collections.Counter(served.counted)
                elapsed = time.perf_counter() - started
                turns_cpu = time.process_time() - cpu_started
                pids = [str(p.pid) for p in processes]
                workers_cpu = [
                    _cpu_seconds(p.pid) - before
                    for p, before in zip(processes, workers_started, strict=True)
                ]
                # The same conversations' worth of turns again, each message posted after a
                # pause: offered about half the rate just measured, the platform below
                # saturation, where the time to the first token is the turn's and not the
                # queue's (a closed loop with no pause is saturated by design).
                turn_seconds = statistics.median(sum(p) for p in phases)
                think = max(0.0, conversations / (0.5 * sum(completed) / elapsed) - turn_seconds)
                calm_tokens: list[float] = []
                calm_started = time.perf_counter()
                calm_completed = await asyncio.gather(
                    *(
                        _conversation_turns(stack, made[i % tenants], turns, calm_tokens, [], think)
                        for i in range(conversations)
                    )
                )
                calm_rate = sum(calm_completed) / (time.perf_counter() - calm_started)
        finally:
            statements.remove()
            await databases.drop_all()
    done = max(sum(completed), 1)
    turns_per_second = sum(completed) / elapsed
    ordered = sorted(first_tokens)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    queued = statistics.median(p[0] for p in phases) * 1000
    running_ms = statistics.median(p[1] for p in phases) * 1000
    where = (
        f"{worker_processes} worker processes x {workers} runs"
        if worker_processes
        else f"{workers} run workers in process"
    )
    print(f"backend: {backend}; {conversations} conversations across {tenants} tenants, {where}")
    print(
        f"health check              {checks:10.1f} calls/s ({conversations} callers), "
        f"{health_cpu * 1000:.2f} CPU ms/call"
    )
    total_cpu = turns_cpu + sum(workers_cpu)
    print(
        f"completed turns           {turns_per_second:10.1f} turns/s ({sum(completed)} turns), "
        f"{total_cpu / done * 1000:.0f} CPU ms/turn ({total_cpu / elapsed:.2f} cores busy)"
    )
    if worker_processes:
        each = " / ".join(f"{cpu / done * 1000:.0f}" for cpu in workers_cpu)
        print(
            f"  per process             services+clients {turns_cpu / done * 1000:.0f} "
            f"({turns_cpu / elapsed:.2f} cores), workers {each} CPU ms/turn "
            f"({sum(workers_cpu) / elapsed:.2f} cores)"
        )
    print(f"ratio turns/health        {turns_per_second / checks:10.4f}x")
    print(
        f"post to first token       p50 {statistics.median(ordered) * 1000:.0f} ms, "
        f"p99 {p99 * 1000:.0f} ms ({len(ordered)} turns)"
    )
    print(f"run phases (p50)          queued {queued:.0f} ms, leased to done {running_ms:.0f} ms")
    calm = sorted(calm_tokens)
    print(
        f"below saturation          {calm_rate:.1f} turns/s (a pause of {think:.1f} s on average "
        f"before each post): post to first token p50 {statistics.median(calm) * 1000:.0f} ms, "
        f"p99 {calm[min(len(calm) - 1, int(len(calm) * 0.99))] * 1000:.0f} ms ({len(calm)} turns)"
    )
    where = "this process's" if worker_processes else "all"
    print(
        f"statements per turn ({where}, at the driver): "
        + ", ".join(
            f"{name} {count / done:.1f}" for name, count in sorted(statements.counted.items())
        )
    )
    if count_calls:
        calls = sum(served_in_turns.values()) / done
        sent = sum(n for name, n in statements.counted.items() if "commits" not in name) / done
        floor = calls * health_cpu + sent * statement_cpu
        print(
            f"floor of a turn           {floor * 1000:.1f} CPU ms/turn, so at most "
            f"{health_cpu / floor:.3f}x health: its {calls:.1f} calls at a health check's CPU "
            f"and its {sent:.1f} statements at a raw SELECT 1's "
            f"({statement_cpu * 1e6:.0f} us), nothing else"
        )
        print(
            "calls served per turn:    "
            + f"{calls:.1f} in all: "
            + ", ".join(
                f"{name} {count / done:.2f}" for name, count in served_in_turns.most_common()
            )
        )
    if pids:
        print(f"pids                      this process {os.getpid()}, workers {' '.join(pids)}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--conversations", type=int, default=50)
    parser.add_argument("--tenants", type=int, default=10)
    parser.add_argument("--turns", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument(
        "--workers",
        type=int,
        default=8,
        help="runs a process works at once (run_worker_concurrency)",
    )
    parser.add_argument(
        "--worker-processes",
        type=int,
        default=0,
        help="carry out runs in this many `quarterdeck worker` processes (0: in this one)",
    )
    parser.add_argument(
        "--count-calls",
        action="store_true",
        help="count the RPCs served per turn (server spans of a non-exporting tracer provider)",
    )
    args = parser.parse_args()
    with postgres_server() as server:  # it probes with its own event loop: outside ours
        asyncio.run(
            main(
                server,
                args.backend,
                args.conversations,
                args.tenants,
                args.turns,
                args.seconds,
                args.workers,
                args.worker_processes,
                args.count_calls,
            )
        )
