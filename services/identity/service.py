"""The identity service as the shared bootstrap runs it."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import grpc

from quarterdeck.identity.v1 import identity_pb2, identity_pb2_grpc
from services.identity.config import IdentitySettings, token_lifetime
from services.identity.context import (
    IdentityContext,
    build_identity_context,
    close_identity_context,
)
from services.identity.models import Base, IdempotencyKey
from services.identity.reasons import SELF_RECORDED
from services.identity.revocations.feed import local_revocations
from services.identity.servicer import IdentityServicer
from services.identity.throttling import credential_layers
from shared.auth import Authenticator
from shared.revocation import RevocationSource
from shared.security_events import SecurityEventSink
from shared.server import ServiceContext, ServiceSpec
from shared.tokens import JwksCache, JwtAuthenticator, JwtVerifier

SERVICE = identity_pb2.DESCRIPTOR.services_by_name["IdentityService"].full_name
#: Methods a caller reaches before it has an access token.
PUBLIC_METHODS = frozenset(
    f"/{SERVICE}/{name}"
    for name in (
        "GetJwks",
        "SignUp",
        "RequestAccess",
        "SignIn",
        "CompleteMfaSignIn",
        "RefreshSession",
        "RequestPasswordReset",
        "ResetPassword",
        "ExchangeApiKey",
    )
)


def register(
    server: grpc.aio.Server, context: ServiceContext[IdentitySettings, IdentityContext]
) -> Sequence[str]:
    identity_pb2_grpc.add_IdentityServiceServicer_to_server(IdentityServicer(context.state), server)
    return [SERVICE]


def authenticator(context: ServiceContext[IdentitySettings, IdentityContext]) -> Authenticator:
    """Identity verifies tokens with its own key store: no call to itself."""
    keys = JwksCache(
        context.state.keys.public_keys, max_age_seconds=5.0, unknown_kid_cooldown_seconds=1.0
    )
    return JwtAuthenticator(JwtVerifier(keys))


def security_sink(context: ServiceContext[IdentitySettings, IdentityContext]) -> SecurityEventSink:
    return context.state.events.sink


def revocation_source(
    context: ServiceContext[IdentitySettings, IdentityContext],
) -> RevocationSource:
    state = context.state
    return local_revocations(state.db, token_lifetime(state.settings), state.memberships)


SPEC = ServiceSpec(
    name="identity",
    settings_type=IdentitySettings,
    metadata=Base.metadata,
    migrations_dir=Path(__file__).parent / "migrations",
    idempotency_model=IdempotencyKey,
    register=register,
    public_methods=PUBLIC_METHODS,
    authenticator=authenticator,
    revocation_source=revocation_source,
    security_sink=security_sink,
    self_recorded_refusals=SELF_RECORDED,
    layers=credential_layers,
    prepare=build_identity_context,
    cleanup=close_identity_context,
)
