"""MCP servers through the official SDK: over Streamable HTTP through the egress guard (every
HTTP request the SDK makes, redirects included, goes to an address the guard checked), or over
stdio for a command an operator registered (``mcp_stdio_servers``), named ``stdio:<name>``; no
other command is ever run, and it gets only the SDK's minimal environment."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from services.tooling.egress import EgressDenied, EgressFailed, EgressGuard

if TYPE_CHECKING:
    from mcp import Client

#: The most tools one import takes from a server.
MAX_LISTED_TOOLS = 500
#: How a tool config names a registered stdio server: ``stdio:<name>``.
STDIO_PREFIX = "stdio:"


class McpFailed(Exception):
    """The MCP server could not be reached or answered unusably (or the tool reported an error)."""

    def __init__(self, message: str, reason: str = "MCP_ERROR") -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class McpTool:
    name: str
    description: str
    input_schema: dict[str, Any]


def _cause(error: BaseException) -> BaseException | None:
    """The guard's refusal, a timeout or our own failure inside what the SDK raised (it wraps
    errors of its task groups in exception groups)."""
    if isinstance(error, (EgressDenied, EgressFailed, TimeoutError, McpFailed)):
        return error
    if isinstance(error, BaseExceptionGroup):
        for inner in error.exceptions:
            if (found := _cause(inner)) is not None:
                return found
    for linked in (error.__cause__, error.__context__):
        if linked is not None and linked is not error and (found := _cause(linked)) is not None:
            return found
    return None


@dataclass(frozen=True)
class McpServers:
    """Where MCP servers are reached: the egress guard for URLs, the registered commands for
    ``stdio:<name>``."""

    guard: EgressGuard
    stdio: Mapping[str, list[str]]

    def stdio_command(self, url: str) -> list[str] | None:
        """The registered command of a ``stdio:`` url; None for an http(s) url. Raises
        McpFailed (MCP_STDIO_NOT_REGISTERED) for a stdio name no operator registered."""
        if not url.startswith(STDIO_PREFIX):
            return None
        command = self.stdio.get(url.removeprefix(STDIO_PREFIX))
        if command is None:
            raise McpFailed(
                f"{url!r} names no stdio MCP server the operators registered",
                "MCP_STDIO_NOT_REGISTERED",
            )
        return command


@asynccontextmanager
async def _session(servers: McpServers, url: str, timeout_seconds: float) -> AsyncIterator[Client]:
    # The MCP SDK (with its server half, Starlette and uvicorn) is imported at the first MCP
    # call, not when the service starts.
    from mcp import Client
    from mcp.client.stdio import StdioServerParameters
    from mcp.client.streamable_http import streamable_http_client

    command = servers.stdio_command(url)
    http_client = servers.guard.mcp_http_client(timeout_seconds)
    try:
        async with asyncio.timeout(timeout_seconds):
            transport: Any = (
                streamable_http_client(url, http_client=http_client)
                if command is None
                else StdioServerParameters(command=command[0], args=command[1:])
            )
            async with Client(transport, read_timeout_seconds=timeout_seconds) as client:
                yield client
    except Exception as exc:  # noqa: BLE001 - whatever the MCP SDK raises becomes McpFailed
        cause = _cause(exc)
        if cause is not None:
            raise cause from None
        raise McpFailed(f"the MCP server at {url} failed: {exc}") from None
    finally:
        await http_client.aclose()


async def list_mcp_tools(servers: McpServers, url: str, timeout_seconds: float) -> list[McpTool]:
    tools: list[McpTool] = []
    async with _session(servers, url, timeout_seconds) as client:
        cursor: str | None = None
        while len(tools) < MAX_LISTED_TOOLS:
            listed = await client.list_tools(cursor=cursor)
            tools += [
                McpTool(t.name, t.description or "", dict(t.input_schema or {"type": "object"}))
                for t in listed.tools
            ]
            cursor = listed.next_cursor
            if not cursor:
                break
    return tools[:MAX_LISTED_TOOLS]


async def call_mcp_tool(
    servers: McpServers,
    url: str,
    name: str,
    arguments: Mapping[str, Any],
    timeout_seconds: float,
) -> Any:
    """The tool's structured result, else its text (as JSON when it is JSON)."""
    from mcp_types import TextContent

    async with _session(servers, url, timeout_seconds) as client:
        result = await client.call_tool(name, dict(arguments))
    texts = [part.text for part in result.content if isinstance(part, TextContent)]
    if result.is_error:
        raise McpFailed(" ".join(texts)[:2000] or "the MCP tool failed", "MCP_TOOL_ERROR")
    if result.structured_content is not None:
        return result.structured_content
    text = "\n".join(texts)
    try:
        return json.loads(text)
    except ValueError:
        return text
