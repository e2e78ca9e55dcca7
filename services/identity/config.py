"""Settings of the identity service (environment prefix ``QD_IDENTITY_``)."""

from __future__ import annotations

from datetime import timedelta
from typing import ClassVar, Literal

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from shared.config import ServiceSettings


class IdentitySettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="QD_IDENTITY_", extra="ignore", frozen=True)

    service_name: ClassVar[str] = "identity"
    port: int = 50051

    # Secrets. Encryption keys are Fernet keys, comma-separated, the first encrypting and all
    # decrypting, so they rotate; the hashing key keys every HMAC of a stored secret.
    encryption_keys: SecretStr | None = None
    hashing_key: SecretStr | None = Field(default=None, min_length=16)
    #: "version:pepper" pairs, comma-separated; passwords are hashed with the current version.
    password_peppers: SecretStr | None = None
    password_pepper_version: str = "v1"
    #: "service:sha256-of-its-internal-api-key" pairs, comma-separated.
    internal_clients: SecretStr | None = None

    # Passwords.
    password_min_length: int = Field(default=12, ge=8)
    password_history_depth: int = Field(default=5, ge=0)
    argon2_time_cost: int = Field(default=3, ge=1)
    argon2_memory_kib: int = Field(default=65536, ge=1024)
    argon2_parallelism: int = Field(default=4, ge=1)
    lockout_threshold: int = Field(default=5, ge=1)
    reset_token_ttl_seconds: int = Field(default=3600, ge=60)
    notifier: Literal["log"] = "log"

    # Throttling of sign-in, MFA, password-reset requests, sign-up and API key exchange.
    throttle_window_seconds: int = Field(
        default=60, ge=1, description="The window credential attempts are counted in."
    )
    throttle_per_address: int = Field(
        default=20,
        ge=0,
        description="Attempts at one kind of credential call from one client address per "
        "window, beyond which it is refused (429 with Retry-After); 0 turns it off.",
    )
    throttle_per_account: int = Field(
        default=10,
        ge=0,
        description="Attempts for one account (email, MFA challenge, API key) per window, "
        "beyond which they are refused; 0 turns it off.",
    )
    client_address_sources: str = Field(
        default="127.0.0.0/8,::1/128",
        description="Networks (comma-separated) of the callers, such as the gateway, whose "
        "x-quarterdeck-client-address metadata names the client they act for; anyone else's "
        "own address is the client's.",
    )

    # Tokens and sessions.
    access_token_ttl_seconds: int = Field(default=900, ge=30)
    refresh_token_ttl_seconds: int = Field(default=30 * 86400, ge=300)
    mfa_challenge_ttl_seconds: int = Field(default=300, ge=30)
    signing_key_overlap_seconds: int = Field(default=3600, ge=0)
    api_key_max_ttl_days: int = Field(default=365, ge=1)
    internal_token_ttl_seconds: int = Field(default=900, ge=60)

    # Sign-up.
    signup_mode: Literal["open", "invite", "closed"] = "open"
    invite_reservation_ttl_seconds: int = Field(default=900, ge=30)
    tenancy_target: str | None = Field(
        default=None, description="host:port of the tenancy service, which sign-up calls."
    )
    telemetry_target: str | None = Field(
        default=None,
        description="host:port of the telemetry service, whose activity feed identity appends to.",
    )


def token_lifetime(settings: IdentitySettings) -> timedelta:
    """The longest an access token identity signs lives."""
    return timedelta(
        seconds=max(settings.access_token_ttl_seconds, settings.internal_token_ttl_seconds)
    )
