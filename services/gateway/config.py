"""Settings of the gateway (environment prefix ``QD_GATEWAY_``)."""

from __future__ import annotations

import ipaddress
from typing import Annotated, Any

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


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
    sse_heartbeat_seconds: float = Field(
        default=15.0,
        gt=0,
        le=300,
        description="How often an idle event stream (SSE) sends a comment line, so proxies keep "
        "the connection and a client that vanished is noticed.",
    )
    log_level: str = Field(default="INFO", pattern="^(DEBUG|INFO|WARNING|ERROR|CRITICAL)$")
    trusted_proxies: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(),
        description="Addresses or networks (comma-separated, such as 10.0.0.0/8) of the reverse "
        "proxies in front of the gateway. Only a request arriving from one of them has its "
        "X-Forwarded-For read for the client's address; by default none is, and the client is "
        "the peer of the connection.",
    )
    trusted_trace_sources: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(),
        description="Addresses or networks (comma-separated) whose traceparent the gateway "
        "adopts as the parent of a request's trace, such as an in-house proxy that traces. "
        "From anyone else the gateway starts a new trace and keeps the caller's context as a "
        "span link, so no caller can place its requests in another tenant's trace.",
    )
    api_key_cache_seconds: float = Field(
        default=60.0,
        ge=0,
        description="How long an access token exchanged for an API key is reused, at most (and "
        "never past shortly before it expires). A key revoked elsewhere than through this "
        "gateway keeps working here for up to this long; 0 exchanges the key on every request.",
    )
    api_key_cache_size: int = Field(
        default=1024, ge=1, description="How many exchanged API keys are remembered at most."
    )
    jwks_max_age_seconds: int = Field(
        default=60, ge=0, description="The Cache-Control max-age of /.well-known/jwks.json."
    )

    internal_secret: SecretStr | None = Field(
        default=None,
        description="The gateway's own internal secret, which identity exchanges for the "
        "internal token the request log is written to telemetry with; without it requests are "
        "not logged.",
    )
    identity_jwks_cache_seconds: float = Field(
        default=300.0,
        gt=0,
        description="How long identity's signing keys are reused to verify the tokens the "
        "request log attributes requests with.",
    )
    request_log_queue_size: int = Field(
        default=10_000,
        ge=0,
        description="Requests waiting to be written to the request log, at most; beyond that a "
        "request is not logged (and counted), never delayed. 0 logs nothing.",
    )
    request_log_batch_size: int = Field(
        default=500, ge=1, le=1000, description="Requests written in one RecordRequests call."
    )
    request_log_flush_seconds: float = Field(
        default=1.0, gt=0, description="How long a request waits, at most, for its batch to fill."
    )
    request_log_timeout_seconds: float = Field(
        default=5.0, gt=0, description="The deadline of one RecordRequests call."
    )
    request_log_drain_seconds: float = Field(
        default=5.0,
        ge=0,
        description="How long shutdown waits for queued requests to be written.",
    )

    @field_validator("trusted_proxies", "trusted_trace_sources", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("trusted_proxies", "trusted_trace_sources")
    @classmethod
    def _networks(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for entry in value:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(f"{entry!r} is not an IP address or network") from None
        return value

    def trusted_proxy_networks(self) -> tuple[IpNetwork, ...]:
        return _parse_networks(self.trusted_proxies)

    def trusted_trace_networks(self) -> tuple[IpNetwork, ...]:
        return _parse_networks(self.trusted_trace_sources)


def _parse_networks(entries: tuple[str, ...]) -> tuple[IpNetwork, ...]:
    return tuple(ipaddress.ip_network(entry, strict=False) for entry in entries)
