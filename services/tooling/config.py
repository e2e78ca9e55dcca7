"""Settings of the tooling service (environment prefix ``QD_TOOLING_``)."""

from __future__ import annotations

from typing import ClassVar

from pydantic_settings import SettingsConfigDict

from shared.config import ServiceSettings


class ToolingSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="QD_TOOLING_", extra="ignore", frozen=True)

    service_name: ClassVar[str] = "tooling"
    port: int = 50054
