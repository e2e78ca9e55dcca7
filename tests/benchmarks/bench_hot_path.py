"""The hot path of one authenticated read, beside the raw transport, measured side by side in one
run: calls per second, p50/p99 latency and CPU per call of every process involved.

Run: ``uv run python -m tests.benchmarks.bench_hot_path [--seconds 2] [--backends sqlite,postgresql]
[--postgres-url postgresql://postgres@127.0.0.1:5432/postgres] [--paths ...]
[--baseline-gateway /path/to/another/checkout]``.

Every server is a process of its own (so its CPU is read from ``/proc/<pid>/stat``), started
the way ``quarterdeck serve`` starts it (logging, tracing, event loop); this process is the
client. Per backend it measures, at 1 and 16 calls in flight:

- a raw ``grpc.aio`` echo between two processes (no interceptors, no database): the transport;
- ``grpc.health.v1.Health/Check`` on tenancy (the interceptor chain, no auth, no database);
- ``TenancyService.GetTenant`` by primary key, direct (token check plus one indexed read);
- ``GET /v1/tenants/{id}`` through the gateway (HTTP/1.1 keep-alive, one connection per caller);
- ``LimitsService.Reserve`` then ``Settle`` (one pair counts as one call);
- ``ModelCatalogService.PriceUsage``.

``--baseline-gateway`` also starts the gateway of another checkout (say, ``git worktree add
/tmp/before main``) beside this one, on the same tenancy, and measures its ``GET`` with this
one's (whenever that is selected), so a change to the gateway is measured before and after in one
run: ours, baseline, baseline, ours, half the time each, so neither gains from going second.

It prints the ratios the hot path is judged by. Loopback only; the PostgreSQL database is
created for the run and dropped after it. Not collected by pytest (the name is bench_*).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path

import asyncpg
import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

IN_FLIGHT = (1, 16)
#: The paths the ratios divide by, measured whatever ``--paths`` selects.
BASELINES = frozenset({"raw echo", "health Check"})
GATEWAY_GET = "GET /v1/tenants/{id}"
BASELINE_GATEWAY_GET = "GET (baseline gateway)"
PATHS = (
    "raw echo",
    "health Check",
    "GetTenant direct",
    GATEWAY_GET,
    BASELINE_GATEWAY_GET,
    "Reserve+Settle",
    "PriceUsage",
)
UNBOUNDED = 2_000_000_000
ECHO_METHOD = "/bench.Echo/Echo"
TOKEN_TTL_SECONDS = 3600
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _run(main: Awaitable[None]) -> None:
    """Run a served process's loop the way the services do (uvloop where the code uses it)."""
    from shared import server

    runner: Callable[[Awaitable[None]], None] = getattr(server, "run_event_loop", asyncio.run)
    runner(main)  # type: ignore[arg-type]


def _quiet_stderr() -> None:
    """Servers log a line per call at INFO, as deployed; the lines go nowhere here."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)


# --- the echo server: grpc.aio with nothing on top ------------------------------------------


async def _echo_serve(pipe: Connection) -> None:
    async def echo(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        return request

    handler = grpc.method_handlers_generic_handler(
        "bench.Echo", {"Echo": grpc.unary_unary_rpc_method_handler(echo)}
    )
    server = grpc.aio.server()
    server.add_generic_rpc_handlers([handler])
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    pipe.send(f"127.0.0.1:{port}")
    await asyncio.get_running_loop().run_in_executor(None, pipe.recv)
    await server.stop(0)


def _echo_main(pipe: Connection) -> None:
    _run(_echo_serve(pipe))


# --- tenancy, as `quarterdeck serve tenancy` runs it, with a test token issuer ---------------


async def _seed(database_url: str) -> str:
    from services.registry import spec_for
    from services.tenancy.model_configs.models import TenantModelConfigRecord
    from services.tenancy.pricing.seed_catalogue import model_id
    from services.tenancy.tenants.models import TenantRecord
    from shared.db import Database
    from shared.migrations import upgrade_to_head

    database = Database(database_url)
    tenant_id = uuid.uuid4()
    try:
        await upgrade_to_head(database, spec_for("tenancy").migrations_dir)
        async with database.transaction() as session:
            session.add(TenantRecord(id=tenant_id, slug=f"bench-{tenant_id.hex[:8]}", name="B"))
            await session.flush()
            session.add(
                TenantModelConfigRecord(
                    tenant_id=tenant_id,
                    llm_model_id=model_id("anthropic", "claude-sonnet-4-20250514"),
                    encrypted_api_key=b"bench",
                    api_key_hint="abcd",
                    key_version="bench",
                    rate_limit_rpm=UNBOUNDED,
                    rate_limit_tpm=UNBOUNDED,
                )
            )
    finally:
        await database.dispose()
    return str(tenant_id)


async def _tenancy_serve(database_url: str, pipe: Connection) -> None:
    from services.registry import spec_for
    from shared.auth import INTERNAL_SCOPE, Principal
    from shared.config import load_settings
    from shared.server import start_service
    from tests.support.stack import SERVICE_TEST_DEFAULTS, TEST_PAGE_TOKEN_SECRET
    from tests.support.tokens import TestIssuer

    tenant_id = await _seed(database_url)
    issuer = TestIssuer()
    member = issuer.token(
        Principal(subject=str(uuid.uuid4()), kind="user", tenant_id=tenant_id, role="member"),
        TOKEN_TTL_SECONDS,
    )
    internal = issuer.token(
        Principal(
            subject="service:conversation", kind="service", scopes=frozenset({INTERNAL_SCOPE})
        ),
        TOKEN_TTL_SECONDS,
    )
    spec = spec_for("tenancy")
    settings = load_settings(
        spec.settings_type,
        port=0,
        database_url=database_url,
        page_token_secret=TEST_PAGE_TOKEN_SECRET,
        **SERVICE_TEST_DEFAULTS["tenancy"],
    )
    running = await start_service(spec, settings, authenticator=issuer.authenticator())
    pipe.send((running.target, tenant_id, member, internal))
    await asyncio.get_running_loop().run_in_executor(None, pipe.recv)
    await running.stop(0.5)


def _tenancy_main(database_url: str, pipe: Connection) -> None:
    from services.tenancy.config import TenancySettings
    from shared.config import load_settings
    from shared.tracing import configure_logging, configure_tracing, shutdown_tracing

    _quiet_stderr()
    configure_logging(load_settings(TenancySettings).log_level)
    configure_tracing("tenancy")
    try:
        _run(_tenancy_serve(database_url, pipe))
    finally:
        shutdown_tracing()


# --- the gateway, as `quarterdeck serve gateway` runs it -------------------------------------


def _gateway_environment(port: int, tenancy_target: str, unused_target: str) -> dict[str, str]:
    return {
        "QD_GATEWAY_HOST": "127.0.0.1",
        "QD_GATEWAY_PORT": str(port),
        "QD_GATEWAY_TENANCY_TARGET": tenancy_target,
        "QD_GATEWAY_IDENTITY_TARGET": unused_target,
        "QD_GATEWAY_TELEMETRY_TARGET": unused_target,
    }


def _gateway_main(port: int, tenancy_target: str, unused_target: str) -> None:
    os.environ.update(_gateway_environment(port, tenancy_target, unused_target))
    _quiet_stderr()
    from services.gateway.main import serve_gateway

    serve_gateway()


# --- measuring --------------------------------------------------------------------------------


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS  # utime + stime


@dataclass
class Result:
    path: str
    in_flight: int
    calls: int
    seconds: float
    latencies: list[float]
    cpu_ms_per_call: dict[str, float]

    @property
    def rate(self) -> float:
        return self.calls / self.seconds

    def percentile(self, fraction: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] * 1000


async def _measure(
    path: str,
    call: Callable[[int], Awaitable[object]],
    in_flight: int,
    seconds: float,
    pids: dict[str, int],
) -> Result:
    latencies: list[float] = []
    deadline = 0.0

    async def caller(slot: int, record: bool) -> None:
        while (started := time.perf_counter()) < deadline:
            await call(slot)
            if record:
                latencies.append(time.perf_counter() - started)

    deadline = time.perf_counter() + min(0.5, seconds / 4)  # warm-up: caches, pools, JIT-less
    await asyncio.gather(*(caller(slot, False) for slot in range(in_flight)))
    cpu_before = {name: _cpu_seconds(pid) for name, pid in pids.items()}
    started = time.perf_counter()
    deadline = started + seconds
    await asyncio.gather(*(caller(slot, True) for slot in range(in_flight)))
    elapsed = time.perf_counter() - started
    calls = len(latencies)
    cpu = {
        name: (_cpu_seconds(pid) - cpu_before[name]) * 1000 / max(calls, 1)
        for name, pid in pids.items()
    }
    return Result(path, in_flight, calls, elapsed, latencies, cpu)


def _combined(first: Result, second: Result) -> Result:
    calls = first.calls + second.calls
    cpu = {
        name: (
            first.cpu_ms_per_call[name] * first.calls + second.cpu_ms_per_call[name] * second.calls
        )
        / max(calls, 1)
        for name in first.cpu_ms_per_call
    }
    return Result(
        first.path,
        first.in_flight,
        calls,
        first.seconds + second.seconds,
        first.latencies + second.latencies,
        cpu,
    )


async def _measure_pair(
    ours: Callable[[int], Awaitable[object]],
    baseline: Callable[[int], Awaitable[object]],
    in_flight: int,
    seconds: float,
    pids: dict[str, int],
) -> list[Result]:
    """The two gateways' GET in the order ours, baseline, baseline, ours, each for half the
    time, each side's halves combined: whichever gateway went second cost 0.03-0.26 ms less per
    GET, and load drifts during a run."""
    half = seconds / 2
    a1 = await _measure(GATEWAY_GET, ours, in_flight, half, pids)
    b1 = await _measure(BASELINE_GATEWAY_GET, baseline, in_flight, half, pids)
    b2 = await _measure(BASELINE_GATEWAY_GET, baseline, in_flight, half, pids)
    a2 = await _measure(GATEWAY_GET, ours, in_flight, half, pids)
    return [_combined(a1, a2), _combined(b1, b2)]


class HttpConnection:
    """The least an HTTP/1.1 keep-alive client can do, so the client's CPU stays small."""

    def __init__(
        self, port: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self._port = port
        self._reader = reader
        self._writer = writer

    @classmethod
    async def open(cls, port: int) -> HttpConnection:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(port, reader, writer)

    async def get(self, request: bytes) -> bytes:
        self._writer.write(request)
        try:
            head = await self._reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError as exc:
            if exc.partial:
                raise
            # Idle past uvicorn's keep-alive timeout (5 s) while the other gateway was measured:
            # the server closed the connection. Open another and ask again.
            self.close()
            self._reader, self._writer = await asyncio.open_connection("127.0.0.1", self._port)
            self._writer.write(request)
            head = await self._reader.readuntil(b"\r\n\r\n")
        status = head[9:12]
        length = 0
        for line in head.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        body = await self._reader.readexactly(length)
        if status != b"200":
            raise RuntimeError(f"gateway answered {status!r}: {body[:300]!r}")
        return body

    def close(self) -> None:
        self._writer.close()


@dataclass
class Platform:
    echo_target: str
    tenancy_target: str
    gateway_port: int
    baseline_gateway_port: int | None
    tenant_id: str
    member_token: str
    internal_token: str
    pids: dict[str, int]


async def _drive(platform: Platform, seconds: float, only: frozenset[str]) -> list[Result]:
    from quarterdeck.tenancy.v1 import limits_pb2 as lpb
    from quarterdeck.tenancy.v1 import pricing_pb2 as ppb
    from quarterdeck.tenancy.v1 import tenancy_pb2 as tpb
    from quarterdeck.tenancy.v1.limits_pb2_grpc import LimitsServiceStub
    from quarterdeck.tenancy.v1.pricing_pb2_grpc import ModelCatalogServiceStub
    from quarterdeck.tenancy.v1.tenancy_pb2_grpc import TenancyServiceStub
    from services.tenancy.pricing.seed_catalogue import model_id

    member = (("authorization", f"Bearer {platform.member_token}"),)
    internal = (("authorization", f"Bearer {platform.internal_token}"),)
    results: list[Result] = []
    async with (
        grpc.aio.insecure_channel(platform.echo_target) as echo_channel,
        grpc.aio.insecure_channel(platform.tenancy_target) as channel,
    ):
        echo = echo_channel.unary_unary(ECHO_METHOD)
        payload = b"x" * 64
        health = health_pb2_grpc.HealthStub(channel)
        check = health_pb2.HealthCheckRequest(service="")
        tenancy = TenancyServiceStub(channel)
        get_tenant = tpb.GetTenantRequest(id=platform.tenant_id)
        limits = LimitsServiceStub(channel)
        catalog = ModelCatalogServiceStub(channel)
        price = ppb.PriceUsageRequest(
            model_id=str(model_id("anthropic", "claude-sonnet-4-20250514")),
            token_convention=ppb.TOKEN_CONVENTION_INPUT_EXCLUDES_CACHED,
            input_tokens=1234,
            output_tokens=567,
            cache_creation_tokens=89,
            cache_read_tokens=10_000,
            web_search_requests=1,
        )
        http_request = (
            f"GET /v1/tenants/{platform.tenant_id} HTTP/1.1\r\nHost: bench\r\n"
            f"Authorization: Bearer {platform.member_token}\r\n\r\n"
        ).encode()
        connections = [
            await HttpConnection.open(platform.gateway_port) for _ in range(max(IN_FLIGHT))
        ]
        baseline_connections = (
            [
                await HttpConnection.open(platform.baseline_gateway_port)
                for _ in range(max(IN_FLIGHT))
            ]
            if platform.baseline_gateway_port is not None
            else []
        )

        async def reserve_settle(_: int) -> None:
            made = await limits.Reserve(
                lpb.ReserveRequest(tenant_id=platform.tenant_id, tokens=1000), metadata=internal
            )
            await limits.Settle(
                lpb.SettleRequest(
                    tenant_id=platform.tenant_id,
                    reservation_id=made.reservation.id,
                    actual_tokens=700,
                ),
                metadata=internal,
            )

        paths: list[tuple[str, Callable[[int], Awaitable[object]]]] = [
            ("raw echo", lambda _: echo(payload)),
            ("health Check", lambda _: health.Check(check)),
            ("GetTenant direct", lambda _: tenancy.GetTenant(get_tenant, metadata=member)),
            (GATEWAY_GET, lambda slot: connections[slot].get(http_request)),
            (BASELINE_GATEWAY_GET, lambda slot: baseline_connections[slot].get(http_request)),
            ("Reserve+Settle", reserve_settle),
            ("PriceUsage", lambda _: catalog.PriceUsage(price, metadata=member)),
        ]
        calls = dict(paths)
        try:
            for name, call in paths:
                if only and name not in only and name not in BASELINES:
                    continue
                if name == BASELINE_GATEWAY_GET:
                    continue  # measured with the gateway's GET, below
                for in_flight in IN_FLIGHT:
                    if name == GATEWAY_GET and baseline_connections:
                        results.extend(
                            await _measure_pair(
                                calls[GATEWAY_GET],
                                calls[BASELINE_GATEWAY_GET],
                                in_flight,
                                seconds,
                                platform.pids,
                            )
                        )
                        continue
                    results.append(await _measure(name, call, in_flight, seconds, platform.pids))
        finally:
            for connection in connections + baseline_connections:
                connection.close()
    return results


# --- starting and stopping the platform ---------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for_http(port: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1) as s:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: bench\r\n\r\n")
            if s.recv(64).startswith(b"HTTP/1.1 200"):
                return
        time.sleep(0.1)
    raise RuntimeError(f"the gateway did not answer /healthz on port {port} within {timeout}s")


def _baseline_gateway(
    checkout: Path, port: int, tenancy_target: str, unused_target: str
) -> subprocess.Popen[bytes]:
    """The gateway of another checkout, started as ``quarterdeck serve gateway`` starts it."""
    return subprocess.Popen(
        [sys.executable, "-c", "from services.gateway.main import serve_gateway; serve_gateway()"],
        cwd=checkout,
        env={
            **os.environ,
            "PYTHONPATH": str(checkout),
            **_gateway_environment(port, tenancy_target, unused_target),
        },
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


@contextlib.contextmanager
def _platform(database_url: str, baseline_checkout: Path | None) -> Iterator[Platform]:
    context = multiprocessing.get_context("spawn")
    echo_ours, echo_theirs = context.Pipe()
    tenancy_ours, tenancy_theirs = context.Pipe()
    echo = context.Process(target=_echo_main, args=(echo_theirs,), daemon=True)
    tenancy = context.Process(target=_tenancy_main, args=(database_url, tenancy_theirs))
    echo.start()
    tenancy.start()
    gateway = None
    baseline: subprocess.Popen[bytes] | None = None
    try:
        echo_target = echo_ours.recv()
        if not tenancy_ours.poll(120):
            raise RuntimeError("tenancy did not start within 120s")
        tenancy_target, tenant_id, member, internal = tenancy_ours.recv()
        gateway_port = _free_port()
        gateway = context.Process(
            target=_gateway_main, args=(gateway_port, tenancy_target, f"127.0.0.1:{_free_port()}")
        )
        gateway.start()
        assert echo.pid and tenancy.pid and gateway.pid
        pids = {"client": os.getpid(), "echo": echo.pid, "tenancy": tenancy.pid}
        baseline_port = None
        if baseline_checkout is not None:
            baseline_port = _free_port()
            baseline = _baseline_gateway(
                baseline_checkout, baseline_port, tenancy_target, f"127.0.0.1:{_free_port()}"
            )
            pids["baseline gw"] = baseline.pid
        _wait_for_http(gateway_port)
        if baseline_port is not None:
            _wait_for_http(baseline_port)
        yield Platform(
            echo_target,
            tenancy_target,
            gateway_port,
            baseline_port,
            tenant_id,
            member,
            internal,
            {**pids, "gateway": gateway.pid},
        )
    finally:
        echo_ours.send("stop")
        tenancy_ours.send("stop")
        if gateway is not None and gateway.pid:
            os.kill(gateway.pid, signal.SIGTERM)
        if baseline is not None:
            baseline.terminate()
            try:
                baseline.wait(15)
            except subprocess.TimeoutExpired:
                baseline.kill()
        for process in (echo, tenancy, gateway):
            if process is None:
                continue
            process.join(timeout=15)
            if process.is_alive():
                process.terminate()


@contextlib.contextmanager
def _database(backend: str, tmp: Path, postgres_url: str) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp / 'tenancy-hot-path.db'}"
        return
    name = f"qd_bench_hot_{uuid.uuid4().hex[:10]}"

    async def admin(statement: str) -> None:
        conn = await asyncpg.connect(postgres_url)
        try:
            await conn.execute(statement)
        finally:
            await conn.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    try:
        base = postgres_url.split("://", 1)[1].rsplit("/", 1)[0]
        yield f"postgresql+asyncpg://{base}/{name}"
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


# --- reporting ----------------------------------------------------------------------------------


def _report(backend: str, results: list[Result]) -> None:
    print(f"\n== {backend} ==")
    processes = list(results[0].cpu_ms_per_call) if results else []
    print(
        f"{'path':22} {'in flight':>9} {'calls/s':>9} {'p50 ms':>8} {'p99 ms':>8}   "
        f"CPU ms per call: {' / '.join(processes)}"
    )
    for r in results:
        cpu = r.cpu_ms_per_call
        print(
            f"{r.path:22} {r.in_flight:9} {r.rate:9.0f} {r.percentile(0.5):8.2f} "
            f"{r.percentile(0.99):8.2f}   " + " / ".join(f"{cpu[name]:6.2f}" for name in processes)
        )
    by = {(r.path, r.in_flight): r for r in results}
    many = max(IN_FLIGHT)

    def ratio(numerator: str, denominator: str) -> str:
        if (numerator, many) not in by:
            return "  -- (not measured)"
        return f"{by[(numerator, many)].rate / by[(denominator, many)].rate:.2f}"

    print(f"ratios at {many} in flight:")
    if (get_tenant := by.get(("GetTenant direct", many))) is not None:
        print(
            f"  GetTenant / health Check        : {ratio('GetTenant direct', 'health Check')}"
            f"   (target >= 0.5; tenancy CPU {get_tenant.cpu_ms_per_call['tenancy']:.2f} ms/call,"
            " target <= 1.5)"
        )
    print(f"  gateway GET / raw echo          : {ratio(GATEWAY_GET, 'raw echo')}")
    if (BASELINE_GATEWAY_GET, many) in by:
        print(f"  baseline gateway GET / raw echo : {ratio(BASELINE_GATEWAY_GET, 'raw echo')}")
    print(f"  Reserve+Settle / health Check   : {ratio('Reserve+Settle', 'health Check')}")
    print(f"  PriceUsage / health Check       : {ratio('PriceUsage', 'health Check')}")
    print(f"  health Check / raw echo         : {ratio('health Check', 'raw echo')}")
    direct_one = by.get(("GetTenant direct", 1))
    for name, label in ((GATEWAY_GET, "gateway"), (BASELINE_GATEWAY_GET, "baseline gateway")):
        gateway_one = by.get((name, 1))
        if gateway_one is not None and direct_one is not None:
            added = gateway_one.percentile(0.5) - direct_one.percentile(0.5)
            print(
                f"{label} p50 over direct GetTenant at 1 in flight: +{added:.2f} ms (target <= 3)"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=2.0, help="per path and concurrency")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--postgres-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument(
        "--paths",
        default="",
        help=f"comma-separated subset of {', '.join(PATHS)} (raw echo and health Check are "
        "always measured, for the ratios); all when empty",
    )
    parser.add_argument(
        "--baseline-gateway",
        type=Path,
        default=None,
        help="another checkout whose gateway is measured beside this one's (before and after)",
    )
    args = parser.parse_args()
    only = frozenset(name.strip() for name in args.paths.split(",") if name.strip())
    if unknown := only - set(PATHS):
        parser.error(f"unknown paths: {', '.join(sorted(unknown))}")
    started = time.perf_counter()
    for backend in args.backends.split(","):
        with (
            tempfile.TemporaryDirectory() as tmp,
            _database(backend, Path(tmp), args.postgres_url) as url,
            _platform(url, args.baseline_gateway) as platform,
        ):
            print(f"{backend}: pids {platform.pids}", flush=True)
            results = asyncio.run(_drive(platform, args.seconds, only))
        _report(backend, results)
    print(f"\ntotal run time: {time.perf_counter() - started:.0f}s")


if __name__ == "__main__":
    main()
