"""Settings of the conversation service (environment prefix ``QD_CONVERSATION_``)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field
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
