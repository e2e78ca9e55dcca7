"""Which tenant a call reads or writes: from the caller's verified token, never from a request
field alone. Every service resolves an optional ``tenant_id`` through these functions.

One meaning for an empty ``tenant_id``: the caller's own tenant. A tenant's users and service
accounts may name only their own tenant (another is PERMISSION_DENIED, revealing nothing);
platform operators and Quarterdeck services, who have no tenant of their own, name the tenant, or
(where a read allows it) name none to read every tenant.
"""

from __future__ import annotations

from shared.auth import require_principal, require_tenant
from shared.errors import InvalidArgument, PermissionDenied
from shared.ids import parse_id
from shared.tracing import tag_tenant


def tenant_for_write(requested: str, field: str = "tenant_id", minimum_role: str = "member") -> str:
    """The tenant a row is recorded for (services must name it).

    Quarterdeck services (internal tokens) name the tenant in ``field``; a tenant's own users and
    service accounts record for their token's tenant, so ``field`` may be empty or must match it.
    """
    principal = require_principal()
    if principal.is_internal:
        if not requested:
            raise InvalidArgument.field(field, "a Quarterdeck service must name the tenant")
        tag_tenant(requested)
        return requested
    if principal.tenant_id is None:
        raise PermissionDenied(
            "only a tenant's members or Quarterdeck services record telemetry",
            reason="TENANT_REQUIRED",
        )
    require_tenant(requested or principal.tenant_id, minimum_role)
    return principal.tenant_id


def tenant_for_read(requested: str, field: str = "tenant_id") -> str | None:
    """The tenant a read is confined to; None means every tenant (operators and services only).

    A tenant's users read their token's tenant: ``field`` may be empty or must name it, and any
    other tenant is refused as PERMISSION_DENIED without revealing whether it has data.
    """
    principal = require_principal()
    if principal.is_operator or principal.is_internal:
        tag_tenant(requested)
        return requested or None
    if principal.tenant_id is None:
        raise PermissionDenied("this needs a token for a tenant", reason="TENANT_REQUIRED")
    require_tenant(requested or principal.tenant_id, "viewer")
    return principal.tenant_id


def one_tenant_for_read(requested: str, field: str = "tenant_id") -> str:
    """As :func:`tenant_for_read` for reads of one tenant's data: operators and services must
    name the tenant (INVALID_ARGUMENT naming ``field`` otherwise), and a named one must be an id."""
    return one_tenant(requested, field, "viewer")


def one_tenant(requested: str, field: str = "tenant_id", minimum_role: str = "viewer") -> str:
    """The one tenant a call acts on, which the caller's token must cover with ``minimum_role``.

    Empty is the caller's own tenant; operators and Quarterdeck services, who have none, must
    name it (INVALID_ARGUMENT naming ``field``), and a named one must be an id. A tenant's users
    naming another tenant are refused as PERMISSION_DENIED.
    """
    if requested:
        parse_id(requested, field)
    principal = require_principal()
    if not requested:
        if principal.is_operator or principal.is_internal:
            raise InvalidArgument.field(
                field, "platform operators and Quarterdeck services must name the tenant"
            )
        if principal.tenant_id is None:
            raise PermissionDenied("this needs a token for a tenant", reason="TENANT_REQUIRED")
        requested = principal.tenant_id
    require_tenant(requested, minimum_role)
    return requested
