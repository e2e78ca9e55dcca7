"""What every billing seam's handlers are built from: the database, page tokens, settings."""

from __future__ import annotations

from typing import Any

from services.tenancy.context import TenancyContext
from shared.inserts import Insert, dialect_insert


class BillingBase:
    def __init__(self, context: TenancyContext) -> None:
        self._db = context.database
        self._pages = context.page_tokens
        self._settings = context.settings
        self._idempotency = context.idempotency

    def _insert(self, table: Any) -> Insert:
        return dialect_insert(self._db.dialect, table)
