"""Minting access tokens: every token identity hands out is signed here, with the active key."""

from __future__ import annotations

from datetime import UTC, datetime

import jwt

from services.identity.signing import SigningKeys
from shared.auth import INTERNAL_SCOPE, INTERNAL_SERVICE_SCOPES, Principal
from shared.tokens import ALGORITHM, claims_for


class TokenIssuer:
    def __init__(self, keys: SigningKeys, access_ttl_seconds: int) -> None:
        self._keys = keys
        self._access_ttl = access_ttl_seconds

    async def access_token(
        self, principal: Principal, ttl_seconds: int | None = None
    ) -> tuple[str, datetime]:
        key = await self._keys.active()
        claims = claims_for(principal, ttl_seconds or self._access_ttl)
        token = jwt.encode(claims, key.private_key, algorithm=ALGORITHM, headers={"kid": key.kid})
        return token, datetime.fromtimestamp(claims["exp"], UTC)

    async def active_kid(self) -> str:
        return (await self._keys.active()).kid

    async def internal_token(self, service: str, ttl_seconds: int) -> tuple[str, datetime]:
        """A token for a Quarterdeck service acting for itself, not for any tenant."""
        principal = Principal(
            subject=f"service:{service}",
            kind="service",
            scopes=frozenset({INTERNAL_SCOPE}) | INTERNAL_SERVICE_SCOPES.get(service, frozenset()),
        )
        return await self.access_token(principal, ttl_seconds)
