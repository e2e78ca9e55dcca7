"""The telemetry service's declarative base, the bound shared by its tenant-id columns, and its
idempotency table; each area's tables live in its own ``models`` module and ``schema`` gathers
them."""

from __future__ import annotations

from sqlalchemy.orm import DeclarativeBase

from shared.db import service_metadata
from shared.idempotency import IdempotencyKeyMixin

#: Longest tenant id stored; it is indexed, so it is bounded.
MAX_TENANT_ID = 255


class Base(DeclarativeBase):
    metadata = service_metadata()


class IdempotencyKey(IdempotencyKeyMixin, Base):
    pass
