"""The RESP replies of LimitsService's script connection (services/tenancy/limits/redis_channel.py),
however the bytes arrive."""

from __future__ import annotations

import asyncio

import pytest
from redis.exceptions import NoScriptError, ResponseError

from services.tenancy.limits.redis_channel import _command, _Protocol

REPLIES = (
    b"*5\r\n:1\r\n:2\r\n:20\r\n:0\r\n:0\r\n"  # a take
    b"$-1\r\n"  # false (nil)
    b"*2\r\n:2\r\n$36\r\n0b6b3f2e-5f8c-4a0e-9d6e-2c1f8d3f4a5b\r\n"  # taken by another
    b"-NOSCRIPT No matching script.\r\n"
    b"-ERR something else\r\n"
    b":-3\r\n"
)
EXPECTED = [
    [1, 2, 20, 0, 0],
    None,
    [2, b"0b6b3f2e-5f8c-4a0e-9d6e-2c1f8d3f4a5b"],
    NoScriptError,
    ResponseError,
    -3,
]


@pytest.mark.parametrize("chunk", [1, 2, 7, len(REPLIES)])
async def test_replies_are_matched_to_calls_in_order_whatever_the_chunks(chunk: int) -> None:
    protocol = _Protocol()
    loop = asyncio.get_running_loop()
    futures = [loop.create_future() for _ in EXPECTED]
    protocol.waiting.extend(futures)
    for start in range(0, len(REPLIES), chunk):
        protocol.data_received(REPLIES[start : start + chunk])
    for future, expected in zip(futures, EXPECTED, strict=True):
        assert future.done()
        if isinstance(expected, type):
            assert isinstance(future.exception(), expected)
        else:
            assert future.result() == expected


def test_commands_are_written_as_resp_arrays() -> None:
    assert _command(("EVALSHA", "ab", 1, "k", b"v")) == (
        b"*5\r\n$7\r\nEVALSHA\r\n$2\r\nab\r\n$1\r\n1\r\n$1\r\nk\r\n$1\r\nv\r\n"
    )
