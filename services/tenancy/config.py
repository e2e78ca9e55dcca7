"""Settings of the tenancy service (environment prefix ``QD_TENANCY_``)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from shared.config import ServiceSettings


class TenancySettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="QD_TENANCY_", extra="ignore", frozen=True)

    service_name: ClassVar[str] = "tenancy"
    port: int = 50052
    provider_key_encryption_keys: SecretStr | None = Field(
        default=None,
        description=(
            "Fernet keys sealing tenants' provider API keys, comma-separated: the first "
            "encrypts, every one decrypts (rotate with `quarterdeck rotate-provider-keys`)."
        ),
    )
    limits_reservation_ttl_seconds: float = Field(
        default=120.0,
        gt=0,
        le=3600,
        description=(
            "How long a rate-limit reservation may stay open: one neither settled nor released "
            "by then stays counted as used (LimitsService)."
        ),
    )
