"""Throttling of credential calls (sign-in, MFA, password-reset requests, sign-up, access
requests, API key exchange) per client address and per account, counted in identity's database
so replicas share the count: RESOURCE_EXHAUSTED with a RetryInfo until the window ends, the
first refusal of a window recorded as a security event, and 429 with Retry-After at the
gateway; on SQLite and on PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import grpc
import httpx
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from sqlalchemy import func, select

from quarterdeck.identity.v1 import identity_pb2 as pb
from quarterdeck.identity.v1.identity_pb2_grpc import IdentityServiceStub
from services.gateway.app import create_app
from services.gateway.config import GatewaySettings
from services.identity.context import IdentityContext
from services.identity.models import SecurityEventRecord
from services.identity.throttling import THROTTLED_EVENT, THROTTLED_REASON
from shared.auth import CLIENT_ADDRESS_METADATA
from shared.grpc_client import open_channel
from tests.support.clock import ManualClock
from tests.support.errors import rich_error
from tests.support.identity_users import make_user
from tests.support.stack import (
    IDENTITY_TEST_SETTINGS,
    Databases,
    IdentityStack,
    identity_stack,
    running_service,
)

WINDOW = 60
PER_ADDRESS = 5
PER_ACCOUNT = 3
THROTTLE = {
    "throttle_window_seconds": WINDOW,
    "throttle_per_address": PER_ADDRESS,
    "throttle_per_account": PER_ACCOUNT,
}


@dataclass
class Throttled:
    stack: IdentityStack
    clock: ManualClock
    identity: IdentityServiceStub
    #: A second identity replica on the same database.
    replica: IdentityServiceStub

    @property
    def state(self) -> IdentityContext:
        return self.stack.state


@pytest.fixture(scope="module")
async def throttled(backend: str, databases: Databases) -> AsyncIterator[Throttled]:
    clock = ManualClock(1_800_000_000 + 1)  # a second into a window
    async with (
        identity_stack(databases, backend, label="throttling", clock=clock, **THROTTLE) as stack,
        running_service(
            "identity",
            await databases.url(backend, "identity", "throttling"),
            clock=clock,
            tenancy_target=stack.tenancy.target,
            **{**IDENTITY_TEST_SETTINGS, **THROTTLE},
        ) as replica,
        open_channel(stack.identity.target) as channel,
        open_channel(replica.target) as replica_channel,
    ):
        yield Throttled(
            stack, clock, IdentityServiceStub(channel), IdentityServiceStub(replica_channel)
        )


def from_client(address: str) -> list[tuple[str, str]]:
    return [(CLIENT_ADDRESS_METADATA, address)]


def new_address() -> str:
    return f"198.51.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250 + 1}"


def new_email() -> str:
    return f"throttle-{uuid.uuid4().hex[:10]}@example.com"


def retry_delay_of(error: grpc.aio.AioRpcError) -> float:
    status = rpc_status.from_call(error)
    retry = error_details_pb2.RetryInfo()
    assert status is not None
    for detail in status.details:
        if detail.Is(retry.DESCRIPTOR):
            detail.Unpack(retry)
            return retry.retry_delay.ToMilliseconds() / 1000
    raise AssertionError("no RetryInfo in the refusal")


async def code_of(call: Awaitable[Any]) -> grpc.StatusCode:
    try:
        await call
    except grpc.aio.AioRpcError as error:
        return error.code()
    return grpc.StatusCode.OK


async def throttled_events(state: IdentityContext) -> int:
    async with state.db.reading() as session:
        return int(
            await session.scalar(
                select(func.count())
                .select_from(SecurityEventRecord)
                .where(SecurityEventRecord.event_type == THROTTLED_EVENT)
            )
            or 0
        )


def next_window(clock: ManualClock) -> None:
    clock.now = (clock.now // WINDOW + 1) * WINDOW + 1


async def test_sign_ins_from_one_address_are_throttled_across_accounts_and_replicas(
    throttled: Throttled,
) -> None:
    next_window(throttled.clock)
    address, events_before = new_address(), await throttled_events(throttled.state)

    def wrong_sign_in(stub: IdentityServiceStub, client: str) -> Awaitable[Any]:
        request = pb.SignInRequest(email=new_email(), password="not-the-password-1")
        return stub.SignIn(request, metadata=from_client(client))

    # Spraying many accounts from one address, alternating replicas: they share one count.
    for attempt in range(PER_ADDRESS):
        stub = throttled.identity if attempt % 2 else throttled.replica
        assert await code_of(wrong_sign_in(stub, address)) == grpc.StatusCode.UNAUTHENTICATED
    for stub in (throttled.identity, throttled.replica):
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await wrong_sign_in(stub, address)
        error = rich_error(refused.value)
        assert error.code == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert error.reason == THROTTLED_REASON and error.metadata["scope"] == "address"
        assert retry_delay_of(refused.value) == pytest.approx(WINDOW - 1, abs=0.01)
    # Another client is not held back, and the first refusal of the window is recorded once.
    other = new_address()
    assert await code_of(wrong_sign_in(throttled.identity, other)) == (
        grpc.StatusCode.UNAUTHENTICATED
    )
    assert await throttled_events(throttled.state) == events_before + 1
    # The next window lets the address try again.
    next_window(throttled.clock)
    assert await code_of(wrong_sign_in(throttled.identity, address)) == (
        grpc.StatusCode.UNAUTHENTICATED
    )


async def test_one_account_is_throttled_from_every_address_even_with_its_password(
    throttled: Throttled,
) -> None:
    next_window(throttled.clock)
    user = await make_user(throttled.stack)
    for _ in range(PER_ACCOUNT):
        wrong = pb.SignInRequest(email=user.email, password="not-the-password-1")
        code = await code_of(throttled.identity.SignIn(wrong, metadata=from_client(new_address())))
        assert code == grpc.StatusCode.UNAUTHENTICATED
    right = pb.SignInRequest(email=user.email.upper(), password=user.password)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await throttled.replica.SignIn(right, metadata=from_client(new_address()))
    assert rich_error(refused.value).metadata["scope"] == "account"
    next_window(throttled.clock)
    signed_in = await throttled.identity.SignIn(right, metadata=from_client(new_address()))
    assert signed_in.tokens.access_token


CREDENTIAL_CALLS: dict[str, Callable[[IdentityServiceStub, str], Awaitable[Any]]] = {
    "CompleteMfaSignIn": lambda stub, account: stub.CompleteMfaSignIn(
        pb.CompleteMfaSignInRequest(mfa_token=account, totp_code="123456"),
        metadata=from_client(new_address()),
    ),
    "RequestPasswordReset": lambda stub, account: stub.RequestPasswordReset(
        pb.RequestPasswordResetRequest(email=account), metadata=from_client(new_address())
    ),
    "SignUp": lambda stub, account: stub.SignUp(
        pb.SignUpRequest(email=account, password="short"), metadata=from_client(new_address())
    ),
    "RequestAccess": lambda stub, account: stub.RequestAccess(
        pb.RequestAccessRequest(email=account), metadata=from_client(new_address())
    ),
    "ExchangeApiKey": lambda stub, account: stub.ExchangeApiKey(
        pb.ExchangeApiKeyRequest(api_key=f"qdk_{account}"), metadata=from_client(new_address())
    ),
}


@pytest.mark.parametrize("method", sorted(CREDENTIAL_CALLS))
async def test_every_credential_call_is_throttled_per_account(
    throttled: Throttled, method: str
) -> None:
    next_window(throttled.clock)
    account, call = new_email(), CREDENTIAL_CALLS[method]
    for _ in range(PER_ACCOUNT):
        code = await code_of(call(throttled.identity, account))
        assert code != grpc.StatusCode.RESOURCE_EXHAUSTED, method
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await call(throttled.replica, account)
    assert rich_error(refused.value).reason == THROTTLED_REASON, method


async def test_a_caller_outside_the_trusted_sources_cannot_name_the_client(
    backend: str, databases: Databases
) -> None:
    """From an untrusted caller, the named address is ignored: its own address is counted."""
    async with (
        identity_stack(
            databases, backend, label="throttling-untrusted", client_address_sources="", **THROTTLE
        ) as stack,
        open_channel(stack.identity.target) as channel,
    ):
        identity = IdentityServiceStub(channel)
        codes = [
            await code_of(
                identity.SignIn(
                    pb.SignInRequest(email=new_email(), password="not-the-password-1"),
                    metadata=from_client(new_address()),
                )
            )
            for _ in range(PER_ADDRESS + 1)
        ]
    assert codes[:-1] == [grpc.StatusCode.UNAUTHENTICATED] * PER_ADDRESS
    assert codes[-1] == grpc.StatusCode.RESOURCE_EXHAUSTED


@asynccontextmanager
async def gateway_in_front(stack: IdentityStack) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(
        GatewaySettings(
            identity_target=stack.identity.target,
            tenancy_target=stack.tenancy.target,
            trusted_proxies="127.0.0.1",
        )
    )
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://gateway"
        ) as client,
    ):
        yield client


async def test_the_gateway_answers_429_with_retry_after_per_forwarded_client(
    throttled: Throttled,
) -> None:
    next_window(throttled.clock)
    throttled.clock.now += 20  # 39 s of the window left
    sprayer, bystander = new_address(), new_address()
    async with gateway_in_front(throttled.stack) as gateway:

        async def sign_in(client: str) -> httpx.Response:
            return await gateway.post(
                "/v1/auth/signin",
                json={"email": new_email(), "password": "not-the-password-1"},
                headers={"X-Forwarded-For": client},
            )

        answers = [(await sign_in(sprayer)).status_code for _ in range(PER_ADDRESS)]
        refused = await sign_in(sprayer)
        other = await sign_in(bystander)
    assert answers == [401] * PER_ADDRESS
    assert refused.status_code == 429, refused.text
    assert refused.headers["Retry-After"] == "39"
    assert refused.json()["error"]["status"] == "RESOURCE_EXHAUSTED"
    assert other.status_code == 401
