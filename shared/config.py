"""Typed settings for every process, read from the environment by pydantic-settings.

Each service subclasses :class:`ServiceSettings` with its own ``env_prefix`` (``QD_TENANCY_``,
``QD_IDENTITY_``, ...), so two services on one host never read each other's values.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, TypeVar

from pydantic import Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

SettingsT = TypeVar("SettingsT", bound=BaseSettings)


class ConfigurationError(SystemExit):
    """Raised at start-up when a setting is missing or malformed; the message names the variable."""


class ServiceSettings(BaseSettings):
    """What every gRPC service needs: where to listen, where its database is, how to stop."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    service_name: ClassVar[str]

    host: str = "127.0.0.1"
    port: int = Field(default=0, ge=0, le=65535)
    data_dir: Path = Path(".quarterdeck")
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy async URL; defaults to a SQLite file named after the service.",
    )
    database_pool_size: int = Field(default=10, ge=1, description="PostgreSQL pool per process.")
    database_max_overflow: int = Field(default=20, ge=0)
    grace_period_seconds: float = Field(default=10.0, ge=0)
    migrate_on_start: bool = Field(
        default=False,
        description="Apply the service's migrations before serving (one process on one machine, "
        "as `quarterdeck up` runs it); otherwise a database behind its migrations stops the start.",
    )
    page_token_secret: SecretStr | None = Field(
        default=None,
        min_length=16,
        description="Key for page tokens; every replica of a service must share it.",
    )
    idempotency_ttl_hours: int = Field(default=24, ge=1)
    identity_target: str | None = Field(
        default=None, description="host:port of the identity service, whose JWKS verifies tokens."
    )
    internal_secret: SecretStr | None = Field(
        default=None,
        min_length=16,
        description="This service's secret for internal calls; identity knows its hash.",
    )
    jwks_max_age_seconds: float = Field(default=300.0, gt=0)
    revocation_poll_seconds: float = Field(
        default=2.0,
        ge=0,
        description="How often the revoked sessions, API keys, users and memberships are fetched from "
        "identity: a revoked credential's tokens are refused everywhere within about this "
        "long. 0 turns the check off (tokens then work until they expire).",
    )
    log_level: str = Field(default="INFO", pattern="^(DEBUG|INFO|WARNING|ERROR|CRITICAL)$")

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{self.data_dir / f'{self.service_name}.db'}"

    @property
    def listen_address(self) -> str:
        return f"{self.host}:{self.port}"


class TracingSettings(BaseSettings):
    """The standard OTEL_* variables this project acts on; the SDK reads the rest itself
    (``OTEL_TRACES_SAMPLER`` and ``OTEL_TRACES_SAMPLER_ARG`` among them: every call is sampled
    unless they say otherwise). Plus ``QD_TRACE_SQL``: SQL statement spans."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    otel_sdk_disabled: bool = False
    qd_trace_sql: bool = Field(
        default=False,
        description="Record a span per SQL statement (and connection checkout). Off by "
        "default: on the hot path they cost more CPU than the statements themselves; turn it "
        "on to see where a slow call spends its database time.",
    )
    otel_traces_exporter: str = Field(default="otlp", pattern="^(otlp|console|none)$")
    otel_exporter_otlp_endpoint: str | None = None
    otel_exporter_otlp_traces_endpoint: str | None = None

    @property
    def traces_endpoint(self) -> str | None:
        return self.otel_exporter_otlp_traces_endpoint or self.otel_exporter_otlp_endpoint


def env_prefix_of(settings_type: type[BaseSettings]) -> str:
    return str(settings_type.model_config.get("env_prefix", ""))


def load_settings(settings_type: type[SettingsT], **overrides: Any) -> SettingsT:
    """Build settings from the environment, turning a validation error into one clear message."""
    try:
        return settings_type(**overrides)
    except ValidationError as exc:
        prefix = env_prefix_of(settings_type)
        problems = "; ".join(
            f"{prefix}{'_'.join(str(p) for p in err['loc']).upper()}: {err['msg']}"
            for err in exc.errors()
        )
        raise ConfigurationError(f"invalid configuration: {problems}") from None
