"""Whose conversations a call may touch: always the tenant of the caller's verified token."""

from __future__ import annotations

import uuid

from shared.auth import Principal, require_principal, require_tenant
from shared.errors import PermissionDenied


def caller_tenant(minimum_role: str = "viewer") -> tuple[uuid.UUID, Principal]:
    """The tenant of the caller's token, which must give at least ``minimum_role``."""
    principal = require_principal()
    if not principal.tenant_id:
        raise PermissionDenied(
            "conversations belong to a tenant: this needs a tenant's token",
            reason="TENANT_TOKEN_REQUIRED",
        )
    require_tenant(principal.tenant_id, minimum_role)
    return uuid.UUID(principal.tenant_id), principal
