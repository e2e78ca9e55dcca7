"""A revocation refuses the tokens issued at or before it, and only those: a token minted in the
same second but after it (a sign-in right after a role change) keeps working."""

from __future__ import annotations

import time
import uuid
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

from shared.auth import Principal
from shared.revocation import Revocation, RevocationSet, membership_key
from shared.tokens import ALGORITHM, JwksCache, JwtVerifier, PublicKey, claims_for

_USER, _TENANT = str(uuid.uuid4()), str(uuid.uuid4())


class _Signer:
    def __init__(self) -> None:
        self._private = ec.generate_private_key(ec.SECP256R1())
        jwk: dict[str, Any] = ECAlgorithm.to_jwk(self._private.public_key(), as_dict=True)
        self.public = PublicKey(kid="k", jwk=jwk, retire_at=None)

    async def source(self) -> list[PublicKey]:
        return [self.public]

    def token(self, issued: float) -> str:
        principal = Principal(subject=_USER, kind="user", tenant_id=_TENANT, role="member")
        claims = claims_for(principal, 300, now=issued)
        return jwt.encode(claims, self._private, algorithm=ALGORITHM, headers={"kid": "k"})


async def test_tokens_minted_in_the_same_second_are_told_apart_by_the_revocation() -> None:
    signer = _Signer()
    verifier = JwtVerifier(JwksCache(signer.source))
    # A whole second plus 0.5: the tokens below share the revocation's second.
    changed_at = float(int(time.time()) - 10) + 0.5
    before = await verifier.verify(signer.token(changed_at - 0.3))
    after = await verifier.verify(signer.token(changed_at + 0.3))
    assert int(before.issued_at or 0) == int(after.issued_at or 0) == int(changed_at)

    revoked = RevocationSet()
    key = membership_key(_USER, _TENANT)
    revoked.add([Revocation(key=key, revoked_at=changed_at, expires_at=changed_at + 600)])

    assert revoked.refuses(before)
    assert not revoked.refuses(after)


async def test_a_token_with_a_whole_second_iat_is_refused_in_the_revocations_second() -> None:
    """Tokens signed before iat carried fractions are judged conservatively: refused."""
    revoked = RevocationSet()
    changed_at = float(int(time.time()) - 10) + 0.5
    key = membership_key(_USER, _TENANT)
    revoked.add([Revocation(key=key, revoked_at=changed_at, expires_at=changed_at + 600)])
    old_style = Principal(subject=_USER, kind="user", tenant_id=_TENANT, issued_at=int(changed_at))
    assert revoked.refuses(old_style)
