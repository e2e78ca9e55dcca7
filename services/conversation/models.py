"""The conversation service's declarative base and its idempotency table; each area's tables
live in its own ``models`` module and ``schema`` gathers them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, Integer, text
from sqlalchemy.orm import DeclarativeBase

from shared.db import service_metadata
from shared.idempotency import IdempotencyKeyMixin

#: An autoincrementing 64-bit key (SQLite only autoincrements INTEGER PRIMARY KEY).
BIG_ID = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    metadata = service_metadata()


class IdempotencyKey(IdempotencyKeyMixin, Base):
    pass


def where(condition: str) -> dict[str, Any]:
    """The keyword arguments of a partial index with ``condition`` on both databases."""
    return {"sqlite_where": text(condition), "postgresql_where": text(condition)}
