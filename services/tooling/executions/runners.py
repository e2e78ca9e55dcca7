"""What runs a tool of each base type once every check has passed.

A runner returns the tool's raw result or raises :class:`ToolFailed` (the tool ran and failed),
:class:`ToolUnavailable` (the type cannot run here: nothing is configured for it), TimeoutError,
or the egress guard's EgressDenied/EgressFailed.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import quote, urlencode

from services.tooling.egress import EgressGuard
from services.tooling.mcp_client import McpFailed, McpServers, call_mcp_tool

_PATH_PARAMETER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
DEFAULT_TIMEOUT_SECONDS = 30.0


class ToolFailed(Exception):
    def __init__(self, message: str, reason: str = "TOOL_FAILED") -> None:
        super().__init__(message)
        self.reason = reason


class ToolUnavailable(Exception):
    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


Runner = Callable[[Mapping[str, Any], dict[str, Any]], Awaitable[Any]]


def expand_endpoint(template: str, arguments: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """The endpoint with its ``{name}`` path parameters filled from the arguments (each escaped
    whole, so no argument can add a path segment, a query or another host), and the arguments
    left over."""
    used: set[str] = set()

    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in arguments:
            raise ToolFailed(f"the endpoint needs the argument {name!r}", "MISSING_PATH_PARAMETER")
        used.add(name)
        value = arguments[name]
        text = value if isinstance(value, str) else json.dumps(value)
        return quote(text, safe="")

    url = _PATH_PARAMETER.sub(fill, template)
    return url, {k: v for k, v in arguments.items() if k not in used}


def _decode(content_type: str, body: bytes) -> Any:
    if content_type == "application/json" or content_type.endswith("+json"):
        try:
            return json.loads(body)
        except ValueError:
            raise ToolFailed("the tool answered malformed JSON", "BAD_RESPONSE") from None
    return body.decode("utf-8", errors="replace")


def http_runner(guard: EgressGuard, method: str) -> Runner:
    async def run(config: Mapping[str, Any], arguments: dict[str, Any]) -> Any:
        url, rest = expand_endpoint(str(config["endpoint"]), arguments)
        if method == "GET" and rest:
            query = urlencode(
                {k: v if isinstance(v, str) else json.dumps(v) for k, v in rest.items()}
            )
            url = f"{url}{'&' if '?' in url else '?'}{query}"
        response = await guard.request(
            str(config.get("method", method)),
            url,
            headers=dict(config.get("headers") or {}),
            json_body=rest if method == "POST" else None,
            timeout_seconds=float(config.get("timeout", DEFAULT_TIMEOUT_SECONDS)),
        )
        if response.status_code >= 400:
            raise ToolFailed(
                f"the tool's endpoint answered HTTP {response.status_code}", "UPSTREAM_ERROR"
            )
        return _decode(response.content_type, response.body)

    return run


def mcp_runner(servers: McpServers) -> Runner:
    async def run(config: Mapping[str, Any], arguments: dict[str, Any]) -> Any:
        try:
            return await call_mcp_tool(
                servers,
                str(config["server_url"]),
                str(config["tool_name"]),
                arguments,
                float(config.get("timeout", DEFAULT_TIMEOUT_SECONDS)),
            )
        except McpFailed as exc:
            raise ToolFailed(str(exc), exc.reason) from None

    return run


#: The largest image (base64 text) an OCR call sends.
MAX_OCR_IMAGE_CHARS = 8 * 1024 * 1024


def ocr_runner(guard: EgressGuard, endpoint: str) -> Runner:
    """OCR through the configured HTTP engine (through the egress guard, like any call out)."""

    async def run(config: Mapping[str, Any], arguments: dict[str, Any]) -> Any:
        image = arguments.get("image_base64")
        if not isinstance(image, str) or not image:
            raise ToolFailed(
                "an OCR call needs the argument 'image_base64' (the image, base64)", "OCR_NO_IMAGE"
            )
        if len(image) > MAX_OCR_IMAGE_CHARS:
            raise ToolFailed(
                f"'image_base64' is longer than {MAX_OCR_IMAGE_CHARS} characters", "OCR_BAD_IMAGE"
            )
        try:
            base64.b64decode(image, validate=True)
        except (binascii.Error, ValueError):
            raise ToolFailed("'image_base64' is not valid base64", "OCR_BAD_IMAGE") from None
        body: dict[str, Any] = {"image_base64": image}
        language = arguments.get("language", config.get("language"))
        if isinstance(language, str) and language:
            body["language"] = language
        response = await guard.request(
            "POST",
            endpoint,
            json_body=body,
            timeout_seconds=float(config.get("timeout", DEFAULT_TIMEOUT_SECONDS)),
        )
        if response.status_code >= 400:
            raise ToolFailed(
                f"the OCR engine answered HTTP {response.status_code}", "OCR_ENGINE_ERROR"
            )
        answer = _decode(response.content_type, response.body)
        if not isinstance(answer, dict) or not isinstance(answer.get("text"), str):
            raise ToolFailed("the OCR engine answered without a text", "OCR_BAD_RESPONSE")
        return {"text": answer["text"]}

    return run


def unavailable(message: str, reason: str) -> Runner:
    async def run(config: Mapping[str, Any], arguments: dict[str, Any]) -> Any:
        raise ToolUnavailable(message, reason)

    return run


def runners(
    guard: EgressGuard, mcp: McpServers, ocr_endpoint: str | None = None
) -> dict[str, Runner]:
    return {
        "HTTP_GET": http_runner(guard, "GET"),
        "HTTP_POST": http_runner(guard, "POST"),
        # Vector stores arrive with their own issue; until then RAG has nothing to search.
        "RAG": unavailable("the agent has no vector store to search", "NO_VECTOR_STORE"),
        # DB_QUERY needs the calling tenant's database: ExecutionHandlers runs it.
        "OCR": ocr_runner(guard, ocr_endpoint)
        if ocr_endpoint
        else unavailable(
            "no OCR engine is configured on this platform: an operator sets "
            "QD_TOOLING_OCR_ENDPOINT (an HTTP OCR engine)",
            "NO_OCR_ENGINE",
        ),
        "MCP": mcp_runner(mcp),
    }


def shape(result: Any, format_name: str | None) -> Any:
    """The result in the tool's output format (seed 004 output_formats)."""
    if format_name == "structured_json" or format_name == "chart_data":
        return result if isinstance(result, dict) else {"result": result}
    if format_name == "summary_text":
        return result if isinstance(result, str) else json.dumps(result, ensure_ascii=False)
    if format_name == "markdown_table":
        return markdown_table(result)
    return result


def markdown_table(result: Any) -> str:
    rows = result if isinstance(result, list) else [result]
    if not rows or not all(isinstance(row, dict) for row in rows):
        return result if isinstance(result, str) else json.dumps(result, ensure_ascii=False)
    columns = list(dict.fromkeys(key for row in rows for key in row))

    def cell(value: Any) -> str:
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        return text.replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(row.get(c, "")) for c in columns) + " |" for row in rows]
    return "\n".join(lines)
