"""Settings of the tooling service (environment prefix ``QD_TOOLING_``)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, SecretStr
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
            "How long a replica trusts an agent's definition and a role's execution limits on the "
            "ExecuteTool path before reading them again (0 turns the cache off); the replica "
            "that changes one sees the change at once, the others within this time."
        ),
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

    @property
    def allowed_egress_hosts(self) -> frozenset[str]:
        return frozenset(
            host.strip().lower().strip("[]")
            for host in self.egress_allowed_hosts.split(",")
            if host.strip()
        )
