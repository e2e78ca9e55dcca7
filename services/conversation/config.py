"""Settings of the conversation service (environment prefix ``QD_CONVERSATION_``)."""

from __future__ import annotations

import ipaddress
from typing import ClassVar, Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator
from pydantic_settings import SettingsConfigDict

from shared.config import ServiceSettings


class ConversationSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="QD_CONVERSATION_", extra="ignore", frozen=True)

    service_name: ClassVar[str] = "conversation"
    port: int = 50053
    run_lease_seconds: float = Field(
        default=30.0,
        gt=0,
        le=3600,
        description="How long a worker's lease on a run lasts without a heartbeat.",
    )
    run_max_attempts: int = Field(
        default=3, ge=1, le=20, description="Leases a run may take before it fails."
    )
    run_reaper_interval_seconds: float = Field(
        default=5.0,
        ge=0,
        description="How often runs whose lease expired are re-queued or failed; 0 turns it off.",
    )
    follow_poll_seconds: float = Field(
        default=1.0,
        gt=0,
        le=60,
        description=(
            "How often a follower re-reads the ledger when no append in this process woke it "
            "(appends made by other replicas)."
        ),
    )
    stream_ticket_ttl_seconds: float = Field(
        default=60.0,
        gt=0,
        le=3600,
        description="How long a stream ticket is accepted when its request names no lifetime.",
    )
    stream_ticket_max_ttl_seconds: int = Field(
        default=600, ge=1, le=86400, description="The longest lifetime a stream ticket may ask."
    )
    stream_ticket_sweep_interval_seconds: float = Field(
        default=300.0,
        ge=0,
        description="How often expired stream tickets are deleted; 0 turns it off.",
    )
    tenancy_target: str | None = Field(
        default=None, description="Tenancy: tenant status, model configs and keys, limits."
    )
    tooling_target: str | None = Field(
        default=None, description="Tooling: agents, their tools and tool execution."
    )
    telemetry_target: str | None = Field(default=None, description="Telemetry: usage records.")
    provider_base_urls: str = Field(
        default="",
        description=(
            "Comma-separated provider=base URL pairs of the OpenAI-compatible endpoints runs may "
            "call (e.g. openai=https://api.openai.com/v1); the provider is the catalogue model's."
        ),
    )
    test_provider_base_url: str | None = Field(
        default=None,
        description=(
            "The local test provider's base URL (provider quarterdeck-test): the only provider "
            "allowed on a loopback address, and never a default for a real model."
        ),
    )
    run_worker_interval_seconds: float = Field(
        default=1.0,
        ge=0,
        description=(
            "How often the in-process worker polls the queue for runs enqueued elsewhere (runs "
            "enqueued here wake it at once); 0, or no tenancy/tooling target, turns it off."
        ),
    )
    run_worker_concurrency: int = Field(default=8, ge=1, le=256)
    run_config_cache_seconds: float = Field(
        default=30.0,
        ge=0,
        le=300,
        description=(
            "How long a worker reuses what it read for a run: an active agent with its tools "
            "(tooling), a tenant's model configuration, key and catalogue model, and the "
            "model's price history (tenancy; a model call is priced from it, as PriceUsage "
            "prices). A change there reaches runs within this many seconds; a key the provider "
            "refuses is forgotten at once. 0 reads them for every run."
        ),
    )
    stream_max_batch: int = Field(
        default=64,
        ge=1,
        le=1000,
        description=(
            "The most streamed pieces one ledger transaction stores: pieces arriving while a "
            "write is under way are written together by the next one."
        ),
    )
    run_workers_in_process: bool = Field(
        default=True,
        description=(
            "Carry runs out inside the conversation process (the default); false when separate "
            "`quarterdeck worker` processes do it against the same database."
        ),
    )
    run_wakeup_listen: bool = Field(
        default=True,
        description=(
            "On PostgreSQL, LISTEN for a queued run (and a ledger append) so a worker claims it "
            "(and a follower reads it) at once; the polling intervals stay as the fallback."
        ),
    )
    ledger_notify: bool = Field(
        default=False,
        description=(
            "On PostgreSQL, NOTIFY other processes of each ledger append (replicas whose "
            "followers should see another replica's runs at once, not at their next poll). "
            "`quarterdeck worker` processes always do; off by default here, as NOTIFY "
            "serializes the commits that send one."
        ),
    )
    run_pause_at: Literal["leased", "streaming", "tool_requested", "answered"] | None = Field(
        default=None,
        description=(
            "Testing only: the phase (leased, streaming, tool_requested, answered) at which a "
            "worker stops dead, after writing its pid and the run to run_pause_file, so a test "
            "can kill -9 it there."
        ),
    )
    run_pause_file: str | None = Field(default=None, description="Testing only: see run_pause_at.")
    run_max_steps: int = Field(
        default=8, ge=1, le=64, description="Model calls a run may make (tool loops included)."
    )
    provider_max_attempts: int = Field(default=3, ge=1, le=10)
    provider_backoff_seconds: float = Field(default=0.5, ge=0, le=30)
    provider_timeout_seconds: float = Field(default=120.0, gt=0, le=600)
    internal_call_timeout_seconds: float = Field(default=10.0, gt=0, le=120)

    @field_validator("provider_base_urls")
    @classmethod
    def _no_private_provider(cls, value: str) -> str:
        """Only the test provider may live on this machine or a private network; a real
        provider's endpoint named by a loopback, private or link-local address is refused."""
        for pair in value.split(","):
            name, _, url = pair.partition("=")
            if not pair.strip():
                continue
            host = (urlsplit(url.strip()).hostname or "").lower()
            if not name.strip() or not host:
                raise ValueError(f"{pair.strip()!r} is not provider=base URL")
            if host == "localhost" or host.endswith(".localhost"):
                raise ValueError(f"provider {name.strip()} may not be on this machine")
            try:
                address = ipaddress.ip_address(host)
            except ValueError:
                continue
            if not address.is_global:
                raise ValueError(f"provider {name.strip()} may not be on a private address")
        return value

    def provider_base_url(self, provider: str) -> str | None:
        """Where ``provider``'s Chat Completions endpoint is, or None when not configured."""
        from services.conversation.test_provider import TEST_PROVIDER

        if provider == TEST_PROVIDER:
            return self.test_provider_base_url
        for pair in self.provider_base_urls.split(","):
            name, _, url = pair.partition("=")
            if name.strip().lower() == provider.lower() and url.strip():
                return url.strip()
        return None
