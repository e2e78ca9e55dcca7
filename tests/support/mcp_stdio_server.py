"""A real MCP server over stdio for tests, built with the official SDK: the command a test
registers as an operator would (``mcp_stdio_servers``), run as a script by tooling. Each
tools/list and tool call is appended to the log file named by its one argument, so a test can
count what reached the server."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from mcp.server.mcpserver import MCPServer

LOG = Path(sys.argv[1]) if len(sys.argv) > 1 else None


def _log(line: str) -> None:
    if LOG is not None:
        with LOG.open("a") as log:
            log.write(line + "\n")


class _Shelf(MCPServer):
    async def list_tools(self) -> Any:
        _log("list")
        return await super().list_tools()


server = _Shelf("shelf")


@server.tool()
def shelf_count(item: str) -> dict[str, object]:
    """How many of an item are on the shelf."""
    _log(f"call:{item}")
    return {"item": item, "count": len(item)}


if __name__ == "__main__":
    server.run("stdio")
