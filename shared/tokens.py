"""Access tokens as every service sees them: the claims, and local verification from a cached
JWKS, so no request pays a round trip to the identity service.

Access tokens are ES256 JWTs with a ``kid`` header. Only identity holds private keys and mints
tokens (with :func:`claims_for`); everyone else verifies with :class:`JwtVerifier`. The JWKS cache
refreshes when it meets an unknown kid (a key rotation) and when it grows old, and it stops
trusting a key at the key's retire time even before a refresh.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import jwt
from jwt.algorithms import ECAlgorithm

from shared.auth import AUTHORIZATION_HEADER, Principal
from shared.errors import Unauthenticated

ISSUER = "quarterdeck-identity"
AUDIENCE = "quarterdeck"
ALGORITHM = "ES256"
#: Clock skew tolerated between the minting and the verifying machine.
LEEWAY_SECONDS = 30


@dataclass(frozen=True)
class PublicKey:
    kid: str
    jwk: Mapping[str, str]
    retire_at: float | None  # epoch seconds; None while the key signs


JwksSource = Callable[[], Awaitable[Sequence[PublicKey]]]


def claims_for(principal: Principal, ttl_seconds: int, now: float | None = None) -> dict[str, Any]:
    """The claims of an access token for ``principal``; identity signs them."""
    issued_at = now if now is not None else time.time()
    issued = int(issued_at)
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": principal.subject,
        "knd": principal.kind,
        # To the microsecond (RFC 7519 NumericDates may be fractional): a revocation refuses the
        # tokens issued at or before it, and a token minted just after a role change or a sign-out
        # everywhere, in the same second, must not be taken for one issued before it.
        "iat": round(issued_at, 6),
        "nbf": issued,
        "exp": issued + ttl_seconds,
        "jti": principal.token_id or uuid.uuid4().hex,
        "scp": sorted(principal.scopes),
    }
    optional = {
        "tid": principal.tenant_id,
        "rol": principal.role,
        "prl": principal.platform_role,
        "sid": principal.session_id,
    }
    claims.update({k: v for k, v in optional.items() if v})
    return claims


def principal_from_claims(claims: Mapping[str, Any]) -> Principal:
    return Principal(
        subject=str(claims["sub"]),
        kind=str(claims.get("knd", "user")),
        tenant_id=claims.get("tid"),
        role=claims.get("rol"),
        scopes=frozenset(claims.get("scp", ())),
        platform_role=claims.get("prl"),
        session_id=claims.get("sid"),
        token_id=claims.get("jti"),
        issued_at=claims.get("iat"),
    )


class JwksCache:
    """Public keys by kid, fetched from ``source``; refreshed when stale or on an unknown kid.

    An unknown kid (a rotation) triggers a refresh at once, at most one per
    ``_MIN_REFRESH_INTERVAL`` (a caller waits for the slot rather than being refused), and a kid
    already looked for is not looked for again within the cooldown, so a flood of made-up kids
    cannot turn into a flood of fetches.
    """

    _MIN_REFRESH_INTERVAL = 0.1
    _MAX_REMEMBERED_MISSES = 1024

    def __init__(
        self,
        source: JwksSource,
        max_age_seconds: float = 300.0,
        unknown_kid_cooldown_seconds: float = 5.0,
    ) -> None:
        self._source = source
        self._max_age = max_age_seconds
        self._cooldown = unknown_kid_cooldown_seconds
        self._keys: dict[str, tuple[PublicKey, Any]] = {}
        self._fetched_at = float("-inf")
        self._misses: dict[str, float] = {}
        self._lock = asyncio.Lock()

    def _needs_refresh(self, kid: str) -> bool:
        now = time.monotonic()
        if now - self._fetched_at > self._max_age:
            return True
        if kid in self._keys:
            return False
        return now - self._misses.get(kid, float("-inf")) > self._cooldown

    async def _refresh(self, looked_for: str) -> None:
        wait = self._MIN_REFRESH_INTERVAL - (time.monotonic() - self._fetched_at)
        if wait > 0:
            await asyncio.sleep(wait)
        if len(self._misses) > self._MAX_REMEMBERED_MISSES:
            self._misses.clear()
        self._misses[looked_for] = time.monotonic()
        keys = await self._source()
        self._keys = {k.kid: (k, ECAlgorithm.from_jwk(dict(k.jwk))) for k in keys}
        self._fetched_at = time.monotonic()

    async def key(self, kid: str) -> tuple[PublicKey, Any] | None:
        if self._needs_refresh(kid):
            async with self._lock:  # one fetch for a burst of callers
                if self._needs_refresh(kid):
                    await self._refresh(kid)
        return self._usable(kid)

    def current(self, kid: str) -> tuple[PublicKey, Any] | None:
        """The key ``kid`` when the keys held are fresh and it is among them, unretired; None
        when :meth:`key` must be asked (it may have to fetch). No coroutine: a remembered token
        is checked on every call."""
        return None if self._needs_refresh(kid) else self._usable(kid)

    def _usable(self, kid: str) -> tuple[PublicKey, Any] | None:
        found = self._keys.get(kid)
        if found is None:
            return None
        key, _ = found
        if key.retire_at is not None and time.time() >= key.retire_at:
            return None
        return found


@dataclass(frozen=True, slots=True)
class _Verified:
    principal: Principal
    kid: str
    expires_at: float  # epoch seconds: the token's exp


class JwtVerifier:
    """Verifies ES256 access tokens, remembering each verified token (by its SHA-256) until it
    expires, so a token presented on every request is checked by signature once.

    A remembered token is still refused once it expires or its signing key is retired or gone
    from the JWKS: the key is looked up on every call, as for a token seen for the first time.
    The memory is bounded (least recently used first out); refusals are never remembered.
    """

    def __init__(self, keys: JwksCache, max_cached_tokens: int = 10_000) -> None:
        self._keys = keys
        self._max_cached = max_cached_tokens
        self._verified: OrderedDict[bytes, _Verified] = OrderedDict()

    async def verify(self, token: str) -> Principal:
        digest = hashlib.sha256(token.encode()).digest()
        remembered = self._verified.get(digest)
        if remembered is not None:
            if time.time() < remembered.expires_at and (
                self._keys.current(remembered.kid) or await self._keys.key(remembered.kid)
            ):
                self._verified.move_to_end(digest)
                return remembered.principal
            del self._verified[digest]
        principal, kid, expires_at = await self._verify_signed(token)
        if self._max_cached > 0:
            self._verified[digest] = _Verified(principal, kid, expires_at)
            if len(self._verified) > self._max_cached:
                self._verified.popitem(last=False)
        return principal

    async def _verify_signed(self, token: str) -> tuple[Principal, str, float]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError:
            raise Unauthenticated(
                "the access token is malformed", reason="TOKEN_MALFORMED"
            ) from None
        kid = header.get("kid")
        if header.get("alg") != ALGORITHM or not isinstance(kid, str):
            raise Unauthenticated("the access token is malformed", reason="TOKEN_MALFORMED")
        found = await self._keys.key(kid)
        if found is None:
            raise Unauthenticated(
                "the access token was signed by an unknown or retired key",
                reason="UNKNOWN_SIGNING_KEY",
                metadata={"kid": kid},
            )
        try:
            claims = jwt.decode(
                token,
                found[1],
                algorithms=[ALGORITHM],
                audience=AUDIENCE,
                issuer=ISSUER,
                leeway=LEEWAY_SECONDS,
                options={"require": ["exp", "iat", "sub", "jti"]},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthenticated("the access token has expired", reason="TOKEN_EXPIRED") from None
        except jwt.InvalidTokenError:
            raise Unauthenticated("the access token is invalid", reason="TOKEN_INVALID") from None
        return principal_from_claims(claims), kid, float(claims["exp"])


def bearer_token(metadata: Sequence[tuple[str, str | bytes]]) -> str | None:
    for key, value in metadata:
        if key == AUTHORIZATION_HEADER:
            text = value.decode() if isinstance(value, bytes) else value
            scheme, _, token = text.partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                raise Unauthenticated(
                    "the authorization header must be 'Bearer <token>'", reason="TOKEN_MALFORMED"
                )
            return token.strip()
    return None


SecurityEventSink = Callable[[str, Mapping[str, str]], None]


class JwtAuthenticator:
    """Verifies bearer tokens locally; a refused one is reported as a security event."""

    def __init__(self, verifier: JwtVerifier, report: SecurityEventSink | None = None) -> None:
        self._verifier = verifier
        self._report = report

    async def authenticate(
        self, method: str, metadata: Sequence[tuple[str, str | bytes]]
    ) -> Principal | None:
        try:
            token = bearer_token(metadata)
            return None if token is None else await self._verifier.verify(token)
        except Unauthenticated as refused:
            if self._report is not None:
                self._report(
                    "access_token_refused",
                    {"reason": refused.reason, "method": method, **refused.metadata},
                )
            raise
