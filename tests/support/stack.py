"""The one way tests build services: migrated databases on each backend, in-process servers on
port 0, and stubs over traced channels."""

from __future__ import annotations

import asyncio
import random
import socket
import tempfile
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from services.identity.context import IdentityContext
from services.registry import spec_for
from shared.auth import Authenticator
from shared.clock import Clock
from shared.config import load_settings
from shared.db import Database
from shared.identity_link import internal_client_entry
from shared.migrations import upgrade_to_head
from shared.server import RunningService, start_service
from tests.support.postgres import PostgresServer
from tests.support.processes import ephemeral_port_low
from tests.support.waiting import DEFAULT_WAIT_SECONDS

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


#: Per-service defaults a test overrides when it means to. Tenancy's background jobs are off:
#: tests advance periods, dispatch Stripe events and prune revocations themselves, at the moments
#: they choose.
SERVICE_TEST_DEFAULTS: dict[str, dict[str, Any]] = {
    "tenancy": {
        "billing_advance_interval_seconds": 0,
        "stripe_dispatch_interval_seconds": 0,
        "membership_revocation_prune_interval_seconds": 0,
    },
    # The span spool lives under data_dir, one directory per database: this session's own.
    "telemetry": {"data_dir": Path(tempfile.mkdtemp(prefix="qd-test-data-"))},
}


async def spans_stored(telemetry: RunningService[Any, Any]) -> None:
    """Returns once telemetry has stored every span export it accepted (Export answers once an
    export is spooled; a background job stores it)."""
    spool = telemetry.context.state.spool
    if spool is not None:
        await asyncio.wait_for(spool.drained(), DEFAULT_WAIT_SECONDS)


@asynccontextmanager
async def running_service(
    service: str,
    database_url: str,
    authenticator: Authenticator | None = None,
    clock: Clock | None = None,
    **overrides: Any,
) -> AsyncIterator[RunningService[Any, Any]]:
    spec = spec_for(service)
    settings = load_settings(
        spec.settings_type,
        **{
            "port": 0,
            "database_url": database_url,
            "page_token_secret": TEST_PAGE_TOKEN_SECRET,
            "grace_period_seconds": 1.0,
            **SERVICE_TEST_DEFAULTS.get(service, {}),
            **overrides,
        },
    )
    running = await start_service(spec, settings, authenticator=authenticator, clock=clock)
    try:
        yield running
    finally:
        await running.stop(0.5)


#: Identity's secrets for tests, and argon2 made cheap so the suite stays fast.
TENANCY_INTERNAL_SECRET = "tenancy-internal-secret-for-tests"
IDENTITY_TEST_SETTINGS: dict[str, Any] = {
    "encryption_keys": "x3WnWqzRk8cJ0FvWmQ1r2o0oGvW5yQd3f8W3sQ1c2Xk=",
    "hashing_key": "hashing-key-for-the-test-suite",
    "password_peppers": "v1:pepper-one-for-tests,v2:pepper-two-for-tests",
    "password_pepper_version": "v2",
    "internal_clients": internal_client_entry("tenancy", TENANCY_INTERNAL_SECRET),
    "argon2_time_cost": 1,
    "argon2_memory_kib": 1024,
    "argon2_parallelism": 1,
    # Off: the suite signs in from one address far more often than any client would; the
    # throttling tests turn it on.
    "throttle_per_address": 0,
    "throttle_per_account": 0,
}


@dataclass
class IdentityStack:
    identity: RunningService[Any, Any]
    tenancy: RunningService[Any, Any]

    @property
    def state(self) -> IdentityContext:
        """Identity's typed context: its database, keys and links, for checks behind the API."""
        return cast(IdentityContext, self.identity.context.state)


@asynccontextmanager
async def identity_stack(
    databases: Databases,
    backend: str,
    label: str = "default",
    tenancy_overrides: dict[str, Any] | None = None,
    identity_port: int | None = None,
    **identity_overrides: Any,
) -> AsyncIterator[IdentityStack]:
    """Identity and tenancy, each verifying tokens with identity's keys, calling each other.

    Identity's port is chosen first, so tenancy can be told where its JWKS lives before identity
    (which needs tenancy's address) starts; channels connect lazily. A caller that must tell
    another service first passes the port.
    """
    identity_port = identity_port or free_port()
    async with (
        running_service(
            "tenancy",
            await databases.url(backend, "tenancy", label),
            identity_target=f"127.0.0.1:{identity_port}",
            internal_secret=TENANCY_INTERNAL_SECRET,
            jwks_max_age_seconds=1.0,
            **(tenancy_overrides or {}),
        ) as tenancy,
        running_service(
            "identity",
            await databases.url(backend, "identity", label),
            port=identity_port,
            tenancy_target=tenancy.target,
            **{**IDENTITY_TEST_SETTINGS, **identity_overrides},
        ) as identity,
    ):
        yield IdentityStack(identity, tenancy)


#: Ports handed out for services that must be told an address before they listen come from
#: below the kernel's ephemeral range (see :func:`ephemeral_port_low`).
_FIXED_PORTS_LOW = 10000


def free_port() -> int:
    """A port free on 127.0.0.1 now, outside the ephemeral range (random, so two test workers
    rarely try the same one; each try is checked by binding it)."""
    low = ephemeral_port_low()
    if low - _FIXED_PORTS_LOW >= 1000:
        for _ in range(100):
            port = random.randrange(_FIXED_PORTS_LOW, low)
            with socket.socket() as sock:
                try:
                    sock.bind(("127.0.0.1", port))
                except OSError:
                    continue
                return port
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class FeedStack:
    """Identity, tenancy and telemetry as deployed: identity's tokens verified everywhere."""

    identity: RunningService[Any, Any]
    tenancy: RunningService[Any, Any]
    telemetry: RunningService[Any, Any]

    @property
    def identity_stack(self) -> IdentityStack:
        return IdentityStack(self.identity, self.tenancy)


@asynccontextmanager
async def feed_stack(
    databases: Databases,
    backend: str,
    label: str,
    *,
    reporting: Sequence[str] = ("tenancy",),
    tenancy_overrides: dict[str, Any] | None = None,
    identity_overrides: dict[str, Any] | None = None,
) -> AsyncIterator[FeedStack]:
    """Identity, tenancy and telemetry on ``label`` databases, telemetry and tenancy verifying
    identity's tokens (its JWKS); the services named in ``reporting`` (identity, tenancy) append
    to telemetry's activity feed with the internal tokens identity mints them.

    Identity's port is chosen first, so telemetry can be told where its JWKS lives.
    """
    identity_port = free_port()
    async with running_service(
        "telemetry",
        await databases.url(backend, "telemetry", label),
        identity_target=f"127.0.0.1:{identity_port}",
        jwks_max_age_seconds=1.0,
    ) as telemetry:
        feed: dict[str, Any] = {"telemetry_target": telemetry.target}
        async with identity_stack(
            databases,
            backend,
            label,
            tenancy_overrides={
                **(feed if "tenancy" in reporting else {}),
                **(tenancy_overrides or {}),
            },
            identity_port=identity_port,
            **(feed if "identity" in reporting else {}),
            **(identity_overrides or {}),
        ) as stack:
            yield FeedStack(stack.identity, stack.tenancy, telemetry)


class StoringExports:
    """A TraceService stub whose ``Export`` returns once telemetry has stored what it accepted:
    for tests that read the spans they just exported."""

    def __init__(self, stub: Any, telemetry: RunningService[Any, Any]) -> None:
        self._stub = stub
        self._telemetry = telemetry

    async def Export(self, request: Any, **options: Any) -> Any:  # noqa: N802 (the stub's name)
        response = await self._stub.Export(request, **options)
        await spans_stored(self._telemetry)
        return response
