"""Every RPC of every service, sent random and malformed requests, answers with a status that
says what was wrong, never UNKNOWN or INTERNAL.

The methods come from the services the running servers registered, read from the proto
descriptors; each gets requests generated from its input message's descriptor (valid messages
with extreme values, random bytes, truncated encodings), sent as raw bytes with no credentials,
a tenant owner's token, an operator's token and an internal service token. Run with ``-s`` for
the counts; on SQLite only (the statuses are the edge's and the handlers', not the database's).
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Any

import grpc
from google.protobuf import descriptor, descriptor_pool
from hypothesis import HealthCheck, given, settings

from services.registry import SERVICE_NAMES
from shared.server import RunningService
from tests.fuzz.messages import payloads
from tests.support.stack import IDENTITY_TEST_SETTINGS, Databases, running_service
from tests.support.tokens import TestIssuer

#: Examples per method, each sent with every credential: enough to reach every decoding and
#: validation path, few enough that the whole run takes a minute or two on a small machine.
EXAMPLES_PER_METHOD = 10
CALL_TIMEOUT_SECONDS = 10.0
#: A server-streaming call (a live follow) is cut here: waiting is its normal answer.
STREAM_TIMEOUT_SECONDS = 0.5
FORBIDDEN = frozenset({grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL})
#: The infrastructure every server carries; not the platform's API.
INFRASTRUCTURE = ("grpc.health.v1.", "grpc.reflection.")

ISSUER = TestIssuer()
TENANT_ID = str(uuid.uuid4())
CREDENTIALS: dict[str, list[tuple[str, str]]] = {
    "none": [],
    "owner": ISSUER.member(TENANT_ID, "owner"),
    "operator": ISSUER.operator(),
    "internal": ISSUER.internal("conversation"),
}


@dataclass
class Method:
    path: str
    descriptor: descriptor.MethodDescriptor
    channel: grpc.aio.Channel


@dataclass
class Tally:
    sent: int = 0
    covered: set[str] = field(default_factory=set)
    codes: Counter[str] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)


async def _services(databases: Databases, stack: AsyncExitStack) -> list[RunningService[Any, Any]]:
    async def url(service: str) -> str:
        return await databases.url("sqlite", service, "fuzz")

    authenticator = ISSUER.authenticator()
    tenancy = await stack.enter_async_context(
        running_service("tenancy", await url("tenancy"), authenticator=authenticator)
    )
    identity = await stack.enter_async_context(
        running_service(
            "identity",
            await url("identity"),
            authenticator=authenticator,
            tenancy_target=tenancy.target,
            **IDENTITY_TEST_SETTINGS,
        )
    )
    others = [
        await stack.enter_async_context(
            running_service(
                name,
                await url(name),
                authenticator=authenticator,
                **({"run_reaper_interval_seconds": 0} if name == "conversation" else {}),
            )
        )
        for name in SERVICE_NAMES
        if name not in ("identity", "tenancy")
    ]
    return [identity, tenancy, *others]


def _methods(
    running: Sequence[RunningService[Any, Any]], channels: list[grpc.aio.Channel]
) -> list[Method]:
    pool = descriptor_pool.Default()
    methods = []
    for service, channel in zip(running, channels, strict=True):
        for name in service.service_names:
            if name.startswith(INFRASTRUCTURE):
                continue
            for method in pool.FindServiceByName(name).methods:
                methods.append(Method(f"/{name}/{method.name}", method, channel))
    return methods


async def _send(method: Method, payload: bytes, metadata: list[tuple[str, str]]) -> grpc.StatusCode:
    kind = method.descriptor
    try:
        if kind.client_streaming:

            async def requests() -> AsyncIterator[bytes]:
                yield payload
                yield payload

            call: Any = method.channel.stream_unary(method.path)(
                requests(), metadata=metadata, timeout=CALL_TIMEOUT_SECONDS
            )
            await call
        elif kind.server_streaming:
            call = method.channel.unary_stream(method.path)(
                payload, metadata=metadata, timeout=STREAM_TIMEOUT_SECONDS
            )
            async for _ in call:
                pass
        else:
            await method.channel.unary_unary(method.path)(
                payload, metadata=metadata, timeout=CALL_TIMEOUT_SECONDS
            )
    except grpc.aio.AioRpcError as error:
        if kind.server_streaming and error.code() == grpc.StatusCode.DEADLINE_EXCEEDED:
            return grpc.StatusCode.OK  # still following: a live stream's normal state
        return error.code()
    return grpc.StatusCode.OK


async def _exercise(method: Method, payload: bytes, tally: Tally) -> None:
    for credential, metadata in CREDENTIALS.items():
        code = await _send(method, payload, metadata)
        tally.sent += 1
        tally.codes[code.name] += 1
        if code in FORBIDDEN:
            tally.failures.append(f"{method.path} [{credential}] {code.name} on {payload.hex()}")
    tally.covered.add(method.path)


def _fuzz_one(method: Method, loop: asyncio.AbstractEventLoop, tally: Tally) -> None:
    """Hypothesis drives this method's examples from a worker thread; each is sent on the
    test's event loop, where the servers run."""

    @settings(
        max_examples=EXAMPLES_PER_METHOD,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(payload=payloads(method.descriptor.input_type))
    def check(payload: bytes) -> None:
        asyncio.run_coroutine_threadsafe(_exercise(method, payload, tally), loop).result(
            timeout=len(CREDENTIALS) * (CALL_TIMEOUT_SECONDS + 5)
        )

    check()


async def test_no_request_to_any_rpc_is_answered_unknown_or_internal(
    databases: Databases,
) -> None:
    tally = Tally()
    async with AsyncExitStack() as stack:
        running = await _services(databases, stack)
        channels = [
            await stack.enter_async_context(grpc.aio.insecure_channel(service.target))
            for service in running
        ]
        methods = _methods(running, channels)
        loop = asyncio.get_running_loop()
        for method in methods:
            await asyncio.to_thread(_fuzz_one, method, loop, tally)
    print(
        f"\ngRPC fuzzing: {tally.sent} requests sent to {len(tally.covered)} of {len(methods)} "
        f"methods of {len({m.path.rsplit('/', 1)[0] for m in methods})} services; statuses "
        f"{dict(sorted(tally.codes.items()))}; UNKNOWN/INTERNAL: {len(tally.failures)}"
    )
    assert tally.covered == {method.path for method in methods}
    assert len(methods) > 150, "the services registered fewer methods than the protos define"
    assert not tally.failures, "\n".join(tally.failures[:40])
