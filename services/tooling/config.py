"""Settings of the tooling service (environment prefix ``QD_TOOLING_``)."""

from __future__ import annotations

import json
import shlex
from typing import ClassVar

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import SettingsConfigDict

from shared.config import ServiceSettings


class ToolingSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="QD_TOOLING_", extra="ignore", frozen=True)

    service_name: ClassVar[str] = "tooling"
    port: int = 50054
    telemetry_target: str | None = Field(
        default=None, description="host:port of the telemetry service, for tool usage records."
    )
    secret_encryption_keys: SecretStr | None = Field(
        default=None,
        description=(
            "Fernet keys (comma-separated, the first encrypts) sealing tools' secret headers; "
            "tools with secret headers are refused while unset."
        ),
    )
    default_cost_tier: str = Field(
        default="free",
        pattern="^(free|pro|enterprise)$",
        description="The cost tier whose execution limits apply when no service names one.",
    )
    agent_cache_ttl_seconds: float = Field(
        default=5.0,
        ge=0,
        le=3600,
        description=(
            "How long a replica trusts an agent's definition, a role's execution limits and "
            "what let a tool call through (the tool, the agent's tools, the tenant's permissions) "
            "on the ExecuteTool path before reading them again (0 turns the cache off); the "
            "replica that changes one sees the change at once, the others within this time."
        ),
    )
    mcp_tools_cache_seconds: float = Field(
        default=300.0,
        ge=0,
        le=86400,
        description=(
            "How long an MCP server's tools/list answer is reused by ImportMcpTools (0: never); "
            "an import with refresh set always asks the server."
        ),
    )
    mcp_stdio_servers: str = Field(
        default="",
        description=(
            "MCP servers run as local commands, as a JSON object of name to command line, e.g. "
            '{"files": "/opt/mcp/files-server --root /srv/share"}; operators import their tools '
            'with server_url "stdio:<name>". No other command is ever run. The command gets only '
            "a minimal environment (PATH, HOME, ...), none of the service's settings."
        ),
    )
    ocr_endpoint: str | None = Field(
        default=None,
        pattern="^https?://",
        description=(
            "The HTTP OCR engine OCR tools use, reached through the egress guard (allow a "
            'private host in egress_allowed_hosts): it is sent POST {"image_base64", '
            '"language"} and answers {"text"}. OCR tools are refused '
            "(FAILED_PRECONDITION NO_OCR_ENGINE) while it is unset."
        ),
    )
    db_query_sqlite_dir: str | None = Field(
        default=None,
        description=(
            "The directory whose SQLite files tenants may register as DB_QUERY databases "
            "(sqlite:///<file in it>); SQLite is refused while unset."
        ),
    )
    db_query_max_rows: int = Field(
        default=1000, ge=1, le=100_000, description="The most rows one DB_QUERY call returns."
    )
    egress_allowed_hosts: str = Field(
        default="",
        description=(
            "Comma-separated host names (or IP literals) tools may reach although they resolve "
            "to private, loopback or link-local addresses; matched as written in the URL."
        ),
    )
    egress_timeout_seconds: float = Field(
        default=30.0, gt=0, le=300, description="The longest any outbound tool call may take."
    )
    egress_max_response_bytes: int = Field(
        default=1024 * 1024, ge=1024, description="The largest response body a tool may read."
    )
    egress_max_redirects: int = Field(default=5, ge=0, le=20)

    @field_validator("mcp_stdio_servers")
    @classmethod
    def _stdio_servers_parse(cls, value: str) -> str:
        _parse_stdio_servers(value)
        return value

    @property
    def stdio_servers(self) -> dict[str, list[str]]:
        """The registered stdio MCP servers: name -> command line (argv)."""
        return _parse_stdio_servers(self.mcp_stdio_servers)

    @property
    def allowed_egress_hosts(self) -> frozenset[str]:
        return frozenset(
            host.strip().lower().strip("[]")
            for host in self.egress_allowed_hosts.split(",")
            if host.strip()
        )


def _parse_stdio_servers(value: str) -> dict[str, list[str]]:
    if not value.strip():
        return {}
    try:
        parsed = json.loads(value)
    except ValueError as exc:
        raise ValueError(f"must be a JSON object of name to command line: {exc}") from None
    if not isinstance(parsed, dict):
        raise ValueError("must be a JSON object of name to command line")
    servers: dict[str, list[str]] = {}
    for name, command in parsed.items():
        argv = shlex.split(command) if isinstance(command, str) else command
        if not (isinstance(argv, list) and argv and all(isinstance(a, str) and a for a in argv)):
            raise ValueError(f"server {name!r}: the command must be a non-empty string or list")
        if not name or not name.replace("-", "").replace("_", "").isalnum():
            raise ValueError(f"server {name!r}: names hold letters, digits, '-' and '_' only")
        servers[name] = argv
    return servers
