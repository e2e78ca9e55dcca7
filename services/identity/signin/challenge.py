"""MFA challenge tokens: what SignIn hands out when the password was right but a second factor is
still owed, and CompleteMfaSignIn takes back.

A challenge is ``qdm_<claims>.<mac>``: base64url JSON claims (user, tenant, role, expiry, a nonce
and a binding to the user's current password hash) and an HMAC-SHA256 over them. Nothing is
stored; the MAC makes it unforgeable and the expiry short-lived. Its key is derived from the
hashing key under a purpose label, so it shares no key with anything else, and it is not a JWT:
no verifier of access tokens can ever accept it. Changing the password voids open challenges.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from services.identity.secrets import Hasher

PREFIX = "qdm_"
_PURPOSE = "quarterdeck/identity/mfa-challenge/v1"


class InvalidChallenge(Exception):
    """The token is malformed, forged, expired or of another kind."""


@dataclass(frozen=True)
class Challenge:
    user_id: uuid.UUID
    tenant_id: str
    role: str
    expires_at: datetime
    password_binding: str


def _b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class ChallengeTokens:
    def __init__(self, hasher: Hasher, ttl_seconds: int) -> None:
        # A key of its own: HMAC under the hashing key of a fixed label.
        self._key = hasher.hash(f"key:{_PURPOSE}").encode()
        self._ttl = ttl_seconds

    def _mac(self, message: str) -> str:
        return _b64encode(hmac.new(self._key, message.encode(), hashlib.sha256).digest())

    def password_binding(self, password_hash: str) -> str:
        """Ties a challenge to the password it proved; a keyed hash, so it reveals nothing."""
        return self._mac(f"password:{password_hash}")[:22]

    def mint(
        self,
        user_id: uuid.UUID,
        tenant_id: str,
        role: str,
        password_hash: str,
        now: float | None = None,
    ) -> tuple[str, datetime]:
        expires = int(now if now is not None else time.time()) + self._ttl
        claims = {
            "typ": _PURPOSE,
            "sub": str(user_id),
            "tid": tenant_id,
            "rol": role,
            "exp": expires,
            "pwb": self.password_binding(password_hash),
            "non": secrets.token_urlsafe(12),
        }
        body = _b64encode(json.dumps(claims, separators=(",", ":"), sort_keys=True).encode())
        return f"{PREFIX}{body}.{self._mac(body)}", datetime.fromtimestamp(expires, UTC)

    def open(self, token: str, now: float | None = None) -> Challenge:
        if not token.startswith(PREFIX):
            raise InvalidChallenge
        body, _, mac = token[len(PREFIX) :].partition(".")
        if not body or not hmac.compare_digest(self._mac(body), mac):
            raise InvalidChallenge
        try:
            claims = json.loads(_b64decode(body))
            if claims["typ"] != _PURPOSE:
                raise InvalidChallenge
            challenge = Challenge(
                user_id=uuid.UUID(claims["sub"]),
                tenant_id=str(uuid.UUID(claims["tid"])),
                role=str(claims["rol"]),
                expires_at=datetime.fromtimestamp(int(claims["exp"]), UTC),
                password_binding=str(claims["pwb"]),
            )
        except (binascii.Error, ValueError, KeyError, TypeError):
            raise InvalidChallenge from None
        if challenge.expires_at.timestamp() <= (now if now is not None else time.time()):
            raise InvalidChallenge
        return challenge

    def binds(self, challenge: Challenge, password_hash: str) -> bool:
        return hmac.compare_digest(challenge.password_binding, self.password_binding(password_hash))
