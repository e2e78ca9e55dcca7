"""The access log names every call at DEBUG, and at INFO only the calls an operator must see: a
failure (with its code) or a success slower than SLOW_CALL_SECONDS."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import grpc
import pytest

from shared import interceptors
from shared.interceptors import AccessLogInterceptor, LayeredInterceptor

SERVICE = "test.Things"


@asynccontextmanager
async def serving() -> AsyncIterator[grpc.aio.Channel]:
    async def get(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        if request == b"missing":
            await context.abort(grpc.StatusCode.NOT_FOUND, "no such thing")
        return request

    server = grpc.aio.server(interceptors=[LayeredInterceptor([AccessLogInterceptor()])])
    server.add_generic_rpc_handlers(
        [
            grpc.method_handlers_generic_handler(
                SERVICE, {"Get": grpc.unary_unary_rpc_method_handler(get)}
            )
        ]
    )
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield channel
    finally:
        await server.stop(None)


def _lines(caplog: pytest.LogCaptureFixture) -> list[tuple[int, str]]:
    return [(r.levelno, r.getMessage()) for r in caplog.records if r.name == "quarterdeck.access"]


async def test_a_quick_success_is_logged_at_debug_and_a_failure_at_info(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="quarterdeck.access")
    async with serving() as channel:
        get = channel.unary_unary(f"/{SERVICE}/Get")
        await get(b"x", timeout=5)
        with pytest.raises(grpc.aio.AioRpcError):
            await get(b"missing", timeout=5)

    (success, success_line), (failure, failure_line) = _lines(caplog)
    assert success == logging.DEBUG and success_line.startswith(f"rpc /{SERVICE}/Get OK ")
    assert failure == logging.INFO and failure_line.startswith(f"rpc /{SERVICE}/Get NOT_FOUND ")


async def test_a_slow_success_is_logged_at_info(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(interceptors, "SLOW_CALL_SECONDS", 0.0)
    caplog.set_level(logging.INFO, logger="quarterdeck.access")
    async with serving() as channel:
        await channel.unary_unary(f"/{SERVICE}/Get")(b"x", timeout=5)

    ((level, line),) = _lines(caplog)
    assert level == logging.INFO and line.startswith(f"rpc /{SERVICE}/Get OK ")
