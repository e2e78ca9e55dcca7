"""Settings of the telemetry service (environment prefix ``QD_TELEMETRY_``)."""

from __future__ import annotations

from typing import ClassVar

from pydantic_settings import SettingsConfigDict

from shared.config import ServiceSettings


class TelemetrySettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="QD_TELEMETRY_", extra="ignore", frozen=True)

    service_name: ClassVar[str] = "telemetry"
    port: int = 50055
