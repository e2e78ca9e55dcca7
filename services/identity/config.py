"""Settings of the identity service (environment prefix ``QD_IDENTITY_``)."""

from __future__ import annotations

from typing import ClassVar

from pydantic_settings import SettingsConfigDict

from shared.config import ServiceSettings


class IdentitySettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="QD_IDENTITY_", extra="ignore", frozen=True)

    service_name: ClassVar[str] = "identity"
    port: int = 50051
