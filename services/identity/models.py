"""Tables owned by the identity service. Its domain tables arrive with its own issue; the
idempotency table is here from the start so every mutating RPC can use the shared helper."""

from __future__ import annotations

from sqlalchemy.orm import DeclarativeBase

from shared.db import service_metadata
from shared.idempotency import IdempotencyKeyMixin


class Base(DeclarativeBase):
    metadata = service_metadata()


class IdempotencyKey(IdempotencyKeyMixin, Base):
    pass
