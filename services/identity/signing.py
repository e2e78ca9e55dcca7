"""The signing-key store: which key signs access tokens, which still verify, and rotation.

One key is active and signs. Rotation makes a new active key and moves the previous one to
``retiring`` with a retire time (now + overlap), so tokens it signed keep verifying until they
expire; past that time it is left out of the JWKS and every verifier drops it.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm
from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError

from services.identity.models import SigningKey, SigningKeyState
from shared.db import Database
from shared.db_types import utcnow
from shared.errors import Aborted, FailedPrecondition, NotFound
from shared.secret_box import SecretBox
from shared.tokens import PublicKey

#: How long a process keeps using the active key it loaded before checking for a rotation made
#: by another replica.
_ACTIVE_KEY_CACHE_SECONDS = 5.0


@dataclass(frozen=True)
class ActiveKey:
    kid: str
    private_key: Any


def _new_key(box: SecretBox) -> SigningKey:
    private = ec.generate_private_key(ec.SECP256R1())
    kid = f"{datetime.now().strftime('%Y%m%d')}-{secrets.token_hex(6)}"
    jwk: dict[str, Any] = ECAlgorithm.to_jwk(private.public_key(), as_dict=True)
    jwk.update(kid=kid, alg="ES256", use="sig")
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return SigningKey(
        kid=kid,
        private_key_encrypted=box.encrypt(pem),
        public_jwk=jwk,
        state=SigningKeyState.ACTIVE,
    )


def effective_state(key: SigningKey, now: datetime) -> SigningKeyState:
    if key.state == SigningKeyState.RETIRING and key.retire_at is not None and key.retire_at <= now:
        return SigningKeyState.RETIRED
    return key.state


class SigningKeys:
    def __init__(self, database: Database, box: SecretBox) -> None:
        self._db = database
        self._box = box
        self._active: tuple[ActiveKey, float] | None = None

    async def ensure_active(self) -> None:
        """Create the first signing key of a new installation."""
        async with self._db.transaction() as session:
            found = await session.scalar(
                select(SigningKey).where(SigningKey.state == SigningKeyState.ACTIVE)
            )
            if found is None:
                session.add(_new_key(self._box))

    async def active(self) -> ActiveKey:
        if (
            self._active is not None
            and time.monotonic() - self._active[1] < _ACTIVE_KEY_CACHE_SECONDS
        ):
            return self._active[0]
        async with self._db.reading() as session:
            row = await session.scalar(
                select(SigningKey).where(SigningKey.state == SigningKeyState.ACTIVE)
            )
        if row is None:
            raise FailedPrecondition("no active signing key", reason="NO_SIGNING_KEY")
        if self._active is None or self._active[0].kid != row.kid:
            private = serialization.load_pem_private_key(
                self._box.decrypt(row.private_key_encrypted), password=None
            )
            self._active = (ActiveKey(row.kid, private), time.monotonic())
        else:
            self._active = (self._active[0], time.monotonic())
        return self._active[0]

    async def public_keys(self) -> list[PublicKey]:
        """The keys that verify now: the active one and those retiring but not yet retired."""
        now = utcnow()
        async with self._db.reading() as session:
            rows = await session.scalars(
                select(SigningKey).where(
                    or_(
                        SigningKey.state == SigningKeyState.ACTIVE,
                        (SigningKey.state == SigningKeyState.RETIRING)
                        & (SigningKey.retire_at > now),
                    )
                )
            )
            return [
                PublicKey(
                    kid=row.kid,
                    jwk=row.public_jwk,
                    retire_at=row.retire_at.timestamp() if row.retire_at else None,
                )
                for row in rows
            ]

    async def rotate(self, overlap: timedelta) -> tuple[SigningKey, SigningKey]:
        try:
            async with self._db.transaction() as session:
                previous = await session.scalar(
                    select(SigningKey).where(SigningKey.state == SigningKeyState.ACTIVE)
                )
                if previous is None:
                    raise FailedPrecondition("no active signing key", reason="NO_SIGNING_KEY")
                previous.state = SigningKeyState.RETIRING
                previous.retire_at = utcnow() + overlap
                await session.flush()
                new = _new_key(self._box)
                session.add(new)
                await session.flush()
        except IntegrityError:
            raise Aborted(
                "another rotation ran at the same time; list the keys and retry",
                reason="CONCURRENT_ROTATION",
            ) from None
        self._active = None
        return new, previous

    async def retire(self, kid: str) -> SigningKey:
        async with self._db.transaction() as session:
            key = await session.get(SigningKey, kid)
            if key is None:
                raise NotFound(f"signing key {kid} not found", reason="SIGNING_KEY_NOT_FOUND")
            if key.state == SigningKeyState.ACTIVE:
                raise FailedPrecondition(
                    "the active key signs every new token; rotate before retiring it",
                    reason="SIGNING_KEY_ACTIVE",
                )
            now = utcnow()
            key.state = SigningKeyState.RETIRED
            key.retired_at = now
            if key.retire_at is None or key.retire_at > now:
                key.retire_at = now
            return key

    async def all(self) -> list[SigningKey]:
        async with self._db.reading() as session:
            return list(
                await session.scalars(select(SigningKey).order_by(SigningKey.created_at.desc()))
            )
