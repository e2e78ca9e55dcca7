"""Settings of the gateway (environment prefix ``QD_GATEWAY_``)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class GatewaySettings(BaseSettings):
    """Where the gateway listens, where each service answers, and how long a call may take."""

    model_config = SettingsConfigDict(env_prefix="QD_GATEWAY_", extra="ignore", frozen=True)

    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    identity_target: str = "127.0.0.1:50051"
    tenancy_target: str = "127.0.0.1:50052"
    conversation_target: str = "127.0.0.1:50053"
    tooling_target: str = "127.0.0.1:50054"
    telemetry_target: str = "127.0.0.1:50055"
    request_timeout_seconds: float = Field(
        default=10.0, gt=0, description="The deadline of every gRPC call the gateway makes."
    )
    log_level: str = Field(default="INFO", pattern="^(DEBUG|INFO|WARNING|ERROR|CRITICAL)$")
