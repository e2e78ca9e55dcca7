"""The caller's identity as every service sees it, and the single place token checks plug in.

The auth interceptor asks the service's :class:`Authenticator` for a :class:`Principal` and keeps
it in a context variable for the handler. Until the identity service issues tokens, the
configured authenticator is :class:`NoCredentialsAuthenticator`: calls run unauthenticated, and a
presented credential is refused rather than trusted unverified.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextvars import ContextVar, Token
from dataclasses import dataclass, field
from typing import Protocol

from shared.errors import PermissionDenied, Unauthenticated
from shared.tracing import tag_tenant

AUTHORIZATION_HEADER = "authorization"
#: The client address a trusted proxy (the gateway) names in its calls, read from trusted proxy
#: headers only; a service believes it only from the callers it trusts to name one.
CLIENT_ADDRESS_METADATA = "x-quarterdeck-client-address"


#: Tenant roles from least to most privileged.
ROLE_RANK = {"viewer": 1, "member": 2, "admin": 3, "owner": 4}
PLATFORM_OPERATOR = "platform_operator"
INTERNAL_SCOPE = "internal"
#: Lets an internal caller have a tenant's provider key decrypted (tenancy's RevealProviderKey).
PROVIDER_KEY_REVEAL_SCOPE = "tenancy.provider_keys.reveal"
#: What each service's internal token may do beyond INTERNAL_SCOPE: only the conversation
#: service, which calls model providers for tenants, sees their provider keys.
INTERNAL_SERVICE_SCOPES: dict[str, frozenset[str]] = {
    "conversation": frozenset({PROVIDER_KEY_REVEAL_SCOPE}),
}


@dataclass(frozen=True)
class Principal:
    """Who is calling: a user, a service account, or another Quarterdeck service."""

    subject: str
    kind: str  # "user", "service_account" or "service"
    tenant_id: str | None = None
    role: str | None = None
    scopes: frozenset[str] = field(default_factory=frozenset)
    platform_role: str | None = None
    session_id: str | None = None
    token_id: str | None = None
    #: When its token was issued (epoch seconds, to the microsecond for tokens identity signs):
    #: a revocation refuses tokens issued at or before it.
    issued_at: float | None = None

    @property
    def is_operator(self) -> bool:
        return self.platform_role == PLATFORM_OPERATOR

    @property
    def is_internal(self) -> bool:
        return self.kind == "service" and INTERNAL_SCOPE in self.scopes

    @property
    def user_id(self) -> str | None:
        return self.subject if self.kind == "user" else None


_current_principal: ContextVar[Principal | None] = ContextVar("principal", default=None)


def current_principal() -> Principal | None:
    return _current_principal.get()


#: What :func:`set_principal` returns and :func:`reset_principal` takes back.
PrincipalToken = Token["Principal | None"]


def set_principal(principal: Principal | None) -> PrincipalToken:
    return _current_principal.set(principal)


def reset_principal(token: PrincipalToken) -> None:
    _current_principal.reset(token)


def require_principal() -> Principal:
    principal = current_principal()
    if principal is None:
        raise Unauthenticated("this method needs an access token")
    return principal


def require_tenant(tenant_id: str, minimum_role: str = "viewer") -> Principal:
    """The tenant a call may touch comes from the verified token, never from the request alone.

    Operators and internal services pass; anyone else needs a token for this very tenant with at
    least ``minimum_role`` (service accounts act with the role their key was given).
    """
    principal = require_principal()
    if principal.is_operator or principal.is_internal:
        # The span is filed under the tenant acted for, so its members can read it.
        tag_tenant(tenant_id)
        return principal
    if principal.tenant_id != tenant_id:
        raise PermissionDenied(
            "the access token is not valid for this tenant", reason="TENANT_MISMATCH"
        )
    if ROLE_RANK.get(principal.role or "", 0) < ROLE_RANK[minimum_role]:
        raise PermissionDenied(
            f"this needs the {minimum_role} role or higher", reason="ROLE_TOO_LOW"
        )
    return principal


def require_operator() -> Principal:
    principal = require_principal()
    if not (principal.is_operator or principal.is_internal):
        raise PermissionDenied("this needs a platform operator", reason="OPERATOR_ONLY")
    return principal


def require_internal() -> Principal:
    principal = require_principal()
    if not principal.is_internal:
        raise PermissionDenied("this is for Quarterdeck services only", reason="INTERNAL_ONLY")
    return principal


class Authenticator(Protocol):
    """Turns a call's metadata into a verified principal, or refuses it."""

    async def authenticate(
        self, method: str, metadata: Sequence[tuple[str, str | bytes]]
    ) -> Principal | None: ...


class NoCredentialsAuthenticator:
    """Runs calls unauthenticated; refuses any credential it has no means to verify."""

    async def authenticate(
        self, method: str, metadata: Sequence[tuple[str, str | bytes]]
    ) -> Principal | None:
        if any(key == AUTHORIZATION_HEADER for key, _ in metadata):
            raise Unauthenticated("token verification is not configured on this service")
        return None
