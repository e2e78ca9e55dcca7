"""Settings of the gateway (environment prefix ``QD_GATEWAY_``)."""

from __future__ import annotations

import ipaddress
from typing import Annotated, Any

from pydantic import Field, field_validator
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
    log_level: str = Field(default="INFO", pattern="^(DEBUG|INFO|WARNING|ERROR|CRITICAL)$")
    trusted_proxies: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(),
        description="Addresses or networks (comma-separated, such as 10.0.0.0/8) of the reverse "
        "proxies in front of the gateway. Only a request arriving from one of them has its "
        "X-Forwarded-For read for the client's address; by default none is, and the client is "
        "the peer of the connection.",
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

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for entry in value:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(f"{entry!r} is not an IP address or network") from None
        return value

    def trusted_proxy_networks(self) -> tuple[IpNetwork, ...]:
        return tuple(ipaddress.ip_network(entry, strict=False) for entry in self.trusted_proxies)
