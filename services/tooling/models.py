"""The tooling service's declarative base and its idempotency table; each area's tables live in
its own ``models`` module and ``schema`` gathers them."""

from __future__ import annotations

from sqlalchemy.orm import DeclarativeBase

from shared.db import service_metadata
from shared.db_types import where as where  # the areas' partial indexes import it from here
from shared.idempotency import IdempotencyKeyMixin


class Base(DeclarativeBase):
    metadata = service_metadata()


class IdempotencyKey(IdempotencyKeyMixin, Base):
    pass
