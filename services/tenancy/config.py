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
    tooling_target: str | None = Field(
        default=None,
        description=(
            "host:port of the tooling service, which stores onboarding's agent and tool grants; "
            "onboarding with grants is refused while unset."
        ),
    )
    price_cache_seconds: float = Field(
        default=30.0,
        ge=0,
        le=3600,
        description=(
            "How long PriceUsage reuses a model's prices before reading them again (0: never "
            "cached). Changes made through this replica apply at once; other replicas see "
            "them within this time."
        ),
    )
    limits_cache_seconds: float = Field(
        default=5.0,
        ge=0,
        le=300,
        description=(
            "How long Reserve reuses a tenant's status, rpm/tpm limits and plan limits before "
            "reading them again (0: never cached). Changes made through this replica apply at "
            "once; other replicas see them within this time."
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
    limits_backend: str = Field(
        default="database",
        pattern="^(database|redis)$",
        description=(
            "Where LimitsService keeps the rpm/tpm window counters: the service's database "
            "(default) or Redis (limits_redis_url). Reservations and plan-feature counters "
            "always stay in the database."
        ),
    )
    limits_redis_url: SecretStr | None = Field(
        default=None,
        description="redis:// or rediss:// URL of the Redis holding the rpm/tpm counters.",
    )
    limits_window: str = Field(
        default="fixed",
        pattern="^(fixed|sliding)$",
        description=(
            "fixed: a reservation counts against its UTC minute only. sliding (Redis only): "
            "the previous minute's usage also counts, weighted by how much of it the last 60 "
            "seconds still cover (two-window weighted sliding window)."
        ),
    )
    limits_redis_key_prefix: str = Field(
        default="qd:limits:",
        min_length=1,
        max_length=64,
        description="Prefix of every Redis key LimitsService writes.",
    )
    limits_redis_timeout_seconds: float = Field(
        default=1.0,
        gt=0,
        le=30,
        description="Connect and command timeout for Redis; past it Reserve fails UNAVAILABLE.",
    )
    limits_redis_fail_open: bool = Field(
        default=False,
        description=(
            "When Redis cannot be reached: false (default) refuses Reserve with UNAVAILABLE; "
            "true grants it without counting rpm/tpm (plan limits still hold) and logs it."
        ),
    )

    # --- billing periods and plans ---
    billing_advance_batch_size: int = Field(
        default=100,
        ge=1,
        le=1000,
        description=(
            "Period closings and trial ends one AdvanceSubscriptionPeriods call applies at most "
            "when the request gives no limit."
        ),
    )
    billing_plan_counter_retention_days: int = Field(
        default=7,
        ge=0,
        le=3650,
        description=(
            "How many days after its period ended a plan-limit counter (limit_counters kind "
            "plan:...) is kept before AdvanceSubscriptionPeriods deletes it."
        ),
    )

    # --- background jobs ---
    billing_advance_interval_seconds: float = Field(
        default=60.0,
        ge=0,
        le=86400,
        description=(
            "Seconds between background passes that renew ended billing periods, end trials and "
            "cancellations and draft invoices (as AdvanceSubscriptionPeriods does); 0 runs none."
        ),
    )
    membership_revocation_retention_hours: float = Field(
        default=24.0,
        ge=1,
        description=(
            "Hours a membership_revocations row is kept: it only matters while a token issued "
            "before it can still be valid, so keep this above identity's longest access-token "
            "lifetime (15 minutes by default)."
        ),
    )
    membership_revocation_prune_interval_seconds: float = Field(
        default=3600.0,
        ge=0,
        le=86400,
        description=(
            "Seconds between background passes that delete membership_revocations rows past "
            "membership_revocation_retention_hours; 0 runs none."
        ),
    )
    stripe_dispatch_interval_seconds: float = Field(
        default=30.0,
        ge=0,
        le=86400,
        description=(
            "Seconds between background passes that apply due Stripe events (new ones not yet "
            "applied, retries whose backoff is over, crashed dispatches whose lease expired), "
            "as DispatchStripeEvents does; 0 runs none."
        ),
    )
