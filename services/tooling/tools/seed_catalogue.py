"""The tool catalogue every installation starts with: seed 004's base tools (HTTP_GET, HTTP_POST,
RAG, DB_QUERY, OCR) plus MCP, and its output formats (structured_json, markdown_table,
chart_data, summary_text).

Ids are derived from the names (uuid5), so every installation agrees on them. :func:`seed` is
what migration 0002 runs; it writes with plain table constructs (not the ORM models, which may
change after the migration was written) and adds only rows missing by name, so running it twice
changes nothing.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from shared.db_types import JSONType, UTCDateTime

SEED_NAMESPACE = uuid.UUID("0b7f3c52-5d1e-4f0e-9a59-2d9a4f6c1e31")
SEEDED_AT = datetime(2024, 1, 1, tzinfo=UTC)

_HTTP_CONFIG_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["endpoint"],
    "additionalProperties": False,
    "properties": {
        "endpoint": {"type": "string", "pattern": "^https?://", "maxLength": 2048},
        "method": {"type": "string", "enum": ["GET", "POST"]},
        "headers": {"type": "object", "additionalProperties": {"type": "string"}},
        "timeout": {"type": "number", "exclusiveMinimum": 0, "maximum": 120},
    },
}

BASE_TOOLS: list[dict[str, Any]] = [
    {
        "type": "HTTP_GET",
        "handler_class": "tools.http.HTTPGetTool",
        "description": "HTTP GET request tool",
        "default_config_schema": _HTTP_CONFIG_SCHEMA,
    },
    {
        "type": "HTTP_POST",
        "handler_class": "tools.http.HTTPPostTool",
        "description": "HTTP POST request tool",
        "default_config_schema": _HTTP_CONFIG_SCHEMA,
    },
    {
        "type": "RAG",
        "handler_class": "tools.rag.RAGTool",
        "description": "RAG vector search tool",
        "default_config_schema": {"type": "object"},
    },
    {
        "type": "DB_QUERY",
        "handler_class": "tools.db.DBQueryTool",
        "description": "Database query tool",
        "default_config_schema": {"type": "object"},
    },
    {
        "type": "OCR",
        "handler_class": "tools.ocr.OCRTool",
        "description": "OCR document processing tool",
        "default_config_schema": {"type": "object"},
    },
    {
        "type": "MCP",
        "handler_class": "tools.mcp.MCPTool",
        "description": "A tool of an MCP server (Streamable HTTP)",
        "default_config_schema": {
            "type": "object",
            "required": ["server_url", "tool_name"],
            "properties": {
                "server_url": {"type": "string", "pattern": "^https?://"},
                "tool_name": {"type": "string", "minLength": 1},
                "timeout": {"type": "number", "exclusiveMinimum": 0, "maximum": 120},
            },
        },
    },
]

OUTPUT_FORMATS: list[dict[str, Any]] = [
    {
        "name": "structured_json",
        "schema": {"type": "object"},
        "renderer_hint": {"type": "json"},
        "description": "A JSON object",
    },
    {
        "name": "markdown_table",
        "schema": {"type": "string"},
        "renderer_hint": {"type": "table", "sortable": True},
        "description": "A Markdown table",
    },
    {
        "name": "chart_data",
        "schema": {"type": "object"},
        "renderer_hint": {"type": "chart", "chartType": "bar"},
        "description": "Series for a chart",
    },
    {
        "name": "summary_text",
        "schema": {"type": "string"},
        "renderer_hint": {"type": "text"},
        "description": "Plain text",
    },
]


def base_tool_id(tool_type: str) -> uuid.UUID:
    return uuid.uuid5(SEED_NAMESPACE, f"base_tool:{tool_type}")


def output_format_id(name: str) -> uuid.UUID:
    return uuid.uuid5(SEED_NAMESPACE, f"output_format:{name}")


_base_tools = sa.table(
    "base_tools",
    sa.column("id", sa.Uuid()),
    sa.column("type", sa.String()),
    sa.column("handler_class", sa.String()),
    sa.column("description", sa.Text()),
    sa.column("default_config_schema", JSONType),
    sa.column("created_at", UTCDateTime()),
)
_output_formats = sa.table(
    "output_formats",
    sa.column("id", sa.Uuid()),
    sa.column("name", sa.String()),
    sa.column("schema", JSONType),
    sa.column("renderer_hint", JSONType),
    sa.column("description", sa.Text()),
    sa.column("created_at", UTCDateTime()),
)


def seed(connection: Connection) -> None:
    have_types = set(connection.scalars(sa.select(_base_tools.c.type)))
    for tool in BASE_TOOLS:
        if tool["type"] not in have_types:
            connection.execute(
                _base_tools.insert().values(
                    id=base_tool_id(tool["type"]), created_at=SEEDED_AT, **tool
                )
            )
    have_names = set(connection.scalars(sa.select(_output_formats.c.name)))
    for fmt in OUTPUT_FORMATS:
        if fmt["name"] not in have_names:
            connection.execute(
                _output_formats.insert().values(
                    id=output_format_id(fmt["name"]), created_at=SEEDED_AT, **fmt
                )
            )
