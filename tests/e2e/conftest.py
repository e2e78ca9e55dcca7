"""The platform as separate processes (`quarterdeck up`), shared by every end-to-end test, with
a platform operator created through `quarterdeck bootstrap` the way an installer would."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest

from quarterdeck.identity.v1 import identity_pb2 as ipb
from quarterdeck.identity.v1.identity_pb2_grpc import IdentityServiceStub
from quarterdeck.telemetry.v1 import telemetry_pb2
from quarterdeck.telemetry.v1.telemetry_pb2_grpc import TelemetryServiceStub
from services.registry import PORT_OFFSETS
from tests.support.processes import Output, free_port_block, quarterdeck, started

#: Every end-to-end module's marks: with ``--dist loadgroup`` (the default, see pyproject) they
#: all run on one xdist worker, which starts the shared platform once, while the other worker
#: takes the in-process tests.
E2E_MARKS = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]
#: A test that starts a platform of its own rather than using the shared one: its group becomes
#: "e2e_own-platform" (xdist joins a test's group names), so these run together, on either
#: worker, beside the tests of the shared platform instead of after them.
OWN_PLATFORM = pytest.mark.xdist_group("own-platform")

OPERATOR_EMAIL = "operator@example.com"
OPERATOR_PASSWORD = "Harbour-Lights-2026!"


def platform_env() -> dict[str, str]:
    return {
        **os.environ,
        # Export spans quickly, so a test does not wait on the default five-second batch delay.
        "OTEL_BSP_SCHEDULE_DELAY": "100",
        "OTEL_TRACES_EXPORTER": "otlp",
        # The trace tests follow a call down to its SQL statements, which are not traced by
        # default.
        "QD_TRACE_SQL": "true",
        # Key rotation shows within a second at every service, not after five minutes.
        **{f"QD_{name.upper()}_JWKS_MAX_AGE_SECONDS": "1" for name in PORT_OFFSETS},
        # The conversation test's HTTP tool answers on 127.0.0.1, which egress refuses otherwise.
        "QD_TOOLING_EGRESS_ALLOWED_HOSTS": "127.0.0.1",
    }


@dataclass
class Platform:
    process: subprocess.Popen[str]
    output: Output
    data_dir: Path
    base_port: int
    http_port: int

    @property
    def gateway(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def target(self, service: str) -> str:
        return f"127.0.0.1:{self.base_port + PORT_OFFSETS[service]}"

    def up_command(self) -> list[str]:
        return up_command(self.data_dir, self.base_port, self.http_port)


def up_command(
    data_dir: Path, base_port: int, http_port: int, test_provider_port: int | None = None
) -> list[str]:
    """`quarterdeck up` on these ports; with the local test model provider when given a port."""
    provider = (
        [] if test_provider_port is None else ["--test-provider-port", str(test_provider_port)]
    )
    return quarterdeck(
        "up",
        "--data-dir",
        str(data_dir),
        "--base-port",
        str(base_port),
        "--http-port",
        str(http_port),
        *(["--test-provider", *provider] if provider else []),
    )


@pytest.fixture(scope="session")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    """The shared platform; everything its processes print is kept in ``platform.log`` beside
    its data directory (the session's basetemp), to read when a test fails."""
    base = free_port_block(7)
    data_dir = tmp_path_factory.mktemp("platform")
    log_path = data_dir.parent / f"{data_dir.name}.log"
    with started(
        # The local test provider on base + 6: conversations' runs have a model to call.
        up_command(data_dir, base, base + 5, test_provider_port=base + 6),
        platform_env(),
        "Press Ctrl-C to stop.",
        log_path=log_path,
    ) as (process, output):
        yield Platform(process, output, data_dir, base, base + 5)


@pytest.fixture(scope="session")
def operator_account(platform: Platform) -> str:
    """The installation's first operator, created by the CLI the way an installer would."""
    created = subprocess.run(
        quarterdeck("bootstrap", "--email", OPERATOR_EMAIL, "--data-dir", str(platform.data_dir)),
        env={**platform_env(), "QD_BOOTSTRAP_PASSWORD": OPERATOR_PASSWORD},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert created.returncode == 0, created.stderr
    return OPERATOR_EMAIL


@pytest.fixture
def operator_token(platform: Platform, operator_account: str) -> str:
    """A fresh operator access token (signed by whichever key is active now)."""
    with grpc.insecure_channel(platform.target("identity")) as channel:
        signed_in = IdentityServiceStub(channel).SignIn(
            ipb.SignInRequest(email=operator_account, password=OPERATOR_PASSWORD)
        )
    return signed_in.tokens.access_token


def bearer(token: str) -> list[tuple[str, str]]:
    return [("authorization", f"Bearer {token}")]


def wait_for_trace(
    platform: Platform,
    operator_token: str,
    trace_id: str,
    ready: Callable[[list[telemetry_pb2.Span]], bool],
) -> list[telemetry_pb2.Span]:
    """The trace's spans once ``ready`` says so (exports are asynchronous), or what is stored
    after two minutes."""
    spans: list[telemetry_pb2.Span] = []
    with grpc.insecure_channel(platform.target("telemetry")) as channel:
        stub = TelemetryServiceStub(channel)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                spans = list(
                    stub.GetTrace(
                        telemetry_pb2.GetTraceRequest(trace_id=trace_id),
                        metadata=bearer(operator_token),
                    ).spans
                )
            except grpc.RpcError as error:
                # Polling: only "not there yet" may be waited out; pytest.raises cannot say so.
                assert error.code() == grpc.StatusCode.NOT_FOUND  # noqa: PT017
            if spans and ready(spans):
                return spans
            time.sleep(0.3)
    return spans
