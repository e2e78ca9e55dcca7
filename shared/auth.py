"""The caller's identity as every service sees it, and the single place token checks plug in.

The auth interceptor asks the service's :class:`Authenticator` for a :class:`Principal` and keeps
it in a context variable for the handler. Until the identity service issues tokens, the
configured authenticator is :class:`NoCredentialsAuthenticator`: calls run unauthenticated, and a
presented credential is refused rather than trusted unverified.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Protocol

from shared.errors import PermissionDenied, Unauthenticated

AUTHORIZATION_HEADER = "authorization"


@dataclass(frozen=True)
class Principal:
    """Who is calling: a user or a service account, acting for at most one tenant."""

    subject: str
    kind: str  # "user" or "service_account"
    tenant_id: str | None = None
    role: str | None = None
    scopes: frozenset[str] = field(default_factory=frozenset)
    platform_role: str | None = None


_current_principal: ContextVar[Principal | None] = ContextVar("principal", default=None)


def current_principal() -> Principal | None:
    return _current_principal.get()


def set_principal(principal: Principal | None) -> object:
    return _current_principal.set(principal)


def reset_principal(token: object) -> None:
    _current_principal.reset(token)  # type: ignore[arg-type]


def require_principal() -> Principal:
    principal = current_principal()
    if principal is None:
        raise Unauthenticated("this method needs an access token")
    return principal


def require_tenant(tenant_id: str) -> Principal:
    """The tenant a call may touch comes from the verified token, never from the request alone."""
    principal = require_principal()
    if principal.platform_role is None and principal.tenant_id != tenant_id:
        raise PermissionDenied("the access token is not valid for this tenant")
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
