"""Sign-in throughput with credential throttling off beside on, in one run.

Run: ``uv run python -m tests.benchmarks.bench_signin_throttle [--seconds 3] [--callers 8]
[--users 32]``. Tenancy and identity run in this process over migrated SQLite files (argon2
made as cheap as the test suite's, so the throttle's own cost is not hidden behind hashing).
The same users sign in successfully, ``--callers`` at a time round-robin over ``--users``, from
client addresses named the way the gateway names them: first with throttling off, then on with
limits that never bind (every attempt counted: one upsert of two counters), then on with a
limit every address has passed (every attempt refused before any password is checked). Prints
sign-ins per second and the ratios. Not collected by pytest (the name is bench_*).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import tempfile
from pathlib import Path
from typing import Any

import grpc

from quarterdeck.identity.v1 import identity_pb2 as pb
from quarterdeck.identity.v1.identity_pb2_grpc import IdentityServiceStub
from shared.auth import CLIENT_ADDRESS_METADATA
from shared.grpc_client import open_channel
from tests.benchmarks.bench_pricing import _measure
from tests.support.identity_users import TestUser, make_user
from tests.support.stack import Databases, identity_stack

NEVER = 2_000_000_000
SETUPS: dict[str, dict[str, Any]] = {
    "throttling off": {"throttle_per_address": 0, "throttle_per_account": 0},
    "throttling on (limits not reached)": {
        "throttle_per_address": NEVER,
        "throttle_per_account": NEVER,
    },
    "throttling on (every address over its limit)": {
        "throttle_per_address": 1,
        "throttle_per_account": NEVER,
    },
}


async def _sign_ins_per_second(
    identity: IdentityServiceStub, users: list[TestUser], callers: int, seconds: float
) -> float:
    turn = itertools.count()
    addresses = [f"198.51.100.{index % 250 + 1}" for index in range(len(users))]

    async def sign_in() -> None:
        index = next(turn) % len(users)
        user = users[index]
        try:
            await identity.SignIn(
                pb.SignInRequest(email=user.email, password=user.password),
                metadata=[(CLIENT_ADDRESS_METADATA, addresses[index])],
            )
        except grpc.aio.AioRpcError as error:
            if error.code() != grpc.StatusCode.RESOURCE_EXHAUSTED:
                raise

    rate, _ = await _measure(sign_in, callers, seconds)
    return rate


async def _run(seconds: float, callers: int, user_count: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        databases = Databases(Path(tmp), None)  # type: ignore[arg-type]  # SQLite only
        users: list[TestUser] = []
        rates: dict[str, float] = {}
        for name, overrides in SETUPS.items():
            async with (
                identity_stack(databases, "sqlite", "bench", **overrides) as stack,
                open_channel(stack.identity.target) as channel,
            ):
                if not users:
                    users = [await make_user(stack) for _ in range(user_count)]
                rates[name] = await _sign_ins_per_second(
                    IdentityServiceStub(channel), users, callers, seconds
                )
            print(f"{name:48s} {rates[name]:8.1f} sign-in calls/s", flush=True)
        off = rates["throttling off"]
        for name, rate in rates.items():
            print(f"{name:48s} {rate / off:8.2f} x throttling off")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--callers", type=int, default=8)
    parser.add_argument("--users", type=int, default=32)
    args = parser.parse_args()
    asyncio.run(_run(args.seconds, args.callers, args.users))


if __name__ == "__main__":
    main()
