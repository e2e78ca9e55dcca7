"""How a service that is not identity reaches it: the JWKS that verifies tokens, an internal
access token for its own calls, and reports of security events."""

from __future__ import annotations

import asyncio
import logging
import time

import grpc
from google.protobuf.struct_pb2 import Struct

from quarterdeck.identity.v1 import identity_pb2 as pb
from quarterdeck.identity.v1.identity_pb2_grpc import IdentityServiceStub
from shared.auth import AUTHORIZATION_HEADER
from shared.background import TaskSet
from shared.grpc_client import open_channel
from shared.internal_client import call_internal

# Re-exported: the key's shape lives beside nothing heavier (`quarterdeck up` imports it alone).
from shared.internal_keys import INTERNAL_KEY_PREFIX as INTERNAL_KEY_PREFIX
from shared.internal_keys import internal_api_key as internal_api_key
from shared.internal_keys import internal_client_entry as internal_client_entry
from shared.security_events import SecurityEvent
from shared.tokens import JwksCache, PublicKey

log = logging.getLogger("quarterdeck.identity_link")

_TOKEN_RENEW_MARGIN_SECONDS = 60
_CALL_TIMEOUT_SECONDS = 5.0


def public_key_from_proto(key: pb.JsonWebKey) -> PublicKey:
    return PublicKey(
        kid=key.kid,
        jwk={"kty": key.kty, "crv": key.crv, "x": key.x, "y": key.y, "kid": key.kid},
        retire_at=key.retire_time.ToNanoseconds() / 1e9 if key.HasField("retire_time") else None,
    )


class IdentityLink:
    def __init__(
        self, target: str, service: str, internal_secret: str | None, jwks_max_age: float
    ) -> None:
        self._service = service
        self._secret = internal_secret
        self._channel = open_channel(target)
        self.stub = IdentityServiceStub(self._channel)
        self.jwks = JwksCache(self._fetch_jwks, max_age_seconds=jwks_max_age)
        self._token: tuple[str, float] | None = None
        self._token_lock = asyncio.Lock()
        self._pending = TaskSet("security event reports")

    async def _fetch_jwks(self) -> list[PublicKey]:
        response = await self.stub.GetJwks(pb.GetJwksRequest(), timeout=_CALL_TIMEOUT_SECONDS)
        return [public_key_from_proto(key) for key in response.keys]

    async def internal_metadata(self) -> list[tuple[str, str]]:
        """Call metadata carrying this service's internal access token, renewed before expiry."""
        if self._secret is None:
            raise RuntimeError(f"{self._service} has no internal_secret to call other services")
        async with self._token_lock:
            if self._token is None or self._token[1] - time.time() < _TOKEN_RENEW_MARGIN_SECONDS:
                response = await self.stub.ExchangeApiKey(
                    pb.ExchangeApiKeyRequest(api_key=internal_api_key(self._service, self._secret)),
                    timeout=_CALL_TIMEOUT_SECONDS,
                )
                self._token = (response.access_token, response.expire_time.ToNanoseconds() / 1e9)
            return [(AUTHORIZATION_HEADER, f"Bearer {self._token[0]}")]

    def report(self, event: SecurityEvent) -> None:
        """Send a security event to identity in the background; never delays or fails the call."""
        self._pending.spawn(self._send(event))

    def forget_internal_token(self) -> None:
        """Drop the cached token, e.g. after a call refused it because its key was retired."""
        self._token = None

    async def _send(self, event: SecurityEvent) -> None:
        metadata = Struct()
        metadata.update({**event.metadata, "source": event.source})
        request = pb.ReportSecurityEventRequest(
            event_type=event.event_type,
            tenant_id=event.tenant_id or "",
            user_id=event.user_id or "",
            metadata=metadata,
        )
        try:
            await call_internal(
                self.stub.ReportSecurityEvent, request, self, call_timeout=_CALL_TIMEOUT_SECONDS
            )
        except (grpc.aio.AioRpcError, RuntimeError) as exc:  # RuntimeError: no internal secret
            log.warning("could not report security event %s: %s", event.event_type, exc)

    async def close(self) -> None:
        await self._pending.close(_CALL_TIMEOUT_SECONDS)
        await self._channel.close()
