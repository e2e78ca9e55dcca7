"""Access tokens for tests of services that run without the identity service: a private signing
key, a matching authenticator to start the service with, and tokens for any principal."""

from __future__ import annotations

import uuid
from typing import Any

import grpc
import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

from quarterdeck.identity.v1 import identity_pb2
from quarterdeck.identity.v1.identity_pb2_grpc import IdentityServiceStub
from shared.auth import AUTHORIZATION_HEADER, INTERNAL_SCOPE, PLATFORM_OPERATOR, Principal
from shared.identity_link import public_key_from_proto
from shared.tokens import (
    ALGORITHM,
    JwksCache,
    JwtAuthenticator,
    JwtVerifier,
    PublicKey,
    claims_for,
)


class TestIssuer:
    """Signs tokens exactly as identity does, with a key only the tests know."""

    __test__ = False  # not a test class, whatever its name

    def __init__(self) -> None:
        self._key = ec.generate_private_key(ec.SECP256R1())
        self.kid = f"test-{uuid.uuid4().hex[:8]}"
        jwk: dict[str, Any] = ECAlgorithm.to_jwk(self._key.public_key(), as_dict=True)
        self._public = PublicKey(kid=self.kid, jwk=jwk, retire_at=None)

    def public_key(self, retire_at: float | None = None) -> PublicKey:
        """The key as identity's JWKS publishes it (``retire_at``: when it stops verifying)."""
        return PublicKey(kid=self.kid, jwk=self._public.jwk, retire_at=retire_at)

    def verifier(self) -> JwtVerifier:
        async def source() -> list[PublicKey]:
            return [self._public]

        return JwtVerifier(JwksCache(source))

    def authenticator(self) -> JwtAuthenticator:
        return JwtAuthenticator(self.verifier())

    def authenticator_also_trusting(self, identity: IdentityServiceStub) -> JwtAuthenticator:
        """Verifies this issuer's tokens and those the identity service behind ``identity``
        signs (the internal tokens other services get from it), for a service that tests call
        with their own tokens and other real services call with theirs."""

        async def source() -> list[PublicKey]:
            response = await identity.GetJwks(identity_pb2.GetJwksRequest(), timeout=5)
            return [self._public, *(public_key_from_proto(key) for key in response.keys)]

        return JwtAuthenticator(JwtVerifier(JwksCache(source, max_age_seconds=1.0)))

    def token(self, principal: Principal, ttl_seconds: int = 300) -> str:
        return jwt.encode(
            claims_for(principal, ttl_seconds),
            self._key,
            algorithm=ALGORITHM,
            headers={"kid": self.kid},
        )

    def metadata(self, principal: Principal) -> list[tuple[str, str]]:
        return [(AUTHORIZATION_HEADER, f"Bearer {self.token(principal)}")]

    def member(
        self, tenant_id: str, role: str = "owner", user_id: str | None = None
    ) -> list[tuple[str, str]]:
        return self.metadata(
            Principal(
                subject=user_id or str(uuid.uuid4()), kind="user", tenant_id=tenant_id, role=role
            )
        )

    def operator(self) -> list[tuple[str, str]]:
        return self.metadata(
            Principal(subject=str(uuid.uuid4()), kind="user", platform_role=PLATFORM_OPERATOR)
        )

    def internal(self, service: str = "identity") -> list[tuple[str, str]]:
        return self.metadata(
            Principal(
                subject=f"service:{service}", kind="service", scopes=frozenset({INTERNAL_SCOPE})
            )
        )


class _AddMetadata(grpc.aio.UnaryUnaryClientInterceptor):  # type: ignore[misc]
    def __init__(self, metadata: list[tuple[str, str]]) -> None:
        self._metadata = metadata

    async def intercept_unary_unary(self, continuation, client_call_details, request):  # type: ignore[no-untyped-def]
        details = client_call_details._replace(
            metadata=[*(client_call_details.metadata or ()), *self._metadata]
        )
        return await continuation(details, request)


def authorized_channel(target: str, metadata: list[tuple[str, str]]) -> grpc.aio.Channel:
    """A channel whose unary calls all carry ``metadata`` (a caller's bearer token)."""
    return grpc.aio.insecure_channel(target, interceptors=[_AddMetadata(metadata)])
