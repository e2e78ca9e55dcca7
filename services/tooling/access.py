"""Who may touch which tooling rows: the tenant comes from the verified token; global rows (no
tenant) are read by everyone and changed by platform operators only."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import ColumnElement, or_

from shared.auth import Principal, require_operator, require_tenant
from shared.errors import InvalidArgument
from shared.ids import parse_id
from shared.tenant_scope import one_tenant, tenant_for_read


def acting_tenant(tenant_id: str, minimum_role: str = "viewer") -> uuid.UUID:
    """The tenant of the request, which the caller's token must cover with ``minimum_role``:
    empty is the caller's own tenant; operators and Quarterdeck services name one
    (:func:`shared.tenant_scope.one_tenant`)."""
    return parse_id(one_tenant(tenant_id, "tenant_id", minimum_role), "tenant_id")


def reading_tenant(tenant_id: str) -> uuid.UUID | None:
    """The tenant a read is for: empty is the caller's own tenant; None when an operator (or a
    Quarterdeck service) names none, and reads only global rows
    (:func:`shared.tenant_scope.tenant_for_read`)."""
    if tenant_id:
        parse_id(tenant_id, "tenant_id")
    tenant = tenant_for_read(tenant_id)
    return None if tenant is None else parse_id(tenant, "tenant_id")


def owner_for_write(tenant_id: str, is_global: bool, field: str = "tenant_id") -> uuid.UUID | None:
    """The owner of a row being written: a tenant (its admins), or None for a global row
    (operators only)."""
    if is_global:
        if tenant_id:
            raise InvalidArgument.field(field, "must be empty for a global resource")
        require_operator()
        return None
    return acting_tenant(tenant_id, "admin")


def require_may_change(owner: uuid.UUID | None) -> Principal:
    """A global row changes by operators only; a tenant's by its admins."""
    if owner is None:
        return require_operator()
    return require_tenant(str(owner), "admin")


def visible_to(column: Any, tenant: uuid.UUID | None) -> ColumnElement[bool]:
    """Rows owned by ``tenant`` or global ones (only global ones for None)."""
    if tenant is None:
        return column.is_(None)
    return or_(column == tenant, column.is_(None))
