"""The gateway's HTTP protocol sends what a connection writes within one step of the event loop
as one write: a response's head and body leave together."""

from __future__ import annotations

import asyncio
from typing import cast

from services.gateway.http_protocol import _CoalescingTransport


class _Transport:
    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        assert not self.closed
        self.writes.append(data)

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def get_extra_info(self, name: str) -> str:
        return f"extra {name}"


async def test_writes_in_one_step_leave_as_one_and_later_ones_on_their_own() -> None:
    inner = _Transport()
    transport = _CoalescingTransport(cast(asyncio.Transport, inner), asyncio.get_running_loop())
    transport.write(b"HTTP/1.1 200 OK\r\n\r\n")
    transport.write(b"{}")
    assert inner.writes == []
    await asyncio.sleep(0)
    assert inner.writes == [b"HTTP/1.1 200 OK\r\n\r\n{}"]
    transport.write(b"data: 1\n\n")
    await asyncio.sleep(0)
    assert inner.writes[1:] == [b"data: 1\n\n"]
    assert transport.get_extra_info("peername") == "extra peername"


async def test_close_sends_what_was_written_first() -> None:
    inner = _Transport()
    transport = _CoalescingTransport(cast(asyncio.Transport, inner), asyncio.get_running_loop())
    transport.write(b"last words")
    transport.close()
    assert inner.writes == [b"last words"] and inner.closed
    await asyncio.sleep(0)  # the scheduled flush finds nothing left to send
    assert inner.writes == [b"last words"]
