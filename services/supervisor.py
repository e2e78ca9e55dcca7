"""`quarterdeck up`: the whole platform on one machine, each service its own process.

Starts every service at once (each migrates its own database as it starts; the gateway has
none), waits until every health check says SERVING, prints the endpoints with how
long each process took, and on SIGINT or SIGTERM (or if any process dies) stops them in reverse
order, escalating to SIGKILL after the grace period. Nothing waits on telemetry: spans exported
before it answers stay in each exporter's queue and are retried. Children die with
the supervisor even if it is killed outright, so nothing is left behind.
"""

from __future__ import annotations

import asyncio
import ctypes
import json
import os
import secrets
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from cryptography.fernet import Fernet

from services.registry import GATEWAY, PORT_OFFSETS, SERVICE_NAMES
from shared.internal_keys import internal_client_entry

#: Generous: on a loaded machine six interpreters starting at once on two cores take a while.
READY_TIMEOUT_SECONDS = 300.0
STOP_GRACE_SECONDS = 15.0
_PR_SET_PDEATHSIG = 1
#: The readiness probe's channel retries a refused connection every 100 ms: with gRPC's default
#: backoff (growing towards two minutes) a child that starts listening a few seconds in would be
#: seen serving seconds late.
_PROBE_CHANNEL_OPTIONS = (
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 100),
)


#: Loaded here, in the supervisor: a child between fork and exec only calls into it.
_LIBC = ctypes.CDLL("libc.so.6", use_errno=True) if sys.platform == "linux" else None


def _die_with(parent: int) -> Callable[[], None]:
    """What a child runs before exec: the kernel sends it SIGTERM when the supervisor (pid
    ``parent``) dies. The watch is kept across exec; if the supervisor died before it was set
    (the child has been handed to another parent already), the child exits at once."""

    def die_with_parent() -> None:
        if _LIBC is None:
            return
        _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:
            os._exit(1)

    return die_with_parent


@dataclass
class Child:
    name: str
    process: asyncio.subprocess.Process
    started_at: float
    ready_after: float | None = None


#: The local test model provider's process, when `quarterdeck up --test-provider` asks for it.
TEST_PROVIDER_PROCESS = "test-provider"


class Platform:
    def __init__(
        self,
        data_dir: Path,
        host: str,
        base_port: int,
        http_port: int,
        test_provider_port: int | None = None,
    ) -> None:
        self.data_dir = data_dir.resolve()
        self.host = host
        self.ports = {name: base_port + offset for name, offset in PORT_OFFSETS.items()}
        self.http_port = http_port
        #: Where the local test provider listens; None: it is not started.
        self.test_provider_port = test_provider_port
        self._children: list[Child] = []

    @property
    def test_provider_url(self) -> str | None:
        if self.test_provider_port is None:
            return None
        return f"http://{self.host}:{self.test_provider_port}/v1"

    def _local_secrets(self) -> dict[str, str]:
        """Secrets of this installation, made on first start and kept (0600) in the data dir;
        a secret a newer version needs is added to an existing file."""
        path = self.data_dir / "secrets.json"
        kept: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
        wanted = {
            "page_token_secret": lambda: secrets.token_urlsafe(32),
            "encryption_key": lambda: Fernet.generate_key().decode(),
            "hashing_key": lambda: secrets.token_urlsafe(32),
            # Status subscriptions: targets sealed and hashed under keys of their own.
            "status_encryption_key": lambda: Fernet.generate_key().decode(),
            "status_hashing_key": lambda: secrets.token_urlsafe(32),
            "pepper_v1": lambda: secrets.token_urlsafe(32),
            "provider_key_encryption_key": lambda: Fernet.generate_key().decode(),
            **{f"internal_{name}": lambda: secrets.token_urlsafe(32) for name in SERVICE_NAMES},
            # The gateway writes the request log to telemetry with an internal token of its own.
            f"internal_{GATEWAY}": lambda: secrets.token_urlsafe(32),
        }
        missing = {name: make() for name, make in wanted.items() if name not in kept}
        if missing:
            kept.update(missing)
            path.touch(mode=0o600)
            path.write_text(json.dumps(kept))
        return kept

    def _write_identity_env(self, env: dict[str, str]) -> None:
        """Identity's settings for `quarterdeck bootstrap --data-dir` (0600: they hold secrets)."""
        path = self.data_dir / "identity.env"
        path.touch(mode=0o600)
        path.write_text(
            "".join(
                f"{k}={json.dumps(v)}\n" for k, v in env.items() if k.startswith("QD_IDENTITY_")
            )
        )

    def environment(self) -> dict[str, str]:
        """One environment for every child; each reads only its own QD_<SERVICE>_ prefix.

        Values already in the environment win, so an operator can pin any of them."""
        env = dict(os.environ)
        local = self._local_secrets()
        identity = f"{self.host}:{self.ports['identity']}"
        internal_clients = []
        for name in SERVICE_NAMES:
            prefix = f"QD_{name.upper()}_"
            env[f"{prefix}HOST"] = self.host
            env[f"{prefix}PORT"] = str(self.ports[name])
            env[f"{prefix}DATA_DIR"] = str(self.data_dir)
            env.setdefault(f"{prefix}PAGE_TOKEN_SECRET", local["page_token_secret"])
            # One process per service on this machine: each migrates its database as it starts,
            # so no interpreter is started just to migrate.
            env.setdefault(f"{prefix}MIGRATE_ON_START", "true")
            env[f"QD_GATEWAY_{name.upper()}_TARGET"] = f"{self.host}:{self.ports[name]}"
            if name != "identity":
                env.setdefault(f"{prefix}IDENTITY_TARGET", identity)
            # Every process has an internal key, if only to export its spans (identity too).
            env.setdefault(f"{prefix}INTERNAL_SECRET", local[f"internal_{name}"])
            internal_clients.append(internal_client_entry(name, env[f"{prefix}INTERNAL_SECRET"]))
        env.setdefault("QD_GATEWAY_INTERNAL_SECRET", local[f"internal_{GATEWAY}"])
        internal_clients.append(internal_client_entry(GATEWAY, env["QD_GATEWAY_INTERNAL_SECRET"]))
        env.setdefault(
            "QD_TENANCY_PROVIDER_KEY_ENCRYPTION_KEYS", local["provider_key_encryption_key"]
        )
        env.setdefault("QD_IDENTITY_ENCRYPTION_KEYS", local["encryption_key"])
        env.setdefault("QD_IDENTITY_HASHING_KEY", local["hashing_key"])
        env.setdefault("QD_IDENTITY_PASSWORD_PEPPERS", f"v1:{local['pepper_v1']}")
        env.setdefault("QD_IDENTITY_PASSWORD_PEPPER_VERSION", "v1")
        env.setdefault("QD_IDENTITY_INTERNAL_CLIENTS", ",".join(internal_clients))
        env.setdefault("QD_IDENTITY_TENANCY_TARGET", f"{self.host}:{self.ports['tenancy']}")
        env.setdefault("QD_IDENTITY_TELEMETRY_TARGET", f"{self.host}:{self.ports['telemetry']}")
        env.setdefault("QD_TELEMETRY_TENANCY_TARGET", f"{self.host}:{self.ports['tenancy']}")
        env.setdefault("QD_TENANCY_TELEMETRY_TARGET", f"{self.host}:{self.ports['telemetry']}")
        env.setdefault("QD_TENANCY_TOOLING_TARGET", f"{self.host}:{self.ports['tooling']}")
        env.setdefault("QD_TOOLING_TELEMETRY_TARGET", f"{self.host}:{self.ports['telemetry']}")
        # What a conversation's runs call: tenancy, tooling and telemetry.
        for target in ("tenancy", "tooling", "telemetry"):
            env.setdefault(
                f"QD_CONVERSATION_{target.upper()}_TARGET", f"{self.host}:{self.ports[target]}"
            )
        if self.test_provider_url is not None:
            # Only runs of a tenant whose model config names a quarterdeck-test model reach it.
            env.setdefault("QD_CONVERSATION_TEST_PROVIDER_BASE_URL", self.test_provider_url)
        env.setdefault("QD_TELEMETRY_STATUS_ENCRYPTION_KEYS", local["status_encryption_key"])
        env.setdefault("QD_TELEMETRY_STATUS_HASHING_KEY", local["status_hashing_key"])
        self._write_identity_env(env)
        env["QD_GATEWAY_HOST"] = self.host
        env["QD_GATEWAY_PORT"] = str(self.http_port)
        env.setdefault(
            "OTEL_EXPORTER_OTLP_ENDPOINT", f"http://{self.host}:{self.ports['telemetry']}"
        )
        return env

    async def _start(self, name: str, env: dict[str, str]) -> None:
        """Start one process (a service migrates its own database first, in the same
        interpreter) and wait until it serves."""
        await self._spawn(name, env)
        await self._wait_ready(self._children[-1])

    async def _spawn(self, name: str, env: dict[str, str]) -> None:
        command = ["services.cli", "serve", name]
        if name == TEST_PROVIDER_PROCESS:
            port = str(self.test_provider_port)
            command = ["services.conversation.test_provider", "--host", self.host, "--port", port]
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            *command,
            env={**env, "OTEL_SERVICE_NAME": name},
            start_new_session=True,  # Ctrl-C reaches the supervisor only; it stops them in order
            preexec_fn=_die_with(os.getpid()),
        )
        self._children.append(Child(name, process, asyncio.get_running_loop().time()))

    @asynccontextmanager
    async def _probe(self, name: str) -> AsyncIterator[Callable[[], Awaitable[bool]]]:
        """Whether ``name`` serves yet, asked through one channel or HTTP client kept for the
        whole wait. Made afresh every 50 ms (an httpx client builds an SSL context each time,
        about 40 ms of CPU) they were most of the supervisor's CPU while its children start
        (1.8 s of it at the banner), taken from the children on a machine with few cores."""
        # Imported once the children are spawned, not before: httpx and grpc (~0.2 s of CPU)
        # are only for these probes.
        import grpc
        import httpx
        from grpc_health.v1 import health_pb2, health_pb2_grpc

        if name == GATEWAY:
            async with httpx.AsyncClient(timeout=1.0) as client:
                url = f"http://{self.host}:{self.http_port}/healthz"

                async def gateway_up() -> bool:
                    try:
                        return (await client.get(url)).status_code == 200
                    except httpx.HTTPError:
                        return False

                yield gateway_up
        elif name == TEST_PROVIDER_PROCESS:
            async with httpx.AsyncClient(timeout=1.0, trust_env=False) as client:
                models = f"{self.test_provider_url}/models"

                async def test_provider_up() -> bool:
                    """Any answer from its HTTP server (it serves only POST
                    /v1/chat/completions)."""
                    try:
                        await client.get(models)
                    except httpx.HTTPError:
                        return False
                    return True

                yield test_provider_up
        else:
            target = f"{self.host}:{self.ports[name]}"
            async with grpc.aio.insecure_channel(target, options=_PROBE_CHANNEL_OPTIONS) as channel:
                stub = health_pb2_grpc.HealthStub(channel)

                async def grpc_serving() -> bool:
                    try:
                        response = await stub.Check(
                            health_pb2.HealthCheckRequest(service=""), timeout=1.0
                        )
                    except grpc.aio.AioRpcError:
                        return False
                    return response.status == health_pb2.HealthCheckResponse.SERVING

                yield grpc_serving

    async def _wait_ready(self, child: Child) -> None:
        loop = asyncio.get_running_loop()
        name = child.name
        deadline = child.started_at + READY_TIMEOUT_SECONDS
        async with self._probe(name) as serving:
            while loop.time() < deadline:
                if child.process.returncode is not None:
                    raise RuntimeError(f"{name} exited with code {child.process.returncode}")
                if await serving():
                    child.ready_after = loop.time() - child.started_at
                    return
                await asyncio.sleep(0.05)
        raise RuntimeError(
            f"{name} was not SERVING {READY_TIMEOUT_SECONDS:.0f}s after it started "
            "(its health check never answered SERVING)"
        )

    def _print_endpoints(self, took: float) -> None:
        ready = {child.name: child.ready_after or 0.0 for child in self._children}
        print(f"Quarterdeck is up ({took:.1f} s):", flush=True)
        print(
            f"  gateway       http://{self.host}:{self.http_port}  (OpenAPI at /openapi.json, "
            f"docs at /docs)  ready in {ready.get(GATEWAY, 0.0):.1f} s"
        )
        for name in SERVICE_NAMES:
            endpoint = f"grpc {self.host}:{self.ports[name]}"
            print(f"  {name:<13} {endpoint:<26}  ready in {ready.get(name, 0.0):.1f} s")
        if self.test_provider_url is not None:
            from services.conversation.test_provider import TEST_PROVIDER

            print(
                f"  test-provider {self.test_provider_url:<26}  ready in "
                f"{ready.get(TEST_PROVIDER_PROCESS, 0.0):.1f} s  (TEST provider "
                f"{TEST_PROVIDER}: deterministic echo and tool calls, no key; used only by a "
                f"tenant whose model config names a {TEST_PROVIDER} catalogue model)"
            )
        print(f"  data          {self.data_dir}")
        print("Press Ctrl-C to stop.", flush=True)

    async def _stop_all(self) -> None:
        for child in reversed(self._children):
            if child.process.returncode is None:
                child.process.send_signal(signal.SIGTERM)
                try:
                    await asyncio.wait_for(child.process.wait(), STOP_GRACE_SECONDS)
                except TimeoutError:
                    child.process.kill()
                    await child.process.wait()
        print("Quarterdeck stopped.", flush=True)

    async def _run(self) -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        began = loop.time()
        self.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)  # databases and secrets
        env = self.environment()
        names = [*SERVICE_NAMES, GATEWAY]
        if self.test_provider_port is not None:
            names.append(TEST_PROVIDER_PROCESS)
        starting = [asyncio.create_task(self._start(name, env)) for name in names]
        try:
            await asyncio.gather(*starting)
        except RuntimeError as exc:
            for task in starting:
                task.cancel()
            await asyncio.gather(*starting, return_exceptions=True)
            print(f"quarterdeck up: {exc}", file=sys.stderr, flush=True)
            await self._stop_all()
            return 1
        self._print_endpoints(loop.time() - began)
        stopped = asyncio.create_task(stop.wait())
        exits = [asyncio.create_task(child.process.wait()) for child in self._children]
        done, _ = await asyncio.wait([stopped, *exits], return_when=asyncio.FIRST_COMPLETED)
        status = 0
        if stopped not in done:
            dead = [c.name for c in self._children if c.process.returncode is not None]
            print(f"quarterdeck up: {', '.join(dead)} exited; stopping", file=sys.stderr)
            status = 1
        for waiter in [stopped, *exits]:
            waiter.cancel()
        await self._stop_all()
        return status

    def run(self) -> int:
        return asyncio.run(self._run())
