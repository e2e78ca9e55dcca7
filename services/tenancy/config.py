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
    telemetry_target: str | None = Field(
        default=None,
        description="host:port of the telemetry service, whose activity feed tenancy appends to.",
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
    stripe_webhook_secret: SecretStr | None = Field(
        default=None,
        description=(
            "The Stripe webhook endpoint's signing secret (whsec_...): IngestStripeEvent refuses "
            "every event while it is unset."
        ),
    )
    stripe_signature_tolerance_seconds: int = Field(
        default=300, gt=0, le=86400, description="How old a Stripe-Signature timestamp may be."
    )
    stripe_dispatch_after_ingest: bool = Field(
        default=True, description="Whether IngestStripeEvent applies the event right away."
    )
    stripe_dispatch_max_attempts: int = Field(
        default=8, ge=1, le=100, description="Attempts before a Stripe event is dead-lettered."
    )
    stripe_dispatch_backoff_seconds: float = Field(
        default=30.0,
        gt=0,
        le=86400,
        description="Delay before the first retry of a Stripe event; doubled for each next one.",
    )
    stripe_dispatch_backoff_max_seconds: float = Field(
        default=6 * 3600.0, gt=0, description="The longest delay between two retries."
    )
    stripe_dispatch_lease_seconds: float = Field(
        default=60.0,
        gt=0,
        le=3600,
        description="How long a dispatcher holds an event before another may take it over.",
    )
    stripe_dispatch_batch_size: int = Field(
        default=50,
        ge=1,
        le=1000,
        description="Events one DispatchStripeEvents call claims at most.",
    )

    # --- limits backend ---

    # --- billing periods and plans ---
