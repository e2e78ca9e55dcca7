"""uvicorn's httptools protocol, with a response's writes leaving the gateway in one send.

uvicorn writes a response's status line and headers as soon as the app starts the response, and
its body as a second write: two ``send`` system calls per response on the gateway, and two
wake-ups of the client, where one would do. Here the writes a connection makes within one step
of the event loop are joined and sent together at the end of that step. A response written in
one go (every JSON route: ``http.response.start`` and its body, with no await between them that
waits) leaves in one send; a streamed one (server-sent events) still leaves chunk by chunk, each
as soon as it is written.
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class _CoalescingTransport:
    """A transport whose writes within one step of the loop are sent as one; everything else
    is the wrapped transport's."""

    __slots__ = ("_loop", "_pending", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] = []

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not self._pending:
            self._loop.call_soon(self._flush)
        self._pending.append(bytes(data))

    def writelines(self, chunks: Any) -> None:
        for chunk in chunks:
            self.write(chunk)

    def _flush(self) -> None:
        if not self._pending:
            return
        data = self._pending[0] if len(self._pending) == 1 else b"".join(self._pending)
        self._pending.clear()
        if not self._transport.is_closing():
            self._transport.write(data)

    def close(self) -> None:
        self._flush()  # what was written goes first, as with the transport's own buffer
        self._transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class CoalescingHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's C-parser protocol writing through :class:`_CoalescingTransport`."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        coalescing = _CoalescingTransport(transport, self.loop)
        super().connection_made(cast(asyncio.Transport, coalescing))
