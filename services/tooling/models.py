"""The tooling service's declarative base and its idempotency table; each area's tables live in
its own ``models`` module and ``schema`` gathers them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import DeclarativeBase

from shared.db import service_metadata
from shared.idempotency import IdempotencyKeyMixin


class Base(DeclarativeBase):
    metadata = service_metadata()


class IdempotencyKey(IdempotencyKeyMixin, Base):
    pass


def where(condition: str) -> dict[str, Any]:
    """The keyword arguments of a partial index with ``condition`` on both databases."""
    return {"sqlite_where": text(condition), "postgresql_where": text(condition)}
