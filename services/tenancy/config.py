"""Settings of the tenancy service (environment prefix ``QD_TENANCY_``)."""

from __future__ import annotations

from typing import ClassVar

from pydantic_settings import SettingsConfigDict

from shared.config import ServiceSettings


class TenancySettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="QD_TENANCY_", extra="ignore", frozen=True)

    service_name: ClassVar[str] = "tenancy"
    port: int = 50052
