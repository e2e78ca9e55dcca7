"""Settings of the telemetry service (environment prefix ``QD_TELEMETRY_``).

Each area keeps its settings in its own section below."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.config import ServiceSettings


class TelemetrySettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="QD_TELEMETRY_", extra="ignore", frozen=True)

    service_name: ClassVar[str] = "telemetry"
    port: int = 50055
    tenancy_target: str | None = Field(
        default=None,
        description="host:port of the tenancy service, whose PriceUsage prices usage rows.",
    )

    # --- usage ---

    # --- traces and retention ---

    # --- metrics, requests, tool usage ---

    # --- activity ---

    # --- status subscriptions ---
