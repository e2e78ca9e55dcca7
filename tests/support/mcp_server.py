"""A real MCP server for tests, built with the official SDK and served over Streamable HTTP on
127.0.0.1 by uvicorn in a thread: a lookup tool, a failing one and one that hangs until the
server stops."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import anyio.to_thread
import uvicorn
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError


@dataclass
class LocalMcpServer:
    port: int
    calls: list[str] = field(default_factory=list)
    #: How many tools/list requests the server answered.
    lists: int = 0
    release: threading.Event = field(default_factory=threading.Event)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/mcp"


def _build(state: LocalMcpServer) -> MCPServer:
    class Counting(MCPServer):
        async def list_tools(self) -> Any:
            state.lists += 1
            return await super().list_tools()

    server: MCPServer = Counting("inventory")

    @server.tool()
    def stock(sku: str) -> dict[str, object]:
        """Units in stock for a SKU."""
        state.calls.append(f"stock:{sku}")
        return {"sku": sku, "units": 4}

    @server.tool()
    def broken() -> str:
        """Always fails."""
        state.calls.append("broken")
        raise ToolError("the warehouse system is down")

    @server.tool()
    async def stuck() -> str:
        """Answers only when the server stops."""
        state.calls.append("stuck")
        await anyio.to_thread.run_sync(state.release.wait, 60)
        return "late"

    return server


@contextmanager
def local_mcp_server() -> Iterator[LocalMcpServer]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    state = LocalMcpServer(port=int(sock.getsockname()[1]))
    server = uvicorn.Server(
        uvicorn.Config(_build(state).streamable_http_app(), log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=lambda: server.run(sockets=[sock]), daemon=True)
    thread.start()
    started = threading.Event()

    def wait_started() -> None:
        while not server.started and thread.is_alive():
            started.wait(0.02)

    wait_started()
    try:
        yield state
    finally:
        state.release.set()
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
