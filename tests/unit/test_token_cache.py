"""Verified access tokens are remembered until they expire, and never past their key's retirement."""

from __future__ import annotations

import dataclasses
import time
import uuid
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

from shared import tokens
from shared.auth import Principal
from shared.errors import Unauthenticated
from shared.tokens import ALGORITHM, JwksCache, JwtVerifier, PublicKey, claims_for


class _Keys:
    """One signing key and the JWKS that publishes it, which a test can retire or withdraw."""

    def __init__(self) -> None:
        self._private = ec.generate_private_key(ec.SECP256R1())
        jwk: dict[str, Any] = ECAlgorithm.to_jwk(self._private.public_key(), as_dict=True)
        self.public = PublicKey(kid=f"k-{uuid.uuid4().hex[:8]}", jwk=jwk, retire_at=None)
        self.published = [self.public]

    async def source(self) -> list[PublicKey]:
        return list(self.published)

    def token(self, ttl_seconds: int = 300, issued: float | None = None) -> str:
        principal = Principal(subject=str(uuid.uuid4()), kind="user", tenant_id="t", role="member")
        return jwt.encode(
            claims_for(principal, ttl_seconds, now=issued),
            self._private,
            algorithm=ALGORITHM,
            headers={"kid": self.public.kid},
        )


@pytest.fixture
def signature_checks(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every token whose signature was checked, in order."""
    checked: list[str] = []
    decode = tokens.jwt.decode

    def counting_decode(token: str, *args: Any, **kwargs: Any) -> Any:
        checked.append(token)
        return decode(token, *args, **kwargs)

    monkeypatch.setattr(tokens.jwt, "decode", counting_decode)
    return checked


async def test_a_token_is_checked_by_signature_once_while_it_is_valid(
    signature_checks: list[str],
) -> None:
    keys = _Keys()
    verifier = JwtVerifier(JwksCache(keys.source))
    token = keys.token()
    first = await verifier.verify(token)
    assert await verifier.verify(token) == first
    assert await verifier.verify(token) == first
    assert signature_checks == [token]
    other = keys.token()
    await verifier.verify(other)
    assert signature_checks == [token, other]


async def test_a_token_past_its_expiry_is_not_served_from_memory(
    signature_checks: list[str],
) -> None:
    keys = _Keys()
    verifier = JwtVerifier(JwksCache(keys.source))
    # Expired ten seconds ago: still inside the verification leeway, so it verifies, but it must
    # be checked again each time rather than remembered past its expiry.
    token = keys.token(ttl_seconds=60, issued=time.time() - 70)
    await verifier.verify(token)
    await verifier.verify(token)
    assert signature_checks == [token, token]


@pytest.mark.parametrize("change", ["retired", "withdrawn"])
async def test_a_remembered_token_is_refused_once_its_key_is_retired_or_withdrawn(
    change: str, signature_checks: list[str]
) -> None:
    keys = _Keys()
    # max_age 0: every lookup refreshes the JWKS, as one past its age would.
    verifier = JwtVerifier(JwksCache(keys.source, max_age_seconds=0))
    token = keys.token()
    await verifier.verify(token)
    if change == "retired":
        keys.published = [dataclasses.replace(keys.public, retire_at=time.time() - 1)]
    else:
        keys.published = []
    with pytest.raises(Unauthenticated) as refused:
        await verifier.verify(token)
    assert refused.value.reason == "UNKNOWN_SIGNING_KEY"


async def test_remembered_tokens_are_bounded(signature_checks: list[str]) -> None:
    keys = _Keys()
    verifier = JwtVerifier(JwksCache(keys.source), max_cached_tokens=2)
    first, second, third = keys.token(), keys.token(), keys.token()
    for token in (first, second, third, first):
        await verifier.verify(token)
    # The first was pushed out by the third, so it is checked again.
    assert signature_checks == [first, second, third, first]
